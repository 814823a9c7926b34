// The CUDA runtime and NCCL, loaded with dlopen at run time: their headers are not needed to
// build dtrain (and not installed on machines without a GPU), so the few functions and types
// used are declared here, against the ABI of CUDA runtime 11-13 and NCCL 2.x (checked with
// ncclGetVersion: 2.10 or later, for ncclAvg and bfloat16; ncclSend/ncclRecv are 2.7's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dtrain {

using cudaStream = void*;
using cudaEvent = void*;
using ncclCommPtr = void*;
struct NcclUniqueId {
  char internal[128];
};

// cudaMemcpyKind
constexpr int kCudaMemcpyHostToDevice = 1, kCudaMemcpyDeviceToHost = 2,
              kCudaMemcpyDeviceToDevice = 3;
// cudaErrorNotReady: an event or stream query whose work is still running.
constexpr int kCudaErrorNotReady = 600;
constexpr unsigned kCudaStreamNonBlocking = 1, kCudaEventDisableTiming = 2;
// ncclInProgress (2.14+): a non-blocking communicator still working; ncclSuccess is 0.
constexpr int kNcclInProgress = 7;
// ncclDataType_t and ncclRedOp_t values (nccl.h, stable across NCCL 2.x).
enum NcclDataType : int {
  kNcclInt8 = 0,
  kNcclUint8 = 1,
  kNcclInt32 = 2,
  kNcclInt64 = 4,
  kNcclFloat16 = 6,
  kNcclFloat32 = 7,
  kNcclFloat64 = 8,
  kNcclBfloat16 = 9
};
enum NcclRedOp : int { kNcclSum = 0, kNcclProd = 1, kNcclMax = 2, kNcclMin = 3, kNcclAvg = 4 };

struct CudaRuntime {
  std::string library;  // the name that loaded
  int (*getDeviceCount)(int*) = nullptr;
  int (*setDevice)(int) = nullptr;
  int (*malloc)(void**, size_t) = nullptr;
  int (*free)(void*) = nullptr;
  int (*memcpy)(void*, const void*, size_t, int) = nullptr;
  int (*memset)(void*, int, size_t) = nullptr;
  int (*deviceSynchronize)() = nullptr;
  int (*streamCreate)(cudaStream*) = nullptr;
  int (*streamSynchronize)(cudaStream) = nullptr;
  int (*streamDestroy)(cudaStream) = nullptr;
  int (*streamCreateWithFlags)(cudaStream*, unsigned) = nullptr;
  int (*streamQuery)(cudaStream) = nullptr;
  int (*memsetAsync)(void*, int, size_t, cudaStream) = nullptr;
  int (*streamWaitEvent)(cudaStream, cudaEvent, unsigned) = nullptr;
  int (*memcpyAsync)(void*, const void*, size_t, int, cudaStream) = nullptr;
  int (*eventCreateWithFlags)(cudaEvent*, unsigned) = nullptr;
  int (*eventRecord)(cudaEvent, cudaStream) = nullptr;
  int (*eventQuery)(cudaEvent) = nullptr;
  int (*eventDestroy)(cudaEvent) = nullptr;
  int (*getDevice)(int*) = nullptr;
  int (*runtimeGetVersion)(int*) = nullptr;
  int (*driverGetVersion)(int*) = nullptr;
  const char* (*getErrorString)(int) = nullptr;
  // Throws Error(kSystem) naming `what` and CUDA's reason when rc != 0.
  void check(int rc, const char* what) const;
};

struct Nccl {
  std::string library;
  int version = 0;  // ncclGetVersion: major*10000 + minor*100 + patch
  int (*getVersion)(int*) = nullptr;
  int (*getUniqueId)(NcclUniqueId*) = nullptr;
  int (*commInitRank)(ncclCommPtr*, int, NcclUniqueId, int) = nullptr;
  int (*commInitAll)(ncclCommPtr*, int, const int*) = nullptr;
  int (*commDestroy)(ncclCommPtr) = nullptr;
  int (*allReduce)(const void*, void*, size_t, int, int, ncclCommPtr, cudaStream) = nullptr;
  int (*broadcast)(const void*, void*, size_t, int, int, ncclCommPtr, cudaStream) = nullptr;
  int (*allGather)(const void*, void*, size_t, int, ncclCommPtr, cudaStream) = nullptr;
  int (*reduceScatter)(const void*, void*, size_t, int, int, ncclCommPtr, cudaStream) = nullptr;
  int (*send)(const void*, size_t, int, int, ncclCommPtr, cudaStream) = nullptr;
  int (*recv)(void*, size_t, int, int, ncclCommPtr, cudaStream) = nullptr;
  int (*commAbort)(ncclCommPtr) = nullptr;
  int (*commGetAsyncError)(ncclCommPtr, int*) = nullptr;
  int (*groupStart)() = nullptr;
  int (*groupEnd)() = nullptr;
  const char* (*getErrorString)(int) = nullptr;
  void check(int rc, const char* what) const;
};

// Where each library was looked for, and why it is unusable ("" = usable).
struct GpuProbe {
  std::vector<std::string> cudartTried, ncclTried;
  std::string cudartError, ncclError;
  int devices = 0;
  int runtimeVersion = 0, driverVersion = 0;
};

// The CUDA runtime, loaded once (libcudart.so.13, .12, .11, libcudart.so); null with the
// reason in `why` when none loads.
const CudaRuntime* cudaRuntime(std::string* why = nullptr);
// NCCL (libnccl.so.2), loaded once and version-checked; null with the reason in `why`.
const Nccl* nccl(std::string* why = nullptr);
// What `dtrain info` reports.
GpuProbe probeGpu();
// The names each library is looked for under, in order.
const std::vector<std::string>& cudartNames();
const std::vector<std::string>& ncclNames();

}  // namespace dtrain
