// The per-ISA primitives: one table of function pointers per instruction-set level, all with the
// same contracts (docs/kernels.md). The algorithms above them (multi-tensor SGD/LARS, DGC
// threshold selection, top-k, the quantizers' norms) are written once in plain C++ and call a
// table, so a level differs only in these loops.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/dtype.h"
#include "kernels/cpu/isa.h"

namespace dtrain {

// Element-wise SGD step with momentum; the PyTorch SGD formula. Per element:
//   g = grad * gradScale (+ weightDecay * w);  b = momentum * b + g;
//   d = nesterov ? g + momentum * b : b;       w = w - lr * d
struct SgdElementArgs {
  float lr, momentum, weightDecay, gradScale;
  bool nesterov;
};

// Element-wise LARS step (trust ratio already folded into lrTrust by the caller). Per element:
//   g = grad * gradScale + weightDecay * w;  v = momentum * v + lrTrust * g;  w = w - v
struct LarsElementArgs {
  float lrTrust, momentum, weightDecay, gradScale;
};

struct CpuKernelTable {
  Isa isa;

  // dst[i] = half(src[i] * scale) / bfloat16(src[i] * scale): the product rounds to float32 first.
  void (*castToHalf)(const float* src, uint16_t* dst, size_t n, float scale);
  void (*castToBFloat16)(const float* src, uint16_t* dst, size_t n, float scale);
  // dst[i] = float(src[i]) * scale; returns whether any dst[i] is inf or NaN.
  bool (*castFromHalf)(const uint16_t* src, float* dst, size_t n, float scale);
  bool (*castFromBFloat16)(const uint16_t* src, float* dst, size_t n, float scale);
  // Whether any element is inf or NaN (a read-only pass).
  bool (*nonFiniteFloat)(const float* src, size_t n);
  bool (*nonFiniteHalf)(const uint16_t* src, size_t n);

  // dst[i] = dst[i] op src[i]; see reduce.h. Half types accumulate in float32, round once.
  void (*reduce)(DType dtype, ReduceOp op, void* dst, const void* src, size_t n);

  // Sum of squares, accumulated in float32 lanes over short blocks and in double across blocks.
  double (*sumSquares)(const float* x, size_t n);
  double (*sumSquaresHalf)(const uint16_t* x, size_t n);
  // Largest |x[i]| (NaN ignored).
  float (*maxAbs)(const float* x, size_t n);

  // One tensor's optimizer update. grad is float32 (gradHalf == false) or float16 bits. w16, if
  // not null, receives half(w) after the update.
  void (*sgdUpdate)(const SgdElementArgs& a, float* w, const void* grad, bool gradHalf, float* mom,
                    uint16_t* w16, size_t n);
  void (*larsUpdate)(const LarsElementArgs& a, float* w, const void* grad, bool gradHalf, float* v,
                     uint16_t* w16, size_t n);

  // DGC momentum correction and local accumulation, u = m u + g; v = v + u, fused with the
  // selection: indices i (ascending) with |v[i]| >= threshold go to idx while fewer than cap are
  // stored. Returns how many passed (which may exceed cap).
  size_t (*dgcAccumulateSelect)(float* u, float* v, const float* g, size_t n, float momentum,
                                float threshold, uint32_t* idx, size_t cap);
  // The selection alone: indices with |x[i]| >= threshold, as above.
  size_t (*selectAbove)(const float* x, size_t n, float threshold, uint32_t* idx, size_t cap);

  // QSGD: level[i] = qsgdLevel16(|x[i]|, ...) with draw randomDraw16(seed, base + i) for
  // s <= kQsgdFixedMaxLevels (elementwise.h), else floor(r) + (randomUnit(seed, base + i) <
  // r - floor(r)) with r = |x[i]| * levelScale; capped at s; sign bit = x[i] < 0. Bit i of signs
  // and of each of `planes` level bit-planes (plane p at planes + p * planeStride, bit p of the
  // level) is bit (i % 8) of byte i / 8; encoders write whole bytes, with zero padding bits.
  void (*qsgdEncode)(const float* x, size_t n, float levelScale, uint32_t s, uint32_t seed,
                     uint32_t base, uint8_t* signs, uint8_t* planes, size_t planeStride,
                     int planeCount);
  // out[i] (+)= (sign ? -1 : 1) * level * unit.
  void (*qsgdDecode)(const uint8_t* signs, const uint8_t* planes, size_t planeStride,
                     int planeCount, size_t n, float unit, float* out, bool accumulate);
  // TernGrad: nonzero bit = ternKeep16(|x[i]|, invScale * 2^16, randomDraw16(seed, base + i)),
  // sign bit = x[i] < 0.
  void (*ternGradEncode)(const float* x, size_t n, float invScale, uint32_t seed, uint32_t base,
                         uint8_t* nonzero, uint8_t* signs);
  void (*ternGradDecode)(const uint8_t* nonzero, const uint8_t* signs, size_t n, float scale,
                         float* out, bool accumulate);
  // 1-bit with error feedback: sum of |g[i] + e[i]| (float32 lanes, double across blocks).
  double (*errorAbsSum)(const float* g, const float* e, size_t n);
  // x = g + e; sign bit = x < 0; e = x - (sign ? -scale : scale).
  void (*signEncode)(const float* g, float* e, size_t n, float scale, uint8_t* signs);
  void (*signDecode)(const uint8_t* signs, size_t n, float scale, float* out, bool accumulate);
};

// The table for one level; throws dtrain::Error when the CPU lacks it.
const CpuKernelTable& cpuKernels(Isa isa);
// The table for activeIsa().
const CpuKernelTable& cpuKernels();

// Each level's table, defined in its own file (kernels_<level>.cc).
const CpuKernelTable& scalarKernelTable();
const CpuKernelTable& avx2KernelTable();
const CpuKernelTable& avx512KernelTable();

}  // namespace dtrain
