// A toy algorithm and a toy transport added as any would be (native/test/toy/: one file each,
// one line each in the registry's lists) and found everywhere the registries are read, with no
// other edit: the names the binding takes, auto's candidates, the simulator and its closed
// form, the executor, and `auto`'s transport order.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "harness.h"
#include "sim/choose.h"
#include "sim/simulator.h"
#include "transport/registry.h"

using namespace dtrain;
using dtrain_test::onEveryRank;

namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  for (const std::string& x : v)
    if (x == s) return true;
  return false;
}

}  // namespace

int main() {
  // Named like every algorithm, for all-reduce only.
  CHECK(contains(algorithmNames(OpKind::kAllreduce), "toy-gather"), "all-reduce names");
  CHECK(!contains(algorithmNames(OpKind::kAllgather), "toy-gather"), "no all-gather");
  CHECK(
      contains(algorithmNames(OpKind::kAllreduce),
               "hierarchical:<ring|halving-doubling|binary-blocks|recursive-doubling|direct|toy-gather>"),
      "usable inside hierarchical");
  const AlgorithmChoice toy = parseAlgorithm("toy-gather");
  CHECK(AlgorithmChoice::decode(toy.encode()).name() == "toy-gather", "round trip");
  checkAlgorithm(OpKind::kAllreduce, toy, 7);

  // auto simulates it, and a job's chooser has it among its candidates.
  bool candidate = false;
  for (const AlgorithmChoice& c : autoCandidates(5, {})) candidate |= c.name() == "toy-gather";
  CHECK(candidate, "auto's candidates");
  AllreduceChooser chooser(CostModel{}, {}, 5);
  CHECK(chooser.candidates().back().name() == "toy-gather", "chooser's candidates");

  // The simulator runs its schedules, and they agree with its closed form.
  const CostModel m{5e-6, 1e-10, 5e-11};
  for (int p : {2, 3, 8, 33}) {
    const size_t bytes = 1 << 20;
    const SimResult r =
        simulate([&](int rank) { return allreduceSchedule(toy, rank, p, bytes / 4, {}); }, p, 4, m);
    const double f = *toy.def()->closedForm(p, bytes, m);
    CHECK(std::fabs(r.predictedS - f) <= 0.01 * f, "p=%d simulated %g, closed form %g", p,
          r.predictedS, f);
    CHECK(r.steps == p, "p=%d: %d rounds", p, r.steps);
  }

  // The executor runs it: exact sums, bitwise identical everywhere, alone and as hierarchical's
  // inner algorithm.
  for (const char* name : {"toy-gather", "hierarchical:toy-gather"}) {
    const AlgorithmChoice c = parseAlgorithm(name);
    for (int p = 1; p <= 9; ++p) {
      for (size_t n : {size_t{0}, size_t{1}, size_t{1000}}) {
        Topology groups;
        for (int r = 0; r < p; ++r) groups.push_back(r / 2);
        std::vector<std::vector<int32_t>> out(p);
        onEveryRank(p, [&](int r, MemTransport& t) {
          std::vector<int32_t> buf(n);
          for (size_t i = 0; i < n; ++i) buf[i] = static_cast<int32_t>(r * 1000 + i);
          Executor ex;
          ex.run(allreduceSchedule(c, r, p, n, groups), t, {reinterpret_cast<uint8_t*>(buf.data())},
                 DType::kInt32, ReduceOp::kSum, Deadline::after(60), nullptr);
          out[r] = buf;
        });
        for (int r = 0; r < p; ++r)
          for (size_t i = 0; i < n; ++i)
            if (out[r][i] != static_cast<int32_t>(1000 * p * (p - 1) / 2 + p * i)) {
              CHECK(false, "%s p=%d n=%zu rank %d [%zu] = %d", name, p, n, r, i, out[r][i]);
              break;
            }
      }
    }
  }

  // The toy transport is registered after the shipped ones: named, creatable, last for auto.
  CHECK(findTransport("toy-store") != nullptr, "registered");
  const std::vector<std::string> names = transportNames();
  CHECK(names.back() == "toy-store", "listed last");
  CHECK(chooseTransport("toy-store", {"a", "b"}).def == findTransport("toy-store"), "by name");
  CHECK(chooseTransport("auto", {"a", "b"}).def->name == std::string("tcp"), "auto prefers tcp");
  return TEST_MAIN_RESULT();
}
