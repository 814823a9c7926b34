#include "engine/collective_desc.h"

#include <map>

#include "sched/algorithm.h"

namespace dtrain {

bool CollectiveDesc::sameCall(const CollectiveDesc& o) const {
  return magic == o.magic && kind == o.kind && dtype == o.dtype && op == o.op &&
         algorithm == o.algorithm && root == o.root && tag == o.tag && count == o.count &&
         seq == o.seq && shape == o.shape && parts == o.parts && payload == o.payload &&
         (flags & kDevice) == (o.flags & kDevice);
}

std::string CollectiveDesc::describe() const {
  if (magic != 0x64657363) return "something that is not a dtrain collective";
  OpKind k = static_cast<OpKind>(kind);
  std::string s = opKindName(k);
  if (k == OpKind::kBarrier || k == OpKind::kJoin) return s + "()";
  if (k == OpKind::kAllreduce && parts > 0) s = "groupedAllreduce";
  s += "(" + std::string(dtypeName(static_cast<DType>(dtype))) + "[" + std::to_string(count) + "]";
  if (parts > 0)
    s += " in " + std::to_string(parts) + " arrays (shape " + std::to_string(shape) + ")";
  if (k == OpKind::kAlltoall && shape) s += " with variable splits";
  const bool reduces =
      k == OpKind::kAllreduce || k == OpKind::kReduceScatter || k == OpKind::kReduce;
  if (reduces) s += ", op=" + std::string(reduceOpName(static_cast<ReduceOp>(op)));
  const bool rooted = k == OpKind::kBroadcast || k == OpKind::kReduce || k == OpKind::kGather ||
                      k == OpKind::kScatter;
  if (rooted) s += ", root=" + std::to_string(root);
  if (pointToPoint(k))
    s += ", tag=" + std::to_string(tag);
  else if (k != OpKind::kBroadcast)
    s += ", algorithm=" + AlgorithmChoice::decode(algorithm).name();
  if (payload) s += ", data sent with the descriptor";
  if (flags & kDevice) s += ", on device buffers";
  return s + ")";
}

std::string findMismatch(const std::vector<CollectiveDesc>& all, std::vector<int>* odd) {
  auto isJoin = [](const CollectiveDesc& d) {
    return d.magic == 0x64657363 && d.kind == static_cast<uint8_t>(OpKind::kJoin);
  };
  // The common case, all the same, allocates nothing.
  const CollectiveDesc* ref = nullptr;
  bool same = true;
  for (const CollectiveDesc& d : all) {
    if (isJoin(d)) continue;
    if (!ref) {
      ref = &d;
    } else if (!ref->sameCall(d)) {
      same = false;
      break;
    }
  }
  if (same) return "";
  // Group ranks by what they called, in order of first appearance.
  // Ranks that have joined (join()) answer whatever the others call: they are not compared.
  std::vector<std::vector<int>> groups;
  for (int r = 0; r < static_cast<int>(all.size()); ++r) {
    if (isJoin(all[r])) continue;
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
  if (groups.size() <= 1) return "";
  size_t largest = 0;
  for (size_t i = 1; i < groups.size(); ++i)
    if (groups[i].size() > groups[largest].size()) largest = i;
  std::string msg =
      "ranks called different collectives (call #" + std::to_string(all[groups[0][0]].seq) + "): ";
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& g = groups[i];
    msg += i ? "; " : "";
    msg += g.size() == 1 ? "rank " : "ranks ";
    for (size_t j = 0; j < g.size(); ++j) msg += (j ? ", " : "") + std::to_string(g[j]);
    msg += " called " + all[g[0]].describe();
    if (i != largest && odd) odd->insert(odd->end(), g.begin(), g.end());
  }
  msg +=
      ". Every rank must make the same collective calls, in the same order, with the same "
      "length, type and options.";
  return msg;
}

}  // namespace dtrain
