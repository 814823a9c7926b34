// The AVX2/FMA micro-kernels: a 6 x 16 tile in 12 ymm accumulators (the classic Haswell shape:
// 12 accumulators, 2 loads of B, 1 broadcast of A, 15 of the 16 registers), a 12 x 8 tile for
// products with at most 8 columns, and an 8 x 8 register transpose for packing.
#include <cstddef>
#include <algorithm>
#include <chrono>
#include <cstdint>

#include "nn/gemm_kernel.h"

#if defined(__x86_64__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

#include <immintrin.h>

namespace dtrain {
namespace {

// Lane i is all ones when i < n.
inline __m256i lanes(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline __m256 epilogue(__m256 x, const GemmTile& t, const float* crow, const float* mrow, int col,
                       __m256i m) {
  if (t.load) x = _mm256_add_ps(x, _mm256_maskload_ps(crow + col, m));
  if (t.bias) x = _mm256_add_ps(x, _mm256_maskload_ps(t.bias + col, m));
  if (t.relu) x = _mm256_max_ps(x, _mm256_setzero_ps());
  if (mrow) {
    x = _mm256_and_ps(
        x, _mm256_cmp_ps(_mm256_maskload_ps(mrow + col, m), _mm256_setzero_ps(), _CMP_GT_OQ));
  }
  return x;
}

template <int MR, int NV>
void micro(size_t kc, const float* a, size_t aStep, const float* b, size_t bStep,
           const GemmTile& t) {
  __m256 c[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) c[r][v] = _mm256_setzero_ps();
  }
  for (size_t k = 0; k < kc; ++k) {
    __m256 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(b + 8 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[r][v] = _mm256_fmadd_ps(av, bv[v], c[r][v]);
    }
    a += aStep;
    b += bStep;
  }
  // Every index below is a constant after unrolling, so the accumulators stay in registers
  // (a loop with a run-time bound over c would make the compiler keep c in memory).
  if (t.m == MR && t.n == 8 * NV && !t.load && !t.bias && !t.relu && !t.mask) {
    // The common full tile with nothing to add: plain stores (short-k products are store-bound).
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm256_storeu_ps(t.c + r * t.ldc + 8 * v, c[r][v]);
    }
    return;
  }
  __m256i m[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) m[v] = lanes(t.n - 8 * v);
  const bool full = t.n == 8 * NV;
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= t.m) break;
    float* crow = t.c + r * t.ldc;
    const float* mrow = t.mask ? t.mask + r * t.ldmask : nullptr;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (t.n <= 8 * v) break;
      const __m256 x = epilogue(c[r][v], t, crow, mrow, 8 * v, m[v]);
      if (full) {
        _mm256_storeu_ps(crow + 8 * v, x);
      } else {
        _mm256_maskstore_ps(crow + 8 * v, m[v], x);
      }
    }
  }
}

inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int g = 0; g < 2; ++g) {
    const __m256 t0 = t[4 * g], t1 = t[4 * g + 1], t2 = t[4 * g + 2], t3 = t[4 * g + 3];
    u[4 * g + 0] = _mm256_shuffle_ps(t0, t2, 0x44);
    u[4 * g + 1] = _mm256_shuffle_ps(t0, t2, 0xee);
    u[4 * g + 2] = _mm256_shuffle_ps(t1, t3, 0x44);
    u[4 * g + 3] = _mm256_shuffle_ps(t1, t3, 0xee);
  }
  for (int q = 0; q < 4; ++q) {
    r[q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x20);      // low lanes: column q
    r[4 + q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x31);  // high lanes: column 4 + q
  }
}

// As the AVX-512 packer, in groups of 8.
void packTransposed(const float* src, size_t ld, size_t cols, size_t kc, int nr, float* out) {
  for (size_t c0 = 0; c0 < static_cast<size_t>(nr); c0 += 8) {
    const size_t width = std::min<size_t>(8, nr - c0);
    const size_t rows = c0 < cols ? std::min(width, cols - c0) : 0;
    const __m256i store = lanes(static_cast<int>(width));
    for (size_t k0 = 0; k0 < kc; k0 += 8) {
      const size_t depth = std::min<size_t>(8, kc - k0);
      const __m256i load = lanes(static_cast<int>(depth));
      __m256 r[8];
      for (size_t i = 0; i < 8; ++i) {
        r[i] = i < rows ? _mm256_maskload_ps(src + (c0 + i) * ld + k0, load) : _mm256_setzero_ps();
      }
      transpose8(r);
      for (size_t i = 0; i < depth; ++i) _mm256_maskstore_ps(out + (k0 + i) * nr + c0, store, r[i]);
    }
  }
}


// Vector FMA instructions retired per nanosecond: twelve independent chains (more than the
// FMA latency times the FMA ports on any core with this level), in named registers (an array
// would be kept in memory because of the asm barriers that stop the chains being folded).
double fmaPerNs(long iterations) {
  const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-3f);
  __m256 a0 = _mm256_set1_ps(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
        a9 = a0, a10 = a0, a11 = a0;
  const auto t0 = std::chrono::steady_clock::now();
  for (long it = 0; it < iterations; ++it) {
#define DTRAIN_FMA(v) v = _mm256_fmadd_ps(v, x, y);
    DTRAIN_FMA(a0) DTRAIN_FMA(a1) DTRAIN_FMA(a2) DTRAIN_FMA(a3) DTRAIN_FMA(a4) DTRAIN_FMA(a5)
    DTRAIN_FMA(a6) DTRAIN_FMA(a7) DTRAIN_FMA(a8) DTRAIN_FMA(a9) DTRAIN_FMA(a10) DTRAIN_FMA(a11)
#undef DTRAIN_FMA
    asm volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6),
                 "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  asm volatile("" : : "v"(a0), "v"(a1), "v"(a2), "v"(a3), "v"(a4), "v"(a5), "v"(a6), "v"(a7),
               "v"(a8), "v"(a9), "v"(a10), "v"(a11));
  return 12.0 * static_cast<double>(iterations) / s / 1e9;
}

}  // namespace

const GemmKernel& avx2GemmKernel() {
  static const GemmKernel k{Isa::kAvx2,
                            {6, 16, 256, 96, 512, micro<6, 2>},
                            {12, 8, 256, 96, 512, micro<12, 1>},
                            packTransposed,
                            8,
                            fmaPerNs};
  return k;
}

}  // namespace dtrain

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else
namespace dtrain {
const GemmKernel& avx2GemmKernel() { return scalarGemmKernel(); }
}  // namespace dtrain
#endif
