#include "sim/choose.h"

#include <algorithm>
#include <set>

#include "sim/simulator.h"

namespace dtrain {

AllreduceChooser::AllreduceChooser(CostModel model, Topology topo, int size)
    : model_(model), topo_(std::move(topo)), size_(size) {
  if (!topo_.empty()) {
    std::set<int> groups(topo_.begin(), topo_.end());
    // Hierarchical only helps when groups exist and hold more than one rank.
    multiGroup_ = groups.size() > 1 && groups.size() < static_cast<size_t>(size_);
  }
}

AlgorithmChoice AllreduceChooser::choose(size_t count, size_t elemSize) {
  const size_t bytes = count * elemSize;
  int bucket = 0;
  while ((size_t{1} << bucket) < bytes) ++bucket;
  for (const auto& [b, c] : cache_)
    if (b == bucket) return c;
  // Decide for the bucket's upper bound, in float32 elements.
  const size_t n = (size_t{1} << bucket) / 4 + 1;
  std::vector<AlgorithmChoice> candidates = {
      {Algorithm::kRing, Algorithm::kAuto},
      {Algorithm::kHalvingDoubling, Algorithm::kAuto},
      {Algorithm::kBinaryBlocks, Algorithm::kAuto},
      {Algorithm::kRecursiveDoubling, Algorithm::kAuto}};
  if (multiGroup_) candidates.push_back({Algorithm::kHierarchical, Algorithm::kRing});
  AlgorithmChoice best = candidates[0];
  double bestT = -1;
  for (const AlgorithmChoice& c : candidates) {
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
