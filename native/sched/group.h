// The shared phase library: a group of ranks that runs part of a collective among themselves
// (a block of binary blocks, the hosts and leaders of hierarchical, the survivors of the
// extra-ranks fold), and the phases the algorithms in sched/algorithms/ compose.
#pragma once

#include <vector>

#include "sched/schedule.h"

namespace dtrain {

// Members of a group, by real rank, in order; a member's index is its virtual rank.
using Group = std::vector<int>;

// Ranks 0..n-1.
Group allRanks(int n);

// Rewrites the peers of a schedule made for ranks 0..g.size()-1 to the real ranks in g.
void remapPeers(Schedule& s, const Group& g);

// Ring reduce-scatter among the group over splitEven(count, g.size()) (Patarasuk & Yuan 2009):
// member j ends with chunk j reduced over the group, in place; other chunks hold partial sums.
// Chunk c is reduced along the ring ending at member c, so every element is reduced in one
// fixed order and every member ends with bitwise-identical results.
void ringReduceScatter(Schedule& s, const Group& g, int me, size_t count);
// Ring all-gather in place: member j starts holding chunk j of splitEven(count, g.size()) and
// ends with all of them.
void ringAllgatherInPlace(Schedule& s, const Group& g, int me, size_t count);

// Recursive halving reduce-scatter among a group of 2^k members over `fine` chunks
// (fine.size() a multiple of 2^k): each round a member keeps half its range, sends the other
// half to its partner and reduces the partner's half into the kept one. Member j ends owning
// fine chunks [j*w, (j+1)*w), w = fine.size() / 2^k, reduced over the group.
void halvingReduceScatter(Schedule& s, const Group& g, int me, const std::vector<Chunk>& fine);

// Recursive doubling all-gather that retraces halvingReduceScatter: member j starts owning its
// range and ends with all of them.
void doublingAllgather(Schedule& s, const Group& g, int me, const std::vector<Chunk>& fine);

// The extra-ranks fold (MPICH): with p' the largest power of two <= p and r = p - p', the
// first 2r ranks pair up; even ones hand their whole vector to the next rank and sit out.
struct Fold {
  Group survivors;  // p' ranks: the odd ranks of the first 2r, then ranks 2r..p-1
  int virtualRank;  // my index in survivors, or -1 if I sit out
  int partner;      // the rank I hand off to / take over from, or -1
};
Fold foldFor(int rank, int size);
// Round that folds (even ranks send `all`, odd ones reduce it in), and the final round that
// sends the result back to the ranks that sat out.
void foldIn(Schedule& s, const Fold& f, int rank, const Chunk& all);
void foldOut(Schedule& s, const Fold& f, int rank, const Chunk& all);

// Binomial-tree broadcast from member 0 of a group, pipelined over segments of
// `segmentElems`: round j receives segment j and forwards segment j-1.
void treeBroadcast(Schedule& s, const Group& g, int me, const Chunk& all, size_t segmentElems);

// The largest power of two <= p.
int floorPow2(int p);

}  // namespace dtrain
