"""Peer of `dtrain bench allreduce --gloo`: torch.distributed's gloo backend (CPU) all-reducing
float32 sums, timed as dtrain's bench/allreduce-worker.js times its own, for sizes MIN_BYTES,
4 x MIN_BYTES, ... up to MAX_BYTES, on NP local processes (one thread each). Rank 0 prints one
JSON line per size:
  {"impl":"gloo","np":P,"bytes":B,"time_us":T,"algbw_GBs":A,"busbw_GBs":W,"ok":true,"torch":"2.x"}
time: the slowest rank's mean over the timed calls; busbw = algbw x 2(P-1)/P; ok: one more
all-reduce of freshly filled buffers (rank r holds r + 1) gave P(P+1)/2 at both ends.

Usage: python3 gloo_allreduce.py NP [MAX_BYTES (67108864)] [MIN_BYTES (4096)]
Needs torch (Debian: apt-get install python3-torch)."""
import json
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def timed_calls(nbytes):
    """The same counts as dtrain's worker, so the two means compare."""
    if nbytes < 64 << 10:
        return 2000
    if nbytes < 1 << 20:
        return 200
    return 30 if nbytes < 16 << 20 else 8


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(rank, np_, max_bytes, min_bytes, port):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=np_)
    expected = np_ * (np_ + 1) / 2
    nbytes = min_bytes
    while nbytes <= max_bytes:
        x = torch.empty(nbytes // 4, dtype=torch.float32)
        x.fill_(rank + 1)
        for _ in range(3):
            dist.all_reduce(x)
        calls = timed_calls(nbytes)
        dist.barrier()
        start = time.perf_counter()
        for _ in range(calls):
            dist.all_reduce(x)
        slowest = torch.tensor([(time.perf_counter() - start) / calls], dtype=torch.float64)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        x.fill_(rank + 1)
        dist.all_reduce(x)
        ok = x[0].item() == expected and x[-1].item() == expected
        if rank == 0:
            t = slowest.item()
            algbw = nbytes / t / 1e9
            line = dict(impl="gloo", np=np_, bytes=nbytes, time_us=round(t * 1e6, 1),
                        algbw_GBs=round(algbw, 3), busbw_GBs=round(algbw * 2 * (np_ - 1) / np_, 3),
                        ok=ok, torch=torch.__version__)
            print(json.dumps(line, separators=(",", ":")), flush=True)
        nbytes *= 4
    dist.destroy_process_group()


def main(argv):
    try:
        np_ = int(argv[1]) if len(argv) > 1 else 2
        max_bytes = int(argv[2]) if len(argv) > 2 else 64 << 20
        min_bytes = int(argv[3]) if len(argv) > 3 else 4096
    except ValueError:
        sys.exit(f"usage: {argv[0]} NP [MAX_BYTES] [MIN_BYTES]")
    if np_ < 1 or min_bytes < 4 or min_bytes % 4 or max_bytes % 4:
        sys.exit("gloo_allreduce.py: NP >= 1 and byte counts of whole float32 elements, please")
    mp.spawn(run, args=(np_, max_bytes, min_bytes, free_port()), nprocs=np_)


if __name__ == "__main__":
    main(sys.argv)
