// Timeline events (DTRAIN_TIMELINE): each collective's phases as spans on the thread that ran
// them, collected while the communicator works and drained by the binding, which writes them
// as Chrome-trace events. Recording is a few timestamps per call and one lock per finished
// call, so it stays within the 2% the issue allows on a 1 MiB all-reduce loop.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "common/clock.h"

namespace dtrain {

enum class TimelinePhase : uint8_t {
  kCall = 0,      // the whole call, from prepare to completion
  kQueued = 1,    // submitted until the engine thread took it up
  kExchange = 2,  // descriptor exchange
  kData = 3,      // the data phase
  kRound = 4,     // one round of the schedule: its sends, receives and reductions
  kInline = 5,    // the part the JS thread ran before handing the call over
};

enum class TimelineThread : uint8_t { kJs = 0, kEngine = 1 };

struct TimelineEvent {
  uint8_t kind;   // OpKind
  uint8_t phase;  // TimelinePhase
  uint8_t thread;
  uint8_t algorithm;  // AlgorithmChoice::encode()
  int64_t startNs;    // steady clock (CLOCK_MONOTONIC, as Node's process.hrtime)
  int64_t durNs;
  uint64_t bytes;     // the call's payload; a round's bytes sent
  int64_t index;      // a round's number; else -1
  uint64_t seq;       // the call's sequence number on this communicator
};

inline int64_t steadyNs(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

class Timeline {
 public:
  // Events kept between drains at most; newer ones beyond it are counted and dropped, so a
  // process that never drains cannot grow without bound.
  static constexpr size_t kMaxPending = 1 << 20;

  void add(const TimelineEvent* events, size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < n; ++i) {
      if (pending_.size() >= kMaxPending) {
        ++dropped_;
        continue;
      }
      pending_.push_back(events[i]);
    }
  }
  // Takes every pending event; `dropped` receives how many were dropped since the last drain.
  std::vector<TimelineEvent> drain(uint64_t* dropped) {
    std::vector<TimelineEvent> out;
    std::lock_guard<std::mutex> lock(mu_);
    out.swap(pending_);
    *dropped = dropped_;
    dropped_ = 0;
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<TimelineEvent> pending_;
  uint64_t dropped_ = 0;
};

}  // namespace dtrain
