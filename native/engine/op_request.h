// One collective call as the binding submits it, and the outcome its completion receives.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/error.h"
#include "sched/collective.h"

namespace dtrain {

// The outcome handed to a completion callback: ok, or the error to report.
struct Status {
  bool ok = true;
  ErrorCode code = ErrorCode::kSystem;
  std::string message;
  std::vector<int> ranks;
  static Status fromError(const Error& e) { return {false, e.code(), e.what(), e.ranks()}; }
};

using Completion = std::function<void(const Status&)>;

struct PreparedOp;

struct OpRequest {
  OpKind kind = OpKind::kBarrier;
  DType dtype = DType::kFloat32;
  ReduceOp op = ReduceOp::kSum;
  uint8_t algorithm = 0;  // AlgorithmChoice::encode() (sched/algorithm.h)
  int root = 0;
  size_t count = 0;             // elements in `data` (all-gather: in `input`, per rank)
  void* data = nullptr;         // in/out buffer (all-gather: the output, size*count)
  const void* input = nullptr;  // all-gather's input
  double timeoutSec = 0;        // 0 = the communicator's default
  Completion done;              // called on the engine thread
  // Set when the op was started on the JS thread and handed to the engine thread to finish.
  std::shared_ptr<PreparedOp> prepared;
};

}  // namespace dtrain
