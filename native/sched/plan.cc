#include "sched/plan.h"

namespace dtrain {

Plan planCollective(const CollectiveCall& call, const Topology& topology) {
  Plan plan;
  if (call.kind == OpKind::kBarrier || call.kind == OpKind::kJoin) return plan;
  if (pointToPoint(call.kind)) {
    // No algorithm: the message itself.
    const Chunk all{BufferId::kData, 0, call.count};
    Round r;
    if (call.kind == OpKind::kSend) r.steps.push_back({StepKind::kSend, call.peer, all, {}});
    else r.steps.push_back({StepKind::kRecv, call.peer, {}, all});
    if (call.count) plan.schedule.rounds.push_back(std::move(r));
    plan.schedule.rank = call.rank;
    plan.schedule.size = call.size;
    return plan;
  }
  ScheduleArgs args;
  args.rank = call.rank;
  args.size = call.size;
  args.count = call.count;
  args.elemSize = dtypeSize(call.dtype);
  args.root = call.root;
  args.topology = &topology;
  args.sendCounts = call.sendCounts;
  args.recvCounts = call.recvCounts;
  plan.schedule = scheduleFor(call.kind, call.algorithm, args);
  const bool reduces = call.kind == OpKind::kAllreduce || call.kind == OpKind::kReduceScatter ||
                       call.kind == OpKind::kReduce;
  const int divisor = call.contributors > 0 ? call.contributors : call.size;
  if (call.op != ReduceOp::kAvg || divisor == 1 || !reduces) return plan;
  // Half-precision averages divide each rank's input first, as PyTorch DDP's float16
  // compression hook does: float16 tops out at 65504, and a sum of p gradients can overflow
  // where their mean would not. Everything else divides the sum once, where this rank holds it.
  // A reduce's non-root ranks work on a copy (lib/comm/communicator.ts), so dividing it is safe.
  if (call.dtype == DType::kFloat16 || call.dtype == DType::kBFloat16) {
    plan.before = {divisor, {BufferId::kData, 0, call.count}};
  } else if (call.kind == OpKind::kAllreduce) {
    plan.after = {divisor, {BufferId::kData, 0, call.count}};
  } else if (call.kind == OpKind::kReduce) {
    if (call.rank == call.root) plan.after = {divisor, {BufferId::kData, 0, call.count}};
  } else {
    plan.after = {divisor, splitEven(call.count, call.size)[call.rank]};
  }
  return plan;
}

}  // namespace dtrain
