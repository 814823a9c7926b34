// binding.allocShared(bytes): an ArrayBuffer over shared memory (transport/shared_buffers.h),
// freed when the garbage collector finalizes it. lib/comm/alloc.ts types it (dtrain.alloc).
#include <napi.h>

#include "common/error.h"
#include "napi/errors.h"
#include "napi/wraps.h"
#include "transport/shared_buffers.h"

namespace dtrain {

namespace {

Napi::Value allocShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "bytes must be a number");
  const double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 1) || n != static_cast<double>(static_cast<size_t>(n))) {
    throw Napi::RangeError::New(env, "bytes must be a positive integer");
  }
  const size_t bytes = static_cast<size_t>(n);
  void* mem = nullptr;
  guarded(env, [&] { mem = sharedAlloc(bytes); });
  // The length the caller asked for; the mapping may be up to a page longer.
  try {
    return Napi::ArrayBuffer::New(env, mem, bytes, [](Napi::Env, void* data) { sharedFree(data); });
  } catch (...) {
    sharedFree(mem);  // external buffers refused (a sandboxed V8): nothing may keep it
    throw;
  }
}

}  // namespace

void registerShared(Napi::Env env, Napi::Object exports) {
  exports.Set("allocShared", Napi::Function::New(env, allocShared));
}

}  // namespace dtrain
