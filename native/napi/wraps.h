// The binding's free functions, by file; addon.cc puts them on the module's exports.
#pragma once

#include <napi.h>

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
// binding.allocShared: arrays in shared memory, for dtrain.alloc (napi/shared_wrap.cc).
void registerShared(Napi::Env env, Napi::Object exports);

}  // namespace dtrain
