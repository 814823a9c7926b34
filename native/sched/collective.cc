#include "sched/collective.h"

namespace dtrain {

namespace {
struct KindNames {
  const char* api;
  const char* prose;
};
// By OpKind value.
constexpr KindNames kNames[kOpKindCount] = {
    {"allreduce", "all-reduce"}, {"broadcast", "broadcast"},   {"allgather", "all-gather"},
    {"barrier", "barrier"},      {"reduceScatter", "reduce-scatter"}, {"reduce", "reduce"},
    {"gather", "gather"},        {"scatter", "scatter"},       {"alltoall", "all-to-all"},
    {"send", "send"},            {"recv", "receive"},          {"join", "join"},
};
bool known(OpKind k) { return static_cast<int>(k) < kOpKindCount; }
}  // namespace

const char* opKindName(OpKind k) { return known(k) ? kNames[static_cast<int>(k)].api : "?"; }

const char* opKindProse(OpKind k) { return known(k) ? kNames[static_cast<int>(k)].prose : "?"; }

}  // namespace dtrain
