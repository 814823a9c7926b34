#include "sched/collective.h"

namespace dtrain {

const char* opKindName(OpKind k) {
  switch (k) {
    case OpKind::kAllreduce:
      return "allreduce";
    case OpKind::kBroadcast:
      return "broadcast";
    case OpKind::kAllgather:
      return "allgather";
    case OpKind::kBarrier:
      return "barrier";
    case OpKind::kReduceScatter:
      return "reduceScatter";
  }
  return "?";
}

const char* opKindProse(OpKind k) {
  switch (k) {
    case OpKind::kAllreduce:
      return "all-reduce";
    case OpKind::kBroadcast:
      return "broadcast";
    case OpKind::kAllgather:
      return "all-gather";
    case OpKind::kBarrier:
      return "barrier";
    case OpKind::kReduceScatter:
      return "reduce-scatter";
  }
  return "?";
}

}  // namespace dtrain
