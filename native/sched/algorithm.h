// The algorithm registry: every collective algorithm is one AlgorithmDef, defined in its own file
// under sched/algorithms/ and listed once in sched/algorithm_list.def. Everything that needs to
// know the algorithms reads this table: the names the binding accepts and `dtrain info` prints,
// `auto`'s candidates (sim/choose.cc), `dtrain simulate` and the closed forms, the binding's
// checks, and the plan the engine runs (sched/plan.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/cost_model.h"
#include "sched/collective.h"
#include "sched/schedule.h"

namespace dtrain {

// Ranks' group ids (hosts), for hierarchical; empty = every rank its own group.
using Topology = std::vector<int>;

struct AlgorithmDef;

// What a generator is asked for: one rank's schedule of one collective.
struct ScheduleArgs {
  int rank = 0;
  int size = 1;
  size_t count = 0;         // elements (all-gather: per rank)
  size_t elemSize = 4;      // bytes per element, for algorithms that segment by bytes
  int root = 0;             // broadcast, reduce, gather, scatter
  size_t segmentBytes = 0;  // pipelined broadcast's segments; 0 = the algorithm's own
  const Topology* topology = nullptr;
  const AlgorithmDef* inner = nullptr;  // for algorithms that take one (hierarchical:<inner>)
  // All-to-all with variable splits: elements this rank sends to / receives from each rank
  // (null: `count` to and from every rank). Offsets are the running sums, in rank order.
  const std::vector<size_t>* sendCounts = nullptr;
  const std::vector<size_t>* recvCounts = nullptr;
};

using Generator = Schedule (*)(const ScheduleArgs&);

// How an algorithm implements one collective; a null generator: it does not.
struct CollectiveSupport {
  Generator generate = nullptr;
  bool powerOfTwoSizes = false;  // only for a power-of-two number of ranks
  // Run by this whole-collective backend (engine/backend_list.def) instead of a schedule: the
  // site's library does the data phase (algorithm `mpi`). Null for schedules.
  const char* backend = nullptr;
  bool implemented() const { return generate != nullptr || backend != nullptr; }
};

struct AlgorithmDef {
  const char* name;     // as users write it: "ring"
  const char* summary;  // one line, for `dtrain info`
  CollectiveSupport allreduce, reduceScatter, allgather, broadcast;
  // Runs another all-reduce algorithm inside (written "name:<inner>"; inner defaults to the
  // first registered all-reduce algorithm that takes none).
  bool takesInner = false;
  // Whether `auto` simulates it as an all-reduce candidate, and when (null: always).
  bool autoCandidate = true;
  bool (*autoWorthTrying)(int size, const Topology& topology) = nullptr;
  // Seconds for an all-reduce of `bytes` on p ranks, or nothing where there is no closed form.
  std::optional<double> (*closedForm)(int p, double bytes, const CostModel& m) = nullptr;
  // The rooted and personalized collectives (after the fields above, so that definitions
  // written before them keep compiling). Reduce is in place on the root; gather's data is the
  // root's output of size*count (kInput: each rank's count); scatter's kInput is the root's
  // size*count elements, kData every rank's count; all-to-all's kInput holds size chunks and
  // kData receives them.
  CollectiveSupport reduce = {}, gather = {}, scatter = {}, alltoall = {};

  const CollectiveSupport& support(OpKind kind) const;
};

// The collectives algorithms implement (those AlgorithmDef::support answers for), in the order
// `dtrain info` lists them.
const std::vector<OpKind>& scheduledCollectives();

// Every registered algorithm, in registry order (auto tries candidates in this order and keeps
// the first of equally fast ones).
const std::vector<const AlgorithmDef*>& algorithms();

// An algorithm chosen for a call, and for one that takes an inner algorithm, that one. Both are
// registry ids (0 = auto / none), encoded in one byte (low 4 bits: algorithm, high 4 bits: inner)
// for the binding and the descriptor ranks compare: at most 15 algorithms.
struct AlgorithmChoice {
  uint8_t algo = 0;
  uint8_t inner = 0;
  bool isAuto() const { return algo == 0; }
  const AlgorithmDef* def() const;       // null for auto
  const AlgorithmDef* innerDef() const;  // the inner algorithm, its default filled in
  uint8_t encode() const { return static_cast<uint8_t>(algo | inner << 4); }
  static AlgorithmChoice decode(uint8_t v) {
    return {static_cast<uint8_t>(v & 15), static_cast<uint8_t>(v >> 4)};
  }
  std::string name() const;  // "auto", "ring", "hierarchical:binary-blocks"
  static AlgorithmChoice of(const AlgorithmDef* def, const AlgorithmDef* inner = nullptr);
};
constexpr int kMaxAlgorithms = 15;

// "auto", a registered name, or "<name>:<inner>" for an algorithm that takes one. Throws
// Error(kInvalidArgument) listing the names known for `kind` when the name is unknown, or when
// the algorithm does not implement `kind`.
AlgorithmChoice parseAlgorithm(const std::string& name, OpKind kind = OpKind::kAllreduce);
// The names parseAlgorithm accepts for `kind`, auto first (for `dtrain info` and errors).
std::vector<std::string> algorithmNames(OpKind kind = OpKind::kAllreduce);
// Whether `choice` names a registered algorithm (and inner) that implements `kind`; an id the
// registry does not know is how a stale or foreign caller shows.
bool knownAlgorithm(OpKind kind, AlgorithmChoice choice);
// Throws Error(kInvalidArgument), saying what to use instead, when `choice` cannot run `kind`
// on `size` ranks (an algorithm limited to powers of two, say).
void checkAlgorithm(OpKind kind, AlgorithmChoice choice, int size);
// The algorithm `auto` stands for where no cost model chooses (reduce-scatter, all-gather,
// broadcast): the first registered one that implements `kind`.
const AlgorithmDef* defaultAlgorithm(OpKind kind);

// This rank's schedule of `kind` by `choice` (auto: defaultAlgorithm(kind)). All-reduce's auto
// must have been resolved first (sim/choose.h): it throws Error(kInvalidArgument).
Schedule scheduleFor(OpKind kind, AlgorithmChoice choice, const ScheduleArgs& args);
// The all-reduce schedule for one rank, the common case.
Schedule allreduceSchedule(AlgorithmChoice choice, int rank, int size, size_t count,
                           const Topology& topo);

}  // namespace dtrain
