// binomial-tree broadcast: lg p rounds; in round k, ranks that already hold the data (virtual
// rank below 2^k, counted from the root) send it to virtual rank + 2^k. The buffer goes in
// segments so that a rank forwards one segment while the next is still arriving.
#include "sched/algorithm.h"
#include "sched/group.h"

namespace dtrain {

namespace {

// Segments of this many bytes (unless the caller says) let a tree level pass on data it is
// still receiving.
constexpr size_t kSegmentBytes = 256 << 10;

Schedule broadcast(const ScheduleArgs& a) {
  Schedule s{"binomial-tree", a.rank, a.size, {}};
  // The tree is rooted at member 0: list the ranks starting from the root.
  Group g(a.size);
  for (int i = 0; i < a.size; ++i) g[i] = (a.root + i) % a.size;
  treeBroadcast(s, g, (a.rank - a.root + a.size) % a.size, Chunk{BufferId::kData, 0, a.count},
                (a.segmentBytes ? a.segmentBytes : kSegmentBytes) / a.elemSize);
  return s;
}

}  // namespace

extern const AlgorithmDef kBinomialTreeAlgorithm = {
    "binomial-tree",
    "segmented binomial tree from the root: lg p levels, pipelined",
    /*allreduce=*/{},
    /*reduceScatter=*/{},
    /*allgather=*/{},
    /*broadcast=*/{broadcast},
    /*takesInner=*/false,
    /*autoCandidate=*/false,
    /*autoWorthTrying=*/nullptr,
    /*closedForm=*/nullptr,
};

}  // namespace dtrain
