// ring (Patarasuk & Yuan 2009): bandwidth-optimal, 2(p-1) rounds for all-reduce, each rank
// sending 2n(p-1)/p elements; the default of every collective it implements.
#include "sched/algorithm.h"
#include "sched/group.h"

namespace dtrain {

namespace {

int mod(int a, int p) { return ((a % p) + p) % p; }

// Reduce-scatter then all-gather in place.
Schedule allreduce(const ScheduleArgs& a) {
  Schedule s{"ring", a.rank, a.size, {}};
  const Group all = allRanks(a.size);
  ringReduceScatter(s, all, a.rank, a.count);
  ringAllgatherInPlace(s, all, a.rank, a.count);
  return s;
}

// Rank r ends with chunk r of splitEven(count, size) reduced over all ranks, in place in kData.
Schedule reduceScatter(const ScheduleArgs& a) {
  Schedule s{"ring", a.rank, a.size, {}};
  ringReduceScatter(s, allRanks(a.size), a.rank, a.count);
  return s;
}

// Each rank's `count` elements (kInput) end up at offset rank*count of every rank's kData.
Schedule allgather(const ScheduleArgs& a) {
  Schedule s{"ring", a.rank, a.size, {}};
  const size_t count = a.count;
  if (count == 0) return s;
  auto block = [&](int r) { return Chunk{BufferId::kData, static_cast<size_t>(r) * count, count}; };
  Round first;
  first.steps.push_back({StepKind::kCopy, -1, {BufferId::kInput, 0, count}, block(a.rank)});
  s.rounds.push_back(std::move(first));
  const int right = mod(a.rank + 1, a.size), left = mod(a.rank - 1, a.size);
  for (int k = 0; k < a.size - 1; ++k) {
    Round r;
    r.steps.push_back({StepKind::kSend, right, block(mod(a.rank - k, a.size)), {}});
    r.steps.push_back({StepKind::kRecv, left, {}, block(mod(a.rank - k - 1, a.size))});
    s.rounds.push_back(std::move(r));
  }
  return s;
}

std::optional<double> closedForm(int p, double n, const CostModel& m) {
  if (p == 1 || n == 0) return 0.0;
  return 2.0 * (p - 1) * m.alpha + 2.0 * n * (p - 1) / p * m.beta + n * (p - 1) / p * m.gamma;
}

}  // namespace

extern const AlgorithmDef kRingAlgorithm = {
    "ring",
    "reduce-scatter then all-gather around a ring: 2(p-1) rounds, the fewest bytes",
    /*allreduce=*/{allreduce},
    /*reduceScatter=*/{reduceScatter},
    /*allgather=*/{allgather},
    /*broadcast=*/{},
    /*takesInner=*/false,
    /*autoCandidate=*/true,
    /*autoWorthTrying=*/nullptr,
    closedForm,
};

}  // namespace dtrain
