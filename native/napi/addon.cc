// Module entry: the Communicator class and the functions that need no communicator.
#include <dlfcn.h>
#include <napi.h>

#include <string>

#include "kernels/cpu/cpu_features.h"
#include "napi/comm_wrap.h"
#include "napi/kernels_wrap.h"
#include "napi/nn_wrap.h"
#include "sched/algorithm.h"

namespace dtrain {
Napi::Value simulateJs(const Napi::CallbackInfo& info);
Napi::Value costModelJs(const Napi::CallbackInfo& info);
Napi::Value measureReduceJs(const Napi::CallbackInfo& info);
namespace {

// Whether an optional runtime library can be loaded here, and if not, why (dlerror's text).
Napi::Object probeLibrary(Napi::Env env, std::initializer_list<const char*> names,
                          const char* purpose) {
  Napi::Object o = Napi::Object::New(env);
  std::string why;
  for (const char* name : names) {
    void* h = dlopen(name, RTLD_LAZY | RTLD_LOCAL);
    if (h) {
      o.Set("usable", true);
      o.Set("library", name);
      dlclose(h);
      return o;
    }
    const char* err = dlerror();
    why += (why.empty() ? "" : "; ") + std::string(err ? err : name);
  }
  o.Set("usable", false);
  o.Set("reason", std::string(purpose) + " not found: " + why);
  return o;
}

Napi::Value nativeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("simd", detectSimdLevel());
  Napi::Array transports = Napi::Array::New(env, 2);
  transports.Set(0u, "shm");
  transports.Set(1u, "tcp");
  o.Set("transports", transports);
  std::vector<std::string> names = algorithmNames();
  Napi::Array algorithms = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) algorithms.Set(i, names[i]);
  o.Set("algorithms", algorithms);
  Napi::Object cuda = probeLibrary(env, {"libcuda.so.1"}, "the CUDA driver (libcuda.so.1)");
  if (cuda.Get("usable").ToBoolean()) {
    cuda.Set("usable", false);
    cuda.Set("reason", "the CUDA driver is present, but this build has no CUDA kernels yet");
  }
  o.Set("cuda", cuda);
  Napi::Object nccl = probeLibrary(env, {"libnccl.so.2"}, "NCCL (libnccl.so.2)");
  if (nccl.Get("usable").ToBoolean()) {
    nccl.Set("usable", false);
    nccl.Set("reason", "NCCL is present, but this build has no NCCL backend yet");
  }
  o.Set("nccl", nccl);
  Napi::Object mpi = probeLibrary(env, {"libmpi.so.40", "libmpi.so.12", "libmpi.so"},
                                  "an MPI library (libmpi.so)");
  if (mpi.Get("usable").ToBoolean()) {
    mpi.Set("usable", false);
    mpi.Set("reason", "MPI is present, but this build has no MPI backend yet");
  }
  o.Set("mpi", mpi);
  return o;
}

Napi::Value algorithmId(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "algorithm must be a string");
  try {
    return Napi::Number::New(info.Env(),
                             static_cast<int>(parseAlgorithm(info[0].As<Napi::String>()).encode()));
  } catch (const Error& e) {
    throw Napi::RangeError::New(info.Env(), e.what());
  }
}

}  // namespace
}  // namespace dtrain

static Napi::Object InitDtrain(Napi::Env env, Napi::Object exports) {
  exports.Set("Communicator", dtrain::CommWrap::define(env));
  exports.Set("nativeInfo", Napi::Function::New(env, dtrain::nativeInfo));
  exports.Set("algorithmId", Napi::Function::New(env, dtrain::algorithmId));
  exports.Set("simulate", Napi::Function::New(env, dtrain::simulateJs));
  exports.Set("costModel", Napi::Function::New(env, dtrain::costModelJs));
  exports.Set("measureReduce", Napi::Function::New(env, dtrain::measureReduceJs));
  dtrain::registerKernels(env, exports);
  dtrain::registerNn(env, exports);
  return exports;
}

NODE_API_MODULE(dtrain, InitDtrain)
