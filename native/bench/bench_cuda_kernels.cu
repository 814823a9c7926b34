// GPU throughput of the CUDA kernels against the device's own copy bandwidth (cudaMemcpy
// device to device, read + write counted), bytes counted as in the CPU benchmark
// (kernel_bench.h). bench_cuda_kernels [bytes]: one JSON line per kernel.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "kernels/cpu/sparsify.h"
#include "kernels/cuda/cuda_kernels.h"

using namespace dtrain;

namespace {

cudaStream_t stream;

double timeBest(const std::function<void()>& call) {
  cudaEvent_t a, b;
  cuda::check(cudaEventCreate(&a), "event");
  cuda::check(cudaEventCreate(&b), "event");
  call();
  cuda::check(cudaStreamSynchronize(stream), "sync");
  float best = 1e30f;
  for (int r = 0; r < 20; ++r) {
    cuda::check(cudaEventRecord(a, stream), "record");
    call();
    cuda::check(cudaEventRecord(b, stream), "record");
    cuda::check(cudaEventSynchronize(b), "sync");
    float ms;
    cuda::check(cudaEventElapsedTime(&ms, a, b), "elapsed");
    best = ms < best ? ms : best;
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return best / 1e3;
}

__global__ void fill(float* x, size_t n, float scale) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 0x9e3779b1u;
    h ^= h >> 15;
    x[i] = (static_cast<float>(h >> 8) * 5.9604645e-8f - 0.5f) * scale;
  }
}

}  // namespace

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "no CUDA device\n");
    return 77;
  }
  const size_t bytes = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : size_t{256} << 20;
  const size_t n = bytes / 4;
  cuda::check(cudaStreamCreate(&stream), "stream");
  std::vector<float*> buf(5);
  for (auto& p : buf) {
    cuda::check(cudaMalloc(&p, bytes + 64), "cudaMalloc");
    fill<<<1024, 256, 0, stream>>>(p, n, 1.0f);
  }
  cudaDeviceProp prop;
  cuda::check(cudaGetDeviceProperties(&prop, 0), "props");
  const double copy =
      2.0 * bytes / timeBest([&] {
        cuda::check(cudaMemcpyAsync(buf[1], buf[0], bytes, cudaMemcpyDeviceToDevice, stream),
                    "copy");
      }) /
      1e9;
  auto h16 = reinterpret_cast<uint16_t*>(buf[1]);
  auto u8 = reinterpret_cast<uint8_t*>(buf[3]);
  int* flag;
  cuda::check(cudaMalloc(&flag, 4), "flag");
  cuda::castToHalf(buf[0], h16, n, 1.0f, stream);
  TensorSlot t{buf[0], buf[1], buf[2], nullptr, n, false};
  TensorSlot th{buf[0], h16, buf[2], reinterpret_cast<uint16_t*>(buf[4]), n, false};
  std::vector<uint32_t*> idx(1);
  cuda::check(cudaMalloc(&idx[0], (n / 1000 + 2) * 4), "idx");
  struct Case {
    const char* name;
    double perElement;
    std::function<void()> call;
  };
  const std::vector<Case> cases = {
      {"cast_f32_to_f16", 6, [&] { cuda::castToHalf(buf[0], h16, n, 0.5f, stream); }},
      {"cast_f32_to_bf16", 6, [&] { cuda::castToBFloat16(buf[0], h16, n, 0.5f, stream); }},
      {"cast_f16_to_f32", 6, [&] { cuda::castFromHalf(h16, buf[2], n, 2.0f, flag, stream); }},
      {"reduce_sum_f32", 12,
       [&] { cuda::reduce(DType::kFloat32, ReduceOp::kSum, buf[2], buf[0], n, stream); }},
      {"reduce_sum_f16", 6,
       [&] { cuda::reduce(DType::kFloat16, ReduceOp::kSum, h16, h16 + n, n, stream); }},
      {"sgd_f32", 24,
       [&] { cuda::sgdStep(SgdOptions{1e-4f, 0.9f, 1e-4f, 1.0f, false, false}, &t, 1, stream); }},
      {"sgd_f16grad_w16", 22,
       [&] { cuda::sgdStep(SgdOptions{1e-4f, 0.9f, 1e-4f, 1e-3f, false, true}, &th, 1, stream); }},
      {"lars_f32", 28,
       [&] {
         cuda::larsStep(LarsOptions{1e-3f, 0.9f, 5e-4f, 0.001f, 1.0f, false}, &t, 1, nullptr,
                        stream);
       }},
      {"qsgd_encode_s15", 4 + 4 + 5.0 / 8,
       [&] { cuda::qsgdEncode(buf[0], n, 15, 1, u8, -1, stream); }},
      {"qsgd_decode_s15", 4 + 5.0 / 8,
       [&] { cuda::qsgdDecode(u8, n, 15, 1.0f, buf[2], false, stream); }},
      {"terngrad_encode", 8.25, [&] { cuda::ternGradEncode(buf[0], n, 1, u8, stream); }},
      {"terngrad_decode", 4.25, [&] { cuda::ternGradDecode(u8, n, 1.0f, buf[2], false, stream); }},
      {"onebit_encode", 20.125, [&] { cuda::signEncode(buf[0], buf[4], n, u8, stream); }},
      {"onebit_decode", 4.125, [&] { cuda::signDecode(u8, n, 1.0f, buf[2], false, stream); }},
      {"dgc_sparsify", 20,
       [&] {
         cuda::dgcStep(buf[2], buf[4], buf[0], n, DgcOptions(), idx[0],
                       reinterpret_cast<float*>(u8), nullptr, stream);
       }},
      {"topk", 4,
       [&] { cuda::topkAbs(buf[0], n, n / 1000, idx[0], reinterpret_cast<float*>(u8), stream); }},
  };
  for (const Case& c : cases) {
    const double gbs = c.perElement * n / timeBest(c.call) / 1e9;
    std::printf(
        "{\"kernel\":\"%s\",\"backend\":\"cuda\",\"isa\":\"sm_%d%d\",\"device\":\"%s\",\"bytes\":%"
        "zu,"
        "\"GBs\":%.1f,\"memcpy_GBs\":%.1f,\"ratio\":%.3f}\n",
        c.name, prop.major, prop.minor, prop.name, bytes, gbs, copy, gbs / copy);
    std::fflush(stdout);
  }
  return 0;
}
