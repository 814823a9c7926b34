// The scalar reference: every primitive as a plain loop, the definition the SIMD levels and the
// CUDA kernels are tested against. Also the tails of the SIMD loops, so it must not be compiled
// with FMA contraction (baseline x86-64 has no FMA, and nothing here asks for it).
#include <cmath>
#include <cstring>

#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/scalar_kernels.h"
#include "kernels/elementwise.h"

namespace dtrain {
namespace scalar {

// A scale of exactly 1 skips the multiply, which would quiet signalling NaNs: the conversion
// alone is then numpy's, bit for bit.
void castToHalf(const float* src, uint16_t* dst, size_t n, float scale) {
  if (scale == 1.0f) {
    for (size_t i = 0; i < n; ++i) dst[i] = floatToHalfBits(src[i]);
    return;
  }
  for (size_t i = 0; i < n; ++i) dst[i] = floatToHalfBits(src[i] * scale);
}

void castToBFloat16(const float* src, uint16_t* dst, size_t n, float scale) {
  if (scale == 1.0f) {
    for (size_t i = 0; i < n; ++i) dst[i] = floatToBFloat16Bits(src[i]);
    return;
  }
  for (size_t i = 0; i < n; ++i) dst[i] = floatToBFloat16Bits(src[i] * scale);
}

bool castFromHalf(const uint16_t* src, float* dst, size_t n, float scale) {
  bool bad = false;
  for (size_t i = 0; i < n; ++i) {
    dst[i] = scale == 1.0f ? halfBitsToFloat(src[i]) : halfBitsToFloat(src[i]) * scale;
    bad |= !std::isfinite(dst[i]);
  }
  return bad;
}

bool castFromBFloat16(const uint16_t* src, float* dst, size_t n, float scale) {
  bool bad = false;
  for (size_t i = 0; i < n; ++i) {
    dst[i] = scale == 1.0f ? bfloat16BitsToFloat(src[i]) : bfloat16BitsToFloat(src[i]) * scale;
    bad |= !std::isfinite(dst[i]);
  }
  return bad;
}

bool nonFiniteFloat(const float* src, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if ((floatBits(src[i]) & 0x7f800000u) == 0x7f800000u) return true;
  }
  return false;
}

bool nonFiniteHalf(const uint16_t* src, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if ((src[i] & 0x7c00u) == 0x7c00u) return true;
  }
  return false;
}

namespace {

// Min and max keep dst when either side is NaN in the order (b < a ? b : a): a NaN already in
// dst stays, a NaN arriving in src is dropped. This is what x86 MINPS(src, dst) does.
template <typename T>
void reduceTyped(ReduceOp op, T* d, const T* s, size_t n) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      for (size_t i = 0; i < n; ++i) d[i] = static_cast<T>(d[i] + s[i]);
      break;
    case ReduceOp::kMin:
      for (size_t i = 0; i < n; ++i) d[i] = s[i] < d[i] ? s[i] : d[i];
      break;
    case ReduceOp::kMax:
      for (size_t i = 0; i < n; ++i) d[i] = s[i] > d[i] ? s[i] : d[i];
      break;
    case ReduceOp::kProd:
      for (size_t i = 0; i < n; ++i) d[i] = static_cast<T>(d[i] * s[i]);
      break;
  }
}

// Integer sums and products wrap (two's complement) like Int32Array arithmetic in JS, instead
// of the undefined behaviour of signed overflow in C++: they run on the unsigned type U.
template <typename T, typename U>
void reduceInteger(ReduceOp op, T* d, const T* s, size_t n) {
  if (op == ReduceOp::kMin || op == ReduceOp::kMax) {
    reduceTyped(op, d, s, n);
    return;
  }
  auto* du = reinterpret_cast<U*>(d);
  auto* su = reinterpret_cast<const U*>(s);
  if (op == ReduceOp::kProd) {
    // uint8 * uint8 promotes to int; the cast back keeps the low bits.
    for (size_t i = 0; i < n; ++i) du[i] = static_cast<U>(static_cast<uint64_t>(du[i]) * su[i]);
  } else {
    for (size_t i = 0; i < n; ++i) du[i] = static_cast<U>(du[i] + su[i]);
  }
}

template <float (*ToFloat)(uint16_t), uint16_t (*FromFloat)(float)>
void reduceHalfTyped(ReduceOp op, uint16_t* d, const uint16_t* s, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float a = ToFloat(d[i]), b = ToFloat(s[i]);
    switch (op) {
      case ReduceOp::kSum:
      case ReduceOp::kAvg:
        d[i] = FromFloat(a + b);
        break;
      case ReduceOp::kMin:
        d[i] = b < a ? s[i] : d[i];
        break;
      case ReduceOp::kMax:
        d[i] = b > a ? s[i] : d[i];
        break;
      case ReduceOp::kProd:
        d[i] = FromFloat(a * b);
        break;
    }
  }
}

}  // namespace

void reduce(DType dtype, ReduceOp op, void* dst, const void* src, size_t n) {
  switch (dtype) {
    case DType::kFloat32:
      reduceTyped(op, static_cast<float*>(dst), static_cast<const float*>(src), n);
      break;
    case DType::kFloat64:
      reduceTyped(op, static_cast<double*>(dst), static_cast<const double*>(src), n);
      break;
    case DType::kInt32:
      reduceInteger<int32_t, uint32_t>(op, static_cast<int32_t*>(dst),
                                       static_cast<const int32_t*>(src), n);
      break;
    case DType::kUint8:
      reduceInteger<uint8_t, uint8_t>(op, static_cast<uint8_t*>(dst),
                                      static_cast<const uint8_t*>(src), n);
      break;
    case DType::kInt8:
      reduceInteger<int8_t, uint8_t>(op, static_cast<int8_t*>(dst),
                                     static_cast<const int8_t*>(src), n);
      break;
    case DType::kInt64:
      reduceInteger<int64_t, uint64_t>(op, static_cast<int64_t*>(dst),
                                       static_cast<const int64_t*>(src), n);
      break;
    case DType::kFloat16:
      reduceHalfTyped<halfBitsToFloat, floatToHalfBits>(op, static_cast<uint16_t*>(dst),
                                                        static_cast<const uint16_t*>(src), n);
      break;
    case DType::kBFloat16:
      reduceHalfTyped<bfloat16BitsToFloat, floatToBFloat16Bits>(
          op, static_cast<uint16_t*>(dst), static_cast<const uint16_t*>(src), n);
      break;
  }
}

double sumSquares(const float* x, size_t n) {
  double acc = 0;
  for (size_t i = 0; i < n; ++i) acc += static_cast<double>(x[i]) * x[i];
  return acc;
}

double sumSquaresHalf(const uint16_t* x, size_t n) {
  double acc = 0;
  for (size_t i = 0; i < n; ++i) {
    const double v = halfBitsToFloat(x[i]);
    acc += v * v;
  }
  return acc;
}

float maxAbs(const float* x, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    m = a > m ? a : m;
  }
  return m;
}

namespace {
inline float gradAt(const void* grad, bool gradHalf, size_t i) {
  return gradHalf ? halfBitsToFloat(static_cast<const uint16_t*>(grad)[i])
                  : static_cast<const float*>(grad)[i];
}
}  // namespace

void sgdUpdate(const SgdElementArgs& a, float* w, const void* grad, bool gradHalf, float* mom,
               uint16_t* w16, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    float g = gradAt(grad, gradHalf, i) * a.gradScale;
    if (a.weightDecay != 0) g = g + a.weightDecay * w[i];
    const float b = a.momentum * mom[i] + g;
    mom[i] = b;
    const float d = a.nesterov ? g + a.momentum * b : b;
    w[i] = w[i] - a.lr * d;
    if (w16) w16[i] = floatToHalfBits(w[i]);
  }
}

void larsUpdate(const LarsElementArgs& a, float* w, const void* grad, bool gradHalf, float* v,
                uint16_t* w16, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    float g = gradAt(grad, gradHalf, i) * a.gradScale;
    if (a.weightDecay != 0) g = g + a.weightDecay * w[i];
    const float nv = a.momentum * v[i] + a.lrTrust * g;
    v[i] = nv;
    w[i] = w[i] - nv;
    if (w16) w16[i] = floatToHalfBits(w[i]);
  }
}

size_t dgcAccumulateSelect(float* u, float* v, const float* g, size_t n, float momentum,
                           float threshold, uint32_t* idx, size_t cap) {
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    const float nu = momentum * u[i] + g[i];
    const float nv = v[i] + nu;
    u[i] = nu;
    v[i] = nv;
    if (std::fabs(nv) >= threshold) {
      if (count < cap) idx[count] = static_cast<uint32_t>(i);
      ++count;
    }
  }
  return count;
}

size_t selectAbove(const float* x, size_t n, float threshold, uint32_t* idx, size_t cap) {
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::fabs(x[i]) >= threshold) {
      if (count < cap) idx[count] = static_cast<uint32_t>(i);
      ++count;
    }
  }
  return count;
}

namespace {
inline void putBit(uint8_t* bits, size_t i, bool on) {
  const uint8_t m = static_cast<uint8_t>(1u << (i & 7));
  bits[i >> 3] = on ? (bits[i >> 3] | m) : (bits[i >> 3] & ~m);
}
inline bool getBit(const uint8_t* bits, size_t i) { return (bits[i >> 3] >> (i & 7)) & 1u; }
}  // namespace

void qsgdEncode(const float* x, size_t n, float levelScale, uint32_t s, uint32_t seed,
                uint32_t base, uint8_t* signs, uint8_t* planes, size_t planeStride,
                int planeCount) {
  // Whole bytes are written: padding bits after element n - 1 are zero.
  std::memset(signs, 0, (n + 7) / 8);
  for (int p = 0; p < planeCount; ++p) std::memset(planes + p * planeStride, 0, (n + 7) / 8);
  const bool fixed = s <= kQsgdFixedMaxLevels;
  const float cap = static_cast<float>(s);
  const float ls16 = levelScale * 65536.0f, cap16 = cap * 65536.0f;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t index = base + static_cast<uint32_t>(i);
    uint32_t l;
    if (fixed) {
      l = qsgdLevel16(std::fabs(x[i]), ls16, cap16, randomDraw16(seed, index));
    } else {
      // Levels beyond 2^15 do not fit the fixed-point form: a 24-bit float draw instead.
      const float r = std::fabs(x[i]) * levelScale;
      const float fl = std::floor(r);
      const float up = randomUnit(seed, index) < r - fl ? 1.0f : 0.0f;
      float level = fl + up;
      level = level < cap ? level : cap;
      l = static_cast<uint32_t>(level);
    }
    putBit(signs, i, x[i] < 0);
    for (int p = 0; p < planeCount; ++p) putBit(planes + p * planeStride, i, (l >> p) & 1u);
  }
}

void qsgdDecode(const uint8_t* signs, const uint8_t* planes, size_t planeStride, int planeCount,
                size_t n, float unit, float* out, bool accumulate) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t l = 0;
    for (int p = 0; p < planeCount; ++p)
      l |= static_cast<uint32_t>(getBit(planes + p * planeStride, i)) << p;
    float val = static_cast<float>(l) * unit;
    if (getBit(signs, i)) val = -val;
    out[i] = accumulate ? out[i] + val : val;
  }
}

void ternGradEncode(const float* x, size_t n, float invScale, uint32_t seed, uint32_t base,
                    uint8_t* nonzero, uint8_t* signs) {
  std::memset(nonzero, 0, (n + 7) / 8);
  std::memset(signs, 0, (n + 7) / 8);
  const float inv16 = invScale * 65536.0f;
  for (size_t i = 0; i < n; ++i) {
    putBit(nonzero, i,
           ternKeep16(std::fabs(x[i]), inv16, randomDraw16(seed, base + static_cast<uint32_t>(i))));
    putBit(signs, i, x[i] < 0);
  }
}

void ternGradDecode(const uint8_t* nonzero, const uint8_t* signs, size_t n, float scale, float* out,
                    bool accumulate) {
  for (size_t i = 0; i < n; ++i) {
    float val = getBit(nonzero, i) ? scale : 0.0f;
    if (getBit(signs, i)) val = -val;
    out[i] = accumulate ? out[i] + val : val;
  }
}

double errorAbsSum(const float* g, const float* e, size_t n) {
  double acc = 0;
  for (size_t i = 0; i < n; ++i) acc += std::fabs(g[i] + e[i]);
  return acc;
}

void signEncode(const float* g, float* e, size_t n, float scale, uint8_t* signs) {
  std::memset(signs, 0, (n + 7) / 8);
  for (size_t i = 0; i < n; ++i) {
    const float x = g[i] + e[i];
    const bool neg = x < 0;
    putBit(signs, i, neg);
    e[i] = x - (neg ? -scale : scale);
  }
}

void signDecode(const uint8_t* signs, size_t n, float scale, float* out, bool accumulate) {
  for (size_t i = 0; i < n; ++i) {
    const float val = getBit(signs, i) ? -scale : scale;
    out[i] = accumulate ? out[i] + val : val;
  }
}

}  // namespace scalar

const CpuKernelTable& scalarKernelTable() {
  static const CpuKernelTable t = {
      Isa::kScalar,
      scalar::castToHalf,
      scalar::castToBFloat16,
      scalar::castFromHalf,
      scalar::castFromBFloat16,
      scalar::nonFiniteFloat,
      scalar::nonFiniteHalf,
      scalar::reduce,
      scalar::sumSquares,
      scalar::sumSquaresHalf,
      scalar::maxAbs,
      scalar::sgdUpdate,
      scalar::larsUpdate,
      scalar::dgcAccumulateSelect,
      scalar::selectAbove,
      scalar::qsgdEncode,
      scalar::qsgdDecode,
      scalar::ternGradEncode,
      scalar::ternGradDecode,
      scalar::errorAbsSum,
      scalar::signEncode,
      scalar::signDecode,
  };
  return t;
}

}  // namespace dtrain
