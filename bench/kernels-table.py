#!/usr/bin/env python3
"""Markdown table from `dtrain bench kernels --json` lines (stdin): per size and kernel, GB/s and
ratio to memcpy per level, and PyTorch's GB/s with dtrain's speedup where a peer line exists."""
import json
import sys

lines = [json.loads(l) for l in sys.stdin if l.startswith("{")]
for size in sorted({l["bytes"] for l in lines}, reverse=True):
    rows = [l for l in lines if l["bytes"] == size]
    levels = [i for i in ("scalar", "avx2", "avx512") if any(l.get("isa") == i for l in rows)]
    print(f"\n{size} bytes\n")
    probes = {l["kernel"][6:]: l for l in rows if l.get("kernel", "").startswith("probe_") and l.get("isa")}
    if probes:
        print("Probes: " + ", ".join(f"{p} {l['GBs']:.1f} GB/s ({l['ratio']:.2f} of memcpy)" for p, l in probes.items()) + "\n")
    rows = [l for l in rows if not l.get("kernel", "").startswith("probe_")]
    print("| kernel | memcpy GB/s | " + " | ".join(f"{i} GB/s (ratio)" for i in levels) + " | torch GB/s | speedup |")
    print("| --- " * (4 + len(levels)) + "|")
    kernels = []
    for l in rows:
        if "isa" in l and l["kernel"] not in kernels:
            kernels.append(l["kernel"])
    for k in kernels:
        own = {l["isa"]: l for l in rows if l.get("isa") and l["kernel"] == k}
        peer = next((l for l in rows if l.get("peer") and l["kernel"] == k), None)
        cells = [f"{own[i]['GBs']:.1f} ({own[i]['ratio']:.2f})" if i in own else "" for i in levels]
        memcpy = next(iter(own.values()))["memcpy_GBs"]
        torch = [f"{peer['GBs']:.2f}", f"{peer['speedup']:.1f}x"] if peer else ["", ""]
        print(f"| {k} | {memcpy:.1f} | " + " | ".join(cells + torch) + " |")
