#include "sched/broadcast.h"

#include "sched/group.h"

namespace dtrain {

Schedule binomialBroadcast(int rank, int size, size_t count, int root, size_t segmentElems) {
  Schedule s{"binomial-tree", rank, size, {}};
  // The tree is rooted at member 0: list the ranks starting from the root.
  Group g(size);
  for (int i = 0; i < size; ++i) g[i] = (root + i) % size;
  treeBroadcast(s, g, (rank - root + size) % size, Chunk{BufferId::kData, 0, count}, segmentElems);
  return s;
}

}  // namespace dtrain
