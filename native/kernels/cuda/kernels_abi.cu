// libdtrain_cuda.so's one export: the CUDA kernels (cuda_kernels.h) behind the C table of
// kernels_abi.h, each call catching what the kernels throw so that no C++ exception crosses the
// dlopen boundary. Linked with the static CUDA runtime: the library needs only the driver
// (libcuda.so.1), which every machine with an NVIDIA GPU has.
#include <cuda_runtime.h>

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/kernels_abi.h"

namespace dtrain {

namespace {

thread_local std::string lastErrorText;

template <typename Fn>
int guarded(const char* what, Fn&& fn) {
  try {
    fn();
    return 0;
  } catch (const std::exception& e) {
    lastErrorText = std::string(what) + ": " + e.what();
  } catch (...) {
    lastErrorText = std::string(what) + ": unknown error";
  }
  return 1;
}

cudaStream_t streamOf(void* s) { return static_cast<cudaStream_t>(s); }

const char* lastError() { return lastErrorText.c_str(); }

const char* describe() {
  static std::string text = [] {
    int v = 0;
    cudaRuntimeGetVersion(&v);
    return "CUDA runtime " + std::to_string(v) + " (static), built for " DTRAIN_CUDA_ARCH_TEXT;
  }();
  return text.c_str();
}

int setDevice(int device) {
  return guarded("cudaSetDevice", [&] { cuda::check(cudaSetDevice(device), "cudaSetDevice"); });
}

int castToHalf(const float* src, uint16_t* dst, size_t n, float scale, int bf16, void* s) {
  return guarded("castToHalf", [&] {
    (bf16 ? cuda::castToBFloat16 : cuda::castToHalf)(src, dst, n, scale, streamOf(s));
  });
}

int castFromHalf(const uint16_t* src, float* dst, size_t n, float scale, int bf16, int* nonFinite,
                 void* s) {
  return guarded("castFromHalf", [&] {
    (bf16 ? cuda::castFromBFloat16 : cuda::castFromHalf)(src, dst, n, scale, nonFinite,
                                                         streamOf(s));
  });
}

int reduce(int dtype, int op, void* dst, const void* src, size_t n, void* s) {
  return guarded("reduce", [&] {
    cuda::reduce(static_cast<DType>(dtype), static_cast<ReduceOp>(op), dst, src, n, streamOf(s));
  });
}

int scale(int dtype, void* dst, size_t n, int divisor, void* s) {
  return guarded("scale",
                 [&] { cuda::scale(static_cast<DType>(dtype), dst, n, divisor, streamOf(s)); });
}

int sgdStep(const SgdOptions* o, const TensorSlot* t, int count, void* s) {
  return guarded("sgdStep", [&] { cuda::sgdStep(*o, t, count, streamOf(s)); });
}

int larsStep(const LarsOptions* o, const TensorSlot* t, int count, float* trust, void* s) {
  return guarded("larsStep", [&] { cuda::larsStep(*o, t, count, trust, streamOf(s)); });
}

int dgcStep(float* u, float* v, const float* g, size_t n, const DgcOptions* o, uint32_t* idx,
            float* val32, uint16_t* val16, size_t* count, void* s) {
  return guarded("dgcStep",
                 [&] { *count = cuda::dgcStep(u, v, g, n, *o, idx, val32, val16, streamOf(s)); });
}

int scatterAdd(float* dense, size_t n, const uint32_t* idx, const float* val32,
               const uint16_t* val16, size_t count, void* s) {
  return guarded("scatterAdd", [&] {
    unsigned* bad = nullptr;
    cuda::check(cudaMalloc(&bad, sizeof(unsigned)), "cudaMalloc");
    unsigned got = 0;
    cudaError_t err = cudaMemsetAsync(bad, 0, sizeof(unsigned), streamOf(s));
    if (err == cudaSuccess) {
      try {
        cuda::scatterAdd(dense, n, idx, val32, val16, count, bad, streamOf(s));
      } catch (...) {
        cudaFree(bad);
        throw;
      }
      err = cudaMemcpyAsync(&got, bad, sizeof(unsigned), cudaMemcpyDeviceToHost, streamOf(s));
      if (err == cudaSuccess) err = cudaStreamSynchronize(streamOf(s));
    }
    cudaFree(bad);
    cuda::check(err, "scatterAdd");
    if (got)
      throw std::runtime_error("an index is " + std::to_string(n) +
                               " or more (past dense's end); those pairs were skipped");
  });
}

int qsgdEncode(const float* x, size_t n, uint32_t levels, uint32_t seed, uint8_t* code, float norm,
               float* out, void* s) {
  return guarded("qsgdEncode",
                 [&] { *out = cuda::qsgdEncode(x, n, levels, seed, code, norm, streamOf(s)); });
}

int qsgdDecode(const uint8_t* code, size_t n, uint32_t levels, float norm, float* out, int acc,
               void* s) {
  return guarded("qsgdDecode",
                 [&] { cuda::qsgdDecode(code, n, levels, norm, out, acc != 0, streamOf(s)); });
}

int ternGradEncode(const float* x, size_t n, uint32_t seed, uint8_t* code, float* out, void* s) {
  return guarded("ternGradEncode",
                 [&] { *out = cuda::ternGradEncode(x, n, seed, code, streamOf(s)); });
}

int ternGradDecode(const uint8_t* code, size_t n, float scale, float* out, int acc, void* s) {
  return guarded("ternGradDecode",
                 [&] { cuda::ternGradDecode(code, n, scale, out, acc != 0, streamOf(s)); });
}

int signEncode(const float* g, float* residual, size_t n, uint8_t* code, float* out, void* s) {
  return guarded("signEncode", [&] { *out = cuda::signEncode(g, residual, n, code, streamOf(s)); });
}

int signDecode(const uint8_t* code, size_t n, float scale, float* out, int acc, void* s) {
  return guarded("signDecode",
                 [&] { cuda::signDecode(code, n, scale, out, acc != 0, streamOf(s)); });
}

const DtrainCudaKernels kTable = {
    kDtrainCudaAbi, sizeof(DtrainCudaKernels),
    lastError,      describe,
    setDevice,      castToHalf,
    castFromHalf,   reduce,
    scale,          sgdStep,
    larsStep,       dgcStep,
    scatterAdd,     qsgdEncode,
    qsgdDecode,     ternGradEncode,
    ternGradDecode, signEncode,
    signDecode,
};

}  // namespace

}  // namespace dtrain

extern "C" __attribute__((visibility("default"))) const dtrain::DtrainCudaKernels*
dtrain_cuda_kernels(uint32_t abi) {
  return abi == dtrain::kDtrainCudaAbi ? &dtrain::kTable : nullptr;
}
