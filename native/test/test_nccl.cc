// NCCL on one GPU, through dtrain's run-time loader (gpu/cuda_api.h): a communicator of one
// (ncclCommInitAll over device 0), then two communicators on the same device in one process,
// each running ncclAllReduce, ncclBroadcast, ncclAllGather and ncclReduceScatter on float32
// and checked exactly; then ncclAllReduce's time and bus bandwidth by size (nccl-tests' busbw:
// algbw * 2(n-1)/n, which is 0 for n = 1, so algbw is printed too). Exits 77 (skipped) without
// a CUDA device or NCCL, saying what was tried.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gpu/cuda_api.h"

using namespace dtrain;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::printf("FAIL %s\n", what.c_str());
    ++failures;
  }
}

std::vector<float> download(const CudaRuntime& rt, const void* dev, size_t n) {
  std::vector<float> h(n);
  rt.check(rt.memcpy(h.data(), dev, n * 4, kCudaMemcpyDeviceToHost), "cudaMemcpy");
  return h;
}

// One communicator of `comms.size()` ranks-on-one-device is not allowed by NCCL; each of these
// is a communicator of one, all on device 0, run one after the other.
void exercise(const CudaRuntime& rt, const Nccl& nc, ncclCommPtr comm, cudaStream stream, const char* name) {
  const size_t n = 1 << 20;
  std::vector<float> h(n);
  for (size_t i = 0; i < n; ++i) h[i] = static_cast<float>(static_cast<int>(i % 97) - 48);
  void *a = nullptr, *b = nullptr;
  rt.check(rt.malloc(&a, n * 4), "cudaMalloc");
  rt.check(rt.malloc(&b, n * 4), "cudaMalloc");
  rt.check(rt.memcpy(a, h.data(), n * 4, kCudaMemcpyHostToDevice), "cudaMemcpy");
  nc.check(nc.allReduce(a, b, n, kNcclFloat32, kNcclSum, comm, stream), "ncclAllReduce");
  nc.check(nc.broadcast(b, b, n, kNcclFloat32, 0, comm, stream), "ncclBroadcast");
  rt.check(rt.streamSynchronize(stream), "cudaStreamSynchronize");
  check(download(rt, b, n) == h, std::string(name) + ": all-reduce and broadcast of one rank are the input");
  nc.check(nc.allGather(a, b, n, kNcclFloat32, comm, stream), "ncclAllGather");
  rt.check(rt.streamSynchronize(stream), "cudaStreamSynchronize");
  check(download(rt, b, n) == h, std::string(name) + ": all-gather of one rank is the input");
  nc.check(nc.reduceScatter(a, b, n, kNcclFloat32, kNcclAvg, comm, stream), "ncclReduceScatter");
  rt.check(rt.streamSynchronize(stream), "cudaStreamSynchronize");
  check(download(rt, b, n) == h, std::string(name) + ": reduce-scatter (avg) of one rank is the input");
  rt.free(a);
  rt.free(b);
}

}  // namespace

int main() {
  std::string why;
  const CudaRuntime* rt = cudaRuntime(&why);
  const GpuProbe probe = probeGpu();
  if (!rt || probe.devices == 0) {
    std::printf("test_nccl: skipped: no CUDA device (%s)\n", probe.cudartError.c_str());
    return 77;
  }
  const Nccl* nc = nccl(&why);
  if (!nc) {
    std::printf("test_nccl: skipped: NCCL not usable (%s); set LD_LIBRARY_PATH to a libnccl.so.2\n", why.c_str());
    return 77;
  }
  std::printf("{\"cudart\":\"%s\",\"runtime\":%d,\"driver\":%d,\"devices\":%d,\"nccl\":\"%s\",\"ncclVersion\":%d}\n",
              rt->library.c_str(), probe.runtimeVersion, probe.driverVersion, probe.devices, nc->library.c_str(), nc->version);
  rt->check(rt->setDevice(0), "cudaSetDevice");
  cudaStream stream = nullptr;
  rt->check(rt->streamCreate(&stream), "cudaStreamCreate");

  const int dev0 = 0;
  ncclCommPtr one = nullptr;
  nc->check(nc->commInitAll(&one, 1, &dev0), "ncclCommInitAll(1)");
  exercise(*rt, *nc, one, stream, "a communicator of one");
  // Two communicators on the same device in one process (as two jobs sharing a GPU would).
  ncclCommPtr two[2] = {nullptr, nullptr};
  nc->check(nc->commInitAll(&two[0], 1, &dev0), "ncclCommInitAll(second)");
  nc->check(nc->commInitAll(&two[1], 1, &dev0), "ncclCommInitAll(third)");
  exercise(*rt, *nc, two[0], stream, "the second communicator on device 0");
  exercise(*rt, *nc, two[1], stream, "the third communicator on device 0");

  // Time per all-reduce by size (in place), like nccl-tests' all_reduce_perf with one rank.
  for (size_t bytes = 1 << 12; bytes <= (size_t{1} << 30); bytes <<= 2) {
    void* buf = nullptr;
    rt->check(rt->malloc(&buf, bytes), "cudaMalloc");
    rt->check(rt->memset(buf, 0, bytes), "cudaMemset");
    const size_t n = bytes / 4;
    for (int w = 0; w < 5; ++w) nc->check(nc->allReduce(buf, buf, n, kNcclFloat32, kNcclSum, one, stream), "ncclAllReduce");
    rt->check(rt->streamSynchronize(stream), "cudaStreamSynchronize");
    const int iters = bytes < (1 << 24) ? 200 : 20;
    const auto t0 = std::chrono::steady_clock::now();
    for (int it = 0; it < iters; ++it) nc->check(nc->allReduce(buf, buf, n, kNcclFloat32, kNcclSum, one, stream), "ncclAllReduce");
    rt->check(rt->streamSynchronize(stream), "cudaStreamSynchronize");
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / iters;
    std::printf("{\"op\":\"ncclAllReduce\",\"ranks\":1,\"bytes\":%zu,\"time_us\":%.2f,\"algbw_GBs\":%.2f,\"busbw_GBs\":0}\n", bytes, us,
                bytes / us / 1e3);
    rt->free(buf);
  }
  for (ncclCommPtr c : {one, two[0], two[1]}) nc->commDestroy(c);
  rt->streamDestroy(stream);
  std::printf("test_nccl: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
