// The kernels' binding: plain functions over TypedArrays, synchronous (they run at memory speed
// on the calling thread). lib/kernels/ checks arguments before calling; the checks here only
// keep a wrong call from touching memory it does not own.
#pragma once

#include <napi.h>

namespace dtrain {

// Adds exports.kernels = { castToHalf, ..., bench } (typed in lib/kernels/binding.ts).
void registerKernels(Napi::Env env, Napi::Object exports);

}  // namespace dtrain
