// `auto`: the all-reduce algorithm the cost model predicts fastest for this call.
#pragma once

#include <cstddef>

#include "sched/algorithm.h"
#include "sim/cost_model.h"

namespace dtrain {

// Simulates each candidate for (size, bytes) and returns the fastest. Decisions are cached
// per size and power-of-two byte bucket, so a call costs a hash lookup after the first.
class AllreduceChooser {
 public:
  AllreduceChooser(CostModel model, Topology topo, int size);
  AlgorithmChoice choose(size_t count, size_t elemSize);

 private:
  CostModel model_;
  Topology topo_;
  int size_;
  bool multiGroup_ = false;
  std::vector<std::pair<int, AlgorithmChoice>> cache_;  // by log2(bytes) bucket
};

}  // namespace dtrain
