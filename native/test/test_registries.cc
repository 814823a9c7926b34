// The shipped registries: names and errors as users see them, the checks the binding makes,
// what `auto` considers, the plan around a schedule, the transport `auto` picks for a set of
// hosts, and the topology computed from host names.
#include <string>
#include <vector>

#include "check.h"
#include "common/error.h"
#include "engine/topology.h"
#include "sched/algorithm.h"
#include "sched/plan.h"
#include "sim/choose.h"
#include "transport/registry.h"

using namespace dtrain;

namespace {

std::string errorOf(void (*f)()) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> names(const std::vector<AlgorithmChoice>& v) {
  std::vector<std::string> out;
  for (const AlgorithmChoice& c : v) out.push_back(c.name());
  return out;
}

}  // namespace

int main() {
  // Names, in registry order, as `dtrain info` and the errors list them.
  const std::vector<std::string> allreduce = {
      "auto",
      "ring",
      "halving-doubling",
      "binary-blocks",
      "recursive-doubling",
      "hierarchical",
      "mpi",
      "direct",
      "nccl",
      "hierarchical:<ring|halving-doubling|binary-blocks|recursive-doubling|direct>"};
  CHECK(algorithmNames(OpKind::kAllreduce) == allreduce, "all-reduce names");
  CHECK((algorithmNames(OpKind::kReduceScatter) ==
         std::vector<std::string>{"auto", "ring", "halving-doubling", "mpi", "nccl"}),
        "reduce-scatter names");
  CHECK((algorithmNames(OpKind::kAllgather) ==
         std::vector<std::string>{"auto", "ring", "recursive-doubling", "mpi", "nccl"}),
        "all-gather names");
  CHECK((algorithmNames(OpKind::kBroadcast) == std::vector<std::string>{"auto", "binomial-tree"}),
        "broadcast names");

  // Parsing: every name round-trips, through the byte the descriptor carries.
  for (const char* n :
       {"ring", "binary-blocks", "hierarchical", "hierarchical:recursive-doubling"}) {
    const AlgorithmChoice c = AlgorithmChoice::decode(parseAlgorithm(n).encode());
    CHECK(c.name() == n, "%s parsed back as %s", n, c.name().c_str());
    CHECK(knownAlgorithm(OpKind::kAllreduce, c), "%s known", n);
  }
  CHECK(parseAlgorithm("auto").isAuto() && parseAlgorithm("").isAuto(), "auto");
  CHECK(errorOf([] { parseAlgorithm("bogus"); }) ==
            "unknown all-reduce algorithm 'bogus'; known: auto, ring, halving-doubling, "
            "binary-blocks, recursive-doubling, hierarchical, mpi, direct, nccl, "
            "hierarchical:<ring|halving-doubling|binary-blocks|recursive-doubling|direct>",
        "unknown name: %s", errorOf([] { parseAlgorithm("bogus"); }).c_str());
  for (const char* bad : {"hierarchical:auto", "hierarchical:hierarchical", "ring:ring",
                          "binomial-tree", "hierarchical:"}) {
    bool threw = false;
    try {
      parseAlgorithm(bad);
    } catch (const Error& e) {
      threw = e.code() == ErrorCode::kInvalidArgument;
    }
    CHECK(threw, "%s must be refused", bad);
  }
  CHECK(errorOf([] { parseAlgorithm("binary-blocks", OpKind::kReduceScatter); })
                .find("unknown reduce-scatter algorithm 'binary-blocks'; known: auto, ring, "
                      "halving-doubling") == 0,
        "reduce-scatter of an algorithm that has none");

  // The binding's checks, with what to do instead.
  CHECK(errorOf([] {
          checkAlgorithm(OpKind::kReduceScatter,
                         parseAlgorithm("halving-doubling", OpKind::kReduceScatter), 6);
        }) == "reduceScatter: halving-doubling needs a power-of-two size(); use ring",
        "power of two");
  checkAlgorithm(OpKind::kReduceScatter, parseAlgorithm("halving-doubling", OpKind::kReduceScatter),
                 8);
  CHECK(errorOf([] {
          checkAlgorithm(OpKind::kAllgather, parseAlgorithm("binary-blocks"), 4);
        }).find("allgather: algorithm must be auto, ring, recursive-doubling, mpi or nccl") == 0,
        "all-gather by an all-reduce-only algorithm");
  CHECK(!knownAlgorithm(OpKind::kAllreduce, AlgorithmChoice::decode(15)), "id 15 is unknown");
  CHECK(!knownAlgorithm(OpKind::kAllreduce, {1, 1}), "ring takes no inner algorithm");
  CHECK(defaultAlgorithm(OpKind::kReduceScatter)->name == std::string("ring"), "default");
  CHECK(defaultAlgorithm(OpKind::kBroadcast)->name == std::string("binomial-tree"), "default");

  // auto's candidates: hierarchical (with ring inside) only where groups of several ranks exist.
  CHECK(
      (names(autoCandidates(6, {})) ==
       std::vector<std::string>{"ring", "halving-doubling", "binary-blocks", "recursive-doubling"}),
      "flat job");
  CHECK(names(autoCandidates(6, {0, 0, 0, 1, 1, 1})).back() == "hierarchical:ring", "two hosts");
  CHECK(names(autoCandidates(3, {0, 1, 2})).size() == 4, "one rank per host");

  // The plan: averages divide once, where the rank holds the result; half precision first.
  CollectiveCall call;
  call.kind = OpKind::kReduceScatter;
  call.op = ReduceOp::kAvg;
  call.algorithm = parseAlgorithm("ring", OpKind::kReduceScatter);
  call.count = 10;
  call.rank = 1;
  call.size = 3;
  Plan plan = planCollective(call, {});
  CHECK(!plan.before.any() && plan.after.divisor == 3 && plan.after.chunk.offset == 4 &&
            plan.after.chunk.count == 3,
        "reduce-scatter average divides this rank's chunk");
  call.dtype = DType::kFloat16;
  plan = planCollective(call, {});
  CHECK(plan.before.any() && plan.before.chunk.count == 10 && !plan.after.any(),
        "half-precision average divides the input first");
  call.kind = OpKind::kBroadcast;
  call.algorithm = {};
  plan = planCollective(call, {});
  CHECK(!plan.before.any() && !plan.after.any() && plan.schedule.algorithm == "binomial-tree",
        "broadcast's auto is the binomial tree");

  // Transports: auto takes shm on one host, tcp across hosts; shm refuses several hosts and
  // says what to set instead.
  const std::vector<std::string> oneHost = {"a", "a", "a"}, twoHosts = {"a", "a", "b"};
  CHECK(chooseTransport("auto", oneHost).def->name == std::string("shm"), "auto on one host");
  CHECK(chooseTransport("auto", oneHost).why == "every rank is on host 'a'", "why");
  CHECK(chooseTransport("auto", twoHosts).def->name == std::string("tcp"), "auto across hosts");
  std::string refusal;
  try {
    chooseTransport("shm", twoHosts);
  } catch (const Error& e) {
    refusal = e.what();
  }
  CHECK(refusal ==
            "the shm transport needs every rank on one host, but rank 0 is on 'a' and "
            "rank 2 on 'b'; set DTRAIN_TRANSPORT=tcp",
        "shm across hosts: %s", refusal.c_str());
  CHECK(errorOf([] { chooseTransport("carrier-pigeon", {"a"}); }) ==
            "unknown transport 'carrier-pigeon'; use auto, shm, tcp, mpi",
        "unknown transport");
  CHECK((transportNames() == std::vector<std::string>{"auto", "shm", "tcp", "mpi"}), "transport names");

  // Topology: host names grouped in order of first appearance; an explicit group size wins.
  JobTopology t = topologyOf({"b", "a", "b", "a", "c"}, 2, 0);
  CHECK((t.groupOf == Topology{0, 1, 0, 1, 2}) && t.localRank == 1 && t.localSize == 2,
        "grouped by host");
  t = topologyOf({"a", "a", "a", "a", "a"}, 4, 2);
  CHECK((t.groupOf == Topology{0, 0, 1, 1, 2}) && t.localRank == 0 && t.localSize == 1,
        "DTRAIN_LOCAL_SIZE=2 makes groups of two, and the last group holds what is left");
  // -np 6 with DTRAIN_LOCAL_SIZE=4: ranks 4 and 5 are a group of two.
  for (int r = 0; r < 6; ++r) {
    t = topologyOf(std::vector<std::string>(6, "a"), r, 4);
    CHECK(t.localSize == (r < 4 ? 4 : 2) && t.localRank == r % 4, "rank %d of 6 in groups of 4: local %d of %d", r, t.localRank, t.localSize);
  }
  return TEST_MAIN_RESULT();
}
