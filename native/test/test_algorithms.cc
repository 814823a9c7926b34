// Every all-reduce algorithm for 1..64 ranks over the in-memory transport: exact sums for
// integer-valued inputs, bitwise agreement for random floats, every op and dtype; plus the
// reduce-scatter and recursive-doubling all-gather schedules.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "harness.h"
#include "kernels/cpu/reduce.h"
#include "sched/algorithm.h"
#include "sched/allreduce_algorithms.h"
#include "sched/ring.h"

using namespace dtrain;
using dtrain_test::onEveryRank;

namespace {

const std::vector<AlgorithmChoice> kAlgorithms = {
    {Algorithm::kRing},
    {Algorithm::kHalvingDoubling},
    {Algorithm::kBinaryBlocks},
    {Algorithm::kRecursiveDoubling},
    {Algorithm::kHierarchical, Algorithm::kRing},
    {Algorithm::kHierarchical, Algorithm::kBinaryBlocks},
    {Algorithm::kHierarchical, Algorithm::kHalvingDoubling},
};

double valueAt(int rank, size_t i) { return static_cast<double>((rank * 31 + i * 7) % 97) - 48; }

// Groups of 3 consecutive ranks, as DTRAIN_LOCAL_SIZE=3 would make.
Topology groupsOf(int p, int k) {
  Topology t;
  for (int r = 0; r < p; ++r) t.push_back(r / k);
  return t;
}

template <typename T>
void checkExact(AlgorithmChoice a, int p, size_t n, DType dt, ReduceOp op) {
  std::vector<std::vector<T>> out(p);
  Topology topo = groupsOf(p, 3);
  onEveryRank(p, [&](int r, MemTransport& t) {
    std::vector<T> buf(n);
    for (size_t i = 0; i < n; ++i) buf[i] = static_cast<T>(valueAt(r, i));
    Executor ex;
    ex.run(allreduceSchedule(a, r, p, n, topo), t, {reinterpret_cast<uint8_t*>(buf.data())}, dt, op,
           Deadline::after(60), nullptr);
    out[r] = std::move(buf);
  });
  for (size_t i = 0; i < n; ++i) {
    double e = valueAt(0, i);
    for (int r = 1; r < p; ++r) {
      double v = valueAt(r, i);
      e = op == ReduceOp::kMin ? std::min(e, v) : op == ReduceOp::kMax ? std::max(e, v) : e + v;
    }
    for (int r = 0; r < p; ++r) {
      if (out[r][i] != static_cast<T>(e)) {
        CHECK(false, "%s %s %s p=%d n=%zu rank %d [%zu] = %g, expected %g", a.name().c_str(),
              dtypeName(dt), reduceOpName(op), p, n, r, i, static_cast<double>(out[r][i]), e);
        return;
      }
    }
  }
}

void checkBitwise(AlgorithmChoice a, int p, size_t n) {
  std::vector<std::vector<float>> out(p);
  Topology topo = groupsOf(p, 3);
  onEveryRank(p, [&](int r, MemTransport& t) {
    std::mt19937 gen(99 + r);
    std::uniform_real_distribution<float> d(-1, 1);
    std::vector<float> buf(n);
    for (auto& v : buf) v = d(gen);
    Executor ex;
    ex.run(allreduceSchedule(a, r, p, n, topo), t, {reinterpret_cast<uint8_t*>(buf.data())},
           DType::kFloat32, ReduceOp::kSum, Deadline::after(60), nullptr);
    out[r] = std::move(buf);
  });
  for (int r = 1; r < p; ++r)
    CHECK(std::memcmp(out[r].data(), out[0].data(), n * sizeof(float)) == 0,
          "%s p=%d n=%zu: rank %d differs bitwise from rank 0", a.name().c_str(), p, n, r);
}

void checkReduceScatter(bool halving, int p, size_t n) {
  std::vector<std::vector<int32_t>> out(p);
  onEveryRank(p, [&](int r, MemTransport& t) {
    std::vector<int32_t> buf(n);
    for (size_t i = 0; i < n; ++i) buf[i] = static_cast<int32_t>(valueAt(r, i));
    Executor ex;
    Schedule s = halving ? halvingReduceScatterSchedule(r, p, n) : ringReduceScatter(r, p, n);
    ex.run(s, t, {reinterpret_cast<uint8_t*>(buf.data())}, DType::kInt32, ReduceOp::kSum,
           Deadline::after(60), nullptr);
    out[r] = std::move(buf);
  });
  std::vector<Chunk> chunks = splitEven(n, p);
  for (int r = 0; r < p; ++r)
    for (size_t i = chunks[r].offset; i < chunks[r].offset + chunks[r].count; ++i) {
      double e = 0;
      for (int q = 0; q < p; ++q) e += valueAt(q, i);
      if (out[r][i] != static_cast<int32_t>(e)) {
        CHECK(false, "reduce-scatter %s p=%d n=%zu rank %d [%zu]", halving ? "halving" : "ring", p, n, r, i);
        return;
      }
    }
}

void checkAllgatherRd(int p, size_t n) {
  std::vector<std::vector<float>> out(p);
  onEveryRank(p, [&](int r, MemTransport& t) {
    std::vector<float> in(n), buf(n * p, -1);
    for (size_t i = 0; i < n; ++i) in[i] = static_cast<float>(valueAt(r, i));
    Executor ex;
    ex.run(recursiveDoublingAllgather(r, p, n), t,
           {reinterpret_cast<uint8_t*>(buf.data()), reinterpret_cast<uint8_t*>(in.data())},
           DType::kFloat32, ReduceOp::kSum, Deadline::after(60), nullptr);
    out[r] = std::move(buf);
  });
  for (int r = 0; r < p; ++r)
    for (int b = 0; b < p; ++b)
      for (size_t i = 0; i < n; ++i)
        if (out[r][b * n + i] != static_cast<float>(valueAt(b, i))) {
          CHECK(false, "rd allgather p=%d n=%zu rank %d block %d [%zu] = %g", p, n, r, b, i,
                out[r][b * n + i]);
          return;
        }
}

}  // namespace

int main() {
  std::mt19937 gen(11);
  for (int p = 1; p <= 64; p += (p < 12 ? 1 : p < 24 ? 3 : 13)) {
    std::vector<size_t> lengths = {0, 1, static_cast<size_t>(p > 1 ? p - 1 : 0),
                                   static_cast<size_t>(p), static_cast<size_t>(p + 1),
                                   std::uniform_int_distribution<size_t>(1, 100000)(gen)};
    for (const AlgorithmChoice& a : kAlgorithms) {
      for (size_t n : lengths) checkExact<float>(a, p, n, DType::kFloat32, ReduceOp::kSum);
      checkExact<double>(a, p, 1000, DType::kFloat64, ReduceOp::kMax);
      checkExact<int32_t>(a, p, 777, DType::kInt32, ReduceOp::kMin);
      checkBitwise(a, p, 3001);
    }
    checkReduceScatter(false, p, 1001);
    if ((p & (p - 1)) == 0) checkReduceScatter(true, p, 1001);
    checkAllgatherRd(p, 5);
    checkAllgatherRd(p, 0);
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
      idleHd += !reduces(halvingDoublingAllreduce(r, p, 1024));
      idleBb += !reduces(binaryBlocksAllreduce(r, p, 1024));
    }
    int pp = 1;
    while (pp * 2 <= p) pp *= 2;
    CHECK(idleHd == p - pp, "halving-doubling p=%d idle %d, expected %d", p, idleHd, p - pp);
    CHECK(idleBb == ((p & 1) && p > 1 ? 1 : 0), "binary-blocks p=%d idle %d", p, idleBb);
  }
  return TEST_MAIN_RESULT();
}
