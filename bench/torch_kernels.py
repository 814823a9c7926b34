#!/usr/bin/env python3
"""PyTorch's CPU equivalents of dtrain's kernels, on one thread, for `dtrain bench kernels`.

usage: torch_kernels.py BYTES KERNEL[,KERNEL...] [MIN_SECONDS]
Prints one JSON line per kernel that has an equivalent: {kernel, peer, bytes, seconds, version},
seconds being the fastest call. BYTES means what it means for dtrain's benchmark: the float32
side of a cast, the reduced buffer, the weights, the input of top-k.
"""
import json
import sys
import time

import torch


def best_time(fn, min_seconds):
    fn()
    best, total, reps = float("inf"), 0.0, 0
    while total < min_seconds or reps < 5:
        t0 = time.perf_counter()
        fn()
        s = time.perf_counter() - t0
        best = min(best, s)
        total += s
        reps += 1
    return best


def cases(nbytes):
    n = nbytes // 4
    x = torch.randn(n)

    def reduce_case(dtype, op):
        count = nbytes // torch.tensor([], dtype=dtype).element_size()
        if dtype.is_floating_point:
            a, b = torch.randn(count).to(dtype), torch.randn(count).to(dtype)
        else:
            a, b = torch.randint(-1000, 1000, (count,), dtype=dtype), torch.randint(-1000, 1000, (count,), dtype=dtype)
        if op == "sum":
            return lambda: a.add_(b)
        return lambda: torch.maximum(a, b, out=a)

    def sgd_case():
        p = torch.nn.Parameter(torch.randn(n))
        p.grad = torch.randn(n)
        opt = torch.optim.SGD([p], lr=1e-4, momentum=0.9, weight_decay=1e-4)
        return lambda: opt.step()

    h = x.half()
    bf = x.bfloat16()
    k = max(1, n // 1000)
    return {
        "cast_f32_to_f16": lambda: lambda: x.half(),
        "cast_f32_to_bf16": lambda: lambda: x.bfloat16(),
        "cast_f16_to_f32": lambda: lambda: h.float(),
        "cast_bf16_to_f32": lambda: lambda: bf.float(),
        "reduce_sum_f32": lambda: reduce_case(torch.float32, "sum"),
        "reduce_max_f32": lambda: reduce_case(torch.float32, "max"),
        "reduce_sum_f64": lambda: reduce_case(torch.float64, "sum"),
        "reduce_sum_i32": lambda: reduce_case(torch.int32, "sum"),
        "reduce_sum_f16": lambda: reduce_case(torch.float16, "sum"),
        "reduce_sum_bf16": lambda: reduce_case(torch.bfloat16, "sum"),
        "sgd_f32": sgd_case,
        "topk": lambda: lambda: torch.topk(x.abs(), k, sorted=False),
    }


def main():
    nbytes = int(sys.argv[1])
    names = sys.argv[2].split(",")
    min_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0.3
    torch.set_num_threads(1)
    table = cases(nbytes)
    for name in names:
        if name not in table:
            continue
        s = best_time(table[name](), min_seconds)
        print(json.dumps({"kernel": name, "peer": "torch", "bytes": nbytes, "seconds": s,
                          "version": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
