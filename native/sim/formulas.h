// Closed-form all-reduce times (REFERENCE.md, "All-reduce cost models"), to check the
// simulator against and to print beside its predictions.
#pragma once

#include <optional>

#include "sched/algorithm.h"
#include "sim/cost_model.h"

namespace dtrain {

// Seconds for n bytes on p ranks, or nothing where no closed form exists (binary blocks,
// hierarchical). For non-powers of two, halving-doubling and recursive doubling include the
// extra-ranks fold exactly as our schedules run it (with p' = 2^floor(lg p) where MPICH's
// formula approximates with p).
std::optional<double> formulaSeconds(Algorithm a, int p, double n, const CostModel& m);

}  // namespace dtrain
