// The one path from core failures to JS errors, used by every wrap. A dtrain::Error becomes a
// RangeError when it is about an argument or a setting (kInvalidArgument, kConfig), else an instance of the package's
// DtrainError class (lib/common/errors.ts, handed over by setErrorClass at load); both carry
// `code`, `ranks` and, when one rank is meant, `rank`. Any other std::exception is
// ERR_DTRAIN_SYSTEM.
#pragma once

#include <napi.h>

#include <exception>
#include <string>

#include "common/error.h"
#include "engine/op_request.h"

namespace dtrain {

Napi::Error toJsError(Napi::Env env, const Status& st);
Napi::Error toJsError(Napi::Env env, const std::exception& e);

// Runs f, rethrowing what it throws as the JS error above (Napi::Error passes through).
template <typename F>
auto guarded(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw toJsError(env, e);
  }
}

// setErrorClass(DtrainError): the class job failures are thrown as.
Napi::Value setErrorClass(const Napi::CallbackInfo& info);

}  // namespace dtrain
