// binomial trees rooted at any rank (virtual ranks counted from the root).
// Broadcast: lg p rounds; in round k, ranks that already hold the data (virtual rank below 2^k)
// send it to virtual rank + 2^k, in segments so that a rank forwards one segment while the next
// is still arriving.
// Reduce, gather and scatter use the tree in which virtual rank v's parent is v with its lowest
// set bit cleared (MPICH's), so v's subtree is the contiguous range [v, v + lowbit(v)): a
// gather's or scatter's blocks for a subtree travel as one message. lg p rounds each.
#include <algorithm>

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

// Where virtual rank v sits in the lowest-bit tree of p ranks.
struct TreeNode {
  int parent = -1;              // virtual; -1 for the root
  std::vector<int> children;    // virtual, nearest first (v + 1, v + 2, v + 4, ...)
  int subtree = 1;              // ranks in [v, v + subtree)
};

TreeNode nodeOf(int v, int p) {
  TreeNode n;
  int bit = 1;
  while (bit < p && (v & bit) == 0) {
    if (v + bit < p) n.children.push_back(v + bit);
    bit <<= 1;
  }
  if (v != 0) n.parent = v - bit;
  n.subtree = (v == 0 ? p : std::min(bit, p - v));
  return n;
}

int realRank(int v, const ScheduleArgs& a) { return (v + a.root) % a.size; }
int virtualRank(const ScheduleArgs& a) { return (a.rank - a.root + a.size) % a.size; }

// Children send to the parent in order of increasing distance; the parent reduces each in as it
// arrives, so every rank's contribution is added in one fixed order.
Schedule reduce(const ScheduleArgs& a) {
  Schedule s{"binomial-tree", a.rank, a.size, {}};
  if (a.size == 1 || a.count == 0) return s;
  const TreeNode n = nodeOf(virtualRank(a), a.size);
  const Chunk all{BufferId::kData, 0, a.count};
  for (int c : n.children) {
    Round r;
    r.steps.push_back({StepKind::kRecvReduce, realRank(c, a), {}, all});
    s.rounds.push_back(std::move(r));
  }
  if (n.parent >= 0) {
    Round r;
    r.steps.push_back({StepKind::kSend, realRank(n.parent, a), all, {}});
    s.rounds.push_back(std::move(r));
  }
  return s;
}

// The root's blocks of virtual ranks [lo, hi) in real rank order: one chunk, or two where the
// range wraps past rank size-1. Both ends of a message to or from the root split it alike.
std::vector<Chunk> rootBlocks(BufferId buf, int lo, int hi, const ScheduleArgs& a) {
  const size_t c = a.count;
  const int first = realRank(lo, a), n = hi - lo;
  if (first + n <= a.size) return {Chunk{buf, first * c, n * c}};
  const int head = a.size - first;
  return {Chunk{buf, first * c, head * c}, Chunk{buf, 0, (n - head) * c}};
}

// Consecutive pieces of `whole` with the lengths of `like`.
std::vector<Chunk> piecesLike(const Chunk& whole, const std::vector<Chunk>& like) {
  std::vector<Chunk> out;
  size_t off = whole.offset;
  for (const Chunk& l : like) {
    out.push_back({whole.buffer, off, l.count});
    off += l.count;
  }
  return out;
}

// Virtual rank v's subtree's blocks, in virtual order: received from the children into scratch
// and sent up as one message (pieces split at the wrap where the parent is the root).
Schedule gather(const ScheduleArgs& a) {
  Schedule s{"binomial-tree", a.rank, a.size, {}};
  const size_t c = a.count;
  if (c == 0) return s;
  const int v = virtualRank(a);
  const TreeNode n = nodeOf(v, a.size);
  if (v == 0) {
    Round own;
    own.steps.push_back({StepKind::kCopy, -1, {BufferId::kInput, 0, c}, {BufferId::kData, a.rank * c, c}});
    s.rounds.push_back(std::move(own));
    for (int child : n.children) {
      Round r;
      const int sub = nodeOf(child, a.size).subtree;
      for (const Chunk& piece : rootBlocks(BufferId::kData, child, child + sub, a))
        r.steps.push_back({StepKind::kRecv, realRank(child, a), {}, piece});
      s.rounds.push_back(std::move(r));
    }
    return s;
  }
  const Chunk mine{n.subtree == 1 ? BufferId::kInput : BufferId::kScratch, 0, n.subtree * c};
  if (n.subtree > 1) {
    s.scratchElems = n.subtree * c;
    Round own;
    own.steps.push_back({StepKind::kCopy, -1, {BufferId::kInput, 0, c}, {BufferId::kScratch, 0, c}});
    s.rounds.push_back(std::move(own));
    for (int child : n.children) {
      Round r;
      const int sub = nodeOf(child, a.size).subtree;
      r.steps.push_back({StepKind::kRecv, realRank(child, a), {}, {BufferId::kScratch, (child - v) * c, sub * c}});
      s.rounds.push_back(std::move(r));
    }
  }
  Round up;
  const std::vector<Chunk> split = n.parent == 0 ? rootBlocks(BufferId::kData, v, v + n.subtree, a)
                                                 : std::vector<Chunk>{mine};
  for (const Chunk& piece : piecesLike(mine, split))
    up.steps.push_back({StepKind::kSend, realRank(n.parent, a), piece, {}});
  s.rounds.push_back(std::move(up));
  return s;
}

// The reverse of gather: the root sends each child its subtree's blocks (farthest child, the
// largest subtree, first), and every rank passes on its children's parts from scratch.
Schedule scatter(const ScheduleArgs& a) {
  Schedule s{"binomial-tree", a.rank, a.size, {}};
  const size_t c = a.count;
  if (c == 0) return s;
  const int v = virtualRank(a);
  const TreeNode n = nodeOf(v, a.size);
  const Chunk out{BufferId::kData, 0, c};
  Round down;
  if (v == 0) {
    down.steps.push_back({StepKind::kCopy, -1, {BufferId::kInput, a.rank * c, c}, out});
    for (auto it = n.children.rbegin(); it != n.children.rend(); ++it) {
      const int sub = nodeOf(*it, a.size).subtree;
      for (const Chunk& piece : rootBlocks(BufferId::kInput, *it, *it + sub, a))
        down.steps.push_back({StepKind::kSend, realRank(*it, a), piece, {}});
    }
    s.rounds.push_back(std::move(down));
    return s;
  }
  const Chunk mine{n.subtree == 1 ? BufferId::kData : BufferId::kScratch, 0, n.subtree * c};
  if (n.subtree > 1) s.scratchElems = n.subtree * c;
  Round in;
  const std::vector<Chunk> split = n.parent == 0 ? rootBlocks(BufferId::kInput, v, v + n.subtree, a)
                                                 : std::vector<Chunk>{mine};
  for (const Chunk& piece : piecesLike(mine, split))
    in.steps.push_back({StepKind::kRecv, realRank(n.parent, a), {}, piece});
  s.rounds.push_back(std::move(in));
  if (n.subtree == 1) return s;
  down.steps.push_back({StepKind::kCopy, -1, {BufferId::kScratch, 0, c}, out});
  for (auto it = n.children.rbegin(); it != n.children.rend(); ++it) {
    const int sub = nodeOf(*it, a.size).subtree;
    down.steps.push_back({StepKind::kSend, realRank(*it, a), {BufferId::kScratch, (*it - v) * c, sub * c}, {}});
  }
  s.rounds.push_back(std::move(down));
  return s;
}

}  // namespace

extern const AlgorithmDef kBinomialTreeAlgorithm = {
    "binomial-tree",
    "binomial tree from the root: lg p levels (broadcast pipelined in segments)",
    /*allreduce=*/{},
    /*reduceScatter=*/{},
    /*allgather=*/{},
    /*broadcast=*/{broadcast},
    /*takesInner=*/false,
    /*autoCandidate=*/false,
    /*autoWorthTrying=*/nullptr,
    /*closedForm=*/nullptr,
    /*reduce=*/{reduce},
    /*gather=*/{gather},
    /*scatter=*/{scatter},
};

}  // namespace dtrain
