#include "sched/broadcast.h"

namespace dtrain {

Schedule binomialBroadcast(int rank, int size, size_t count, int root, size_t segmentElems) {
  Schedule s{"binomial-tree", rank, size, {}};
  if (size == 1 || count == 0) return s;
  if (segmentElems == 0) segmentElems = count;
  const int v = (rank - root + size) % size;
  auto real = [&](int vr) { return (vr + root) % size; };
  // My parent: clear the highest set bit of v. My children: v + 2^k for 2^k > v.
  int parent = -1, firstChildBit = 1;
  if (v != 0) {
    int hb = 1;
    while (hb * 2 <= v) hb *= 2;
    parent = real(v - hb);
    firstChildBit = hb * 2;
  }
  std::vector<int> children;
  for (int bit = firstChildBit; v + bit < size; bit *= 2) children.push_back(real(v + bit));
  // Pipelined over segments: round j receives segment j and forwards segment j-1.
  size_t nseg = (count + segmentElems - 1) / segmentElems;
  auto seg = [&](size_t j) {
    size_t off = j * segmentElems;
    return Chunk{BufferId::kData, off, off + segmentElems > count ? count - off : segmentElems};
  };
  for (size_t j = 0; j <= nseg; ++j) {
    Round r;
    if (parent >= 0 && j < nseg) r.steps.push_back({StepKind::kRecv, parent, {}, seg(j)});
    if (j >= 1 || parent < 0) {
      size_t sj = parent < 0 ? j : j - 1;
      if (sj < nseg)
        for (int c : children) r.steps.push_back({StepKind::kSend, c, seg(sj), {}});
    }
    if (!r.steps.empty()) s.rounds.push_back(std::move(r));
  }
  return s;
}

}  // namespace dtrain
