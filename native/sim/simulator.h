// Runs the schedules of every rank against the alpha-beta-gamma model, the same schedules the
// engine executes. Each rank has one send and one receive port: its sends in a round go one
// after another, and so do its receives. A message starts when the sender has posted it and
// the receiver's port is free; a received chunk that is reduced costs n*gamma more.
#pragma once

#include <cstddef>
#include <functional>

#include "common/cost_model.h"
#include "sched/schedule.h"

namespace dtrain {

struct SimResult {
  int steps = 0;                  // rounds of the longest per-rank schedule
  size_t maxBytesSentPerRank = 0;
  int idleRanks = 0;              // ranks that reduce nothing (they hand their data off)
  double predictedS = 0;          // when the last rank finishes
};

// `scheduleFor(rank)` gives each rank's schedule; `hostOf` (may be empty) each rank's host,
// for the model's intra-host link. Throws Error(kInvalidArgument) if the schedules deadlock (a
// receive no send ever matches), which makes the simulator a checker of schedules too.
SimResult simulate(const std::function<Schedule(int)>& scheduleFor, int size, size_t elemSize,
                   const CostModel& model, const std::vector<int>& hostOf = {});

}  // namespace dtrain
