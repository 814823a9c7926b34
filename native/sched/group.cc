#include "sched/group.h"

namespace dtrain {

namespace {
int mod(int a, int p) { return ((a % p) + p) % p; }
}  // namespace

int floorPow2(int p) {
  int q = 1;
  while (q * 2 <= p) q *= 2;
  return q;
}

Group allRanks(int n) {
  Group g(n);
  for (int i = 0; i < n; ++i) g[i] = i;
  return g;
}

void remapPeers(Schedule& s, const Group& g) {
  for (Round& r : s.rounds)
    for (Step& st : r.steps)
      if (st.peer >= 0) st.peer = g[st.peer];
}

namespace {
// n - 1 rounds around the ring over splitEven(count, n): in round k a member sends chunk
// (me - k + shift) to the right and receives chunk (me - k + shift - 1) from the left, by `recv`.
void ringPass(Schedule& s, const Group& g, int me, size_t count, int shift, StepKind recv) {
  const int n = static_cast<int>(g.size());
  if (n == 1 || count == 0) return;
  const int right = g[mod(me + 1, n)], left = g[mod(me - 1, n)];
  const std::vector<Chunk> chunks = splitEven(count, n);
  for (int k = 0; k < n - 1; ++k) {
    Round r;
    r.steps.push_back({StepKind::kSend, right, chunks[mod(me - k + shift, n)], {}});
    r.steps.push_back({recv, left, {}, chunks[mod(me - k + shift - 1, n)]});
    s.rounds.push_back(std::move(r));
  }
}
}  // namespace

void ringReduceScatter(Schedule& s, const Group& g, int me, size_t count) {
  // After round k, chunk (me - k - 2) holds the partial sum of k + 2 members; member j
  // finishes chunk j.
  ringPass(s, g, me, count, -1, StepKind::kRecvReduce);
}

void ringAllgatherInPlace(Schedule& s, const Group& g, int me, size_t count) {
  ringPass(s, g, me, count, 0, StepKind::kRecv);
}

void halvingReduceScatter(Schedule& s, const Group& g, int me, const std::vector<Chunk>& fine) {
  const int n = static_cast<int>(g.size());
  size_t lo = 0, hi = fine.size();
  for (int dist = n / 2; dist >= 1; dist /= 2) {
    const int partner = g[me ^ dist];
    const size_t mid = lo + (hi - lo) / 2;
    const bool lower = (me & dist) == 0;
    const Chunk keep = lower ? spanOf(fine, lo, mid) : spanOf(fine, mid, hi);
    const Chunk give = lower ? spanOf(fine, mid, hi) : spanOf(fine, lo, mid);
    Round r;
    r.steps.push_back({StepKind::kSend, partner, give, {}});
    r.steps.push_back({StepKind::kRecvReduce, partner, {}, keep});
    s.rounds.push_back(std::move(r));
    if (lower) hi = mid;
    else lo = mid;
  }
}

void doublingAllgather(Schedule& s, const Group& g, int me, const std::vector<Chunk>& fine) {
  const int n = static_cast<int>(g.size());
  const size_t w = fine.size() / n;
  size_t lo = me * w, hi = lo + w;
  for (int dist = 1; dist < n; dist *= 2) {
    const int partner = g[me ^ dist];
    const bool lower = (me & dist) == 0;
    const size_t width = hi - lo;
    const size_t plo = lower ? hi : lo - width;
    Round r;
    r.steps.push_back({StepKind::kSend, partner, spanOf(fine, lo, hi), {}});
    r.steps.push_back({StepKind::kRecv, partner, {}, spanOf(fine, plo, plo + width)});
    s.rounds.push_back(std::move(r));
    if (lower) hi += width;
    else lo -= width;
  }
}

Fold foldFor(int rank, int size) {
  const int pp = floorPow2(size), r = size - pp;
  Fold f{{}, -1, -1};
  for (int i = 0; i < pp; ++i) f.survivors.push_back(i < r ? 2 * i + 1 : i + r);
  if (rank < 2 * r) {
    f.partner = rank % 2 == 0 ? rank + 1 : rank - 1;
    if (rank % 2 == 1) f.virtualRank = rank / 2;
  } else {
    f.virtualRank = rank - r;
  }
  return f;
}

void foldIn(Schedule& s, const Fold& f, int rank, const Chunk& all) {
  if (f.partner < 0) return;
  Round r;
  if (f.virtualRank < 0) r.steps.push_back({StepKind::kSend, f.partner, all, {}});
  else r.steps.push_back({StepKind::kRecvReduce, f.partner, {}, all});
  s.rounds.push_back(std::move(r));
}

void foldOut(Schedule& s, const Fold& f, int rank, const Chunk& all) {
  if (f.partner < 0) return;
  Round r;
  if (f.virtualRank < 0) r.steps.push_back({StepKind::kRecv, f.partner, {}, all});
  else r.steps.push_back({StepKind::kSend, f.partner, all, {}});
  s.rounds.push_back(std::move(r));
}

void treeBroadcast(Schedule& s, const Group& g, int me, const Chunk& all, size_t segmentElems) {
  const int n = static_cast<int>(g.size());
  if (n == 1 || all.count == 0) return;
  if (segmentElems == 0) segmentElems = all.count;
  int parent = -1, firstChildBit = 1;
  if (me != 0) {
    int hb = 1;
    while (hb * 2 <= me) hb *= 2;
    parent = g[me - hb];
    firstChildBit = hb * 2;
  }
  std::vector<int> children;
  for (int bit = firstChildBit; me + bit < n; bit *= 2) children.push_back(g[me + bit]);
  // Round j receives segment j and forwards segment j-1, so every level streams.
  const size_t nseg = (all.count + segmentElems - 1) / segmentElems;
  auto seg = [&](size_t j) {
    size_t off = j * segmentElems;
    size_t cnt = off + segmentElems > all.count ? all.count - off : segmentElems;
    return Chunk{all.buffer, all.offset + off, cnt};
  };
  for (size_t j = 0; j <= nseg; ++j) {
    Round r;
    if (parent >= 0 && j < nseg) r.steps.push_back({StepKind::kRecv, parent, {}, seg(j)});
    const size_t sj = parent < 0 ? j : j - 1;
    if ((parent < 0 || j >= 1) && sj < nseg)
      for (int c : children) r.steps.push_back({StepKind::kSend, c, seg(sj), {}});
    if (!r.steps.empty()) s.rounds.push_back(std::move(r));
  }
}

}  // namespace dtrain
