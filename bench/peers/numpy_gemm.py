"""Peer for `dtrain bench gemm`: numpy's float32 matmul (the system BLAS; OpenBLAS when
libopenblas-dev is installed) on the reference MLP's products, single-threaded. One JSON line per
shape, the same fields as dtrain's. Usage: OPENBLAS_NUM_THREADS=1 python3 numpy_gemm.py [seconds]
[batches] (batches comma-separated, default 32,64,128,256,512)."""
import json, os, sys, time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np

def blas_name():
    try:
        cfg = np.show_config(mode="dicts")
        return cfg.get("Build Dependencies", {}).get("blas", {}).get("name", "unknown")
    except TypeError:
        pass
    # Debian's numpy links libblas.so.3, which the alternatives system points at a BLAS.
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                if "blas" in line and ".so" in line:
                    return os.path.realpath(line.split()[-1])
    except OSError:
        pass
    return "unknown"

def median_rate(fn, flops, seconds):
    reps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        if time.perf_counter() - t0 > 0.02:
            break
        reps *= 2
    rates, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(rates) < 5:
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        rates.append(flops * reps / (time.perf_counter() - t0) / 1e9)
    rates.sort()
    return rates[len(rates) // 2]

def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.2
    batches = [int(b) for b in sys.argv[2].split(",")] if len(sys.argv) > 2 else [32, 64, 128, 256, 512]
    layers = [(784, 512), (512, 256), (256, 10)]
    rng = np.random.default_rng(0)
    blas = None
    for b in batches:
        for i, o in layers:
            x = rng.standard_normal((b, i), dtype=np.float32)
            w = rng.standard_normal((o, i), dtype=np.float32)
            dy = rng.standard_normal((b, o), dtype=np.float32)
            y = np.empty((b, o), np.float32); dw = np.empty((o, i), np.float32); dx = np.empty((b, i), np.float32)
            cases = [
                ("forward", b, o, i, lambda: np.matmul(x, w.T, out=y)),
                ("grad_weight", o, i, b, lambda: np.matmul(dy.T, x, out=dw)),
                ("grad_input", b, i, o, lambda: np.matmul(dy, w, out=dx)),
            ]
            for op, m, n, k, fn in cases:
                if blas is None:
                    fn()
                    blas = blas_name()
                gf = median_rate(fn, 2.0 * m * n * k, seconds)
                print(json.dumps(dict(impl="numpy", blas=blas, op=op, m=m, n=n, k=k, batch=b, GFLOPs=round(gf, 2))), flush=True)

if __name__ == "__main__":
    main()
