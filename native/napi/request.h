// A collective's request as the binding reads it: named numeric fields in a per-communicator
// slot (a Float64Array the TypeScript layer writes before each call, lib/native.ts), and the
// arrays as the call's arguments. The binding exports the field names in this order, so the
// TypeScript derives every offset from it; reading the slot costs no call into V8, where
// reading an object's fields costs more than the rest of a small collective's binding.
#pragma once

#include <cstdint>

namespace dtrain {

enum class RequestField : uint32_t {
  kKind,        // OpKind
  kOp,          // ReduceOp (all-reduce, reduce-scatter)
  kAlgorithm,   // AlgorithmChoice::encode() (all but broadcast and barrier)
  kRoot,        // broadcast, reduce, gather, scatter
  kTimeoutSec,  // 0: the communicator's default
  kDType,       // DType, or -1 for the array's own
  kSync,        // nonzero: block the calling thread
  kPeer,        // send, recv
  kTag,         // send, recv
  kCount
};

constexpr const char* kRequestFieldNames[] = {"kind",  "op",   "algorithm", "root", "timeoutSec",
                                              "dtype", "sync", "peer",      "tag"};
static_assert(sizeof(kRequestFieldNames) / sizeof(kRequestFieldNames[0]) ==
                  static_cast<size_t>(RequestField::kCount),
              "a name per request field");

}  // namespace dtrain
