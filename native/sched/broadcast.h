// Broadcast schedules.
#pragma once

#include "sched/schedule.h"

namespace dtrain {

// Binomial tree: lg p rounds; in round k, ranks that already hold the data (virtual rank
// below 2^k, counted from the root) send it to virtual rank + 2^k. The buffer is split into
// segments so that a rank forwards the first segment while the next is still arriving.
Schedule binomialBroadcast(int rank, int size, size_t count, int root, size_t segmentElems);

}  // namespace dtrain
