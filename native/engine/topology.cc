#include "engine/topology.h"

#include <algorithm>

namespace dtrain {

JobTopology topologyOf(const std::vector<std::string>& hosts, int rank, int groupSize) {
  JobTopology t;
  const int size = static_cast<int>(hosts.size());
  if (groupSize > 0) {
    // The last group holds what is left over when groupSize does not divide size.
    const int start = rank / groupSize * groupSize;
    t.localSize = std::min(groupSize, size - start);
    t.localRank = rank - start;
    for (int r = 0; r < size; ++r) t.groupOf.push_back(r / groupSize);
    return t;
  }
  std::vector<std::string> seen;
  for (int r = 0; r < size; ++r) {
    size_t g = 0;
    while (g < seen.size() && seen[g] != hosts[r]) ++g;
    if (g == seen.size()) seen.push_back(hosts[r]);
    t.groupOf.push_back(static_cast<int>(g));
  }
  t.localRank = 0;
  t.localSize = 0;
  for (int r = 0; r < size; ++r) {
    if (t.groupOf[r] != t.groupOf[rank]) continue;
    if (r < rank) ++t.localRank;
    ++t.localSize;
  }
  return t;
}

}  // namespace dtrain
