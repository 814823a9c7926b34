// Every all-reduce algorithm for 1..64 ranks over the in-memory transport: exact sums for
// integer-valued inputs, bitwise agreement for random floats, every op and dtype; plus the
// reduce-scatter and recursive-doubling all-gather schedules.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "kernels/cpu/reduce.h"
#include "sched/algorithm.h"

using namespace dtrain;
using dtrain_test::onEveryRank;
using dtrain_test::scheduleOf;

namespace {

const std::vector<AlgorithmChoice> kAlgorithms = {
    parseAlgorithm("ring"),
    parseAlgorithm("halving-doubling"),
    parseAlgorithm("binary-blocks"),
    parseAlgorithm("recursive-doubling"),
    parseAlgorithm("direct"),
    parseAlgorithm("hierarchical:ring"),
    parseAlgorithm("hierarchical:binary-blocks"),
    parseAlgorithm("hierarchical:halving-doubling"),
};

double valueAt(int rank, size_t i) { return static_cast<double>((rank * 31 + i * 7) % 97) - 48; }

// Groups of 3 consecutive ranks, as DTRAIN_LOCAL_SIZE=3 would make.
Topology groupsOf(int p, int k) {
  Topology t;
  for (int r = 0; r < p; ++r) t.push_back(r / k);
  return t;
}

// One case: every rank fills a buffer, runs a schedule on it, and the result is checked once
// all ranks are done. All cases of one size run on the same threads, back to back, the way a
// real job's ranks run one collective after another.
struct Case {
  std::string what;
  DType dtype;
  ReduceOp op;
  size_t n;
  size_t outN;  // elements of the output buffer (all-gather: n * p)
  std::function<Schedule(int)> schedule;
  std::function<double(int, size_t)> input;  // rank, index -> value
  std::function<double(size_t)> expect;      // index -> result (null: not checked)
  std::function<bool(int, size_t)> checked;  // whether rank's element i is checked (null: all)
  bool bitwise;                              // all ranks must agree bitwise
  std::vector<std::vector<double>> out;      // by rank, as double
};

template <typename T>
void runCase(Case& c, int r, MemTransport& t) {
  std::vector<T> in(c.n), buf(c.outN);
  for (size_t i = 0; i < c.n; ++i) in[i] = static_cast<T>(c.input(r, i));
  if (c.outN == c.n) buf = in;
  Executor ex;
  ex.run(c.schedule(r), t,
         {reinterpret_cast<uint8_t*>(buf.data()), reinterpret_cast<uint8_t*>(in.data())}, c.dtype,
         c.op, Deadline::after(60), nullptr);
  c.out[r].assign(buf.begin(), buf.end());
}

void runAll(int p, std::vector<Case>& cases) {
  for (Case& c : cases) c.out.assign(p, {});
  onEveryRank(p, [&](int r, MemTransport& t) {
    for (Case& c : cases) {
      switch (c.dtype) {
        case DType::kFloat32:
          runCase<float>(c, r, t);
          break;
        case DType::kFloat64:
          runCase<double>(c, r, t);
          break;
        case DType::kInt32:
          runCase<int32_t>(c, r, t);
          break;
      }
    }
  });
  for (Case& c : cases) {
    bool reported = false;
    std::vector<double> want(c.expect ? c.outN : 0);
    for (size_t i = 0; i < want.size(); ++i) want[i] = c.expect(i);
    for (int r = 0; r < p && !reported; ++r) {
      for (size_t i = 0; i < want.size() && !reported; ++i) {
        if ((!c.checked || c.checked(r, i)) && c.out[r][i] != want[i]) {
          CHECK(false, "%s p=%d n=%zu: rank %d [%zu] = %g", c.what.c_str(), p, c.n, r, i,
                c.out[r][i]);
          reported = true;
        }
      }
      if (c.bitwise && r > 0 && c.out[r] != c.out[0]) {
        CHECK(false, "%s p=%d n=%zu: rank %d differs from rank 0", c.what.c_str(), p, c.n, r);
        reported = true;
      }
    }
  }
}

double reduceAll(int p, size_t i, ReduceOp op) {
  double e = valueAt(0, i);
  for (int r = 1; r < p; ++r) {
    double v = valueAt(r, i);
    e = op == ReduceOp::kMin ? std::min(e, v) : op == ReduceOp::kMax ? std::max(e, v) : e + v;
  }
  return e;
}

std::vector<Case> casesFor(int p, std::mt19937& gen) {
  std::vector<Case> cases;
  const Topology topo = groupsOf(p, 3);
  std::vector<size_t> lengths = {0,
                                 1,
                                 static_cast<size_t>(p > 1 ? p - 1 : 0),
                                 static_cast<size_t>(p),
                                 static_cast<size_t>(p + 1),
                                 std::uniform_int_distribution<size_t>(1, 100000)(gen)};
  for (const AlgorithmChoice& a : kAlgorithms) {
    auto sched = [a, p, topo](size_t n) {
      return [a, p, topo, n](int r) { return allreduceSchedule(a, r, p, n, topo); };
    };
    auto exact = [p](ReduceOp op) { return [p, op](size_t i) { return reduceAll(p, i, op); }; };
    for (size_t n : lengths)
      cases.push_back({a.name() + " float32 sum",
                       DType::kFloat32,
                       ReduceOp::kSum,
                       n,
                       n,
                       sched(n),
                       valueAt,
                       exact(ReduceOp::kSum),
                       nullptr,
                       true,
                       {}});
    cases.push_back({a.name() + " float64 max",
                     DType::kFloat64,
                     ReduceOp::kMax,
                     1000,
                     1000,
                     sched(1000),
                     valueAt,
                     exact(ReduceOp::kMax),
                     nullptr,
                     true,
                     {}});
    cases.push_back({a.name() + " int32 min",
                     DType::kInt32,
                     ReduceOp::kMin,
                     777,
                     777,
                     sched(777),
                     valueAt,
                     exact(ReduceOp::kMin),
                     nullptr,
                     true,
                     {}});
    // Random floats: sums depend on order, so only agreement is checked.
    cases.push_back({a.name() + " random float32",
                     DType::kFloat32,
                     ReduceOp::kSum,
                     3001,
                     3001,
                     sched(3001),
                     [](int r, size_t i) {
                       // splitmix64 of (rank, index): cheap, well-mixed, the same everywhere.
                       uint64_t z = (static_cast<uint64_t>(r) << 32 | i) + 0x9e3779b97f4a7c15ULL;
                       z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
                       z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
                       z ^= z >> 31;
                       return static_cast<double>(z >> 11) / 9007199254740992.0 * 2 - 1;
                     },
                     nullptr,
                     nullptr,
                     true,
                     {}});
  }
  const std::vector<Chunk> chunks = splitEven(1001, p);
  auto sum = [p](size_t i) { return reduceAll(p, i, ReduceOp::kSum); };
  auto mine = [chunks](int r, size_t i) {
    return i >= chunks[r].offset && i < chunks[r].offset + chunks[r].count;
  };
  cases.push_back({"ring reduce-scatter",
                   DType::kInt32,
                   ReduceOp::kSum,
                   1001,
                   1001,
                   [p](int r) { return scheduleOf("ring", OpKind::kReduceScatter, r, p, 1001); },
                   valueAt,
                   sum,
                   mine,
                   false,
                   {}});
  if ((p & (p - 1)) == 0)
    cases.push_back(
        {"halving reduce-scatter",
         DType::kInt32,
         ReduceOp::kSum,
         1001,
         1001,
         [p](int r) { return scheduleOf("halving-doubling", OpKind::kReduceScatter, r, p, 1001); },
         valueAt,
         sum,
         mine,
         false,
         {}});
  for (size_t n : {size_t{0}, size_t{5}}) {
    cases.push_back(
        {"recursive-doubling all-gather",
         DType::kFloat32,
         ReduceOp::kSum,
         n,
         n * p,
         [p, n](int r) { return scheduleOf("recursive-doubling", OpKind::kAllgather, r, p, n); },
         valueAt,
         [n](size_t i) { return valueAt(static_cast<int>(i / n), i % n); },
         nullptr,
         true,
         {}});
  }
  return cases;
}

}  // namespace

int main() {
  std::mt19937 gen(11);
  for (int p = 1; p <= 64; ++p) {
    std::vector<Case> cases = casesFor(p, gen);
    runAll(p, cases);
  }
  // min/max are not symmetric for +0/-0 or NaN (a < b ? a : b keeps b on ties): every
  // algorithm must still leave the same bits on every rank.
  for (const AlgorithmChoice& a : kAlgorithms) {
    for (int p : {2, 3, 4, 5, 8}) {
      std::vector<std::vector<float>> out(p);
      onEveryRank(p, [&](int r, MemTransport& t) {
        std::vector<float> buf = {r % 2 ? -0.0f : 0.0f, r == 1 ? NAN : 1.0f, r % 2 ? 0.0f : -0.0f};
        Executor ex;
        ex.run(allreduceSchedule(a, r, p, buf.size(), groupsOf(p, 3)), t,
               {reinterpret_cast<uint8_t*>(buf.data())}, DType::kFloat32, ReduceOp::kMin,
               Deadline::after(60), nullptr);
        out[r] = buf;
      });
      for (int r = 1; r < p; ++r)
        CHECK(std::memcmp(out[r].data(), out[0].data(), 3 * sizeof(float)) == 0,
              "%s p=%d min of signed zeros / NaN: rank %d differs from rank 0", a.name().c_str(), p,
              r);
    }
  }
  // The fold leaves r = p - 2^floor(lg p) ranks out of the reduction; binary blocks none.
  for (int p : {3, 5, 6, 7, 12, 13}) {
    int idleHd = 0, idleBb = 0;
    for (int r = 0; r < p; ++r) {
      auto reduces = [](const Schedule& s) {
        for (const Round& rd : s.rounds)
          for (const Step& st : rd.steps)
            if (st.kind == StepKind::kRecvReduce) return true;
        return false;
      };
      idleHd += !reduces(scheduleOf("halving-doubling", OpKind::kAllreduce, r, p, 1024));
      idleBb += !reduces(scheduleOf("binary-blocks", OpKind::kAllreduce, r, p, 1024));
    }
    int pp = 1;
    while (pp * 2 <= p) pp *= 2;
    CHECK(idleHd == p - pp, "halving-doubling p=%d idle %d, expected %d", p, idleHd, p - pp);
    CHECK(idleBb == ((p & 1) && p > 1 ? 1 : 0), "binary-blocks p=%d idle %d", p, idleBb);
  }
  // Resumed runs: each rank runs its schedule in slices bounded by a 20 us soft deadline, every
  // slice on a new thread (as the JS thread hands a call to the engine thread), while rank 1
  // sleeps between its slices; the results must equal the plain run's, and slices must really
  // have stopped mid-schedule.
  for (const AlgorithmChoice& a : kAlgorithms) {
    for (int p : {2, 3, 5}) {
      const size_t n = 1000 + p;
      std::vector<std::vector<int32_t>> out(p);
      std::vector<int> stops(p, 0);
      onEveryRank(p, [&](int r, MemTransport& t) {
        std::vector<int32_t> buf(n);
        for (size_t i = 0; i < n; ++i) buf[i] = static_cast<int32_t>((r + 1) * 1000 + i);
        const Schedule s = allreduceSchedule(a, r, p, n, groupsOf(p, 2));
        const Deadline hard = Deadline::after(60);
        Executor ex;
        ExecState state;
        bool done = false;
        while (!done) {
          if (r == 1) std::this_thread::sleep_for(std::chrono::microseconds(300));
          std::thread slice([&] {
            done = ex.resume(s, t, {reinterpret_cast<uint8_t*>(buf.data())}, DType::kInt32,
                             ReduceOp::kSum, hard, Deadline::after(20e-6), nullptr, &state);
          });
          slice.join();
          if (!done) ++stops[r];
        }
        out[r] = buf;
      });
      int stopped = 0;
      for (int r = 0; r < p; ++r) {
        stopped += stops[r];
        for (size_t i = 0; i < n; ++i) {
          const int64_t want =
              static_cast<int64_t>(p) * (p + 1) / 2 * 1000 + static_cast<int64_t>(p) * i;
          if (out[r][i] != want) {
            CHECK(false, "%s p=%d resumed: rank %d [%zu] = %d, expected %lld", a.name().c_str(), p,
                  r, i, out[r][i], static_cast<long long>(want));
            break;
          }
        }
      }
      CHECK(stopped > 0, "%s p=%d: no slice stopped early, so nothing was resumed",
            a.name().c_str(), p);
    }
  }
  return TEST_MAIN_RESULT();
}
