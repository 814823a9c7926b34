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
  kReduce = 5,
  kGather = 6,
  kScatter = 7,
  kAlltoall = 8,
  kSend = 9,  // point to point: only the two ranks take part
  kRecv = 10,
  kJoin = 11,  // a rank that has joined (join()): it answers the others' all-reduces with zeros
};
constexpr int kOpKindCount = 12;

// Whether only two ranks take part (no descriptor exchange among all, no call sequence number).
inline bool pointToPoint(OpKind k) { return k == OpKind::kSend || k == OpKind::kRecv; }

// The API's name: "allreduce", "broadcast", "allgather", "barrier", "reduceScatter", ...
const char* opKindName(OpKind k);
// For prose: "all-reduce", "broadcast", "all-gather", "barrier", "reduce-scatter".
const char* opKindProse(OpKind k);

}  // namespace dtrain
