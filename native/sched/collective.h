// The collectives a communicator runs. Values are part of the descriptor ranks compare and of
// the binding's constants (lib/native.ts reads them from the addon).
#pragma once

#include <cstdint>

namespace dtrain {

enum class OpKind : uint8_t {
  kAllreduce = 0,
  kBroadcast = 1,
  kAllgather = 2,
  kBarrier = 3,
  kReduceScatter = 4,
};
constexpr int kOpKindCount = 5;

// The API's name: "allreduce", "broadcast", "allgather", "barrier", "reduceScatter".
const char* opKindName(OpKind k);
// For prose: "all-reduce", "broadcast", "all-gather", "barrier", "reduce-scatter".
const char* opKindProse(OpKind k);

}  // namespace dtrain
