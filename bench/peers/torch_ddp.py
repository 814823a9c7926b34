"""Peer of `dtrain bench train`: PyTorch DDP (gloo, CPU, one thread per worker) training the
reference MLP 784-512-256-10 on Fashion-MNIST with SGD lr 0.05 momentum 0.9, the workload of
dtrain's bench/train-worker.js and timed like it: WARMUP steps, then STEPS steps between two
barriers. Prints one JSON line (rank 0); the contract is in bench/peers/README.md.
Usage: /usr/bin/python3 torch_ddp.py NP BATCH_PER_WORKER [STEPS] [WARMUP]
Debian's torch uses whatever libblas.so.3 is installed: with libopenblas-dev it is OpenBLAS,
about 12x faster than the reference BLAS; the `blas` field says which one was loaded."""
import gzip, json, os, sys, time
import numpy as np
import torch, torch.nn as nn, torch.distributed as dist
import torch.multiprocessing as mp

D = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
if not os.path.exists(f"{D}/train-images-idx3-ubyte.gz"):
    D = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "fashion-mnist-slice")


def load(kind):
    with gzip.open(f"{D}/{kind}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255.0
    with gzip.open(f"{D}/{kind}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def blas():
    with open("/proc/self/maps") as f:
        libs = {os.path.realpath(l.split()[-1]) for l in f if ".so" in l and ("blas" in l or "lapack" in l)}
    return ",".join(sorted(libs)) or "unknown"


def worker(rank, world, batch, steps, warmup, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    xtr, ytr = load("train")
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    lossf = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(1)
    shard = torch.randperm(len(xtr), generator=g)[rank::world]
    per_epoch = len(shard) // batch

    def step(s):
        b = s % per_epoch
        idx = shard[b * batch:(b + 1) * batch]
        opt.zero_grad()
        lossf(ddp(xtr[idx]), ytr[idx]).backward()
        opt.step()

    for s in range(warmup):
        step(s)
    dist.barrier()
    t0 = time.perf_counter()
    for s in range(steps):
        step(warmup + s)
    dist.barrier()
    dt = time.perf_counter() - t0
    if rank == 0:
        print(json.dumps(dict(impl="torch-ddp-gloo", np=world, batch_per_worker=batch, steps=steps,
                              samples_per_s=round(steps * batch * world / dt, 1), step_ms=round(dt / steps * 1000, 3),
                              torch=torch.__version__, blas=blas())), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    world = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    warmup = int(sys.argv[4]) if len(sys.argv) > 4 else 30
    mp.spawn(worker, args=(world, batch, steps, warmup, 29600 + os.getpid() % 1000), nprocs=world)
