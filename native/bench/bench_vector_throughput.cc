// How many AVX-512 operations one core retires per nanosecond: independent chains of 32-bit
// adds, 32-bit multiplies (VPMULLD, the quantizers' hash) and float conversions (VCVTPS2DQ), and
// one dependent chain of adds (latency 1, so its rate is the clock). docs/kernels.md uses these to
// bound what the QSGD and TernGrad encoders can reach in cache. Where the CPU has AVX512_BF16 it
// also times, on 1 MiB of float32 in cache, a loop of nothing but the hardware float32 -> bfloat16
// conversion (VCVTNE2PS2BF16, which is not the reference's rounding for denormals) beside memcpy,
// the fastest any bfloat16 cast could be. x86-64 with AVX-512 F only; exits 77 elsewhere.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/isa.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr long kIterations = 20000000;

// Eight independent chains, kept in registers (the empty asm forbids folding them).
#define DTRAIN_CHAIN8(OP) OP(a0) OP(a1) OP(a2) OP(a3) OP(a4) OP(a5) OP(a6) OP(a7)

#define DTRAIN_AVX512 __attribute__((target("avx512f")))
struct Add {
  DTRAIN_AVX512 static __m512i step(__m512i x) { return _mm512_add_epi32(x, _mm512_set1_epi32(3)); }
};
struct Mul {
  DTRAIN_AVX512 static __m512i step(__m512i x) {
    return _mm512_mullo_epi32(x, _mm512_set1_epi32(3));
  }
};
struct Cvt {
  DTRAIN_AVX512 static __m512i step(__m512i x) {
    return _mm512_cvtps_epi32(_mm512_castsi512_ps(x));
  }
};

template <typename Op>
DTRAIN_AVX512 double opsPerNs() {
  constexpr int opsPerIteration = 8;
  __m512i a0 = _mm512_set1_epi32(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  const auto t0 = Clock::now();
  for (long i = 0; i < kIterations; ++i) {
#define DTRAIN_STEP(x) \
  x = Op::step(x);     \
  asm volatile("" : "+v"(x));
    DTRAIN_CHAIN8(DTRAIN_STEP)
#undef DTRAIN_STEP
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  asm volatile("" : : "v"(a0), "v"(a1), "v"(a2), "v"(a3), "v"(a4), "v"(a5), "v"(a6), "v"(a7));
  return static_cast<double>(kIterations) * opsPerIteration / s / 1e9;
}

// A dependent chain of adds, latency 1 each; eight per loop iteration so that the loop's branch
// (one taken branch per cycle at best) is not what is measured.
DTRAIN_AVX512 double clockGHz() {
  __m512i c = _mm512_set1_epi32(1);
  const __m512i k = _mm512_set1_epi32(3);
  const auto t0 = Clock::now();
  for (long i = 0; i < kIterations; ++i) {
#define DTRAIN_DEP(x)         \
  c = _mm512_add_epi32(c, k); \
  asm volatile("" : "+v"(c));
    DTRAIN_CHAIN8(DTRAIN_DEP)
#undef DTRAIN_DEP
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return 8.0 * kIterations / s / 1e9;
}

// Fastest of many calls, in seconds.
template <typename F>
double fastest(F call) {
  double best = 1e30;
  for (int r = 0; r < 3000; ++r) {
    const auto t0 = Clock::now();
    call();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

__attribute__((target("avx512f,avx512bf16"))) void bf16Convert(const float* src, uint16_t* dst,
                                                               size_t n) {
  for (size_t i = 0; i + 32 <= n; i += 32) {
    const __m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
    std::memcpy(dst + i, &h, 64);
  }
}

// GB/s of the conversion loop (6 bytes per element) and of memcpy (2 x bytes), 1 MiB of float32.
void bf16Probe() {
  constexpr size_t n = 262144;
  std::vector<float> src(n, 1.5f), copy(n);
  std::vector<uint16_t> dst(n);
  const double convert = fastest([&] {
    bf16Convert(src.data(), dst.data(), n);
    asm volatile("" : : "r"(dst.data()) : "memory");
  });
  const double memcpyS = fastest([&] {
    std::memcpy(copy.data(), src.data(), n * 4);
    asm volatile("" : : "r"(copy.data()) : "memory");
  });
  std::printf("{\"bf16_instruction_cast_GBs\":%.1f,\"memcpy_GBs\":%.1f,\"bytes\":%zu}\n",
              6.0 * n / convert / 1e9, 8.0 * n / memcpyS / 1e9, n * 4);
}

}  // namespace

int main() {
  if (!dtrain::isaSupported(dtrain::Isa::kAvx512)) return 77;
  // The best of five rounds of each: on a shared machine a neighbour's work only ever slows a
  // round down, and the clock estimate must come from an uncontended round like the rest.
  double ghz = 0, add = 0, mul = 0, cvt = 0;
  for (int round = 0; round < 5; ++round) {
    ghz = std::max(ghz, clockGHz());
    add = std::max(add, opsPerNs<Add>());
    mul = std::max(mul, opsPerNs<Mul>());
    cvt = std::max(cvt, opsPerNs<Cvt>());
  }
  std::printf(
      "{\"clock_GHz\":%.2f,\"vpaddd_zmm_per_ns\":%.2f,\"vpmulld_zmm_per_ns\":%.2f,"
      "\"vcvtps2dq_zmm_per_ns\":%.2f,\"vpaddd_zmm_per_cycle\":%.2f,\"vpmulld_zmm_per_cycle\":%.2f,"
      "\"vcvtps2dq_zmm_per_cycle\":%.2f}\n",
      ghz, add, mul, cvt, add / ghz, mul / ghz, cvt / ghz);
  if (__builtin_cpu_supports("avx512bf16")) bf16Probe();
  return 0;
}
#else
int main() { return 77; }
#endif
