// Where the ranks are: each rank's group (host) id, and this rank's place in its group. Computed
// once at bootstrap from the host names every rank publishes, and passed down to the transports
// (shm needs one host), `auto` and the hierarchical algorithm.
#pragma once

#include <string>
#include <vector>

#include "sched/algorithm.h"

namespace dtrain {

struct JobTopology {
  Topology groupOf;  // by rank: group ids numbered in order of first appearance
  int localRank = 0;
  int localSize = 1;
};

// Groups ranks by host name. An explicit groupSize > 0 (DTRAIN_LOCAL_SIZE, set by the user)
// overrides that with groups of groupSize consecutive ranks, local rank rank % groupSize: so
// one machine can stand in for several hosts when testing hierarchical algorithms.
JobTopology topologyOf(const std::vector<std::string>& hosts, int rank, int groupSize);

}  // namespace dtrain
