#include "sched/algorithm.h"

#include "common/error.h"

namespace dtrain {

namespace {

const AlgorithmDef* byId(uint8_t id) {
  const auto& all = algorithms();
  return id >= 1 && id <= all.size() ? all[id - 1] : nullptr;
}

uint8_t idOf(const AlgorithmDef* def) {
  const auto& all = algorithms();
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i] == def) return static_cast<uint8_t>(i + 1);
  return 0;
}

const AlgorithmDef* byName(const std::string& name) {
  for (const AlgorithmDef* d : algorithms())
    if (name == d->name) return d;
  return nullptr;
}

// The algorithms that may run inside one that takes an inner: flat all-reduce algorithms.
bool innerCandidate(const AlgorithmDef* d) { return d->allreduce.generate && !d->takesInner; }

std::string joined(const std::vector<std::string>& names, const char* sep, const char* last) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? last : sep) + names[i];
  return out;
}

[[noreturn]] void unknown(OpKind kind, const std::string& name) {
  throw Error(ErrorCode::kInvalidArgument,
              std::string("unknown ") + opKindProse(kind) + " algorithm '" + name +
                  "'; known: " + joined(algorithmNames(kind), ", ", ", "));
}

bool powerOfTwo(int p) { return p > 0 && (p & (p - 1)) == 0; }

}  // namespace

const CollectiveSupport& AlgorithmDef::support(OpKind kind) const {
  static const CollectiveSupport none;
  switch (kind) {
    case OpKind::kAllreduce:
      return allreduce;
    case OpKind::kReduceScatter:
      return reduceScatter;
    case OpKind::kAllgather:
      return allgather;
    case OpKind::kBroadcast:
      return broadcast;
    case OpKind::kReduce:
      return reduce;
    case OpKind::kGather:
      return gather;
    case OpKind::kScatter:
      return scatter;
    case OpKind::kAlltoall:
      return alltoall;
    default:
      break;
  }
  return none;
}

const std::vector<OpKind>& scheduledCollectives() {
  static const std::vector<OpKind> kinds = {OpKind::kAllreduce, OpKind::kReduceScatter,
                                            OpKind::kAllgather, OpKind::kBroadcast,
                                            OpKind::kReduce,    OpKind::kGather,
                                            OpKind::kScatter,   OpKind::kAlltoall};
  return kinds;
}

const AlgorithmDef* AlgorithmChoice::def() const { return byId(algo); }

const AlgorithmDef* AlgorithmChoice::innerDef() const {
  if (const AlgorithmDef* d = byId(inner)) return d;
  for (const AlgorithmDef* d : algorithms())
    if (innerCandidate(d)) return d;
  return nullptr;
}

AlgorithmChoice AlgorithmChoice::of(const AlgorithmDef* def, const AlgorithmDef* inner) {
  return {idOf(def), inner ? idOf(inner) : uint8_t{0}};
}

std::string AlgorithmChoice::name() const {
  const AlgorithmDef* d = def();
  if (!d) return algo == 0 ? "auto" : "?";
  std::string n = d->name;
  if (d->takesInner && inner != 0) n += std::string(":") + (byId(inner) ? byId(inner)->name : "?");
  return n;
}

std::vector<std::string> algorithmNames(OpKind kind) {
  std::vector<std::string> names = {"auto"}, composite, inner;
  for (const AlgorithmDef* d : algorithms()) {
    if (!d->support(kind).implemented()) continue;
    names.push_back(d->name);
    if (d->takesInner) composite.push_back(d->name);
  }
  for (const AlgorithmDef* d : algorithms())
    if (innerCandidate(d)) inner.push_back(d->name);
  for (const std::string& c : composite) names.push_back(c + ":<" + joined(inner, "|", "|") + ">");
  return names;
}

AlgorithmChoice parseAlgorithm(const std::string& name, OpKind kind) {
  if (name.empty() || name == "auto") return {};
  const size_t colon = name.find(':');
  const AlgorithmDef* d = byName(name.substr(0, colon));
  if (!d || !d->support(kind).implemented()) unknown(kind, name);
  AlgorithmChoice c = AlgorithmChoice::of(d);
  if (colon == std::string::npos) return c;
  const AlgorithmDef* in = byName(name.substr(colon + 1));
  if (!d->takesInner || !in || !innerCandidate(in)) unknown(kind, name);
  c.inner = idOf(in);
  return c;
}

bool knownAlgorithm(OpKind kind, AlgorithmChoice choice) {
  if (choice.isAuto()) return choice.inner == 0;
  const AlgorithmDef* d = choice.def();
  if (!d || !d->support(kind).implemented()) return false;
  if (choice.inner == 0) return true;
  const AlgorithmDef* in = byId(choice.inner);
  return d->takesInner && in && innerCandidate(in);
}

void checkAlgorithm(OpKind kind, AlgorithmChoice choice, int size) {
  if (!knownAlgorithm(kind, choice)) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(opKindName(kind)) + ": algorithm must be " +
                    joined(algorithmNames(kind), ", ", " or ") + " (got id " +
                    std::to_string(choice.encode()) + ")");
  }
  const AlgorithmDef* d = choice.isAuto() ? nullptr : choice.def();
  if (d && d->support(kind).powerOfTwoSizes && !powerOfTwo(size)) {
    throw Error(ErrorCode::kInvalidArgument, std::string(opKindName(kind)) + ": " + d->name +
                                                 " needs a power-of-two size(); use " +
                                                 defaultAlgorithm(kind)->name);
  }
}

const AlgorithmDef* defaultAlgorithm(OpKind kind) {
  for (const AlgorithmDef* d : algorithms())
    if (d->support(kind).generate && !d->support(kind).powerOfTwoSizes) return d;
  return nullptr;
}

Schedule scheduleFor(OpKind kind, AlgorithmChoice choice, const ScheduleArgs& args) {
  if (choice.isAuto() && kind == OpKind::kAllreduce) {
    throw Error(ErrorCode::kInvalidArgument, "an all-reduce schedule needs a concrete algorithm");
  }
  const AlgorithmDef* d = choice.isAuto() ? defaultAlgorithm(kind) : choice.def();
  if (d && d->support(kind).backend) {
    throw Error(ErrorCode::kInvalidArgument, std::string("algorithm ") + d->name + " runs the " + d->support(kind).backend +
                                                 " library's own " + opKindProse(kind) + ": it has no schedule to plan or simulate");
  }
  if (!d || !d->support(kind).generate) {
    throw Error(ErrorCode::kInvalidArgument, std::string("no ") + opKindProse(kind) +
                                                 " schedule for algorithm " + choice.name());
  }
  ScheduleArgs a = args;
  if (d->takesInner) a.inner = choice.innerDef();
  Schedule s = d->support(kind).generate(a);
  s.algorithm = d->name;
  return s;
}

Schedule allreduceSchedule(AlgorithmChoice choice, int rank, int size, size_t count,
                           const Topology& topo) {
  ScheduleArgs a;
  a.rank = rank;
  a.size = size;
  a.count = count;
  a.topology = &topo;
  return scheduleFor(OpKind::kAllreduce, choice, a);
}

}  // namespace dtrain
