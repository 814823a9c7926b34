// Per-element definitions every backend shares: the number formats' conversions and the
// counter-based random numbers of the stochastic quantizers. The scalar reference, the SIMD
// tails and the CUDA kernels all call these, so one definition decides every bit.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define DTRAIN_HD __host__ __device__ __forceinline__
#else
#define DTRAIN_HD inline
#endif

namespace dtrain {

DTRAIN_HD uint32_t floatBits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

DTRAIN_HD float bitsFloat(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// IEEE binary16, round to nearest even, as numpy's astype(np.float16) does it (npy_half.c):
// overflow to inf, subnormals rounded, and NaN kept NaN by truncating the payload (a payload
// that truncates to zero becomes 0x?c01, so it stays a NaN; signalling NaNs are not quieted,
// which is where this differs from the F16C instruction).
DTRAIN_HD uint16_t floatToHalfBits(float f) {
  const uint32_t x = floatBits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {
    if (absx == 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u);
    uint32_t h = 0x7c00u | ((absx & 0x007fffffu) >> 13);
    if (h == 0x7c00u) h = 0x7c01u;
    return static_cast<uint16_t>(sign | h);
  }
  // 65520 and above round to inf.
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (absx < 0x38800000u) {  // below 2^-14: a half subnormal or zero
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);  // at most 2^-25: rounds to 0
    const uint32_t e = absx >> 23;                               // 102..112
    const uint32_t m = (absx & 0x007fffffu) | 0x00800000u;
    const uint32_t shift = 126u - e;  // 14..24: the value is m * 2^(e-150), unit 2^-24
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  // Normal: rebias the exponent, round the 13 dropped bits; a carry out of the mantissa
  // correctly bumps the exponent.
  uint32_t h = ((absx - 0x38000000u) >> 13);
  const uint32_t rem = absx & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

DTRAIN_HD float halfBitsToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu;
  const uint32_t m = h & 0x3ffu;
  if (e == 0x1fu) return bitsFloat(sign | 0x7f800000u | (m << 13));
  if (e != 0) return bitsFloat(sign | ((e + 112u) << 23) | (m << 13));
  // Subnormal or zero: exactly m * 2^-24.
  return bitsFloat(sign | floatBits(static_cast<float>(m) * 5.9604644775390625e-8f));
}

// bfloat16 is the top half of a float32: round to nearest even on the dropped 16 bits; NaN is
// quieted (bit 6 set), keeping sign and the top of the payload, as AVX512-BF16's VCVTNEPS2BF16
// and most frameworks do, so a NaN never rounds into inf.
DTRAIN_HD uint16_t floatToBFloat16Bits(float f) {
  const uint32_t x = floatBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x0040u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

DTRAIN_HD float bfloat16BitsToFloat(uint16_t b) {
  return bitsFloat(static_cast<uint32_t>(b) << 16);
}

// Counter-based random bits (a multiply-xorshift finalizer of seed and index): element i gets the
// same number on every backend and vector width, so SIMD and CUDA quantizers can be checked
// bit for bit against the scalar one.
DTRAIN_HD uint32_t randomBits(uint32_t seed, uint32_t i) {
  uint32_t x = i * 0x9e3779b1u + seed;
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  x *= 0xc2b2ae35u;
  x ^= x >> 16;
  return x;
}

// Uniform in [0, 1) with 24 bits, exact in float32.
DTRAIN_HD float randomUnit(uint32_t seed, uint32_t i) {
  return static_cast<float>(randomBits(seed, i) >> 8) * 5.9604644775390625e-8f;
}

}  // namespace dtrain
