// AVX2 (with FMA and F16C) vector operations for simd_kernels-inl.h. Include only inside the
// kernels_avx2.cc target region. Masks are vectors (all-ones lanes), as AVX2 has no mask
// registers.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace dtrain {
namespace avx2 {

struct V {
  static constexpr size_t W = 8;
  using F = __m256;
  using I = __m256i;
  using M = __m256;
  using H = __m128i;  // W halves

  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static void stream(float* p, F v) { _mm256_stream_ps(p, v); }
  static F set1(float x) { return _mm256_set1_ps(x); }
  static F zero() { return _mm256_setzero_ps(); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F minps(F a, F b) { return _mm256_min_ps(a, b); }
  static F maxps(F a, F b) { return _mm256_max_ps(a, b); }
  static F neg(F a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
  static F abs(F a) { return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
  static F floor(F a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static M ge(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
  static M lt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static M gt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static M notFinite(F a) {
    const I e = _mm256_set1_epi32(0x7f800000);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(a), e), e));
  }
  static M orM(M a, M b) { return _mm256_or_ps(a, b); }
  static F select(M m, F yes, F no) { return _mm256_blendv_ps(no, yes, m); }
  static uint32_t bits(M m) { return static_cast<uint32_t>(_mm256_movemask_ps(m)); }
  static M fromBits(uint32_t b) {
    const I lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_castsi256_ps(
        _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(b)), lane), lane));
  }

  static I toInt(F a) { return _mm256_cvttps_epi32(a); }
  static M testBit(I a, int bit) {
    return _mm256_castsi256_ps(_mm256_srai_epi32(_mm256_slli_epi32(a, 31 - bit), 31));
  }

  static I counter(uint32_t seed, uint32_t base) {
    const I i = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(base)),
                                 _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_add_epi32(_mm256_mullo_epi32(i, _mm256_set1_epi32(static_cast<int>(0x9e3779b1u))),
                            _mm256_set1_epi32(static_cast<int>(seed)));
  }
  static I step(I c) {
    return _mm256_add_epi32(c, _mm256_set1_epi32(static_cast<int>(8u * 0x9e3779b1u)));
  }
  static F unit(I x) {
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32(static_cast<int>(0x85ebca6bu)));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 13));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32(static_cast<int>(0xc2b2ae35u)));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(x, 8)),
                         _mm256_set1_ps(5.9604644775390625e-8f));
  }
  static F randomUnit(uint32_t seed, uint32_t base) { return unit(counter(seed, base)); }
  static F maskAdd(F a, M m, F b) { return _mm256_add_ps(a, _mm256_and_ps(m, b)); }
  static I hash(I x) {
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32(static_cast<int>(0x85ebca6bu)));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 13));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32(static_cast<int>(0xc2b2ae35u)));
    return _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
  }
  static I low16(I h) { return _mm256_and_si256(h, _mm256_set1_epi32(0xffff)); }
  static I high16(I h) { return _mm256_srli_epi32(h, 16); }
  static I toIntNearest(F a) { return _mm256_cvtps_epi32(a); }
  static I addI(I a, I b) { return _mm256_add_epi32(a, b); }
  static M ltI(I a, I b) { return _mm256_castsi256_ps(_mm256_cmpgt_epi32(b, a)); }

  static I loadI(const uint16_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  }
  static void storeI(uint16_t* p, I v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
  static F lowHalves(I v) { return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)); }
  static F highHalves(I v) {
    return _mm256_castsi256_ps(
        _mm256_and_si256(v, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
  }
  static I roundTop(F x) {
    const I b = _mm256_castps_si256(x);
    const I lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
    return _mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7fff)), lsb);
  }
  static I joinHalves(I lowRounded, I highRounded) {
    return _mm256_or_si256(
        _mm256_srli_epi32(lowRounded, 16),
        _mm256_and_si256(highRounded, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
  }

  static H loadH(const uint16_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
  static void storeH(uint16_t* p, H h) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), h); }
  static void streamH(uint16_t* p, H h) { _mm_stream_si128(reinterpret_cast<__m128i*>(p), h); }
  // Narrows 8 x 32-bit lanes (each fitting 16 bits unsigned) to 8 x 16-bit.
  static H narrow(I v) {
    return _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(v, v), 0x08));
  }
  static H blendH(M m, H no, H yes) {
    const __m128i m16 = _mm256_castsi256_si128(_mm256_permute4x64_epi64(
        _mm256_packs_epi32(_mm256_castps_si256(m), _mm256_castps_si256(m)), 0x08));
    return _mm_blendv_epi8(no, yes, m16);
  }

  static F fromHalf(H h) { return _mm256_cvtph_ps(h); }
  // As fromHalf, but NaNs keep their payload unquieted, as halfBitsToFloat and numpy do.
  static F fromHalfExact(H h) {
    const F x = _mm256_cvtph_ps(h);
    const F nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    if (!_mm256_movemask_ps(nan)) return x;
    const I e = _mm256_cvtepu16_epi32(h);
    const I sign = _mm256_slli_epi32(_mm256_and_si256(e, _mm256_set1_epi32(0x8000)), 16);
    const I pay = _mm256_slli_epi32(_mm256_and_si256(e, _mm256_set1_epi32(0x3ff)), 13);
    const I bits = _mm256_or_si256(_mm256_or_si256(sign, pay), _mm256_set1_epi32(0x7f800000));
    return _mm256_blendv_ps(x, _mm256_castsi256_ps(bits), nan);
  }
  static H toHalf(F x) {
    H h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const F nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    if (_mm256_movemask_ps(nan)) {
      const I b = _mm256_castps_si256(x);
      I p = _mm256_srli_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x007fffff)), 13);
      p = _mm256_or_si256(
          p, _mm256_and_si256(_mm256_cmpeq_epi32(p, _mm256_setzero_si256()), _mm256_set1_epi32(1)));
      const I sign = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x8000));
      const I fixed = _mm256_or_si256(_mm256_or_si256(p, sign), _mm256_set1_epi32(0x7c00));
      h = blendH(nan, h, narrow(fixed));
    }
    return h;
  }
  // d[0..7] = half(float(d) + float(s)), rounded by the instruction: the reference's rounding
  // for every sum (a sum is never a signalling NaN).
  static constexpr size_t kSumHalvesLanes = W;
  static void sumHalves(uint16_t* d, const uint16_t* s) {
    const F a = fromHalf(loadH(d)), b = fromHalf(loadH(s));
    storeH(d, _mm256_cvtps_ph(add(a, b), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  static I roundBFloat16Low(F x) {
    const I b = _mm256_castps_si256(x);
    const I lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
    I r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7fff)), lsb),
                            16);
    const I nan = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    if (_mm256_movemask_epi8(nan)) {
      r = _mm256_blendv_epi8(r, _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40)),
                             nan);
    }
    return r;
  }
  static void storeBFloat16Pair(uint16_t* p, F x0, F x1, bool stream) {
    const I packed = _mm256_packus_epi32(roundBFloat16Low(x0), roundBFloat16Low(x1));
    const I ordered = _mm256_permute4x64_epi64(packed, 0xd8);
    if (stream)
      _mm256_stream_si256(reinterpret_cast<__m256i*>(p), ordered);
    else
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), ordered);
  }
  static F fromBFloat16(H h) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static H toBFloat16(F x) {
    const I b = _mm256_castps_si256(x);
    const I lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
    I r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7fff)), lsb),
                            16);
    const I nan = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    if (_mm256_movemask_epi8(nan)) {
      const I q = _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40));
      r = _mm256_blendv_epi8(r, q, nan);
    }
    return narrow(r);
  }

  // Table decoding (see simd_avx512.h): 64 byte codes in two registers; a 32-bit mask becomes 32
  // bytes by a byte shuffle of its broadcast and a compare against each byte's bit. The table
  // holds up to 32 floats in four registers; 8-entry permutes and blends on the high index bits
  // pick from it.
  struct Idx {
    I lo, hi;
  };
  struct Table {
    F t[4];
  };
  static Table loadTable(const float* t32) {
    return {{_mm256_loadu_ps(t32), _mm256_loadu_ps(t32 + 8), _mm256_loadu_ps(t32 + 16),
             _mm256_loadu_ps(t32 + 24)}};
  }
  static I bytesFromBits(uint32_t bits, int value) {
    const I spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(bits)),
        _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
    const I bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201u));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit),
                            _mm256_set1_epi8(static_cast<char>(value)));
  }
  static Idx idxFromBits(uint64_t bits, int value) {
    return {bytesFromBits(static_cast<uint32_t>(bits), value),
            bytesFromBits(static_cast<uint32_t>(bits >> 32), value)};
  }
  static Idx idxAddBits(Idx x, uint64_t bits, int value) {
    return {_mm256_add_epi8(x.lo, bytesFromBits(static_cast<uint32_t>(bits), value)),
            _mm256_add_epi8(x.hi, bytesFromBits(static_cast<uint32_t>(bits >> 32), value))};
  }
  template <int Bits>
  static F lookup(const Table& t, I i) {
    const F a = _mm256_permutevar8x32_ps(t.t[0], i);
    if (Bits <= 3) return a;
    // blendv picks by the top bit of each lane: bit 3 of the index, then bit 4.
    const F b3 = _mm256_castsi256_ps(_mm256_slli_epi32(i, 28));
    const F lo = _mm256_blendv_ps(a, _mm256_permutevar8x32_ps(t.t[1], i), b3);
    if (Bits == 4) return lo;
    const F hi = _mm256_blendv_ps(_mm256_permutevar8x32_ps(t.t[2], i),
                                  _mm256_permutevar8x32_ps(t.t[3], i), b3);
    return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(i, 27)));
  }
  // fn(q, values of elements 8q..8q+7), q = 0..7. The bytes go through memory: a 64-bit load
  // widens eight of them at once.
  template <int Bits, typename Fn>
  static void lookup64(const Table& t, const Idx& x, Fn fn) {
    alignas(32) uint8_t b[64];
    _mm256_store_si256(reinterpret_cast<__m256i*>(b), x.lo);
    _mm256_store_si256(reinterpret_cast<__m256i*>(b + 32), x.hi);
    for (int q = 0; q < 8; ++q) {
      const I i =
          _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + 8 * q)));
      fn(q, lookup<Bits>(t, i));
    }
  }

  static void storeBits(uint8_t* p, uint32_t b) { *p = static_cast<uint8_t>(b); }
  static uint32_t loadBits(const uint8_t* p) { return *p; }
  static double horizontalSumAsDouble(F a) {
    alignas(32) float t[8];
    _mm256_store_ps(t, a);
    double s = 0;
    for (float x : t) s += x;
    return s;
  }
  static float maxLanes(F a) {
    alignas(32) float t[8];
    _mm256_store_ps(t, a);
    float m = t[0];
    for (float x : t) m = x > m ? x : m;
    return m;
  }
  static void fence() { _mm_sfence(); }
};

}  // namespace avx2
}  // namespace dtrain
