// Runs a schedule (native/sched) over a transport: each round becomes one Transport::run call.
#pragma once

#include <vector>

#include "common/dtype.h"
#include "sched/schedule.h"
#include "transport/transport.h"

namespace dtrain {

struct Buffers {
  uint8_t* data = nullptr;        // BufferId::kData
  const uint8_t* input = nullptr;  // BufferId::kInput
  uint8_t* scratch = nullptr;      // BufferId::kScratch (set by the executor)
};

class Executor {
 public:
  // Runs every round of `s`. `op` is used by kRecvReduce steps. Throws what the transport throws.
  void run(const Schedule& s, Transport& t, const Buffers& bufs, DType dtype, ReduceOp op,
           const Deadline& deadline, AbortWatch* abort);

 private:
  std::vector<uint8_t> scratch_;  // staging for received data that is reduced, reused
  std::vector<uint8_t> snapshot_;  // BufferId::kScratch
  std::vector<Transfer> transfers_;
};

}  // namespace dtrain
