// Per-element definitions every backend shares: the number formats' conversions and the
// counter-based random numbers of the stochastic quantizers. The scalar reference, the SIMD
// tails and the CUDA kernels all call these, so one definition decides every bit.
#pragma once

#include <cmath>
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

// Stochastic rounding draws for the quantizers: 16-bit uniform integers, two per randomBits call
// (a hash spent on one 24-bit draw per element was most of the encoders' work). Elements come in
// blocks of 32: element i takes the low (i % 32 < 16) or high half of hash number
// (i / 32) * 16 + i % 16, so one 16-lane vector of hashes serves two vectors of elements.
DTRAIN_HD uint32_t randomDraw16(uint32_t seed, uint32_t i) {
  const uint32_t h = randomBits(seed, ((i >> 5) << 4) | (i & 15u));
  return (i & 16u) ? h >> 16 : h & 0xffffu;
}

// Round to nearest even (the default rounding mode), as CVTPS2DQ does; t is in int32 range.
DTRAIN_HD int32_t roundToInt(float t) {
#if defined(__CUDA_ARCH__)
  return __float2int_rn(t);
#else
  return static_cast<int32_t>(std::nearbyint(t));
#endif
}

// QSGD with 16-bit draws, for s <= kQsgdFixedMaxLevels: r = |x| * levelScale in fixed point with
// 16 fraction bits, t = round(r * 2^16) (r capped at s first; NaN counts as s), and
// level = (t + draw) >> 16: floor(r) + 1 with probability frac(t / 2^16), else floor(r). So
// E[level] = t / 2^16, within 2^-17 of a level of r (the rounding of r to the 2^-16 grid; the
// 24-bit float comparison it replaces was within 2^-24). ls16 = levelScale * 65536,
// cap16 = s * 65536, both computed once per call.
constexpr uint32_t kQsgdFixedMaxLevels = 32767;
DTRAIN_HD uint32_t qsgdLevel16(float absx, float ls16, float cap16, uint32_t draw) {
#if defined(__CUDA_ARCH__)
  float t = __fmul_rn(absx, ls16);
#else
  float t = absx * ls16;
#endif
  t = t < cap16 ? t : cap16;  // MINPS(t, cap16): NaN gives cap16
  return (static_cast<uint32_t>(roundToInt(t)) + draw) >> 16;
}

// TernGrad's keep decision with 16-bit draws: p = |x| * invScale (at most 1 when scale is the max),
// kept when draw < round(p * 2^16): probability round(p * 2^16) / 2^16, within 2^-17 of p.
// inv16 = invScale * 65536, computed once per call.
DTRAIN_HD bool ternKeep16(float absx, float inv16, uint32_t draw) {
#if defined(__CUDA_ARCH__)
  float t = __fmul_rn(absx, inv16);
#else
  float t = absx * inv16;
#endif
  t = t < 65536.0f ? t : 65536.0f;
  return static_cast<int32_t>(draw) < roundToInt(t);
}

}  // namespace dtrain
