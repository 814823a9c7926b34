// The simulator against the all-reduce closed forms (Thakur, Rabenseifner & Gropp 2005), and at
// scale.
#include <chrono>
#include <cmath>

#include "check.h"
#include "common/error.h"
#include "sched/algorithm.h"
#include "sim/simulator.h"

using namespace dtrain;

namespace {
double ringFormula(int p, double n, const CostModel& m) {
  return 2.0 * (p - 1) * m.alpha + 2.0 * n * (p - 1) / p * m.beta + n * (p - 1) / p * m.gamma;
}
double hdFormula(int p, double n, const CostModel& m) {
  double lg = std::log2(p);
  return 2 * lg * m.alpha + 2.0 * n * (p - 1) / p * m.beta + n * (p - 1) / p * m.gamma;
}
SimResult run(const char* name, int p, size_t bytes, const CostModel& m) {
  const AlgorithmChoice a = parseAlgorithm(name);
  return simulate([&](int r) { return allreduceSchedule(a, r, p, bytes / 4, {}); }, p, 4, m);
}
}  // namespace

int main() {
  CostModel m{5e-6, 1e-10, 5e-11};
  for (int p : {2, 4, 8, 64, 256}) {
    for (size_t bytes : {size_t{4096}, size_t{1} << 20, size_t{100} << 20}) {
      SimResult ring = run("ring", p, bytes, m);
      double f = ringFormula(p, bytes, m);
      CHECK(std::fabs(ring.predictedS - f) <= 0.01 * f, "ring p=%d bytes=%zu sim %g formula %g", p,
            bytes, ring.predictedS, f);
      SimResult hd = run("halving-doubling", p, bytes, m);
      f = hdFormula(p, bytes, m);
      CHECK(std::fabs(hd.predictedS - f) <= 0.01 * f, "hd p=%d bytes=%zu sim %g formula %g", p,
            bytes, hd.predictedS, f);
      CHECK(ring.steps == 2 * (p - 1), "ring steps %d", ring.steps);
    }
  }
  // Ring sends 2n(p-1)/p bytes per rank.
  SimResult r8 = run("ring", 8, 8 << 20, m);
  CHECK(r8.maxBytesSentPerRank == 2ull * (8 << 20) * 7 / 8, "ring bytes %zu", r8.maxBytesSentPerRank);

  // p = 600: the fold idles 88 ranks, binary blocks none.
  CHECK(run("halving-doubling", 600, 1 << 20, m).idleRanks == 88, "hd 600 idle");
  CHECK(run("binary-blocks", 600, 1 << 20, m).idleRanks == 0, "bb 600 idle");
  CHECK(run("ring", 600, 1 << 20, m).idleRanks == 0, "ring 600 idle");

  // 2,048 ranks at 256 MiB in a few seconds, for the longest schedule (ring).
  auto t0 = std::chrono::steady_clock::now();
  SimResult big = run("ring", 2048, size_t{256} << 20, m);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(secs < 20, "2048-rank ring took %g s", secs);
  double f = ringFormula(2048, 256.0 * (1 << 20), m);
  CHECK(std::fabs(big.predictedS - f) <= 0.01 * f, "ring 2048 sim %g formula %g", big.predictedS, f);
  std::printf("ring p=2048 256MiB simulated in %.2f s\n", secs);

  // A deadlocking set of schedules is reported, not looped on.
  bool threw = false;
  try {
    simulate(
        [](int r) {
          Schedule s;
          Round rd;
          rd.steps.push_back({StepKind::kRecv, 1 - r, {}, {BufferId::kData, 0, 4}});
          s.rounds.push_back(rd);
          return s;
        },
        2, 4, m);
  } catch (const Error& e) {
    threw = std::string(e.what()).find("deadlock") != std::string::npos;
  }
  CHECK(threw, "deadlock must be reported");
  return TEST_MAIN_RESULT();
}
