#!/usr/bin/env bash
# Runs the all-reduce benchmarks side by side with the peers and stores the JSON lines in
# bench/results/, from which `node bench/benchmarks-report.js` writes docs/benchmarks.md.
# Needs: npm run build; OpenMPI (apt-get install -y openmpi-bin libopenmpi-dev) and
# PyTorch (apt-get install -y python3-torch) for the peers in bench/peers/, which
# `dtrain bench allreduce --mpi --gloo` builds (mpicc, once, into ~/.cache/dtrain) and runs.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results
mkdir -p "$out"

run() {  # name, then the dtrain arguments
  local name=$1
  shift
  echo "{\"command\":\"dtrain $*\",\"peers\":\"bench/peers\",\"date\":\"$(date -u +%FT%TZ)\",\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\",\"cores\":$(nproc)}" >"$out/$name.jsonl"
  node bin/dtrain.js "$@" | tee -a "$out/$name.jsonl"
}

run allreduce-np2-async bench allreduce -np 2 --mpi --gloo
run allreduce-np2-sync bench allreduce -np 2 --mode sync --mpi
run allreduce-np2-tcp bench allreduce -np 2 --transport tcp --mode sync --mpi
run allreduce-np4-sync bench allreduce -np 4 --mode sync --mpi --gloo
