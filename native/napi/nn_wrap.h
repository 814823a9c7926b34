// The reference model's binding: the layers' forward and backward passes and the GEMM, as plain
// synchronous functions over TypedArrays. lib/nn/ checks every argument before calling; the
// checks here only keep a wrong call from touching memory it does not own.
#pragma once

#include <napi.h>

namespace dtrain {

// Adds exports.nn = { linearForward, ..., gemm, benchGemm } (typed in lib/nn/binding.ts).
void registerNn(Napi::Env env, Napi::Object exports);

}  // namespace dtrain
