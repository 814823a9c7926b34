// Ring algorithms (Patarasuk & Yuan 2009): bandwidth-optimal, 2(p-1) rounds for all-reduce,
// each rank sending 2n(p-1)/p elements.
#pragma once

#include "sched/schedule.h"

namespace dtrain {

// Reduce-scatter then all-gather, over p chunks of the buffer. Chunk c is reduced along the
// ring ending at rank c-1 (mod p), so every element is reduced in one fixed order and every
// rank ends with bitwise-identical results.
Schedule ringAllreduce(int rank, int size, size_t count);

// Each rank's `count` elements (kInput) end up at offset rank*count of every rank's kData.
Schedule ringAllgather(int rank, int size, size_t count);

}  // namespace dtrain
