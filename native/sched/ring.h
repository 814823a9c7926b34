// Ring algorithms (Patarasuk & Yuan 2009): bandwidth-optimal, 2(p-1) rounds for all-reduce,
// each rank sending 2n(p-1)/p elements.
#pragma once

#include "sched/schedule.h"

namespace dtrain {

// ringReduceScatter then ringAllgatherInPlace. Chunk c is reduced along the ring ending at
// rank c, so every element is reduced in one fixed order and every rank ends with
// bitwise-identical results.
Schedule ringAllreduce(int rank, int size, size_t count);

// Reduce-scatter: rank r ends with chunk r of splitEven(count, size) reduced over all ranks,
// in place in kData; other chunks hold partial sums.
Schedule ringReduceScatter(int rank, int size, size_t count);

// All-gather in place: rank r starts holding chunk r of splitEven(count, size), ends with all.
Schedule ringAllgatherInPlace(int rank, int size, size_t count);

// Each rank's `count` elements (kInput) end up at offset rank*count of every rank's kData.
Schedule ringAllgather(int rank, int size, size_t count);

}  // namespace dtrain
