// The GEMM benchmark shared by bench_gemm (C++) and `dtrain bench gemm` (through the addon): the
// three products of each Linear layer of the reference MLP, at batch 32..512.
#pragma once

#include <string>
#include <vector>

#include "kernels/cpu/isa.h"

namespace dtrain {

struct GemmShape {
  std::string op;  // "forward" (x W^T), "grad_weight" (dY^T x), "grad_input" (dY W)
  size_t m, n, k;
  bool transA, transB;
  size_t batch, in, out;
};

// The shapes of layers in -> out at the given batch sizes.
std::vector<GemmShape> gemmShapes(const std::vector<size_t>& batches,
                                  const std::vector<std::pair<size_t, size_t>>& layers);
// 784-512-256-10 at batch 32, 64, 128, 256, 512.
std::vector<GemmShape> mlpGemmShapes();

// GFLOP/s (2mnk per call) of sgemm at this level, repeated for at least minSeconds; the median
// of several timed batches.
double benchGemm(Isa isa, const GemmShape& s, double minSeconds);

// The FMA peak of one core at this level, GFLOP/s: the best of several rounds of a loop of
// independent vector FMAs (the rate the FMA ports retire them at this clock), times the lanes per
// vector, times 2 flops per FMA.
struct FmaPeak {
  double gflops;
  double fmaPerNs;   // vector FMA instructions per nanosecond
  double clockGHz;   // from a dependent chain of integer adds (latency 1)
  double fmaPerCycle;
  int lanes;
};
FmaPeak fmaPeak(Isa isa, double minSeconds);

}  // namespace dtrain
