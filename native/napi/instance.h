// What the addon keeps per JS environment (a worker thread loading it gets its own): the error
// class errors are thrown as.
#pragma once

#include <napi.h>

namespace dtrain {

struct InstanceData {
  Napi::FunctionReference errorClass;
  // napi/cuda_wrap.cc's classes, to tell their objects from others.
  Napi::FunctionReference deviceMemoryClass, streamClass;
};

// Created at module load (InitDtrain).
void initInstanceData(Napi::Env env);
InstanceData& instanceData(Napi::Env env);

}  // namespace dtrain
