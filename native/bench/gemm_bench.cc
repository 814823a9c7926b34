#include "bench/gemm_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "nn/gemm.h"
#include "nn/gemm_kernel.h"

namespace dtrain {

std::vector<GemmShape> gemmShapes(const std::vector<size_t>& batches,
                                  const std::vector<std::pair<size_t, size_t>>& layers) {
  std::vector<GemmShape> out;
  for (size_t b : batches) {
    for (const auto& [in, o] : layers) {
      // y[b, o] = x[b, in] W[o, in]^T
      out.push_back({"forward", b, o, in, false, true, b, in, o});
      // dW[o, in] = dy[b, o]^T x[b, in]
      out.push_back({"grad_weight", o, in, b, true, false, b, in, o});
      // dx[b, in] = dy[b, o] W[o, in]
      out.push_back({"grad_input", b, in, o, false, false, b, in, o});
    }
  }
  return out;
}

std::vector<GemmShape> mlpGemmShapes() {
  return gemmShapes({32, 64, 128, 256, 512}, {{784, 512}, {512, 256}, {256, 10}});
}

double benchGemm(Isa isa, const GemmShape& s, double minSeconds) {
  const size_t aRows = s.transA ? s.k : s.m, aCols = s.transA ? s.m : s.k;
  const size_t bRows = s.transB ? s.n : s.k, bCols = s.transB ? s.k : s.n;
  std::vector<float> a(aRows * aCols), b(bRows * bCols), c(s.m * s.n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>((i * 7919) % 1000) * 1e-3f - 0.5f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>((i * 104729) % 1000) * 1e-3f - 0.5f;
  GemmArgs g;
  g.m = s.m, g.n = s.n, g.k = s.k;
  g.a = a.data(), g.lda = aCols, g.transA = s.transA;
  g.b = b.data(), g.ldb = bCols, g.transB = s.transB;
  g.c = c.data(), g.ldc = s.n;
  using clk = std::chrono::steady_clock;
  // Calibrate a batch of calls to about 20 ms, then time batches until minSeconds.
  size_t reps = 1;
  for (;;) {
    const auto t0 = clk::now();
    for (size_t r = 0; r < reps; ++r) sgemm(isa, g);
    const double dt = std::chrono::duration<double>(clk::now() - t0).count();
    if (dt > 0.02) break;
    reps *= 2;
  }
  std::vector<double> rates;
  const auto start = clk::now();
  do {
    const auto t0 = clk::now();
    for (size_t r = 0; r < reps; ++r) sgemm(isa, g);
    const double dt = std::chrono::duration<double>(clk::now() - t0).count();
    rates.push_back(2.0 * s.m * s.n * s.k * reps / dt / 1e9);
  } while (std::chrono::duration<double>(clk::now() - start).count() < minSeconds || rates.size() < 5);
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

namespace {

// A dependent chain of integer adds retires one per cycle, so its rate is the clock.
double clockGHz(long iterations) {
  uint64_t x = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) {
    asm volatile(
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
        : "+r"(x));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return 8.0 * static_cast<double>(iterations) / s / 1e9;
}

}  // namespace

FmaPeak fmaPeak(Isa isa, double minSeconds) {
  const GemmKernel& k = gemmKernel(isa);
  FmaPeak p{};
  p.lanes = k.lanes;
  const auto start = std::chrono::steady_clock::now();
  // Best of rounds: a neighbour on a shared core only ever slows a round down.
  do {
    p.fmaPerNs = std::max(p.fmaPerNs, k.fmaPerNs(2000000));
    p.clockGHz = std::max(p.clockGHz, clockGHz(2000000));
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
           minSeconds);
  p.gflops = p.fmaPerNs * k.lanes * 2;
  p.fmaPerCycle = p.fmaPerNs / p.clockGHz;
  return p;
}

}  // namespace dtrain
