#include "engine/collective_desc.h"

#include <map>

#include "sched/algorithm.h"

namespace dtrain {

bool CollectiveDesc::sameCall(const CollectiveDesc& o) const {
  return magic == o.magic && kind == o.kind && dtype == o.dtype && op == o.op &&
         algorithm == o.algorithm && root == o.root && count == o.count && seq == o.seq;
}

std::string CollectiveDesc::describe() const {
  if (magic != 0x64657363) return "something that is not a dtrain collective";
  OpKind k = static_cast<OpKind>(kind);
  std::string s = opKindName(k);
  if (k == OpKind::kBarrier) return s + "()";
  s += "(" + std::string(dtypeName(static_cast<DType>(dtype))) + "[" + std::to_string(count) + "]";
  if (k == OpKind::kAllreduce) {
    s += ", op=" + std::string(reduceOpName(static_cast<ReduceOp>(op)));
    s += ", algorithm=" + AlgorithmChoice::decode(algorithm).name();
  }
  if (k == OpKind::kReduceScatter) s += ", op=" + std::string(reduceOpName(static_cast<ReduceOp>(op)));
  if (k == OpKind::kAllgather || k == OpKind::kReduceScatter)
    s += ", algorithm=" + AlgorithmChoice::decode(algorithm).name();
  if (k == OpKind::kBroadcast) s += ", root=" + std::to_string(root);
  return s + ")";
}

std::string findMismatch(const std::vector<CollectiveDesc>& all, std::vector<int>* odd) {
  // Group ranks by what they called, in order of first appearance.
  std::vector<std::vector<int>> groups;
  for (int r = 0; r < static_cast<int>(all.size()); ++r) {
    bool placed = false;
    for (auto& g : groups) {
      if (all[g[0]].sameCall(all[r])) {
        g.push_back(r);
        placed = true;
        break;
      }
    }
    if (!placed) groups.push_back({r});
  }
  if (groups.size() == 1) return "";
  size_t largest = 0;
  for (size_t i = 1; i < groups.size(); ++i)
    if (groups[i].size() > groups[largest].size()) largest = i;
  std::string msg = "ranks called different collectives (call #" + std::to_string(all[0].seq) + "): ";
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& g = groups[i];
    msg += i ? "; " : "";
    msg += g.size() == 1 ? "rank " : "ranks ";
    for (size_t j = 0; j < g.size(); ++j) msg += (j ? ", " : "") + std::to_string(g[j]);
    msg += " called " + all[g[0]].describe();
    if (i != largest && odd) odd->insert(odd->end(), g.begin(), g.end());
  }
  msg += ". Every rank must make the same collective calls, in the same order, with the same "
         "length, type and options.";
  return msg;
}

}  // namespace dtrain
