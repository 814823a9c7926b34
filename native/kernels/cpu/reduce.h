// Element-wise reduction of an incoming buffer into a destination: dst[i] = dst[i] (op) src[i],
// with the SIMD level of kernel_table.h (activeIsa()). Float16/bfloat16 add in float32 and
// round once.
// The engine calls it on data as it arrives from a peer, so it must accept any alignment.
#pragma once

#include <cstddef>

#include "common/dtype.h"

namespace dtrain {

// kAvg reduces as kSum; the caller divides once at the end (see scaleForAverage).
void reduceInto(DType dtype, ReduceOp op, void* dst, const void* src, size_t count);

// dst[i] /= divisor, for the final step of an average. Integers divide truncating toward zero.
void scaleForAverage(DType dtype, void* dst, size_t count, int divisor);

}  // namespace dtrain
