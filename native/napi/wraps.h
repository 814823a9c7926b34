// The binding's free functions, by file; addon.cc puts them on the module's exports.
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

namespace dtrain {

// simulate_wrap.cc
Napi::Value simulateJs(const Napi::CallbackInfo& info);
Napi::Value measureReduceJs(const Napi::CallbackInfo& info);

// registry_wrap.cc: the registries and constants, as lib/native.ts types them.
Napi::Object registryExports(Napi::Env env);
Napi::Value nativeInfo(const Napi::CallbackInfo& info);
Napi::Value algorithmId(const Napi::CallbackInfo& info);
Napi::Value chunkOf(const Napi::CallbackInfo& info);
// A JS array of the strings (registry names, library names tried).
Napi::Array strings(Napi::Env env, const std::vector<std::string>& v);
// binding.mpi: the MPI plugin's loader (napi/mpi_wrap.cc).
void registerMpi(Napi::Env env, Napi::Object exports);
// binding.cuda: the CUDA runtime and NCCL found at run time, and device memory (napi/cuda_wrap.cc).
void registerCuda(Napi::Env env, Napi::Object exports);
// A DeviceMemory object's memory, for the collectives; false when `v` is not one (throws a JS
// error when it was freed).
struct DeviceView {
  void* ptr = nullptr;
  size_t bytes = 0;
  int device = 0;
};
bool deviceViewOf(Napi::Env env, Napi::Value v, DeviceView* out);
// A CUDA event recorded now on `stream` (a Stream object; undefined: the default stream) of
// `device`, destroyed when the last holder lets go: what a device collective waits for.
std::shared_ptr<void> recordReady(Napi::Env env, Napi::Value stream, int device);
// binding.allocShared: arrays in shared memory, for dtrain.alloc (napi/shared_wrap.cc).
void registerShared(Napi::Env env, Napi::Object exports);

}  // namespace dtrain
