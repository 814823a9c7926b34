// direct: every rank sends its whole vector to every other in one round, then reduces all of
// them locally in rank order (so every rank computes the same bits). One message latency, and
// (p - 1) n bytes sent per rank: the shortest path for small messages. Below the eager limit
// the engine sends the vector with the call's descriptor (engine/communicator.cc), which saves
// the descriptor exchange's latency too; this schedule is the same algorithm for everything
// else (larger vectors, grouped all-reduces, transports that post all transfers at once, the
// simulator).
#include "sched/algorithm.h"

namespace dtrain {

namespace {

Schedule allreduce(const ScheduleArgs& a) {
  Schedule s{"direct", a.rank, a.size, {}};
  if (a.size == 1 || a.count == 0) return s;
  const size_t n = a.count;
  const Chunk data{BufferId::kData, 0, n};
  auto slot = [n](int r) { return Chunk{BufferId::kScratch, static_cast<size_t>(r) * n, n}; };
  s.scratchElems = static_cast<size_t>(a.size) * n;
  Round exchange;
  for (int r = 0; r < a.size; ++r) {
    if (r == a.rank) continue;
    exchange.steps.push_back({StepKind::kSend, r, data, {}});
    exchange.steps.push_back({StepKind::kRecv, r, {}, slot(r)});
  }
  s.rounds.push_back(std::move(exchange));
  // (x0 op x1) op x2 ...: rank 0 reduces into its own vector; the others keep theirs in their
  // slot and start from rank 0's (min and max of +0 and -0, or of NaNs, depend on the order).
  Round reduce;
  if (a.rank != 0) {
    reduce.steps.push_back({StepKind::kCopy, -1, data, slot(a.rank)});
    reduce.steps.push_back({StepKind::kCopy, -1, slot(0), data});
  }
  for (int r = 1; r < a.size; ++r) reduce.steps.push_back({StepKind::kReduce, -1, slot(r), data});
  s.rounds.push_back(std::move(reduce));
  return s;
}

std::optional<double> closedForm(int p, double n, const CostModel& m) {
  if (p == 1 || n == 0) return 0.0;
  return m.alpha + (p - 1) * n * (m.beta + m.gamma);
}

}  // namespace

extern const AlgorithmDef kDirectAlgorithm = {
    "direct",
    "every rank's whole vector to every other in one round, reduced locally: for small messages",
    /*allreduce=*/{allreduce},
    /*reduceScatter=*/{},
    /*allgather=*/{},
    /*broadcast=*/{},
    /*takesInner=*/false,
    // `auto` takes it below the eager limit (DTRAIN_EAGER_BYTES), where it is sent with the
    // descriptor; the cost model does not see that saving, so it does not weigh it.
    /*autoCandidate=*/false,
    /*autoWorthTrying=*/nullptr,
    closedForm,
};

}  // namespace dtrain
