// A collective in progress: its descriptor exchange, then its data phase, each resumable where
// one thread left it (the JS thread hands a call that waits too long to the engine thread).
#pragma once

#include <memory>
#include <vector>

#include "common/clock.h"
#include "engine/collective_desc.h"
#include "engine/executor.h"
#include "engine/op_request.h"
#include "engine/zero_copy.h"
#include "sched/plan.h"
#include "transport/transport.h"

namespace dtrain {

struct PreparedOp {
  CollectiveDesc desc;
  AlgorithmChoice algo;  // all-reduce's auto resolved before the exchange
  Deadline deadline;
  std::vector<CollectiveDesc> all;  // every rank's descriptor
  std::vector<Transfer> transfers;  // the exchange, resumable
  bool exchanged = false;
  // A small all-reduce by `direct` whose data travels with the descriptor (desc.payload): the
  // exchange moves it, and the data phase only reduces what arrived.
  bool fused = false;
  // Every rank's buffer is in shared memory: the data phase reads the peers' buffers directly
  // (engine/zero_copy.h), or falls back to the algorithm's schedule if a rank cannot map them.
  bool zeroCopy = false;
  ZeroCopyState zc;
  int contributors = 0;  // ranks whose data counts in an average (0: all; fewer once some joined)
  bool dataStarted = false;     // the plan is made and its scaling before the schedule done
  Clock::time_point started{};  // when the call was prepared: its stall warnings count from it
  int stallEvents = 0;  // passed: 0 none, 1 half an interval (reported waiting), k: k-1 lines
  bool reportedWaiting = false;      // this rank's "waiting in this call" is in the store
  std::shared_ptr<const Plan> plan;  // the schedule backend's, shared with its cache
  ExecState exec;
  // Timeline (DTRAIN_TIMELINE) only: when each phase began, and the rounds' spans.
  Clock::time_point exchangeStart{}, exchangeEnd{}, dataStart{}, handedOver{};
  std::vector<ExecState::RoundSpan> rounds;

  // As new, but keeping the lists' memory: a communicator reuses one PreparedOp call after
  // call, so a small collective allocates nothing.
  void reset() {
    std::vector<CollectiveDesc> a = std::move(all);
    std::vector<Transfer> t = std::move(transfers), et = std::move(exec.transfers);
    std::vector<ExecState::RoundSpan> rs = std::move(rounds);
    *this = PreparedOp();
    a.clear();
    t.clear();
    et.clear();
    rs.clear();
    all = std::move(a);
    transfers = std::move(t);
    exec.transfers = std::move(et);
    rounds = std::move(rs);
  }
};

// What the registry plans for `op` as `pr` resolved it, on this rank of `size` (the schedule
// backends' input: the CPU one and the nccl backend's schedules over NCCL).
inline CollectiveCall collectiveCallOf(const OpRequest& op, const PreparedOp& pr, int rank,
                                       int size) {
  CollectiveCall call;
  call.kind = op.kind;
  call.dtype = op.dtype;
  call.op = op.op;
  call.algorithm = pr.algo;
  call.root = op.root;
  call.count = op.count;
  call.rank = rank;
  call.size = size;
  call.peer = op.peer;
  call.contributors = pr.contributors;
  if (!op.sendCounts.empty()) {
    call.sendCounts = &op.sendCounts;
    call.recvCounts = &op.recvCounts;
  }
  return call;
}

}  // namespace dtrain
