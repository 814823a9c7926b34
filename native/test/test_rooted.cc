// The rooted and personalized collectives' schedules (binomial-tree reduce, gather, scatter;
// pairwise all-to-all with equal and variable splits) for 1..17 ranks and every root over the
// in-memory transport, checked against values computed here; a grouped (segmented) all-reduce
// against the plain one; and the new element types and prod in the reducer, in double.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "harness.h"
#include "kernels/cpu/reduce.h"
#include "sched/algorithm.h"
#include "sim/simulator.h"

using namespace dtrain;
using dtrain_test::onEveryRank;
using dtrain_test::scheduleOf;

namespace {

int32_t valueAt(int rank, size_t i) { return static_cast<int32_t>((rank * 131 + i * 7) % 1009) - 500; }

Schedule rootedSchedule(OpKind kind, int r, int p, size_t n, int root) {
  ScheduleArgs a;
  a.rank = r;
  a.size = p;
  a.count = n;
  a.elemSize = 4;
  a.root = root;
  return scheduleFor(kind, AlgorithmChoice{}, a);
}

void run(const Schedule& s, MemTransport& t, void* data, const void* input) {
  Executor ex;
  ex.run(s, t, {static_cast<uint8_t*>(data), static_cast<const uint8_t*>(input)}, DType::kInt32,
         ReduceOp::kSum, Deadline::after(60), nullptr);
}

void testRooted(int p, size_t n) {
  for (int root = 0; root < p; ++root) {
    std::vector<std::vector<int32_t>> reduced(p), gathered(p), scattered(p);
    onEveryRank(p, [&](int r, MemTransport& t) {
      std::vector<int32_t> buf(n);
      for (size_t i = 0; i < n; ++i) buf[i] = valueAt(r, i);
      run(rootedSchedule(OpKind::kReduce, r, p, n, root), t, buf.data(), nullptr);
      reduced[r] = buf;

      std::vector<int32_t> in(n), out(r == root ? n * p : 0);
      for (size_t i = 0; i < n; ++i) in[i] = valueAt(r, i);
      run(rootedSchedule(OpKind::kGather, r, p, n, root), t, out.data(), in.data());
      gathered[r] = out;

      std::vector<int32_t> send(r == root ? n * p : 0), recv(n, -7);
      for (size_t i = 0; i < send.size(); ++i) send[i] = valueAt(static_cast<int>(i / n), i % n) * 3;
      run(rootedSchedule(OpKind::kScatter, r, p, n, root), t, recv.data(), send.data());
      scattered[r] = recv;
    });
    for (size_t i = 0; i < n; ++i) {
      int32_t want = 0;
      for (int q = 0; q < p; ++q) want += valueAt(q, i);
      CHECK(reduced[root][i] == want, "reduce p=%d root=%d n=%zu [%zu] = %d, want %d", p, root, n,
            i, reduced[root][i], want);
    }
    for (size_t i = 0; i < n * p; ++i) {
      const int32_t want = valueAt(static_cast<int>(i / n), i % n);
      CHECK(gathered[root][i] == want, "gather p=%d root=%d n=%zu [%zu] = %d, want %d", p, root,
            n, i, gathered[root][i], want);
    }
    for (int r = 0; r < p; ++r)
      for (size_t i = 0; i < n; ++i)
        CHECK(scattered[r][i] == valueAt(r, i) * 3, "scatter p=%d root=%d rank %d [%zu] = %d", p,
              root, r, i, scattered[r][i]);
  }
}

// Rank r sends (r + j) % 3 + (n if r == j) elements to rank j: zero-length splits included.
size_t splitOf(int from, int to, size_t n) { return (from + to) % 3 + (from == to ? n : 0); }

void testAlltoall(int p, size_t n, bool variable) {
  std::vector<std::vector<int32_t>> got(p);
  std::vector<std::vector<size_t>> sendC(p, std::vector<size_t>(p)), recvC(p, std::vector<size_t>(p));
  for (int r = 0; r < p; ++r)
    for (int j = 0; j < p; ++j) {
      sendC[r][j] = variable ? splitOf(r, j, n) : n;
      recvC[r][j] = variable ? splitOf(j, r, n) : n;
    }
  // The element rank `from` sends to rank `to` at index k of that chunk.
  auto elem = [](int from, int to, size_t k) { return static_cast<int32_t>(from * 10000 + to * 100 + k); };
  onEveryRank(p, [&](int r, MemTransport& t) {
    std::vector<int32_t> in, out;
    for (int j = 0; j < p; ++j)
      for (size_t k = 0; k < sendC[r][j]; ++k) in.push_back(elem(r, j, k));
    size_t total = 0;
    for (int j = 0; j < p; ++j) total += recvC[r][j];
    out.assign(total, -1);
    ScheduleArgs a;
    a.rank = r;
    a.size = p;
    a.count = variable ? 0 : n;
    if (variable) {
      a.sendCounts = &sendC[r];
      a.recvCounts = &recvC[r];
    }
    run(scheduleFor(OpKind::kAlltoall, AlgorithmChoice{}, a), t, out.data(), in.data());
    got[r] = out;
  });
  for (int r = 0; r < p; ++r) {
    size_t at = 0;
    for (int j = 0; j < p; ++j)
      for (size_t k = 0; k < recvC[r][j]; ++k, ++at)
        CHECK(got[r][at] == elem(j, r, k), "alltoall%s p=%d n=%zu rank %d chunk %d [%zu] = %d",
              variable ? "v" : "", p, n, r, j, k, got[r][at]);
  }
}

// The same all-reduce over one array and over the array cut in pieces (lengths 0 included)
// must give identical bits: the segmented executor only changes where bytes live.
void testSegmented(int p) {
  const size_t n = 1000;
  const std::vector<size_t> cuts = {0, 1, 333, 0, 400, 266};
  for (const char* algo : {"ring", "recursive-doubling", "binary-blocks"}) {
    std::vector<std::vector<float>> whole(p), pieces(p);
    onEveryRank(p, [&](int r, MemTransport& t) {
      std::vector<float> a(n), b(n);
      for (size_t i = 0; i < n; ++i) a[i] = b[i] = 0.001f * valueAt(r, i) + 0.1f * r;
      const Schedule s = allreduceSchedule(parseAlgorithm(algo), r, p, n, {});
      Executor ex;
      ex.run(s, t, {reinterpret_cast<uint8_t*>(a.data()), nullptr}, DType::kFloat32,
             ReduceOp::kSum, Deadline::after(60), nullptr);
      std::vector<Segment> segs;
      size_t off = 0;
      for (size_t c : cuts) {
        segs.push_back({reinterpret_cast<uint8_t*>(b.data() + off), c});
        off += c;
      }
      Buffers bufs;
      bufs.segments = &segs;
      Executor ex2;
      ex2.run(s, t, bufs, DType::kFloat32, ReduceOp::kSum, Deadline::after(60), nullptr);
      whole[r] = a;
      pieces[r] = b;
    });
    for (int r = 0; r < p; ++r)
      CHECK(std::memcmp(whole[r].data(), pieces[r].data(), n * 4) == 0,
            "%s p=%d: segmented result differs on rank %d", algo, p, r);
  }
}

template <typename T>
void checkReduce(DType t, ReduceOp op, std::vector<T> d, const std::vector<T>& s,
                 const std::vector<T>& want, const char* what) {
  reduceInto(t, op, d.data(), s.data(), d.size());
  for (size_t i = 0; i < d.size(); ++i)
    CHECK(d[i] == want[i], "%s [%zu] = %lld, want %lld", what, i, static_cast<long long>(d[i]),
          static_cast<long long>(want[i]));
}

void testNewTypes() {
  // Wrap-around is two's complement, like the typed arrays of JavaScript.
  checkReduce<uint8_t>(DType::kUint8, ReduceOp::kSum, {250, 1, 7}, {10, 2, 9}, {4, 3, 16}, "uint8 sum");
  checkReduce<uint8_t>(DType::kUint8, ReduceOp::kProd, {16, 3, 0}, {16, 5, 9}, {0, 15, 0}, "uint8 prod");
  checkReduce<int8_t>(DType::kInt8, ReduceOp::kSum, {127, -128, 5}, {1, -1, -9}, {-128, 127, -4}, "int8 sum");
  checkReduce<int8_t>(DType::kInt8, ReduceOp::kMin, {3, -4, 0}, {-3, 4, 0}, {-3, -4, 0}, "int8 min");
  checkReduce<int64_t>(DType::kInt64, ReduceOp::kSum, {INT64_MAX, 1LL << 40}, {1, 1LL << 40},
                       {INT64_MIN, 1LL << 41}, "int64 sum");
  checkReduce<int64_t>(DType::kInt64, ReduceOp::kMax, {-5, 9}, {-4, 8}, {-4, 9}, "int64 max");
  checkReduce<int64_t>(DType::kInt64, ReduceOp::kProd, {3000000000LL, -2}, {3, 7}, {9000000000LL, -14}, "int64 prod");
  checkReduce<int32_t>(DType::kInt32, ReduceOp::kProd, {65536, -3}, {65536, 5}, {0, -15}, "int32 prod");
  // Float prod on every SIMD path: lengths past a vector, against double.
  std::vector<float> d(37), s(37);
  for (size_t i = 0; i < d.size(); ++i) d[i] = 0.5f + i * 0.25f, s[i] = 1.5f - i * 0.03f;
  std::vector<float> want(37);
  for (size_t i = 0; i < d.size(); ++i) want[i] = static_cast<float>(static_cast<double>(d[i]) * s[i]);
  checkReduce<float>(DType::kFloat32, ReduceOp::kProd, d, s, want, "float32 prod");
  std::vector<double> dd = {2.5, -1e300}, sd = {4, 1e10};
  checkReduce<double>(DType::kFloat64, ReduceOp::kProd, dd, sd, {10, -INFINITY}, "float64 prod");
  // float16 prod: 1.5 * 2.5 = 3.75 exactly (0x3F80 is 1.875 in float16).
  std::vector<uint16_t> h = {0x3E00, 0x3C00}, hs = {0x4100, 0x3F80};
  reduceInto(DType::kFloat16, ReduceOp::kProd, h.data(), hs.data(), 2);
  CHECK(h[0] == 0x4380 && h[1] == 0x3F80, "float16 prod: %04x %04x", h[0], h[1]);
  std::vector<int64_t> avg = {-7, 7, INT64_MIN};
  scaleForAverage(DType::kInt64, avg.data(), 3, 2);
  CHECK(avg[0] == -3 && avg[1] == 3 && avg[2] == INT64_MIN / 2, "int64 average truncates");
}

// The simulator runs every new schedule to completion (no receive without a send).
void testSimulated(int p) {
  CostModel m;
  for (OpKind k : {OpKind::kReduce, OpKind::kGather, OpKind::kScatter, OpKind::kAlltoall})
    for (int root : {0, p / 2, p - 1}) {
      const SimResult res = simulate(
          [&](int r) {
            ScheduleArgs a;
            a.rank = r;
            a.size = p;
            a.count = 1000;
            a.root = root;
            return scheduleFor(k, AlgorithmChoice{}, a);
          },
          p, 4, m);
      CHECK(p == 1 || res.predictedS > 0, "%s p=%d: simulated %g s", opKindName(k), p, res.predictedS);
    }
}

}  // namespace

int main() {
  for (int p = 1; p <= 17; ++p) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{5}, size_t{777}}) testRooted(p, n);
    for (size_t n : {size_t{0}, size_t{3}, size_t{100}}) {
      testAlltoall(p, n, false);
      testAlltoall(p, n, true);
    }
    testSegmented(p);
    testSimulated(p);
  }
  testNewTypes();
  return TEST_MAIN_RESULT();
}
