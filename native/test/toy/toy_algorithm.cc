// A toy algorithm, added the way every algorithm is (one file, one line in the registry's list)
// to show that nothing else needs an edit: test_toy_registry and test/60.registries.test.js
// find it in `dtrain info`, auto's candidates, `dtrain simulate` and the binding. Not shipped.
//
// toy-gather: rank 0 reduces every other rank's vector in, one per round in rank order, then
// sends the result to each. Simple and exact, and slow: p - 1 rounds through one rank.
#include "sched/algorithm.h"

namespace dtrain {

namespace {

Schedule allreduce(const ScheduleArgs& a) {
  Schedule s{"toy-gather", a.rank, a.size, {}};
  if (a.size == 1 || a.count == 0) return s;
  const Chunk all{BufferId::kData, 0, a.count};
  if (a.rank != 0) {
    s.rounds.push_back({{{StepKind::kSend, 0, all, {}}}});
    s.rounds.push_back({{{StepKind::kRecv, 0, {}, all}}});
    return s;
  }
  for (int r = 1; r < a.size; ++r) s.rounds.push_back({{{StepKind::kRecvReduce, r, {}, all}}});
  Round back;
  for (int r = 1; r < a.size; ++r) back.steps.push_back({StepKind::kSend, r, all, {}});
  s.rounds.push_back(std::move(back));
  return s;
}

// Rank 0 receives and reduces p - 1 vectors one after another, then sends p - 1 from one port.
std::optional<double> closedForm(int p, double n, const CostModel& m) {
  if (p == 1 || n == 0) return 0.0;
  return (p - 1) * (m.alpha + n * m.beta + n * m.gamma) + (p - 1) * (m.alpha + n * m.beta);
}

}  // namespace

extern const AlgorithmDef kToyGatherAlgorithm = {
    "toy-gather",
    "test only: rank 0 reduces everything and sends it back",
    /*allreduce=*/{allreduce},
    /*reduceScatter=*/{},
    /*allgather=*/{},
    /*broadcast=*/{},
    /*takesInner=*/false,
    /*autoCandidate=*/true,
    /*autoWorthTrying=*/nullptr,
    closedForm,
};

}  // namespace dtrain
