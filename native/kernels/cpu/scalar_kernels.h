// The scalar reference primitives (kernels_scalar.cc), named for the SIMD levels' tails and for
// tests. Contracts: kernel_table.h.
#pragma once

#include "kernels/cpu/kernel_table.h"

namespace dtrain {
namespace scalar {

void castToHalf(const float* src, uint16_t* dst, size_t n, float scale);
void castToBFloat16(const float* src, uint16_t* dst, size_t n, float scale);
bool castFromHalf(const uint16_t* src, float* dst, size_t n, float scale);
bool castFromBFloat16(const uint16_t* src, float* dst, size_t n, float scale);
bool nonFiniteFloat(const float* src, size_t n);
bool nonFiniteHalf(const uint16_t* src, size_t n);
void reduce(DType dtype, ReduceOp op, void* dst, const void* src, size_t n);
double sumSquares(const float* x, size_t n);
double sumSquaresHalf(const uint16_t* x, size_t n);
float maxAbs(const float* x, size_t n);
void sgdUpdate(const SgdElementArgs& a, float* w, const void* grad, bool gradHalf, float* mom,
               uint16_t* w16, size_t n);
void larsUpdate(const LarsElementArgs& a, float* w, const void* grad, bool gradHalf, float* v,
                uint16_t* w16, size_t n);
size_t dgcAccumulateSelect(float* u, float* v, const float* g, size_t n, float momentum,
                           float threshold, uint32_t* idx, size_t cap);
size_t selectAbove(const float* x, size_t n, float threshold, uint32_t* idx, size_t cap);
void qsgdEncode(const float* x, size_t n, float levelScale, uint32_t s, uint32_t seed,
                uint32_t base, uint8_t* signs, uint8_t* planes, size_t planeStride, int planeCount);
void qsgdDecode(const uint8_t* signs, const uint8_t* planes, size_t planeStride, int planeCount,
                size_t n, float unit, float* out, bool accumulate);
void ternGradEncode(const float* x, size_t n, float invScale, uint32_t seed, uint32_t base,
                    uint8_t* nonzero, uint8_t* signs);
void ternGradDecode(const uint8_t* nonzero, const uint8_t* signs, size_t n, float scale, float* out,
                    bool accumulate);
double errorAbsSum(const float* g, const float* e, size_t n);
void signEncode(const float* g, float* e, size_t n, float scale, uint8_t* signs);
void signDecode(const uint8_t* signs, size_t n, float scale, float* out, bool accumulate);

}  // namespace scalar
}  // namespace dtrain
