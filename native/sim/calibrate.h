// Local measurements for calibrating the cost model: how fast this core reduces.
#pragma once

#include <cstddef>

namespace dtrain {

// Seconds per byte of destination to sum `bytes` of float32 into another buffer (best of a few
// runs, each over fresh-from-cache-size buffers), as the engine's reduction does it.
double measureReduceSecondsPerByte(size_t bytes);

}  // namespace dtrain
