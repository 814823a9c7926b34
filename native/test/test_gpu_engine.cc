// The engine on device buffers, on one GPU (no Node.js: a C++ binary, run by bench/gpu/run.sh):
//  1. libdtrain_cuda.so through dtrain's loader (gpu/cuda_kernels_loader.h): its ABI, its
//     reduce and scale against the CPU reducer for every dtype and op, bit for bit, and
//     scatterAdd's refusal of an index past the end;
//  2. a communicator of one rank submitting collectives on device memory: algorithm `auto`
//     (NCCL's collectives through the nccl backend, the NCCL communicator made on the first
//     call), a named schedule (empty for one rank, but planned and run through the backend),
//     an average, a call waiting on a stream's event, and the error a host array with
//     algorithm 'nccl' gets; then ncclAllReduce's time through the engine.
// NCCL allows one rank per GPU, so calls between ranks need a machine with several GPUs (and
// Node.js, for the multi-process tests): this binary covers what one GPU can.
// Exits 77 (skipped) without a CUDA device, NCCL or the library, saying which.
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "engine/communicator.h"
#include "engine/reducer.h"
#include "gpu/cuda_api.h"
#include "gpu/cuda_kernels_loader.h"
#include "sched/algorithm.h"

using namespace dtrain;

namespace {

const CudaRuntime* rt = nullptr;
const DtrainCudaKernels* K = nullptr;

struct Dev {
  void* p = nullptr;
  size_t bytes = 0;
  explicit Dev(size_t b) : bytes(b) { rt->check(rt->malloc(&p, b ? b : 1), "cudaMalloc"); }
  ~Dev() { rt->free(p); }
  void put(const void* h) {
    rt->check(rt->memcpy(p, h, bytes, kCudaMemcpyHostToDevice), "cudaMemcpy");
  }
  std::vector<uint8_t> get() const {
    std::vector<uint8_t> h(bytes);
    rt->check(rt->memcpy(h.data(), p, bytes, kCudaMemcpyDeviceToHost), "cudaMemcpy");
    return h;
  }
};

std::vector<uint8_t> randomBytes(DType t, size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<uint8_t> v(n * dtypeSize(t));
  if (t == DType::kFloat32) {
    std::uniform_real_distribution<float> d(-100, 100);
    for (size_t i = 0; i < n; ++i) reinterpret_cast<float*>(v.data())[i] = d(g);
  } else if (t == DType::kFloat64) {
    std::uniform_real_distribution<double> d(-100, 100);
    for (size_t i = 0; i < n; ++i) reinterpret_cast<double*>(v.data())[i] = d(g);
  } else if (t == DType::kFloat16 || t == DType::kBFloat16) {
    // Finite halves and bfloat16s of moderate size: exponent bits kept away from inf/NaN.
    for (size_t i = 0; i < n; ++i) {
      uint16_t b = static_cast<uint16_t>(g());
      b = t == DType::kFloat16 ? static_cast<uint16_t>((b & 0x83ff) | ((8 + g() % 16) << 10))
                               : static_cast<uint16_t>((b & 0x807f) | ((120 + g() % 16) << 7));
      reinterpret_cast<uint16_t*>(v.data())[i] = b;
    }
  } else {
    for (auto& b : v) b = static_cast<uint8_t>(g());
  }
  return v;
}

void testKernelsAgainstCpu() {
  const size_t n = 100003;
  for (int t = 0; t < kDTypeCount; ++t) {
    const DType dt = static_cast<DType>(t);
    const size_t bytes = n * dtypeSize(dt);
    for (int o = 0; o < kReduceOpCount; ++o) {
      const ReduceOp op = static_cast<ReduceOp>(o);
      std::vector<uint8_t> a = randomBytes(dt, n, 1 + t * 7 + o),
                           b = randomBytes(dt, n, 99 + t * 7 + o);
      Dev da(bytes), db(bytes);
      da.put(a.data());
      db.put(b.data());
      CHECK(K->reduce(t, o, da.p, db.p, n, nullptr) == 0, "reduce: %s", K->lastError());
      cpuReducer().reduce(dt, op, a.data(), b.data(), n);
      rt->check(rt->deviceSynchronize(), "cudaDeviceSynchronize");
      CHECK(da.get() == a, "reduce %s %s on the GPU differs from the CPU's", dtypeName(dt),
            reduceOpName(op));
    }
    if (t == 0) {
      // scatterAdd refuses an index past dense's end, having added the pairs in range.
      const float dense0[4] = {1, 1, 1, 1};
      const uint32_t idx[3] = {0, 3, 4};
      const float val[3] = {2, 5, 7};
      Dev dd(sizeof dense0), di(sizeof idx), dv(sizeof val);
      dd.put(dense0);
      di.put(idx);
      dv.put(val);
      const int rc = K->scatterAdd(static_cast<float*>(dd.p), 4, static_cast<const uint32_t*>(di.p),
                                   static_cast<const float*>(dv.p), nullptr, 3, nullptr);
      CHECK(rc != 0 && std::string(K->lastError()).find("past dense's end") != std::string::npos,
            "scatterAdd with index 4 into 4 elements: rc %d, %s", rc, K->lastError());
      std::vector<uint8_t> got = dd.get();
      const float* f = reinterpret_cast<const float*>(got.data());
      CHECK(f[0] == 3 && f[1] == 1 && f[2] == 1 && f[3] == 6, "scatterAdd's in-range pairs");
    }
    for (int divisor : {3, 7}) {
      std::vector<uint8_t> a = randomBytes(dt, n, 500 + t);
      Dev da(bytes);
      da.put(a.data());
      CHECK(K->scale(t, da.p, n, divisor, nullptr) == 0, "scale: %s", K->lastError());
      cpuReducer().scale(dt, a.data(), n, divisor);
      rt->check(rt->deviceSynchronize(), "cudaDeviceSynchronize");
      CHECK(da.get() == a, "scale %s by %d on the GPU differs from the CPU's", dtypeName(dt),
            divisor);
    }
  }
}

// Submits `op` and waits for its completion.
Status runOp(Communicator& c, OpRequest op) {
  std::promise<Status> done;
  auto f = done.get_future();
  op.done = [&done](const Status& s) { done.set_value(s); };
  c.submit(std::move(op));
  return f.get();
}

OpRequest deviceOp(OpKind kind, DType dt, ReduceOp ro, void* data, size_t count,
                   const char* algorithm = "auto") {
  OpRequest op;
  op.kind = kind;
  op.dtype = dt;
  op.op = ro;
  op.data = data;
  op.count = count;
  op.device = 0;
  op.algorithm = parseAlgorithm(algorithm, kind).encode();
  return op;
}

void testOneRank() {
  CommConfig cfg;
  cfg.rank = 0;
  cfg.size = 1;
  cfg.transport = "shm";
  std::promise<Status> ready;
  Communicator c(cfg, [&ready](const Status& s) { ready.set_value(s); });
  const Status r = ready.get_future().get();
  CHECK(r.ok, "communicator of one: %s", r.message.c_str());
  const size_t n = 1 << 20;
  std::vector<float> h(n);
  for (size_t i = 0; i < n; ++i) h[i] = static_cast<float>(static_cast<int>(i % 97) - 48) * 0.5f;
  Dev a(n * 4), g(n * 4);
  for (const char* algo : {"auto", "nccl", "ring", "halving-doubling"}) {
    a.put(h.data());
    Status s =
        runOp(c, deviceOp(OpKind::kAllreduce, DType::kFloat32, ReduceOp::kSum, a.p, n, algo));
    CHECK(s.ok, "allreduce (%s) on device memory: %s", algo, s.message.c_str());
    std::vector<uint8_t> got = a.get();
    CHECK(std::memcmp(got.data(), h.data(), n * 4) == 0,
          "allreduce (%s) of one rank changed the data", algo);
  }
  {
    a.put(h.data());
    Status s = runOp(c, deviceOp(OpKind::kAllreduce, DType::kFloat32, ReduceOp::kAvg, a.p, n));
    CHECK(s.ok, "allreduce avg: %s", s.message.c_str());
    CHECK(std::memcmp(a.get().data(), h.data(), n * 4) == 0,
          "an average over one rank changed the data");
  }
  {
    a.put(h.data());
    Status s = runOp(c, deviceOp(OpKind::kBroadcast, DType::kFloat32, ReduceOp::kSum, a.p, n));
    CHECK(s.ok, "broadcast: %s", s.message.c_str());
    OpRequest ag = deviceOp(OpKind::kAllgather, DType::kFloat32, ReduceOp::kSum, g.p, n);
    ag.input = a.p;
    s = runOp(c, std::move(ag));
    CHECK(s.ok, "allgather: %s", s.message.c_str());
    CHECK(std::memcmp(g.get().data(), h.data(), n * 4) == 0,
          "allgather of one rank is not the input");
    s = runOp(c, deviceOp(OpKind::kReduceScatter, DType::kFloat32, ReduceOp::kSum, a.p, n));
    CHECK(s.ok, "reduceScatter: %s", s.message.c_str());
  }
  {
    // A call that waits for a stream's event: the copy queued on the stream lands first.
    cudaStream st = nullptr;
    rt->check(rt->streamCreateWithFlags(&st, kCudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    std::vector<float> twice(h);
    for (float& x : twice) x *= 2;
    rt->check(rt->memcpyAsync(a.p, twice.data(), n * 4, kCudaMemcpyHostToDevice, st),
              "cudaMemcpyAsync");
    cudaEvent ev = nullptr;
    rt->check(rt->eventCreateWithFlags(&ev, kCudaEventDisableTiming), "cudaEventCreateWithFlags");
    rt->check(rt->eventRecord(ev, st), "cudaEventRecord");
    OpRequest op = deviceOp(OpKind::kAllreduce, DType::kFloat32, ReduceOp::kSum, a.p, n);
    op.ready = std::shared_ptr<void>(ev, [](void* e) { rt->eventDestroy(e); });
    Status s = runOp(c, std::move(op));
    CHECK(s.ok, "allreduce after a stream's event: %s", s.message.c_str());
    CHECK(std::memcmp(a.get().data(), twice.data(), n * 4) == 0,
          "the call did not see the stream's copy");
    rt->streamDestroy(st);
  }
  {
    std::vector<float> host(h);
    OpRequest op =
        deviceOp(OpKind::kAllreduce, DType::kFloat32, ReduceOp::kSum, host.data(), n, "nccl");
    op.device = -1;
    Status s = runOp(c, std::move(op));
    CHECK(!s.ok && s.message.find("device buffers") != std::string::npos,
          "a host array with algorithm 'nccl' must be refused, got: %s", s.message.c_str());
  }
  // Timing: ncclAllReduce of one rank is a device copy; printed, not checked.
  for (size_t bytes : {size_t{1} << 20, size_t{64} << 20}) {
    Dev big(bytes);
    const int reps = 20;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) {
      Status s =
          runOp(c, deviceOp(OpKind::kAllreduce, DType::kFloat32, ReduceOp::kSum, big.p, bytes / 4));
      CHECK(s.ok, "%s", s.message.c_str());
    }
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
        reps;
    std::printf(
        "{\"test\":\"engine allreduce on device, 1 rank\",\"bytes\":%zu,\"time_us\":%.1f}\n", bytes,
        us);
  }
  std::promise<Status> down;
  c.shutdown([&down](const Status& s) { down.set_value(s); });
  down.get_future().get();
}

}  // namespace

int main(int argc, char** argv) {
  std::string why;
  rt = cudaRuntime(&why);
  const GpuProbe probe = probeGpu();
  if (!rt || probe.devices == 0) {
    std::printf("test_gpu_engine: skipped: no CUDA device (%s)\n", probe.cudartError.c_str());
    return 77;
  }
  const std::string lib = argc > 1 ? argv[1] : DTRAIN_CUDA_LIBRARY;
  K = loadCudaKernels(lib, &why);
  if (!K) {
    std::printf("test_gpu_engine: skipped: %s\n", why.c_str());
    return 77;
  }
  std::printf("{\"kernels\":\"%s\",\"describe\":\"%s\",\"devices\":%d}\n", lib.c_str(),
              K->describe(), probe.devices);
  rt->check(rt->setDevice(0), "cudaSetDevice");
  CHECK(K->setDevice(0) == 0, "setDevice: %s", K->lastError());
  testKernelsAgainstCpu();
  if (!nccl(&why)) {
    std::printf("test_gpu_engine: the engine's device collectives skipped: NCCL not usable (%s)\n",
                why.c_str());
  } else {
    testOneRank();
  }
  const int rc = TEST_MAIN_RESULT();
  if (rc == 0) std::printf("test_gpu_engine: ok\n");
  return rc;
}
