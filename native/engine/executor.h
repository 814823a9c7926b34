// Runs a schedule (native/sched) over a transport: each round becomes one Transport::run call,
// and received data that is reduced goes to the executor's reducer as it arrives.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "common/dtype.h"
#include "engine/reducer.h"
#include "engine/segment.h"
#include "sched/schedule.h"
#include "transport/transport.h"

namespace dtrain {

struct Buffers {
  uint8_t* data = nullptr;         // BufferId::kData
  const uint8_t* input = nullptr;  // BufferId::kInput
  uint8_t* scratch = nullptr;      // BufferId::kScratch (set by the executor)
  // When not null and not empty, kData is these arrays one after another (data is ignored).
  const std::vector<Segment>* segments = nullptr;
};

// A chunk's memory: one piece, or several where it spans arrays of a segmented kData.
struct Piece {
  uint8_t* data;
  size_t bytes;
};
void piecesOf(const Buffers& b, const Chunk& c, size_t elemSize, std::vector<Piece>* out);

// How far a run of a schedule has got, so that another thread can finish it: the round, and
// whether that round's copies have run and its transfers (with their progress) are set up.
struct ExecState {
  size_t round = 0;
  bool inRound = false;
  std::vector<Transfer> transfers;
  // With a timeline: each finished round's span is appended here (null: not recorded).
  struct RoundSpan {
    size_t round;
    Clock::time_point start, end;
    uint64_t bytesSent;
  };
  std::vector<RoundSpan>* spans = nullptr;
  Clock::time_point roundStart{};
};

class Executor {
 public:
  explicit Executor(const Reducer& reducer = cpuReducer()) : reducer_(reducer) {}

  // Runs every round of `s`. `op` is used by kRecvReduce steps. Throws what the transport throws.
  void run(const Schedule& s, Transport& t, const Buffers& bufs, DType dtype, ReduceOp op,
           const Deadline& deadline, AbortWatch* abort);

  // Runs the rounds of `s` from `state` on. Returns true when all are done; false when `soft`
  // (earlier than `deadline`) passed while waiting for peers, with `state` saved: call again
  // with the same schedule, buffers and state to resume, before this executor runs anything
  // else (the staging of received data lives here). Throws what the transport throws.
  bool resume(const Schedule& s, Transport& t, const Buffers& bufs, DType dtype, ReduceOp op,
              const Deadline& deadline, const Deadline& soft, AbortWatch* abort, ExecState* state);

 // Bytes handed to the transport in completed sends since construction (any thread may read).
  uint64_t bytesSent() const { return bytesSent_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> bytesSent_{0};
  const Reducer& reducer_;
  std::vector<uint8_t> scratch_;   // staging for received data that is reduced, reused
  std::vector<uint8_t> snapshot_;  // BufferId::kScratch
  std::vector<Piece> src_, dst_;   // a step's pieces, reused
  ExecState own_;                  // run()'s state
};

}  // namespace dtrain
