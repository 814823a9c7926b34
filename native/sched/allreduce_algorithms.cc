#include "sched/allreduce_algorithms.h"

#include <algorithm>

#include "sched/group.h"
#include "sched/ring.h"

namespace dtrain {

namespace {
Group identity(int n) {
  Group g(n);
  for (int i = 0; i < n; ++i) g[i] = i;
  return g;
}
}  // namespace

Schedule halvingDoublingAllreduce(int rank, int size, size_t count) {
  Schedule s{"halving-doubling", rank, size, {}};
  if (size == 1 || count == 0) return s;
  const Chunk all{BufferId::kData, 0, count};
  Fold f = foldFor(rank, size);
  foldIn(s, f, rank, all);
  if (f.virtualRank >= 0) {
    std::vector<Chunk> fine = splitEven(count, static_cast<int>(f.survivors.size()));
    halvingReduceScatter(s, f.survivors, f.virtualRank, fine);
    doublingAllGather(s, f.survivors, f.virtualRank, fine);
  }
  foldOut(s, f, rank, all);
  return s;
}

Schedule recursiveDoublingAllreduce(int rank, int size, size_t count) {
  Schedule s{"recursive-doubling", rank, size, {}};
  if (size == 1 || count == 0) return s;
  const Chunk all{BufferId::kData, 0, count};
  Fold f = foldFor(rank, size);
  foldIn(s, f, rank, all);
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
  foldOut(s, f, rank, all);
  return s;
}

Schedule binaryBlocksAllreduce(int rank, int size, size_t count) {
  Schedule s{"binary-blocks", rank, size, {}};
  if (size == 1 || count == 0) return s;
  // Blocks from the highest bit of p down: sizes 2^k0 > 2^k1 > ..., consecutive ranks.
  std::vector<int> blockStart, blockLog;
  for (int bit = 30, start = 0; bit >= 0; --bit) {
    if (size & (1 << bit)) {
      blockStart.push_back(start);
      blockLog.push_back(bit);
      start += 1 << bit;
    }
  }
  const int nblocks = static_cast<int>(blockStart.size());
  int b = 0;
  while (b + 1 < nblocks && rank >= blockStart[b + 1]) ++b;
  const int me = rank - blockStart[b];
  Group block(1 << blockLog[b]);
  for (int i = 0; i < static_cast<int>(block.size()); ++i) block[i] = blockStart[b] + i;
  const int fineCount = 1 << blockLog[0];
  std::vector<Chunk> fine = splitEven(count, fineCount);
  auto width = [&](int blk) { return static_cast<size_t>(fineCount >> blockLog[blk]); };
  const size_t w = width(b);
  const size_t lo = me * w;

  halvingReduceScatter(s, block, me, fine);
  // Up: the next smaller block (b+1) adds its partial sums into mine, then I pass mine up.
  if (b + 1 < nblocks) {
    const int d = blockLog[b] - blockLog[b + 1];
    const int from = blockStart[b + 1] + (me >> d);
    Round r;
    r.steps.push_back({StepKind::kRecvReduce, from, {}, spanOf(fine, lo, lo + w)});
    s.rounds.push_back(std::move(r));
  }
  if (b > 0) {
    const int d = blockLog[b - 1] - blockLog[b];
    const size_t wu = width(b - 1);
    Round up;
    for (int t = 0; t < (1 << d); ++t) {
      const int to = blockStart[b - 1] + (me << d) + t;
      up.steps.push_back({StepKind::kSend, to, spanOf(fine, lo + t * wu, lo + (t + 1) * wu), {}});
    }
    s.rounds.push_back(std::move(up));
    // Down: the larger block returns the finished sums of my range.
    Round down;
    for (int t = 0; t < (1 << d); ++t) {
      const int from = blockStart[b - 1] + (me << d) + t;
      down.steps.push_back({StepKind::kRecv, from, {}, spanOf(fine, lo + t * wu, lo + (t + 1) * wu)});
    }
    s.rounds.push_back(std::move(down));
  }
  if (b + 1 < nblocks) {
    const int d = blockLog[b] - blockLog[b + 1];
    Round r;
    r.steps.push_back({StepKind::kSend, blockStart[b + 1] + (me >> d), spanOf(fine, lo, lo + w), {}});
    s.rounds.push_back(std::move(r));
  }
  doublingAllGather(s, block, me, fine);
  return s;
}

void remapPeers(Schedule& s, const std::vector<int>& g) {
  for (Round& r : s.rounds)
    for (Step& st : r.steps)
      if (st.peer >= 0) st.peer = g[st.peer];
}

Schedule hierarchicalAllreduce(int rank, int size, size_t count, const std::vector<int>& groupOf,
                               Schedule (*inner)(int, int, size_t)) {
  Schedule s{"hierarchical", rank, size, {}};
  if (size == 1 || count == 0) return s;
  Group mine, leaders;
  for (int r = 0; r < size; ++r) {
    if (groupOf[r] == groupOf[rank]) mine.push_back(r);
    bool first = true;
    for (int q = 0; q < r; ++q) first &= groupOf[q] != groupOf[r];
    if (first) leaders.push_back(r);
  }
  const int k = static_cast<int>(mine.size());
  const int me = static_cast<int>(std::find(mine.begin(), mine.end(), rank) - mine.begin());
  const std::vector<Chunk> chunks = splitEven(count, k);
  // Within the group, bandwidth-optimal phases (Jia et al. 2018): reduce-scatter, then the
  // leader gathers the reduced chunks ...
  Schedule rs = ringReduceScatter(me, k, count);
  remapPeers(rs, mine);
  appendRounds(s, std::move(rs));
  if (k > 1) {
    Round gather;
    if (me == 0)
      for (int j = 1; j < k; ++j) gather.steps.push_back({StepKind::kRecv, mine[j], {}, chunks[j]});
    else
      gather.steps.push_back({StepKind::kSend, mine[0], chunks[me], {}});
    s.rounds.push_back(std::move(gather));
  }
  // ... the leaders all-reduce among themselves ...
  if (me == 0 && leaders.size() > 1) {
    const int li = static_cast<int>(std::find(leaders.begin(), leaders.end(), rank) - leaders.begin());
    Schedule in = inner(li, static_cast<int>(leaders.size()), count);
    remapPeers(in, leaders);
    appendRounds(s, std::move(in));
  }
  // ... and hand the result back: scatter the chunks, then all-gather them around the group.
  if (k > 1) {
    Round scatter;
    if (me == 0)
      for (int j = 1; j < k; ++j) scatter.steps.push_back({StepKind::kSend, mine[j], chunks[j], {}});
    else
      scatter.steps.push_back({StepKind::kRecv, mine[0], {}, chunks[me]});
    s.rounds.push_back(std::move(scatter));
    Schedule ag = ringAllgatherInPlace(me, k, count);
    remapPeers(ag, mine);
    appendRounds(s, std::move(ag));
  }
  return s;
}

Schedule halvingReduceScatterSchedule(int rank, int size, size_t count) {
  Schedule s{"halving-doubling", rank, size, {}};
  if (size == 1 || count == 0) return s;
  halvingReduceScatter(s, identity(size), rank, splitEven(count, size));
  return s;
}

Schedule recursiveDoublingAllgather(int rank, int size, size_t count) {
  Schedule s{"recursive-doubling", rank, size, {}};
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
    if (f.virtualRank < 0) r.steps.push_back({StepKind::kSend, f.partner, block(rank), {}});
    else r.steps.push_back({StepKind::kRecv, f.partner, {}, block(f.partner)});
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
      auto span = [&](int a, int z) {
        const size_t b0 = firstBlock(a), b1 = endBlock(z - 1);
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

}  // namespace dtrain
