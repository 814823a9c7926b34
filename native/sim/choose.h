// `auto`: the all-reduce algorithm the cost model predicts fastest for this call.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "common/cost_model.h"
#include "sched/algorithm.h"

namespace dtrain {

// The registered algorithms `auto` simulates for a job of `size` ranks on `topology`, in
// registry order; one that takes an inner algorithm comes with its default inner.
std::vector<AlgorithmChoice> autoCandidates(int size, const Topology& topology);

// Simulates each candidate for (size, bytes) and returns the fastest. Decisions are cached
// per power-of-two byte bucket, so a call costs a lookup after the first.
class AllreduceChooser {
 public:
  AllreduceChooser(CostModel model, Topology topo, int size);
  AlgorithmChoice choose(size_t count, size_t elemSize);
  const std::vector<AlgorithmChoice>& candidates() const { return candidates_; }

 private:
  CostModel model_;
  Topology topo_;
  int size_;
  std::vector<AlgorithmChoice> candidates_;
  std::vector<std::pair<int, AlgorithmChoice>> cache_;  // by log2(bytes) bucket
};

}  // namespace dtrain
