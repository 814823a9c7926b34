// The C interface of libdtrain_cuda.so, the CUDA kernels built by nvcc into a library of their
// own (kernels_abi.cu) and loaded by the addon with dlopen only where a GPU is present
// (gpu/cuda_kernels_loader.cc): the addon never links CUDA, so one package loads on every
// machine. One exported symbol, dtrain_cuda_kernels(abi), returns the table below, or null for
// another ABI. Every pointer argument is device memory unless it says host; streams are
// cudaStream_t (interchangeable with the driver's CUstream, so a stream made by the CUDA runtime
// the addon loaded works here too). Bump kDtrainCudaAbi when a signature changes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/params.h"

namespace dtrain {

constexpr uint32_t kDtrainCudaAbi = 2;

extern "C" {

// Every function returns 0, or non-zero with the reason in lastError() (this thread's).
struct DtrainCudaKernels {
  uint32_t abi;
  uint32_t size;  // sizeof(DtrainCudaKernels) as built
  const char* (*lastError)();
  // "CUDA runtime 13000 (static), sm_90 + compute_90"
  const char* (*describe)();
  // cudaSetDevice in this library's runtime, before its kernels run on a thread.
  int (*setDevice)(int device);
  int (*castToHalf)(const float* src, uint16_t* dst, size_t n, float scale, int bfloat16,
                    void* stream);
  // Sets *nonFinite (device int) to 1 if any output is inf or NaN; never clears it.
  int (*castFromHalf)(const uint16_t* src, float* dst, size_t n, float scale, int bfloat16,
                      int* nonFinite, void* stream);
  // dst = dst op src; dtype and op are common/dtype.h's values (avg reduces as sum).
  int (*reduce)(int dtype, int op, void* dst, const void* src, size_t n, void* stream);
  // dst /= divisor as the CPU's scaleForAverage (integers truncate toward zero).
  int (*scale)(int dtype, void* dst, size_t n, int divisor, void* stream);
  // tensors: a host array of `count` slots whose pointers are device memory.
  int (*sgdStep)(const SgdOptions* o, const TensorSlot* tensors, int count, void* stream);
  int (*larsStep)(const LarsOptions* o, const TensorSlot* tensors, int count, float* trust,
                  void* stream);
  // Synchronizes the stream; *count (host) receives the number of pairs.
  int (*dgcStep)(float* u, float* v, const float* g, size_t n, const DgcOptions* o, uint32_t* idx,
                 float* val32, uint16_t* val16, size_t* count, void* stream);
  // dense (n elements)[idx[i]] += values[i]; fails, having added the pairs in range, when an
  // index is n or more. Synchronizes the stream.
  int (*scatterAdd)(float* dense, size_t n, const uint32_t* idx, const float* val32,
                    const uint16_t* val16, size_t count, void* stream);
  // Encoders synchronize and return the norm or scale in *out (host).
  int (*qsgdEncode)(const float* x, size_t n, uint32_t levels, uint32_t seed, uint8_t* code,
                    float norm, float* out, void* stream);
  int (*qsgdDecode)(const uint8_t* code, size_t n, uint32_t levels, float norm, float* out,
                    int accumulate, void* stream);
  int (*ternGradEncode)(const float* x, size_t n, uint32_t seed, uint8_t* code, float* out,
                        void* stream);
  int (*ternGradDecode)(const uint8_t* code, size_t n, float scale, float* out, int accumulate,
                        void* stream);
  int (*signEncode)(const float* g, float* residual, size_t n, uint8_t* code, float* out,
                    void* stream);
  int (*signDecode)(const uint8_t* code, size_t n, float scale, float* out, int accumulate,
                    void* stream);
};

typedef const DtrainCudaKernels* (*dtrain_cuda_kernels_fn)(uint32_t abi);

}  // extern "C"

}  // namespace dtrain
