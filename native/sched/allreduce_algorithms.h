// The all-reduce algorithms (REFERENCE.md, "All-reduce cost models"), each a schedule
// generator for one rank. Every one works for any number of ranks and leaves every rank with
// bitwise-identical results: each element's final value is computed by exactly one rank and
// copied to the others, or computed alike by commutative pairwise steps.
#pragma once

#include <vector>

#include "sched/ring.h"
#include "sched/schedule.h"

namespace dtrain {

// Rabenseifner: recursive-halving reduce-scatter, then recursive-doubling all-gather; for a
// non-power-of-two count the extra-ranks fold, so r = p - 2^floor(lg p) ranks sit idle.
Schedule halvingDoublingAllreduce(int rank, int size, size_t count);

// Binary blocks (Rabenseifner & Traff 2004): the ranks form blocks of the powers of two in p's
// binary representation (13 = 8 + 4 + 1), each block runs halving-doubling on the largest
// block's 2^floor(lg p) chunks, and partial results flow from the smallest block up to the
// largest and the final ones back down. No rank sits idle.
Schedule binaryBlocksAllreduce(int rank, int size, size_t count);

// Recursive doubling: lg p rounds, each exchanging and reducing the whole vector (latency
// optimal, for small messages); the extra-ranks fold for non-powers of two.
Schedule recursiveDoublingAllreduce(int rank, int size, size_t count);

// Hierarchical (Horovod; Jia et al. 2018): within each group (host) a ring reduce-scatter and a
// gather to the group's leader (its lowest rank), then `inner` among the leaders, then a
// scatter and a ring all-gather within each group. groupOf[r] is rank r's group id.
Schedule hierarchicalAllreduce(int rank, int size, size_t count, const std::vector<int>& groupOf,
                               Schedule (*inner)(int, int, size_t));


// Rewrites peers of a schedule made for ranks 0..g.size()-1 to the real ranks in g.
void remapPeers(Schedule& s, const std::vector<int>& g);

// Reduce-scatter by recursive halving (size a power of two): rank r ends with chunk r of
// splitEven(count, size), as ringReduceScatter (sched/ring.h).
Schedule halvingReduceScatterSchedule(int rank, int size, size_t count);  // size a power of 2

// All-gather of `count` elements per rank from kInput into kData (rank order), by recursive
// doubling (with the fold for non-powers of two).
Schedule recursiveDoublingAllgather(int rank, int size, size_t count);

}  // namespace dtrain
