#!/usr/bin/env python3
"""Writes native/test/data/half_reference.txt: hashes of numpy's float16 conversions over
every float32 and every float16 bit pattern, which test_kernels checks the kernels against.

Run once with numpy (any 1.x/2.x): python3 native/test/gen_half_reference.py
The hash of outputs y[0..N) is sum_i y[i] * (i * K + 1) mod 2^64, K = 0x9E3779B97F4A7C15, with
y[i] the output bits (uint16 for float16, uint32 for float32) for the input whose bits are i.
"""
import os
import sys

import numpy as np

K = np.uint64(0x9E3779B97F4A7C15)
CHUNK = 1 << 24


def weighted(bits_out, start):
    i = np.arange(start, start + bits_out.size, dtype=np.uint64)
    return (bits_out.astype(np.uint64) * (i * K + np.uint64(1))).sum(dtype=np.uint64)


def main():
    np.seterr(all="ignore")
    h = np.uint64(0)
    for start in range(0, 1 << 32, CHUNK):
        x = np.arange(start, start + CHUNK, dtype=np.uint64).astype(np.uint32).view(np.float32)
        h = h + weighted(x.astype(np.float16).view(np.uint16), start)
    f16 = np.arange(0, 1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    h2 = weighted(f16.astype(np.float32).view(np.uint32), 0)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "half_reference.txt")
    with open(out, "w") as f:
        f.write("# numpy %s: see gen_half_reference.py\n" % np.__version__)
        f.write("float32_to_float16 %d\n" % int(h))
        f.write("float16_to_float32 %d\n" % int(h2))
    print(open(out).read(), end="")


if __name__ == "__main__":
    sys.exit(main())
