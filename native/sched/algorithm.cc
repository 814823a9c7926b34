#include "sched/algorithm.h"

#include "common/error.h"
#include "sched/allreduce_algorithms.h"
#include "sched/ring.h"

namespace dtrain {

namespace {

Schedule (*generatorFor(Algorithm a))(int, int, size_t) {
  switch (a) {
    case Algorithm::kHalvingDoubling: return halvingDoublingAllreduce;
    case Algorithm::kBinaryBlocks: return binaryBlocksAllreduce;
    case Algorithm::kRecursiveDoubling: return recursiveDoublingAllreduce;
    default: return ringAllreduce;
  }
}
}  // namespace

const char* algorithmName(Algorithm a) {
  switch (a) {
    case Algorithm::kAuto: return "auto";
    case Algorithm::kRing: return "ring";
    case Algorithm::kHalvingDoubling: return "halving-doubling";
    case Algorithm::kBinaryBlocks: return "binary-blocks";
    case Algorithm::kRecursiveDoubling: return "recursive-doubling";
    case Algorithm::kHierarchical: return "hierarchical";
  }
  return "?";
}

std::string AlgorithmChoice::name() const {
  std::string n = algorithmName(algo);
  if (algo == Algorithm::kHierarchical && inner != Algorithm::kAuto) n += std::string(":") + algorithmName(inner);
  return n;
}

std::vector<std::string> algorithmNames() {
  return {"auto", "ring", "halving-doubling", "binary-blocks", "recursive-doubling",
          "hierarchical", "hierarchical:<ring|halving-doubling|binary-blocks|recursive-doubling>"};
}

AlgorithmChoice parseAlgorithm(const std::string& name) {
  auto flat = [](const std::string& n, Algorithm* out) {
    for (Algorithm a : {Algorithm::kAuto, Algorithm::kRing, Algorithm::kHalvingDoubling,
                        Algorithm::kBinaryBlocks, Algorithm::kRecursiveDoubling}) {
      if (n == algorithmName(a)) {
        *out = a;
        return true;
      }
    }
    return false;
  };
  AlgorithmChoice c;
  if (name.empty() || flat(name, &c.algo)) return c;
  if (name == "hierarchical") return {Algorithm::kHierarchical, Algorithm::kAuto};
  const std::string prefix = "hierarchical:";
  if (name.rfind(prefix, 0) == 0 && flat(name.substr(prefix.size()), &c.inner) &&
      c.inner != Algorithm::kAuto) {
    c.algo = Algorithm::kHierarchical;
    return c;
  }
  std::string known;
  for (const std::string& n : algorithmNames()) known += (known.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::kInvalidArgument, "unknown all-reduce algorithm '" + name + "'; known: " + known);
}

Schedule allreduceSchedule(AlgorithmChoice choice, int rank, int size, size_t count,
                           const Topology& topo) {
  switch (choice.algo) {
    case Algorithm::kHierarchical: {
      Topology groups = topo;
      if (groups.empty())
        for (int r = 0; r < size; ++r) groups.push_back(r);
      Algorithm inner = choice.inner == Algorithm::kAuto ? Algorithm::kRing : choice.inner;
      return hierarchicalAllreduce(rank, size, count, groups, generatorFor(inner));
    }
    case Algorithm::kAuto:
      throw Error(ErrorCode::kInvalidArgument, "allreduceSchedule needs a concrete algorithm");
    default:
      return generatorFor(choice.algo)(rank, size, count);
  }
}

}  // namespace dtrain
