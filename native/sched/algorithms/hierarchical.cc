// hierarchical (Horovod; Jia et al. 2018): within each group (host) a ring reduce-scatter and a
// gather to the group's leader (its lowest rank), then an inner all-reduce among the leaders,
// then a scatter and a ring all-gather within each group.
#include <algorithm>
#include <set>

#include "sched/algorithm.h"
#include "sched/group.h"

namespace dtrain {

namespace {

Schedule allreduce(const ScheduleArgs& a) {
  Schedule s{"hierarchical", a.rank, a.size, {}};
  const int rank = a.rank, size = a.size;
  const size_t count = a.count;
  if (size == 1 || count == 0) return s;
  // No topology: every rank its own group.
  Topology groupOf = a.topology ? *a.topology : Topology{};
  if (groupOf.empty()) groupOf = allRanks(size);
  Group mine, leaders;
  for (int r = 0; r < size; ++r) {
    if (groupOf[r] == groupOf[rank]) mine.push_back(r);
    bool first = true;
    for (int q = 0; q < r; ++q) first &= groupOf[q] != groupOf[r];
    if (first) leaders.push_back(r);
  }
  const int k = static_cast<int>(mine.size());
  const int me = static_cast<int>(std::find(mine.begin(), mine.end(), rank) - mine.begin());
  const std::vector<Chunk> chunks = splitEven(count, k);
  // Within the group, bandwidth-optimal phases (Jia et al. 2018): reduce-scatter, then the
  // leader gathers the reduced chunks ...
  ringReduceScatter(s, mine, me, count);
  if (k > 1) {
    Round gather;
    if (me == 0)
      for (int j = 1; j < k; ++j) gather.steps.push_back({StepKind::kRecv, mine[j], {}, chunks[j]});
    else
      gather.steps.push_back({StepKind::kSend, mine[0], chunks[me], {}});
    s.rounds.push_back(std::move(gather));
  }
  // ... the leaders all-reduce among themselves ...
  if (me == 0 && leaders.size() > 1) {
    const int li =
        static_cast<int>(std::find(leaders.begin(), leaders.end(), rank) - leaders.begin());
    ScheduleArgs in = a;
    in.rank = li;
    in.size = static_cast<int>(leaders.size());
    in.topology = nullptr;
    in.inner = nullptr;
    Schedule inner = a.inner->allreduce.generate(in);
    remapPeers(inner, leaders);
    appendRounds(s, std::move(inner));
  }
  // ... and hand the result back: scatter the chunks, then all-gather them around the group.
  if (k > 1) {
    Round scatter;
    if (me == 0)
      for (int j = 1; j < k; ++j)
        scatter.steps.push_back({StepKind::kSend, mine[j], chunks[j], {}});
    else
      scatter.steps.push_back({StepKind::kRecv, mine[0], {}, chunks[me]});
    s.rounds.push_back(std::move(scatter));
    ringAllgatherInPlace(s, mine, me, count);
  }
  return s;
}

// Only helps when groups exist and hold more than one rank.
bool worthTrying(int size, const Topology& topology) {
  if (topology.empty()) return false;
  const std::set<int> groups(topology.begin(), topology.end());
  return groups.size() > 1 && groups.size() < static_cast<size_t>(size);
}

}  // namespace

extern const AlgorithmDef kHierarchicalAlgorithm = {
    "hierarchical",
    "ring within each host, an inner all-reduce among the hosts' leaders (hierarchical:<inner>)",
    /*allreduce=*/{allreduce},
    /*reduceScatter=*/{},
    /*allgather=*/{},
    /*broadcast=*/{},
    /*takesInner=*/true,
    /*autoCandidate=*/true,
    worthTrying,
    /*closedForm=*/nullptr,
};

}  // namespace dtrain
