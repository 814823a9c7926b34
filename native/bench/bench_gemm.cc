// sgemm on the reference MLP's shapes without Node: bench_gemm [isa] prints one JSON line per
// shape, like `dtrain bench gemm` (which calls the same code through the addon).
#include <cstdio>
#include <cstring>
#include <string>

#include "kernels/cpu/isa.h"
#include "bench/gemm_bench.h"

using namespace dtrain;

int main(int argc, char** argv) {
  for (int l = 0; l < kIsaCount; ++l) {
    const Isa isa = static_cast<Isa>(l);
    if (!isaSupported(isa)) continue;
    if (argc > 1 && std::strcmp(argv[1], isaName(isa)) != 0) continue;
    const FmaPeak peak = fmaPeak(isa, 0.3);
    std::printf("{\"isa\":\"%s\",\"fma_peak_GFLOPs\":%.1f,\"clock_GHz\":%.2f,\"fma_per_cycle\":%.2f,"
                "\"lanes\":%d}\n", isaName(isa), peak.gflops, peak.clockGHz, peak.fmaPerCycle, peak.lanes);
    for (const GemmShape& s : mlpGemmShapes()) {
      const double gf = benchGemm(isa, s, 0.2);
      std::printf("{\"isa\":\"%s\",\"op\":\"%s\",\"m\":%zu,\"n\":%zu,\"k\":%zu,\"GFLOPs\":%.2f}\n",
                  isaName(isa), s.op.c_str(), s.m, s.n, s.k, gf);
      std::fflush(stdout);
    }
  }
  return 0;
}
