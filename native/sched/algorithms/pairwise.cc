// pairwise exchange for all-to-all: p-1 rounds; in round k a rank sends its chunk for rank
// (me + k) to it and receives rank (me - k)'s chunk for it, so every round is a permutation
// and no rank receives from two peers at once. Splits may differ per pair (all-to-all-v).
#include "sched/algorithm.h"

namespace dtrain {

namespace {

int mod(int a, int p) { return ((a % p) + p) % p; }

// Chunk j of `counts` (count each when null), in buffer `buf`.
Chunk chunkOf(BufferId buf, const std::vector<size_t>* counts, size_t count, int j) {
  if (!counts) return Chunk{buf, j * count, count};
  size_t off = 0;
  for (int i = 0; i < j; ++i) off += (*counts)[i];
  return Chunk{buf, off, (*counts)[j]};
}

Schedule alltoall(const ScheduleArgs& a) {
  Schedule s{"pairwise", a.rank, a.size, {}};
  auto sendChunk = [&](int j) { return chunkOf(BufferId::kInput, a.sendCounts, a.count, j); };
  auto recvChunk = [&](int j) { return chunkOf(BufferId::kData, a.recvCounts, a.count, j); };
  Round own;
  if (sendChunk(a.rank).count)
    own.steps.push_back({StepKind::kCopy, -1, sendChunk(a.rank), recvChunk(a.rank)});
  s.rounds.push_back(std::move(own));
  for (int k = 1; k < a.size; ++k) {
    const int to = mod(a.rank + k, a.size), from = mod(a.rank - k, a.size);
    Round r;
    if (sendChunk(to).count) r.steps.push_back({StepKind::kSend, to, sendChunk(to), {}});
    if (recvChunk(from).count) r.steps.push_back({StepKind::kRecv, from, {}, recvChunk(from)});
    if (!r.steps.empty()) s.rounds.push_back(std::move(r));
  }
  return s;
}

}  // namespace

extern const AlgorithmDef kPairwiseAlgorithm = {
    "pairwise",
    "all-to-all by pairwise exchange: p-1 rounds, one peer each way per round",
    /*allreduce=*/{},
    /*reduceScatter=*/{},
    /*allgather=*/{},
    /*broadcast=*/{},
    /*takesInner=*/false,
    /*autoCandidate=*/false,
    /*autoWorthTrying=*/nullptr,
    /*closedForm=*/nullptr,
    /*reduce=*/{},
    /*gather=*/{},
    /*scatter=*/{},
    /*alltoall=*/{alltoall},
};

}  // namespace dtrain
