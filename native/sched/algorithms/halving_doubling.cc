// halving-doubling (Rabenseifner): recursive-halving reduce-scatter, then recursive-doubling
// all-gather; for a non-power-of-two count the extra-ranks fold, so r = p - 2^floor(lg p) ranks
// sit idle. Its reduce-scatter alone needs a power-of-two number of ranks.
#include <cmath>

#include "sched/algorithm.h"
#include "sched/group.h"

namespace dtrain {

namespace {

Schedule allreduce(const ScheduleArgs& a) {
  Schedule s{"halving-doubling", a.rank, a.size, {}};
  if (a.size == 1 || a.count == 0) return s;
  const Chunk all{BufferId::kData, 0, a.count};
  Fold f = foldFor(a.rank, a.size);
  foldIn(s, f, a.rank, all);
  if (f.virtualRank >= 0) {
    std::vector<Chunk> fine = splitEven(a.count, static_cast<int>(f.survivors.size()));
    halvingReduceScatter(s, f.survivors, f.virtualRank, fine);
    doublingAllgather(s, f.survivors, f.virtualRank, fine);
  }
  foldOut(s, f, a.rank, all);
  return s;
}

// Rank r ends with chunk r of splitEven(count, size), as ring's reduce-scatter.
Schedule reduceScatter(const ScheduleArgs& a) {
  Schedule s{"halving-doubling", a.rank, a.size, {}};
  if (a.size == 1 || a.count == 0) return s;
  halvingReduceScatter(s, allRanks(a.size), a.rank, splitEven(a.count, a.size));
  return s;
}

// The fold costs two more rounds, two more vectors sent and one more reduced (p' replaces
// MPICH's approximation p).
std::optional<double> closedForm(int p, double n, const CostModel& m) {
  if (p == 1 || n == 0) return 0.0;
  const int pp = floorPow2(p);
  const double lg = std::log2(pp), frac = static_cast<double>(pp - 1) / pp;
  if (pp == p) return 2 * lg * m.alpha + 2 * n * frac * m.beta + n * frac * m.gamma;
  return (2 * lg + 2) * m.alpha + (2 * frac + 2) * n * m.beta + n * (1 + frac) * m.gamma;
}

}  // namespace

extern const AlgorithmDef kHalvingDoublingAlgorithm = {
    "halving-doubling",
    "recursive halving then doubling (Rabenseifner): 2 lg p rounds, ring's bytes",
    /*allreduce=*/{allreduce},
    /*reduceScatter=*/{reduceScatter, /*powerOfTwoSizes=*/true},
    /*allgather=*/{},
    /*broadcast=*/{},
    /*takesInner=*/false,
    /*autoCandidate=*/true,
    /*autoWorthTrying=*/nullptr,
    closedForm,
};

}  // namespace dtrain
