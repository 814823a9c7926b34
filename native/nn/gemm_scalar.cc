// The portable micro-kernel: a 4 x 8 tile of plain C++ (the compiler may vectorize it with the
// baseline SSE2), and the portable transpose-pack.
#include <chrono>
#include <cstddef>

#include "nn/gemm_kernel.h"

namespace dtrain {
namespace {

constexpr int kMr = 4;
constexpr int kNr = 8;

void micro(size_t kc, const float* a, size_t aStep, const float* b, size_t bStep,
           const GemmTile& t) {
  float c[kMr][kNr] = {};
  for (size_t k = 0; k < kc; ++k) {
    for (int r = 0; r < kMr; ++r) {
      const float av = a[r];
      for (int j = 0; j < kNr; ++j) c[r][j] += av * b[j];
    }
    a += aStep;
    b += bStep;
  }
  for (int r = 0; r < t.m; ++r) {
    float* crow = t.c + r * t.ldc;
    for (int j = 0; j < t.n; ++j) {
      float x = c[r][j];
      if (t.load) x += crow[j];
      if (t.bias) x += t.bias[j];
      if (t.relu) x = x > 0 ? x : 0.0f;
      if (t.mask && !(t.mask[r * t.ldmask + j] > 0)) x = 0;
      crow[j] = x;
    }
  }
}

// Scalar multiply-adds (the baseline has no FMA instruction): the portable level has no vector
// peak to speak of. Eight independent chains in named registers.
double fmaPerNs(long iterations) {
  float a0 = 0, a1 = 1, a2 = 2, a3 = 3, a4 = 4, a5 = 5, a6 = 6, a7 = 7;
  const auto t0 = std::chrono::steady_clock::now();
  for (long it = 0; it < iterations; ++it) {
#define DTRAIN_MAD(v) v = v * 0.999f + 1e-3f;
    DTRAIN_MAD(a0) DTRAIN_MAD(a1) DTRAIN_MAD(a2) DTRAIN_MAD(a3)
    DTRAIN_MAD(a4) DTRAIN_MAD(a5) DTRAIN_MAD(a6) DTRAIN_MAD(a7)
#undef DTRAIN_MAD
    asm volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  asm volatile("" : : "x"(a0), "x"(a1), "x"(a2), "x"(a3), "x"(a4), "x"(a5), "x"(a6), "x"(a7));
  return 8.0 * static_cast<double>(iterations) / s / 1e9;
}

}  // namespace

void packTransposedScalar(const float* src, size_t ld, size_t cols, size_t kc, int nr, float* out) {
  // Row by row: sequential reads, strided writes into the panel (which fits in L1).
  for (size_t c = 0; c < cols; ++c) {
    const float* row = src + c * ld;
    for (size_t k = 0; k < kc; ++k) out[k * nr + c] = row[k];
  }
  for (size_t c = cols; c < static_cast<size_t>(nr); ++c) {
    for (size_t k = 0; k < kc; ++k) out[k * nr + c] = 0;
  }
}

const GemmKernel& scalarGemmKernel() {
  static const GemmKernel k{Isa::kScalar,
                            {kMr, kNr, 256, 128, 512, micro},
                            {kMr, kNr, 256, 128, 512, micro},
                            packTransposedScalar,
                            1,
                            fmaPerNs};
  return k;
}

}  // namespace dtrain
