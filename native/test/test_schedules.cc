// Runs the schedules for 1..64 ranks as threads over the in-memory transport and checks
// results (exact integer sums, bitwise agreement) and traffic against the formulas.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "harness.h"

using namespace dtrain;
using dtrain_test::onEveryRank;

namespace {

Schedule ringAllreduce(int r, int p, size_t n) {
  return dtrain_test::scheduleOf("ring", OpKind::kAllreduce, r, p, n);
}
Schedule ringAllgather(int r, int p, size_t n) {
  return dtrain_test::scheduleOf("ring", OpKind::kAllgather, r, p, n);
}
Schedule binomialBroadcast(int r, int p, size_t n, int root, size_t segmentElems) {
  ScheduleArgs a;
  a.rank = r;
  a.size = p;
  a.count = n;
  a.root = root;
  a.elemSize = 4;
  a.segmentBytes = segmentElems * 4;
  return scheduleFor(OpKind::kBroadcast, parseAlgorithm("binomial-tree", OpKind::kBroadcast), a);
}

float valueAt(int rank, size_t i) { return static_cast<float>((rank * 31 + i * 7) % 97) - 48; }

void testRingAllreduce(int p, size_t n) {
  std::vector<std::vector<float>> out(p);
  std::vector<size_t> sent(p);
  onEveryRank(p, [&](int r, MemTransport& t) {
    std::vector<float> buf(n);
    for (size_t i = 0; i < n; ++i) buf[i] = valueAt(r, i);
    Executor ex;
    Schedule s = ringAllreduce(r, p, n);
    ex.run(s, t, {reinterpret_cast<uint8_t*>(buf.data()), nullptr}, DType::kFloat32,
           ReduceOp::kSum, Deadline::after(30), nullptr);
    out[r] = std::move(buf);
    sent[r] = t.bytesSent();
  });
  for (size_t i = 0; i < n; ++i) {
    float expect = 0;
    for (int r = 0; r < p; ++r) expect += valueAt(r, i);
    for (int r = 0; r < p; ++r) {
      if (out[r][i] != expect) {
        CHECK(false, "ring p=%d n=%zu rank %d [%zu] = %g, expected %g", p, n, r, i, out[r][i], expect);
        return;
      }
    }
  }
  // Each rank sends 2(p-1) chunks of n/p elements: 2n(p-1)/p in all (chunks differ by at most
  // one element, so allow 2(p-1) elements of rounding).
  for (int r = 0; r < p; ++r) {
    double formula = 2.0 * n * (p - 1) / p * sizeof(float);
    double got = static_cast<double>(sent[r]);
    CHECK(got >= formula - 2.0 * (p - 1) * sizeof(float) && got <= formula + 2.0 * (p - 1) * sizeof(float),
          "ring p=%d n=%zu rank %d sent %g bytes, formula %g", p, n, r, got, formula);
  }
}

void testRandomBitwise(int p, size_t n) {
  std::vector<std::vector<double>> out(p);
  onEveryRank(p, [&](int r, MemTransport& t) {
    std::mt19937_64 gen(1234 + r);
    std::uniform_real_distribution<double> d(-1, 1);
    std::vector<double> buf(n);
    for (auto& v : buf) v = d(gen);
    Executor ex;
    ex.run(ringAllreduce(r, p, n), t, {reinterpret_cast<uint8_t*>(buf.data()), nullptr},
           DType::kFloat64, ReduceOp::kSum, Deadline::after(30), nullptr);
    out[r] = std::move(buf);
  });
  for (int r = 1; r < p; ++r) {
    CHECK(std::memcmp(out[r].data(), out[0].data(), n * sizeof(double)) == 0,
          "random p=%d n=%zu: rank %d differs bitwise from rank 0", p, n, r);
  }
}

void testBroadcast(int p, size_t n, int root) {
  std::vector<std::vector<int32_t>> out(p);
  onEveryRank(p, [&](int r, MemTransport& t) {
    std::vector<int32_t> buf(n, r == root ? 0 : -1);
    if (r == root)
      for (size_t i = 0; i < n; ++i) buf[i] = static_cast<int32_t>(i * 3 + 1);
    Executor ex;
    ex.run(binomialBroadcast(r, p, n, root, 1000), t,
           {reinterpret_cast<uint8_t*>(buf.data()), nullptr}, DType::kInt32, ReduceOp::kSum,
           Deadline::after(30), nullptr);
    out[r] = std::move(buf);
  });
  for (int r = 0; r < p; ++r)
    for (size_t i = 0; i < n; ++i)
      if (out[r][i] != static_cast<int32_t>(i * 3 + 1)) {
        CHECK(false, "broadcast p=%d n=%zu root=%d rank %d [%zu] = %d", p, n, root, r, i, out[r][i]);
        return;
      }
}

void testAllgather(int p, size_t n) {
  std::vector<std::vector<float>> out(p);
  onEveryRank(p, [&](int r, MemTransport& t) {
    std::vector<float> in(n), buf(n * p, -1);
    for (size_t i = 0; i < n; ++i) in[i] = valueAt(r, i);
    Executor ex;
    ex.run(ringAllgather(r, p, n), t,
           {reinterpret_cast<uint8_t*>(buf.data()), reinterpret_cast<uint8_t*>(in.data())},
           DType::kFloat32, ReduceOp::kSum, Deadline::after(30), nullptr);
    out[r] = std::move(buf);
  });
  for (int r = 0; r < p; ++r)
    for (int b = 0; b < p; ++b)
      for (size_t i = 0; i < n; ++i)
        if (out[r][b * n + i] != valueAt(b, i)) {
          CHECK(false, "allgather p=%d n=%zu rank %d block %d [%zu]", p, n, r, b, i);
          return;
        }
}

}  // namespace

int main() {
  std::mt19937 gen(7);
  for (int p = 1; p <= 64; p = p < 8 ? p + 1 : p * 2) {
    std::vector<size_t> lengths = {0, 1, static_cast<size_t>(p > 1 ? p - 1 : 0),
                                   static_cast<size_t>(p), static_cast<size_t>(p + 1), 1000,
                                   std::uniform_int_distribution<size_t>(1, 100000)(gen)};
    for (size_t n : lengths) testRingAllreduce(p, n);
    testRandomBitwise(p, 4099);
    for (int root : {0, p / 2, p - 1}) testBroadcast(p, 2501, root);
    testAllgather(p, 37);
  }
  // A schedule's own accounting agrees with the formula too (what the simulator will use).
  for (int p : {2, 3, 8, 13}) {
    size_t n = 1 << 16;
    Schedule s = ringAllreduce(0, p, n);
    CHECK(s.rounds.size() == static_cast<size_t>(2 * (p - 1)), "ring p=%d has %zu rounds", p,
          s.rounds.size());
    double formula = 2.0 * n * (p - 1) / p;
    CHECK(std::abs(static_cast<double>(s.elementsSent()) - formula) <= 2.0 * (p - 1),
          "ring p=%d elementsSent %zu vs %g", p, s.elementsSent(), formula);
  }
  return TEST_MAIN_RESULT();
}
