// One collective call as the binding submits it, and the outcome its completion receives.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/dtype.h"
#include "common/error.h"
#include "engine/segment.h"
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
  int root = 0;                 // rooted collectives
  int peer = -1;                // send: the receiver; recv: the sender
  uint32_t tag = 0;             // send, recv
  size_t count = 0;             // elements in `data` (all-gather, gather: in `input`, per rank;
                                // all-to-all: per chunk, 0 with counts)
  void* data = nullptr;         // in/out buffer (all-gather, gather: the output, size*count)
  const void* input = nullptr;  // all-gather's, gather's, scatter's and all-to-all's input
  // A grouped all-reduce: the arrays, reduced as one vector of `count` elements (data null).
  std::vector<Segment> segments;
  // All-to-all with variable splits: elements to and from each rank (empty: `count` each).
  std::vector<size_t> sendCounts, recvCounts;
  // Device buffers (dtrain.cuda): the CUDA device `data` and `input` are on (-1: host memory),
  // and a CUDA event recorded on the caller's stream when the call was made, which the nccl
  // backend's stream waits for (null: nothing to wait for). The binding owns the event's release.
  int device = -1;
  std::shared_ptr<void> ready;
  double timeoutSec = 0;        // 0 = the communicator's default
  Clock::time_point submitted{};  // when submit() queued it (the timeline's "queued" span)
  Completion done;              // called on the engine thread
  // Set when the op was started on the JS thread and handed to the engine thread to finish.
  std::shared_ptr<PreparedOp> prepared;
};

}  // namespace dtrain
