#include "sim/choose.h"

#include "sim/simulator.h"

namespace dtrain {

std::vector<AlgorithmChoice> autoCandidates(int size, const Topology& topology) {
  std::vector<AlgorithmChoice> out;
  const bool pow2 = size > 0 && (size & (size - 1)) == 0;
  for (const AlgorithmDef* d : algorithms()) {
    if (!d->allreduce.generate || !d->autoCandidate) continue;
    if (d->allreduce.powerOfTwoSizes && !pow2) continue;
    if (d->autoWorthTrying && !d->autoWorthTrying(size, topology)) continue;
    AlgorithmChoice c = AlgorithmChoice::of(d);
    if (d->takesInner) c = AlgorithmChoice::of(d, c.innerDef());
    out.push_back(c);
  }
  return out;
}

AllreduceChooser::AllreduceChooser(CostModel model, Topology topo, int size)
    : model_(model),
      topo_(std::move(topo)),
      size_(size),
      candidates_(autoCandidates(size, topo_)) {}

AlgorithmChoice AllreduceChooser::choose(size_t count, size_t elemSize) {
  const size_t bytes = count * elemSize;
  int bucket = 0;
  while ((size_t{1} << bucket) < bytes) ++bucket;
  for (const auto& [b, c] : cache_)
    if (b == bucket) return c;
  // Decide for the bucket's upper bound, in float32 elements.
  const size_t n = (size_t{1} << bucket) / 4 + 1;
  AlgorithmChoice best = candidates_.at(0);
  double bestT = -1;
  for (const AlgorithmChoice& c : candidates_) {
    double t = simulate([&](int r) { return allreduceSchedule(c, r, size_, n, topo_); }, size_, 4,
                        model_, topo_)
                   .predictedS;
    if (bestT < 0 || t < bestT) {
      bestT = t;
      best = c;
    }
  }
  cache_.push_back({bucket, best});
  return best;
}

}  // namespace dtrain
