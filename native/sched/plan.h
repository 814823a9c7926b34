// A plan: what one rank does for one collective call, as the engine runs it. The schedule comes
// from the algorithm registry; the scaling around it is the collective's own policy (an
// average's division), so that no executor or backend decides it.
#pragma once

#include <cstddef>

#include "common/dtype.h"
#include "sched/algorithm.h"

namespace dtrain {

struct CollectiveCall {
  OpKind kind = OpKind::kBarrier;
  DType dtype = DType::kFloat32;
  ReduceOp op = ReduceOp::kSum;
  AlgorithmChoice algorithm;  // all-reduce: auto already resolved
  int root = 0;
  size_t count = 0;
  int rank = 0;
  int size = 1;
  int peer = -1;  // send, recv
  // How many ranks' data an average divides by: size, or fewer when some have joined (their
  // zeros do not count). 0: size.
  int contributors = 0;
  const std::vector<size_t>* sendCounts = nullptr;  // all-to-all-v (see ScheduleArgs)
  const std::vector<size_t>* recvCounts = nullptr;
};

// Division of part of the data buffer by `divisor` (elements: the count, an offset).
struct Scaling {
  int divisor = 1;
  Chunk chunk;  // count 0: nothing to scale
  bool any() const { return divisor != 1 && chunk.count > 0; }
};

struct Plan {
  Schedule schedule;  // empty for a barrier: the descriptor exchange is itself one
  Scaling before;     // applied to this rank's input before the schedule runs
  Scaling after;      // applied to this rank's result once it has run
};

Plan planCollective(const CollectiveCall& call, const Topology& topology);

}  // namespace dtrain
