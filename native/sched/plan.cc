#include "sched/plan.h"

namespace dtrain {

Plan planCollective(const CollectiveCall& call, const Topology& topology) {
  Plan plan;
  if (call.kind == OpKind::kBarrier) return plan;
  ScheduleArgs args;
  args.rank = call.rank;
  args.size = call.size;
  args.count = call.count;
  args.elemSize = dtypeSize(call.dtype);
  args.root = call.root;
  args.topology = &topology;
  plan.schedule = scheduleFor(call.kind, call.algorithm, args);
  const bool reduces = call.kind == OpKind::kAllreduce || call.kind == OpKind::kReduceScatter;
  if (call.op != ReduceOp::kAvg || call.size == 1 || !reduces) return plan;
  // Half-precision averages divide each rank's input first, as PyTorch DDP's float16
  // compression hook does: float16 tops out at 65504, and a sum of p gradients can overflow
  // where their mean would not. Everything else divides the sum once, where this rank holds it.
  if (call.dtype == DType::kFloat16 || call.dtype == DType::kBFloat16) {
    plan.before = {call.size, {BufferId::kData, 0, call.count}};
  } else if (call.kind == OpKind::kAllreduce) {
    plan.after = {call.size, {BufferId::kData, 0, call.count}};
  } else {
    plan.after = {call.size, splitEven(call.count, call.size)[call.rank]};
  }
  return plan;
}

}  // namespace dtrain
