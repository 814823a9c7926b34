// The kernels on an NVIDIA GPU: the CPU kernels' contracts (kernel_table.h, optim.h,
// sparsify.h, quantize.h) over device pointers, asynchronous on a stream unless a function says
// it synchronizes. Built only with -DDTRAIN_CUDA=ON (nvcc); the addon does not link it.
// Element-wise results are bit-identical to the scalar reference (compiled with -fmad=false and
// the same per-element definitions, kernels/elementwise.h); norms and sums differ in summation
// order only.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "common/dtype.h"
#include "kernels/params.h"

namespace dtrain {
namespace cuda {

// Throws std::runtime_error naming the call when a CUDA call fails.
void check(cudaError_t err, const char* what);

void castToHalf(const float* src, uint16_t* dst, size_t n, float scale, cudaStream_t s);
void castToBFloat16(const float* src, uint16_t* dst, size_t n, float scale, cudaStream_t s);
// Sets *nonFinite (device int) to 1 if any output is inf or NaN; never clears it.
void castFromHalf(const uint16_t* src, float* dst, size_t n, float scale, int* nonFinite,
                  cudaStream_t s);
void castFromBFloat16(const uint16_t* src, float* dst, size_t n, float scale, int* nonFinite,
                      cudaStream_t s);
void reduce(DType dtype, ReduceOp op, void* dst, const void* src, size_t n, cudaStream_t s);
// dst[i] /= divisor, as the CPU's scaleForAverage (integers truncate toward zero).
void scale(DType dtype, void* dst, size_t n, int divisor, cudaStream_t s);

// The multi-tensor steps take the CPU's parameter structs (kernels/params.h), with every
// pointer of a TensorSlot in device memory.

// Multi-tensor SGD: one launch over every tensor's chunks (host array of `count` tensors).
// If o.checkFinite, a first launch sets a device flag on any inf/NaN gradient and the update
// launch does nothing when it is set (the noop flag stays on the GPU). Returns after queuing.
void sgdStep(const SgdOptions& o, const TensorSlot* tensors, int count, cudaStream_t s);
// Multi-tensor LARS: a norms launch (double atomics per tensor), then the update launch, which
// computes each tensor's trust ratio from the norms and skips everything on inf/NaN
// (o.checkFinite). trust, if not null, is a device array receiving each ratio.
void larsStep(const LarsOptions& o, const TensorSlot* tensors, int count, float* trust,
              cudaStream_t s);

// Exact top-k by magnitude (ties to the lower index, NaN lowest), indices ascending; device
// outputs. Synchronizes the stream.
void topkAbs(const float* x, size_t n, size_t k, uint32_t* idx, float* val, cudaStream_t s);

// One DGC step as the CPU's dgcStep (sparsify.h); idx/val32/val16 are device arrays of at least
// the target count. Synchronizes the stream; returns the number of pairs.
size_t dgcStep(float* u, float* v, const float* g, size_t n, const DgcOptions& o, uint32_t* idx,
               float* val32, uint16_t* val16, cudaStream_t s);
// dense[idx[i]] += val[i] for indices below n; others are skipped and set *outOfRange (a
// device flag, may be null) to 1. Atomics, so the order of equal indices is not fixed: float
// sums may differ in the last bit from the CPU's sequential order.
void scatterAdd(float* dense, size_t n, const uint32_t* idx, const float* val32,
                const uint16_t* val16, size_t count, unsigned* outOfRange, cudaStream_t s);

// Quantizers: codes laid out as on the CPU (quantize.h). Encoders synchronize (they return the
// norm or scale); decoders are asynchronous.
float qsgdEncode(const float* x, size_t n, uint32_t levels, uint32_t seed, uint8_t* code,
                 float norm, cudaStream_t s);
void qsgdDecode(const uint8_t* code, size_t n, uint32_t levels, float norm, float* out,
                bool accumulate, cudaStream_t s);
float ternGradEncode(const float* x, size_t n, uint32_t seed, uint8_t* code, cudaStream_t s);
void ternGradDecode(const uint8_t* code, size_t n, float scale, float* out, bool accumulate,
                    cudaStream_t s);
float signEncode(const float* g, float* residual, size_t n, uint8_t* code, cudaStream_t s);
void signDecode(const uint8_t* code, size_t n, float scale, float* out, bool accumulate,
                cudaStream_t s);

}  // namespace cuda
}  // namespace dtrain
