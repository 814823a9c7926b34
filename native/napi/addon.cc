// Module entry: the Communicator class, the registries and constants, and the functions that
// need no communicator.
#include <napi.h>

#include "napi/comm_wrap.h"
#include "napi/errors.h"
#include "napi/instance.h"
#include "napi/kernels_wrap.h"
#include "napi/nn_wrap.h"
#include "napi/wraps.h"

namespace {

Napi::Object InitDtrain(Napi::Env env, Napi::Object exports) {
  dtrain::initInstanceData(env);
  exports.Set("Communicator", dtrain::CommWrap::define(env));
  exports.Set("registry", dtrain::registryExports(env));
  exports.Set("nativeInfo", Napi::Function::New(env, dtrain::nativeInfo));
  exports.Set("algorithmId", Napi::Function::New(env, dtrain::algorithmId));
  exports.Set("chunkOf", Napi::Function::New(env, dtrain::chunkOf));
  exports.Set("setErrorClass", Napi::Function::New(env, dtrain::setErrorClass));
  exports.Set("simulate", Napi::Function::New(env, dtrain::simulateJs));
  exports.Set("measureReduce", Napi::Function::New(env, dtrain::measureReduceJs));
  dtrain::registerKernels(env, exports);
  dtrain::registerNn(env, exports);
  dtrain::registerMpi(env, exports);
  dtrain::registerCuda(env, exports);
  dtrain::registerShared(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(dtrain, InitDtrain)
