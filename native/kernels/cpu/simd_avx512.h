// AVX-512 (F, BW, VL) vector operations for simd_kernels-inl.h. Include only inside the
// kernels_avx512.cc target region: these inline functions use the wide registers.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace dtrain {
namespace avx512 {

struct V {
  static constexpr size_t W = 16;
  using F = __m512;
  using I = __m512i;
  using M = __mmask16;
  using H = __m256i;  // W halves

  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static void stream(float* p, F v) { _mm512_stream_ps(p, v); }
  static F set1(float x) { return _mm512_set1_ps(x); }
  static F zero() { return _mm512_setzero_ps(); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  // MINPS/MAXPS semantics: the second operand when either is NaN.
  static F minps(F a, F b) { return _mm512_min_ps(a, b); }
  static F maxps(F a, F b) { return _mm512_max_ps(a, b); }
  static F neg(F a) {
    return _mm512_castsi512_ps(
        _mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(INT32_MIN)));
  }
  static F abs(F a) { return _mm512_abs_ps(a); }
  static F floor(F a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static M ge(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
  static M lt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M notFinite(F a) {
    const I e = _mm512_set1_epi32(0x7f800000);
    return _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(a), e), e);
  }
  static M orM(M a, M b) { return a | b; }
  static F select(M m, F yes, F no) { return _mm512_mask_blend_ps(m, no, yes); }
  static uint32_t bits(M m) { return m; }
  static M fromBits(uint32_t b) { return static_cast<M>(b); }

  static I toInt(F a) { return _mm512_cvttps_epi32(a); }
  static M testBit(I a, int bit) { return _mm512_test_epi32_mask(a, _mm512_set1_epi32(1 << bit)); }

  // The counter of randomBits for lanes base..base+15, advanced by step() per vector: one
  // multiply saved per vector over computing i * 0x9e3779b1 each time.
  static I counter(uint32_t seed, uint32_t base) {
    const I i =
        _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(base)),
                         _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    return _mm512_add_epi32(_mm512_mullo_epi32(i, _mm512_set1_epi32(static_cast<int>(0x9e3779b1u))),
                            _mm512_set1_epi32(static_cast<int>(seed)));
  }
  static I step(I c) {
    return _mm512_add_epi32(c, _mm512_set1_epi32(static_cast<int>(16u * 0x9e3779b1u)));
  }
  static F unit(I x) {
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
    x = _mm512_mullo_epi32(x, _mm512_set1_epi32(static_cast<int>(0x85ebca6bu)));
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 13));
    x = _mm512_mullo_epi32(x, _mm512_set1_epi32(static_cast<int>(0xc2b2ae35u)));
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(x, 8)),
                         _mm512_set1_ps(5.9604644775390625e-8f));
  }
  static F maskAdd(F a, M m, F b) { return _mm512_mask_add_ps(a, m, a, b); }
  // randomBits of each lane's counter, and the halves the 16-bit draws use.
  static I hash(I x) {
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
    x = _mm512_mullo_epi32(x, _mm512_set1_epi32(static_cast<int>(0x85ebca6bu)));
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 13));
    x = _mm512_mullo_epi32(x, _mm512_set1_epi32(static_cast<int>(0xc2b2ae35u)));
    return _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
  }
  static I low16(I h) { return _mm512_and_si512(h, _mm512_set1_epi32(0xffff)); }
  static I high16(I h) { return _mm512_srli_epi32(h, 16); }
  static I toIntNearest(F a) { return _mm512_cvtps_epi32(a); }
  static I addI(I a, I b) { return _mm512_add_epi32(a, b); }
  static M ltI(I a, I b) { return _mm512_cmplt_epi32_mask(a, b); }

  // 2W 16-bit lanes as one register, for the bfloat16 sum that works on even and odd lanes.
  static I loadI(const uint16_t* p) { return _mm512_loadu_si512(p); }
  static void storeI(uint16_t* p, I v) { _mm512_storeu_si512(p, v); }
  static F lowHalves(I v) { return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)); }
  static F highHalves(I v) {
    return _mm512_castsi512_ps(
        _mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
  }
  // Round to nearest even to the top 16 bits (no NaN fix-up: sums of bfloat16 values are quiet
  // NaNs with zero low bits, which round to themselves).
  static I roundTop(F x) {
    const I b = _mm512_castps_si512(x);
    const I lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    return _mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb);
  }
  static I joinHalves(I lowRounded, I highRounded) {
    return _mm512_or_si512(
        _mm512_srli_epi32(lowRounded, 16),
        _mm512_and_si512(highRounded, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
  }

  static F randomUnit(uint32_t seed, uint32_t base) { return unit(counter(seed, base)); }

  static H loadH(const uint16_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  }
  static void storeH(uint16_t* p, H h) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), h); }
  static void streamH(uint16_t* p, H h) { _mm256_stream_si256(reinterpret_cast<__m256i*>(p), h); }
  static H blendH(M m, H no, H yes) { return _mm256_mask_blend_epi16(m, no, yes); }

  static F fromHalf(H h) { return _mm512_cvtph_ps(h); }
  // As fromHalf, but NaNs keep their payload unquieted (the instruction sets the quiet bit), as
  // halfBitsToFloat and numpy do.
  static F fromHalfExact(H h) {
    const F x = _mm512_cvtph_ps(h);
    const M nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    if (!nan) return x;
    const I e = _mm512_cvtepu16_epi32(h);
    const I sign = _mm512_slli_epi32(_mm512_and_si512(e, _mm512_set1_epi32(0x8000)), 16);
    const I pay = _mm512_slli_epi32(_mm512_and_si512(e, _mm512_set1_epi32(0x3ff)), 13);
    const I bits = _mm512_or_si512(_mm512_or_si512(sign, pay), _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_blend_ps(nan, x, _mm512_castsi512_ps(bits));
  }
  // Hardware round-to-nearest-even; only NaNs differ from floatToHalfBits (the instruction
  // quiets them), so NaN lanes are rebuilt the numpy way.
  static H toHalf(F x) {
    H h = _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const M nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    if (nan) {
      const I b = _mm512_castps_si512(x);
      I p = _mm512_srli_epi32(_mm512_and_si512(b, _mm512_set1_epi32(0x007fffff)), 13);
      p = _mm512_mask_mov_epi32(p, _mm512_cmpeq_epi32_mask(p, _mm512_setzero_si512()),
                                _mm512_set1_epi32(1));
      const I sign = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x8000));
      const I fixed = _mm512_or_si512(_mm512_or_si512(p, sign), _mm512_set1_epi32(0x7c00));
      h = _mm256_mask_blend_epi16(nan, h, _mm512_cvtepi32_epi16(fixed));
    }
    return h;
  }
  // d[0..7] = half(float(d) + float(s)), 8 lanes: the 16-lane VCVTPS2PH/VCVTPH2PS pair made the
  // float16 sum slower by 15% in cache on Zen 4 (1 MiB: 0.73 of memcpy with it, 0.81 without). The
  // rounding is the instruction's, the reference's for every sum (a sum is never a signalling NaN).
  static constexpr size_t kSumHalvesLanes = 8;
  static void sumHalves(uint16_t* d, const uint16_t* s) {
    const __m256 a = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d)));
    const __m256 b = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
    _mm_storeu_si128(
        reinterpret_cast<__m128i*>(d),
        _mm256_cvtps_ph(_mm256_add_ps(a, b), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  // Two vectors to bfloat16 in one register: round each to its top 16 bits (NaN lanes quieted
  // instead, only when there are any: one test for both), then one two-source word permute
  // gathers the top halves in order.
  static I roundBFloat16High(I b) {
    const I lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    return _mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb);
  }
  static void storeBFloat16Pair(uint16_t* p, F x0, F x1, bool stream) {
    const I b0 = _mm512_castps_si512(x0), b1 = _mm512_castps_si512(x1);
    I r0 = roundBFloat16High(b0), r1 = roundBFloat16High(b1);
    const M nan0 = _mm512_cmp_ps_mask(x0, x0, _CMP_UNORD_Q),
            nan1 = _mm512_cmp_ps_mask(x1, x1, _CMP_UNORD_Q);
    if (nan0 | nan1) {
      const I q = _mm512_set1_epi32(0x00400000);
      r0 = _mm512_mask_or_epi32(r0, nan0, b0, q);
      r1 = _mm512_mask_or_epi32(r1, nan1, b1, q);
    }
    const I odd =
        _mm512_setr_epi32(0x00030001, 0x00070005, 0x000b0009, 0x000f000d, 0x00130011, 0x00170015,
                          0x001b0019, 0x001f001d, 0x00230021, 0x00270025, 0x002b0029, 0x002f002d,
                          0x00330031, 0x00370035, 0x003b0039, 0x003f003d);
    const I ordered = _mm512_permutex2var_epi16(r0, odd, r1);
    if (stream) {
      _mm512_stream_si512(reinterpret_cast<__m512i*>(p), ordered);
    } else {
      _mm512_storeu_si512(p, ordered);
    }
  }
  static F fromBFloat16(H h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static H toBFloat16(F x) {
    const I b = _mm512_castps_si512(x);
    const I lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    I r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb),
                            16);
    const M nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    if (nan)
      r = _mm512_mask_mov_epi32(r, nan,
                                _mm512_or_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40)));
    return _mm512_cvtepi32_epi16(r);
  }

  // Table decoding (quantizer decoders): the small integer codes of 64 elements as bytes, built
  // from 64-bit masks of bit-planes with byte-masked adds, then looked up in a table of up to 32
  // floats by a two-source permute, W lanes at a time. No per-plane float work per element.
  using Idx = __m512i;
  struct Table {
    F lo, hi;
  };
  static Table loadTable(const float* t32) {
    return {_mm512_loadu_ps(t32), _mm512_loadu_ps(t32 + 16)};
  }
  static Idx idxFromBits(uint64_t bits, int value) {
    return _mm512_maskz_mov_epi8(bits, _mm512_set1_epi8(static_cast<char>(value)));
  }
  static Idx idxAddBits(Idx x, uint64_t bits, int value) {
    return _mm512_mask_add_epi8(x, bits, x, _mm512_set1_epi8(static_cast<char>(value)));
  }
  template <int Bits>
  static F lookup(const Table& t, I i) {
    return Bits <= 4 ? _mm512_permutexvar_ps(i, t.lo) : _mm512_permutex2var_ps(t.lo, i, t.hi);
  }
  // fn(q, values of elements 16q..16q+15), q = 0..3.
  template <int Bits, typename Fn>
  static void lookup64(const Table& t, Idx x, Fn fn) {
    fn(0, lookup<Bits>(t, _mm512_cvtepu8_epi32(_mm512_castsi512_si128(x))));
    fn(1, lookup<Bits>(t, _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(x, 1))));
    fn(2, lookup<Bits>(t, _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(x, 2))));
    fn(3, lookup<Bits>(t, _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(x, 3))));
  }

  static void storeBits(uint8_t* p, uint32_t b) {
    const uint16_t v = static_cast<uint16_t>(b);
    std::memcpy(p, &v, 2);
  }
  static uint32_t loadBits(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
  }
  static double horizontalSumAsDouble(F a) {
    alignas(64) float t[16];
    _mm512_store_ps(t, a);
    double s = 0;
    for (float x : t) s += x;
    return s;
  }
  static float maxLanes(F a) { return _mm512_reduce_max_ps(a); }
  static void fence() { _mm_sfence(); }
};

}  // namespace avx512
}  // namespace dtrain
