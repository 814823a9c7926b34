#include "gpu/cuda_api.h"

#include <dlfcn.h>

#include <mutex>

#include "common/error.h"

namespace dtrain {

namespace {

template <typename Fn>
bool bind(void* h, const char* name, Fn* out, std::string* missing) {
  *out = reinterpret_cast<Fn>(dlsym(h, name));
  if (!*out) *missing += (missing->empty() ? "" : ", ") + std::string(name);
  return *out != nullptr;
}

void* openFirst(const std::vector<std::string>& names, std::string* loaded, std::string* why) {
  std::string errors;
  for (const std::string& n : names) {
    void* h = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h) {
      *loaded = n;
      return h;
    }
    const char* e = dlerror();
    errors += (errors.empty() ? "" : "; ") + std::string(e ? e : n);
  }
  *why = errors;
  return nullptr;
}

}  // namespace

const std::vector<std::string>& cudartNames() {
  static const std::vector<std::string> names = {"libcudart.so.13", "libcudart.so.12",
                                                 "libcudart.so.11.0", "libcudart.so"};
  return names;
}

const std::vector<std::string>& ncclNames() {
  static const std::vector<std::string> names = {"libnccl.so.2", "libnccl.so"};
  return names;
}

void CudaRuntime::check(int rc, const char* what) const {
  if (rc != 0)
    throw Error(ErrorCode::kSystem,
                std::string(what) + " failed: " +
                    (getErrorString ? getErrorString(rc) : "error " + std::to_string(rc)));
}

void Nccl::check(int rc, const char* what) const {
  if (rc != 0)
    throw Error(ErrorCode::kSystem,
                std::string(what) + " failed: " +
                    (getErrorString ? getErrorString(rc) : "error " + std::to_string(rc)));
}

const CudaRuntime* cudaRuntime(std::string* why) {
  static std::once_flag once;
  static CudaRuntime rt;
  static bool ok = false;
  static std::string reason;
  std::call_once(once, [] {
    void* h = openFirst(cudartNames(), &rt.library, &reason);
    if (!h) return;
    std::string missing;
    bind(h, "cudaGetDeviceCount", &rt.getDeviceCount, &missing);
    bind(h, "cudaSetDevice", &rt.setDevice, &missing);
    bind(h, "cudaMalloc", &rt.malloc, &missing);
    bind(h, "cudaFree", &rt.free, &missing);
    bind(h, "cudaMemcpy", &rt.memcpy, &missing);
    bind(h, "cudaMemset", &rt.memset, &missing);
    bind(h, "cudaDeviceSynchronize", &rt.deviceSynchronize, &missing);
    bind(h, "cudaStreamCreate", &rt.streamCreate, &missing);
    bind(h, "cudaStreamSynchronize", &rt.streamSynchronize, &missing);
    bind(h, "cudaStreamDestroy", &rt.streamDestroy, &missing);
    bind(h, "cudaStreamCreateWithFlags", &rt.streamCreateWithFlags, &missing);
    bind(h, "cudaStreamQuery", &rt.streamQuery, &missing);
    bind(h, "cudaMemsetAsync", &rt.memsetAsync, &missing);
    bind(h, "cudaStreamWaitEvent", &rt.streamWaitEvent, &missing);
    bind(h, "cudaMemcpyAsync", &rt.memcpyAsync, &missing);
    bind(h, "cudaEventCreateWithFlags", &rt.eventCreateWithFlags, &missing);
    bind(h, "cudaEventRecord", &rt.eventRecord, &missing);
    bind(h, "cudaEventQuery", &rt.eventQuery, &missing);
    bind(h, "cudaEventDestroy", &rt.eventDestroy, &missing);
    bind(h, "cudaGetDevice", &rt.getDevice, &missing);
    bind(h, "cudaRuntimeGetVersion", &rt.runtimeGetVersion, &missing);
    bind(h, "cudaDriverGetVersion", &rt.driverGetVersion, &missing);
    bind(h, "cudaGetErrorString", &rt.getErrorString, &missing);
    if (!missing.empty()) {
      reason = rt.library + " lacks " + missing;
      return;
    }
    ok = true;
  });
  if (!ok && why) *why = reason;
  return ok ? &rt : nullptr;
}

const Nccl* nccl(std::string* why) {
  static std::once_flag once;
  static Nccl n;
  static bool ok = false;
  static std::string reason;
  std::call_once(once, [] {
    void* h = openFirst(ncclNames(), &n.library, &reason);
    if (!h) return;
    std::string missing;
    bind(h, "ncclGetVersion", &n.getVersion, &missing);
    bind(h, "ncclGetUniqueId", &n.getUniqueId, &missing);
    bind(h, "ncclCommInitRank", &n.commInitRank, &missing);
    bind(h, "ncclCommInitAll", &n.commInitAll, &missing);
    bind(h, "ncclCommDestroy", &n.commDestroy, &missing);
    bind(h, "ncclAllReduce", &n.allReduce, &missing);
    bind(h, "ncclBroadcast", &n.broadcast, &missing);
    bind(h, "ncclAllGather", &n.allGather, &missing);
    bind(h, "ncclReduceScatter", &n.reduceScatter, &missing);
    bind(h, "ncclSend", &n.send, &missing);
    bind(h, "ncclRecv", &n.recv, &missing);
    bind(h, "ncclCommAbort", &n.commAbort, &missing);
    bind(h, "ncclCommGetAsyncError", &n.commGetAsyncError, &missing);
    bind(h, "ncclGroupStart", &n.groupStart, &missing);
    bind(h, "ncclGroupEnd", &n.groupEnd, &missing);
    bind(h, "ncclGetErrorString", &n.getErrorString, &missing);
    if (!missing.empty()) {
      reason = n.library + " lacks " + missing;
      return;
    }
    n.getVersion(&n.version);
    // ncclAvg and ncclBfloat16 arrived in 2.10; the enum values declared above are 2.x's.
    if (n.version < 21000 || n.version >= 30000) {
      reason = n.library + " is NCCL " + std::to_string(n.version / 10000) + "." +
               std::to_string(n.version / 100 % 100) + "; dtrain needs NCCL 2.10 or a later 2.x";
      return;
    }
    ok = true;
  });
  if (!ok && why) *why = reason;
  return ok ? &n : nullptr;
}

GpuProbe probeGpu() {
  GpuProbe p;
  p.cudartTried = cudartNames();
  p.ncclTried = ncclNames();
  const CudaRuntime* rt = cudaRuntime(&p.cudartError);
  if (rt) {
    rt->runtimeGetVersion(&p.runtimeVersion);
    rt->driverGetVersion(&p.driverVersion);
    const int rc = rt->getDeviceCount(&p.devices);
    if (rc != 0) {
      p.devices = 0;
      p.cudartError =
          rt->library + " loaded, but cudaGetDeviceCount failed: " + rt->getErrorString(rc);
    } else if (p.devices == 0) {
      p.cudartError = rt->library + " loaded, but there is no CUDA device";
    }
  }
  nccl(&p.ncclError);
  return p;
}

}  // namespace dtrain
