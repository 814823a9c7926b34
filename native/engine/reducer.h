// How a backend combines and scales data where it lives. The executor runs schedules over any
// reducer: the CPU one here, and a device one where the data is on a GPU.
#pragma once

#include <cstddef>

#include "common/dtype.h"

namespace dtrain {

class Reducer {
 public:
  virtual ~Reducer() = default;
  // dst[i] = dst[i] op src[i] for `count` elements; kAvg reduces as kSum (the plan divides).
  // Must accept any alignment: data is reduced as it arrives from a peer.
  virtual void reduce(DType dtype, ReduceOp op, void* dst, const void* src, size_t count) const = 0;
  // dst[i] /= divisor (integers truncate toward zero).
  virtual void scale(DType dtype, void* dst, size_t count, int divisor) const = 0;
};

// The CPU kernels (kernels/cpu/reduce.h), at the process's SIMD level.
const Reducer& cpuReducer();

}  // namespace dtrain
