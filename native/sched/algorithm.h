// Named all-reduce algorithms and the schedule each one generates.
#pragma once

#include <cstdint>
#include <string>

#include "sched/schedule.h"

namespace dtrain {

// Values are part of the binding's ABI.
enum class Algorithm : uint8_t { kAuto = 0, kRing = 1 };

const char* algorithmName(Algorithm a);
// Throws Error(kInvalidArgument) listing the known names.
Algorithm parseAlgorithm(const std::string& name);

// The all-reduce schedule `a` gives this rank; kAuto picks one for the size and count.
Schedule allreduceSchedule(Algorithm a, int rank, int size, size_t count);

}  // namespace dtrain
