#!/usr/bin/env bash
# Runs the all-reduce benchmarks side by side with the peers and stores the JSON lines in
# bench/results/, from which `node bench/benchmarks-report.js` writes docs/benchmarks.md.
# Needs: npm run build; OpenMPI (apt-get install -y openmpi-bin libopenmpi-dev) and
# PyTorch (apt-get install -y python3-torch) for the peers; PEERS: the folder holding the peer
# benchmarks' sources (mpi_allreduce.c, gloo_allreduce.py), which are kept outside this
# repository (default ../shared/peers, beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
peers=${PEERS:-../shared/peers}
out=bench/results
mkdir -p "$out"
mpicc -O2 -o /tmp/dtrain_mpi_allreduce "$peers/mpi_allreduce.c"

run() {  # name, then the dtrain arguments
  local name=$1
  shift
  echo "{\"command\":\"dtrain $*\",\"date\":\"$(date -u +%FT%TZ)\",\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\",\"cores\":$(nproc)}" >"$out/$name.jsonl"
  node bin/dtrain.js "$@" | tee -a "$out/$name.jsonl"
}

run allreduce-np2-async bench allreduce -np 2 --mpi /tmp/dtrain_mpi_allreduce --gloo "$peers/gloo_allreduce.py"
run allreduce-np2-sync bench allreduce -np 2 --mode sync --mpi /tmp/dtrain_mpi_allreduce
run allreduce-np2-tcp bench allreduce -np 2 --transport tcp --mode sync --mpi /tmp/dtrain_mpi_allreduce
run allreduce-np4-sync bench allreduce -np 4 --mode sync --mpi /tmp/dtrain_mpi_allreduce --gloo "$peers/gloo_allreduce.py"
