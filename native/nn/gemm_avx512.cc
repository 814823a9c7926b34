// The AVX-512 micro-kernels: a 12 x 32 tile in 24 zmm accumulators (two vector loads of B and
// twelve broadcasts of A per k), a 24 x 16 tile for products with at most 16 columns (the
// classifier layer), and a 16 x 16 register transpose for packing transposed operands. Like
// kernels_avx512.cc, the target is set after the headers, so nothing shared with other files is
// compiled for it.
#include <cstddef>
#include <algorithm>
#include <chrono>
#include <cstdint>

#include "nn/gemm_kernel.h"

#if defined(__x86_64__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma"))), \
                             apply_to = function)
#else
#pragma GCC push_options
// GCC 12 warns on its own intrinsics' deliberately undefined lanes (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma")
#endif

#include <immintrin.h>

namespace dtrain {
namespace {

inline __m512 epilogue(__m512 x, const GemmTile& t, const float* crow, const float* mrow,
                       int col, __mmask16 m) {
  if (t.load) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, crow + col));
  if (t.bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, t.bias + col));
  if (t.relu) x = _mm512_max_ps(x, _mm512_setzero_ps());
  if (mrow) {
    const __mmask16 keep =
        _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(m, mrow + col), _mm512_setzero_ps(), _CMP_GT_OQ);
    x = _mm512_maskz_mov_ps(keep, x);
  }
  return x;
}

inline __mmask16 lanes(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff)
                 : n <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << n) - 1);
}

// MR rows x NV vectors of 16 columns.
template <int MR, int NV>
void micro(size_t kc, const float* a, size_t aStep, const float* b, size_t bStep,
           const GemmTile& t) {
  __m512 c[MR][NV];
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) c[r][v] = _mm512_setzero_ps();
  }
  for (size_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[r][v] = _mm512_fmadd_ps(av, bv[v], c[r][v]);
    }
    a += aStep;
    b += bStep;
  }
  // Every index below is a constant after unrolling, so the accumulators stay in registers
  // (a loop with a run-time bound over c would make the compiler keep c in memory).
  if (t.m == MR && t.n == 16 * NV && !t.load && !t.bias && !t.relu && !t.mask) {
    // The common full tile with nothing to add: plain stores (short-k products are store-bound).
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(t.c + r * t.ldc + 16 * v, c[r][v]);
    }
    return;
  }
  __mmask16 m[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) m[v] = lanes(t.n - 16 * v);
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r) {
    if (r >= t.m) break;
    float* crow = t.c + r * t.ldc;
    const float* mrow = t.mask ? t.mask + r * t.ldmask : nullptr;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (m[v]) _mm512_mask_storeu_ps(crow + 16 * v, m[v], epilogue(c[r][v], t, crow, mrow, 16 * v, m[v]));
    }
  }
}

// Sixteen rows of 16 floats in, their transpose out (out[i] = column i).
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // Each group g of four rows now gives, per 128-bit lane L, columns 4L + q in u[4g + q].
  for (int g = 0; g < 4; ++g) {
    const __m512 t0 = t[4 * g], t1 = t[4 * g + 1], t2 = t[4 * g + 2], t3 = t[4 * g + 3];
    u[4 * g + 0] = _mm512_shuffle_ps(t0, t2, 0x44);
    u[4 * g + 1] = _mm512_shuffle_ps(t0, t2, 0xee);
    u[4 * g + 2] = _mm512_shuffle_ps(t1, t3, 0x44);
    u[4 * g + 3] = _mm512_shuffle_ps(t1, t3, 0xee);
  }
  for (int q = 0; q < 4; ++q) {
    const __m512 even01 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88);
    const __m512 even23 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88);
    const __m512 odd01 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xdd);
    const __m512 odd23 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xdd);
    r[q] = _mm512_shuffle_f32x4(even01, even23, 0x88);       // lane 0: column q
    r[4 + q] = _mm512_shuffle_f32x4(odd01, odd23, 0x88);     // lane 1: column 4 + q
    r[8 + q] = _mm512_shuffle_f32x4(even01, even23, 0xdd);   // lane 2: column 8 + q
    r[12 + q] = _mm512_shuffle_f32x4(odd01, odd23, 0xdd);    // lane 3: column 12 + q
  }
}

// Groups of up to 16 columns, blocks of up to 16 k: rows past `cols` load as zeros (the
// panel's padding), k past kc and lanes past nr are masked off.
void packTransposed(const float* src, size_t ld, size_t cols, size_t kc, int nr, float* out) {
  for (size_t c0 = 0; c0 < static_cast<size_t>(nr); c0 += 16) {
    const size_t width = std::min<size_t>(16, nr - c0);
    const size_t rows = c0 < cols ? std::min(width, cols - c0) : 0;
    const __mmask16 store = lanes(static_cast<int>(width));
    for (size_t k0 = 0; k0 < kc; k0 += 16) {
      const size_t depth = std::min<size_t>(16, kc - k0);
      const __mmask16 load = lanes(static_cast<int>(depth));
      __m512 r[16];
      for (size_t i = 0; i < 16; ++i) {
        r[i] = i < rows ? _mm512_maskz_loadu_ps(load, src + (c0 + i) * ld + k0) : _mm512_setzero_ps();
      }
      transpose16(r);
      for (size_t i = 0; i < depth; ++i) _mm512_mask_storeu_ps(out + (k0 + i) * nr + c0, store, r[i]);
    }
  }
}


// Vector FMA instructions retired per nanosecond: twelve independent chains (more than the
// FMA latency times the FMA ports on any core with this level), in named registers (an array
// would be kept in memory because of the asm barriers that stop the chains being folded).
double fmaPerNs(long iterations) {
  const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-3f);
  __m512 a0 = _mm512_set1_ps(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
        a9 = a0, a10 = a0, a11 = a0;
  const auto t0 = std::chrono::steady_clock::now();
  for (long it = 0; it < iterations; ++it) {
#define DTRAIN_FMA(v) v = _mm512_fmadd_ps(v, x, y);
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

const GemmKernel& avx512GemmKernel() {
  static const GemmKernel k{Isa::kAvx512,
                            {12, 32, 256, 192, 1024, micro<12, 2>},
                            {24, 16, 256, 96, 512, micro<24, 1>},
                            packTransposed,
                            16,
                            fmaPerNs};
  return k;
}

}  // namespace dtrain

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

#else
namespace dtrain {
const GemmKernel& avx512GemmKernel() { return scalarGemmKernel(); }
}  // namespace dtrain
#endif
