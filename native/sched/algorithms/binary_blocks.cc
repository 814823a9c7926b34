// binary-blocks (Rabenseifner & Traff 2004; Gloo's allreduce_halving_doubling.h): the ranks form
// blocks of the powers of two in p's binary representation (13 = 8 + 4 + 1), each block runs
// halving-doubling on the largest block's 2^floor(lg p) chunks, and partial results flow from
// the smallest block up to the largest and the final ones back down. No rank sits idle.
#include "sched/algorithm.h"
#include "sched/group.h"

namespace dtrain {

namespace {

Schedule allreduce(const ScheduleArgs& a) {
  Schedule s{"binary-blocks", a.rank, a.size, {}};
  const int rank = a.rank, size = a.size;
  if (size == 1 || a.count == 0) return s;
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
  std::vector<Chunk> fine = splitEven(a.count, fineCount);
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
      down.steps.push_back(
          {StepKind::kRecv, from, {}, spanOf(fine, lo + t * wu, lo + (t + 1) * wu)});
    }
    s.rounds.push_back(std::move(down));
  }
  if (b + 1 < nblocks) {
    const int d = blockLog[b] - blockLog[b + 1];
    Round r;
    r.steps.push_back(
        {StepKind::kSend, blockStart[b + 1] + (me >> d), spanOf(fine, lo, lo + w), {}});
    s.rounds.push_back(std::move(r));
  }
  doublingAllgather(s, block, me, fine);
  return s;
}

}  // namespace

extern const AlgorithmDef kBinaryBlocksAlgorithm = {
    "binary-blocks",
    "halving-doubling in power-of-two blocks chained together: no rank idles",
    /*allreduce=*/{allreduce},
    /*reduceScatter=*/{},
    /*allgather=*/{},
    /*broadcast=*/{},
    /*takesInner=*/false,
    /*autoCandidate=*/true,
    /*autoWorthTrying=*/nullptr,
    /*closedForm=*/nullptr,
};

}  // namespace dtrain
