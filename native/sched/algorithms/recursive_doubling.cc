// recursive-doubling: lg p rounds, each exchanging and reducing the whole vector (latency
// optimal, for small messages); the extra-ranks fold for non-powers of two. Also an all-gather.
#include <algorithm>
#include <cmath>

#include "sched/algorithm.h"
#include "sched/group.h"

namespace dtrain {

namespace {

Schedule allreduce(const ScheduleArgs& a) {
  Schedule s{"recursive-doubling", a.rank, a.size, {}};
  if (a.size == 1 || a.count == 0) return s;
  const size_t count = a.count;
  const Chunk all{BufferId::kData, 0, count};
  Fold f = foldFor(a.rank, a.size);
  foldIn(s, f, a.rank, all);
  if (f.virtualRank >= 0) {
    // The vector is sent and overwritten in the same round: send a snapshot. Both partners
    // must compute (lower member's value) op (higher member's), or min/max of +0 and -0, or
    // of a NaN, would differ between them: the lower one reduces the incoming vector into its
    // own, the higher one takes the incoming vector and reduces its snapshot into it.
    s.scratchElems = count;
    const Chunk snap{BufferId::kScratch, 0, count};
    const int n = static_cast<int>(f.survivors.size());
    for (int dist = 1; dist < n; dist *= 2) {
      const int partner = f.survivors[f.virtualRank ^ dist];
      const bool lower = (f.virtualRank & dist) == 0;
      Round r;
      r.steps.push_back({StepKind::kCopy, -1, all, snap});
      r.steps.push_back({StepKind::kSend, partner, snap, {}});
      if (lower) {
        r.steps.push_back({StepKind::kRecvReduce, partner, {}, all});
      } else {
        r.steps.push_back({StepKind::kRecv, partner, {}, all});
        r.steps.push_back({StepKind::kReduce, -1, snap, all});
      }
      s.rounds.push_back(std::move(r));
    }
  }
  foldOut(s, f, a.rank, all);
  return s;
}

// `count` elements per rank from kInput into kData (rank order), doubling the blocks held each
// round, with the fold for non-powers of two.
Schedule allgather(const ScheduleArgs& a) {
  Schedule s{"recursive-doubling", a.rank, a.size, {}};
  const size_t count = a.count;
  const int rank = a.rank, size = a.size;
  if (count == 0) return s;
  auto block = [&](int r) { return Chunk{BufferId::kData, static_cast<size_t>(r) * count, count}; };
  Round first;
  first.steps.push_back({StepKind::kCopy, -1, {BufferId::kInput, 0, count}, block(rank)});
  s.rounds.push_back(std::move(first));
  if (size == 1) return s;
  // Folded pairs hold two consecutive blocks; a survivor's holding is always one contiguous
  // range of blocks, since survivors are in rank order.
  Fold f = foldFor(rank, size);
  const Chunk all{BufferId::kData, 0, count * size};
  if (f.partner >= 0) {
    Round r;
    if (f.virtualRank < 0)
      r.steps.push_back({StepKind::kSend, f.partner, block(rank), {}});
    else
      r.steps.push_back({StepKind::kRecv, f.partner, {}, block(f.partner)});
    s.rounds.push_back(std::move(r));
  }
  if (f.virtualRank >= 0) {
    const Group& g = f.survivors;
    const int n = static_cast<int>(g.size());
    // Member i's first block: its partner's if it took one over, else its own.
    auto firstBlock = [&](int i) { return i < size - n ? g[i] - 1 : g[i]; };
    auto endBlock = [&](int i) { return g[i] + 1; };
    int lo = f.virtualRank, hi = f.virtualRank + 1;  // members whose blocks I hold
    for (int dist = 1; dist < n; dist *= 2) {
      const int pv = f.virtualRank ^ dist;
      const bool lower = (f.virtualRank & dist) == 0;
      const int plo = lower ? hi : lo - (hi - lo), phi = plo + (hi - lo);
      auto span = [&](int from, int to) {
        const size_t b0 = firstBlock(from), b1 = endBlock(to - 1);
        return Chunk{BufferId::kData, b0 * count, (b1 - b0) * count};
      };
      Round r;
      r.steps.push_back({StepKind::kSend, g[pv], span(lo, hi), {}});
      r.steps.push_back({StepKind::kRecv, g[pv], {}, span(plo, phi)});
      s.rounds.push_back(std::move(r));
      lo = std::min(lo, plo);
      hi = std::max(hi, phi);
    }
  }
  foldOut(s, f, rank, all);
  return s;
}

std::optional<double> closedForm(int p, double n, const CostModel& m) {
  if (p == 1 || n == 0) return 0.0;
  const int pp = floorPow2(p);
  const double lg = std::log2(pp);
  if (pp == p) return lg * (m.alpha + n * m.beta + n * m.gamma);
  return (lg + 2) * m.alpha + (lg + 2) * n * m.beta + (lg + 1) * n * m.gamma;
}

}  // namespace

extern const AlgorithmDef kRecursiveDoublingAlgorithm = {
    "recursive-doubling",
    "whole-vector exchanges at distance 1, 2, 4, ...: lg p rounds, for small messages",
    /*allreduce=*/{allreduce},
    /*reduceScatter=*/{},
    /*allgather=*/{allgather},
    /*broadcast=*/{},
    /*takesInner=*/false,
    /*autoCandidate=*/true,
    /*autoWorthTrying=*/nullptr,
    closedForm,
};

}  // namespace dtrain
