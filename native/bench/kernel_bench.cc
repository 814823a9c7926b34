#include "bench/kernel_bench.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>

#include "common/error.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/sparsify.h"

namespace dtrain {
namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<uint8_t, FreeDeleter>;

// Page-touched, cache-line aligned, filled with normal-distributed floats (or their halves).
Buffer floats(size_t n, uint32_t seed, float scale = 1.0f) {
  const size_t bytes = ((n * 4 + 63) / 64) * 64 + 64;
  Buffer b(static_cast<uint8_t*>(std::aligned_alloc(64, bytes)));
  if (!b) throw Error(ErrorCode::kSystem, "benchmark: out of memory");
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, scale);
  float* f = reinterpret_cast<float*>(b.get());
  for (size_t i = 0; i < bytes / 4; ++i) f[i] = d(rng);
  return b;
}

template <typename T>
T* as(const Buffer& b) {
  return reinterpret_cast<T*>(b.get());
}

double timeBest(const std::function<void()>& call, double minSeconds) {
  using Clock = std::chrono::steady_clock;
  call();  // warm-up: page faults, cache state, lazy tables
  double best = 1e30, total = 0;
  int reps = 0;
  while (total < minSeconds || reps < 5) {
    const auto t0 = Clock::now();
    call();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = s < best ? s : best;
    total += s;
    ++reps;
  }
  return best;
}

}  // namespace

std::vector<std::string> kernelBenchNames() {
  return {"cast_f32_to_f16", "cast_f32_to_bf16",
          "cast_f16_to_f32", "cast_bf16_to_f32",
          "reduce_sum_f32",  "reduce_max_f32",
          "reduce_sum_f64",  "reduce_sum_i32",
          "reduce_sum_f16",  "reduce_sum_bf16",
          "sgd_f32",         "sgd_f16grad_w16",
          "lars_f32",        "lars_f16grad_w16",
          "qsgd_encode_s15", "qsgd_decode_s15",
          "terngrad_encode", "terngrad_decode",
          "onebit_encode",   "onebit_decode",
          "dgc_sparsify",    "topk"};
}

KernelBenchResult benchMemcpy(size_t bytes, double minSeconds) {
  Buffer a = floats(bytes / 4 + 1, 1), b = floats(bytes / 4 + 1, 2);
  KernelBenchResult r;
  r.kernel = "memcpy";
  r.elements = bytes;
  r.bytesMoved = 2.0 * bytes;
  r.seconds = timeBest([&] { std::memcpy(b.get(), a.get(), bytes); }, minSeconds);
  return r;
}

KernelBenchResult benchProbe(const std::string& name, size_t bytes, double minSeconds) {
  Buffer a = floats(bytes / 4 + 1, 1);
  KernelBenchResult r;
  r.kernel = name;
  r.elements = bytes / 4;
  r.bytesMoved = static_cast<double>(bytes);
  if (name == "probe_read") {
    const CpuKernelTable& k = cpuKernels(bestIsa());
    volatile float sink = 0;
    r.seconds = timeBest([&] { sink = k.maxAbs(as<float>(a), bytes / 4); }, minSeconds);
  } else if (name == "probe_write") {
    r.seconds = timeBest(
        [&] {
          std::memset(a.get(), 0, bytes);
          // Keeps the stores: the buffer is read by nothing else.
          asm volatile("" : : "r"(a.get()) : "memory");
        },
        minSeconds);
  } else {
    throw Error(ErrorCode::kInvalidArgument, "no probe named " + name);
  }
  return r;
}

KernelBenchResult benchKernel(const std::string& name, Isa isa, size_t bytes, double minSeconds) {
  const CpuKernelTable& k = cpuKernels(isa);
  KernelBenchResult r;
  r.kernel = name;
  const size_t n = bytes / 4;  // float32 elements in the main buffer
  std::function<void()> call;
  double perElement = 0;
  Buffer a = floats(n, 11), b = floats(n, 12), c = floats(n, 13), d = floats(n, 14);

  if (name == "cast_f32_to_f16" || name == "cast_f32_to_bf16") {
    const bool bf = name == "cast_f32_to_bf16";
    call = [&, bf] {
      (bf ? k.castToBFloat16 : k.castToHalf)(as<float>(a), as<uint16_t>(b), n, 0.5f);
    };
    perElement = 6;
  } else if (name == "cast_f16_to_f32" || name == "cast_bf16_to_f32") {
    const bool bf = name == "cast_bf16_to_f32";
    (bf ? k.castToBFloat16 : k.castToHalf)(as<float>(a), as<uint16_t>(b), n, 1.0f);
    call = [&, bf] {
      (bf ? k.castFromBFloat16 : k.castFromHalf)(as<uint16_t>(b), as<float>(c), n, 2.0f);
    };
    perElement = 6;
  } else if (name.rfind("reduce_", 0) == 0) {
    const ReduceOp op = name.find("_max_") != std::string::npos ? ReduceOp::kMax : ReduceOp::kSum;
    DType t = DType::kFloat32;
    if (name.find("f64") != std::string::npos) t = DType::kFloat64;
    if (name.find("i32") != std::string::npos) t = DType::kInt32;
    if (name.find("_f16") != std::string::npos) t = DType::kFloat16;
    if (name.find("bf16") != std::string::npos) t = DType::kBFloat16;
    const size_t es = dtypeSize(t), count = bytes / es;
    if (t == DType::kFloat16 || t == DType::kBFloat16) {
      // Valid halves (random bits would be full of NaNs): n floats fill each half of the buffer.
      auto cast = t == DType::kFloat16 ? k.castToHalf : k.castToBFloat16;
      for (size_t part = 0; part < 2; ++part) {
        cast(as<float>(c), as<uint16_t>(a) + part * n, n, 1.0f);
        cast(as<float>(d), as<uint16_t>(b) + part * n, n, 1e-3f);
      }
    }
    call = [&, t, op, count] { k.reduce(t, op, a.get(), b.get(), count); };
    r.elements = count;
    r.bytesMoved = 3.0 * bytes;
  } else if (name == "sgd_f32" || name == "sgd_f16grad_w16") {
    const bool half = name == "sgd_f16grad_w16";
    if (half) k.castToHalf(as<float>(b), as<uint16_t>(b), n, 1e-3f);  // in place, front half
    SgdOptions o;
    o.lr = 1e-4f;
    o.weightDecay = 1e-4f;
    o.gradHalf = half;
    TensorSlot t{as<float>(a), b.get(), as<float>(c), half ? as<uint16_t>(d) : nullptr, n, false};
    call = [&, o, t] { sgdStep(k, o, &t, 1); };
    // check pass reads g; update reads w, g, m and writes w, m (and w16)
    perElement = half ? 2 + 2 + 16 + 2 : 4 + 4 + 16;
  } else if (name == "lars_f32" || name == "lars_f16grad_w16") {
    const bool half = name == "lars_f16grad_w16";
    if (half) k.castToHalf(as<float>(b), as<uint16_t>(b), n, 1e-3f);
    LarsOptions o;
    o.lr = 1e-3f;
    o.gradHalf = half;
    // Eight tensors of different sizes, as a model's layers are.
    auto slots = std::make_shared<std::vector<TensorSlot>>();
    size_t off = 0;
    for (int i = 0; i < 8; ++i) {
      const size_t len = i == 7 ? n - off : n / 16 * (1 + (i % 3));
      slots->push_back({as<float>(a) + off,
                        half ? static_cast<const void*>(as<uint16_t>(b) + off)
                             : static_cast<const void*>(as<float>(b) + off),
                        as<float>(c) + off, half ? as<uint16_t>(d) + off : nullptr, len, i == 3});
      off += len;
    }
    call = [&, o, slots] { larsStep(k, o, slots->data(), slots->size(), nullptr); };
    // norms read g and w; update reads w, g, v and writes w, v (and w16)
    perElement = half ? (2 + 4) + (2 + 16 + 2) : (4 + 4) + (4 + 16);
  } else if (name == "qsgd_encode_s15" || name == "qsgd_decode_s15") {
    const uint32_t s = 15;
    const float norm = qsgdEncode(k, as<float>(a), n, s, 1, b.get());
    if (name == "qsgd_encode_s15") {
      uint32_t seed = 0;
      call = [&, s, seed]() mutable { qsgdEncode(k, as<float>(a), n, s, ++seed, b.get()); };
      perElement = 4 + 4 + 5.0 / 8;
    } else {
      call = [&, s, norm] { qsgdDecode(k, b.get(), n, s, norm, as<float>(c), false); };
      perElement = 4 + 5.0 / 8;
    }
  } else if (name == "terngrad_encode" || name == "terngrad_decode") {
    const float scale = ternGradEncode(k, as<float>(a), n, 1, b.get());
    if (name == "terngrad_encode") {
      uint32_t seed = 0;
      call = [&, seed]() mutable { ternGradEncode(k, as<float>(a), n, ++seed, b.get()); };
      perElement = 4 + 4 + 2.0 / 8;
    } else {
      call = [&, scale] { ternGradDecode(k, b.get(), n, scale, as<float>(c), false); };
      perElement = 4 + 2.0 / 8;
    }
  } else if (name == "onebit_encode" || name == "onebit_decode") {
    std::memset(c.get(), 0, n * 4);
    const float scale = signEncode(k, as<float>(a), as<float>(c), n, d.get());
    if (name == "onebit_encode") {
      call = [&] { signEncode(k, as<float>(a), as<float>(c), n, d.get()); };
      perElement = 8 + 8 + 4 + 1.0 / 8;  // |g+e| pass; encode reads g, e, writes e and signs
    } else {
      call = [&, scale] { signDecode(k, d.get(), n, scale, as<float>(b), false); };
      perElement = 4 + 1.0 / 8;
    }
  } else if (name == "dgc_sparsify") {
    std::memset(a.get(), 0, n * 4);
    std::memset(b.get(), 0, n * 4);
    DgcOptions o;  // density 0.1%, sample 1%
    const size_t cap = dgcTargetCount(n, o.density);
    auto idx = std::make_shared<std::vector<uint32_t>>(cap);
    auto val = std::make_shared<std::vector<float>>(cap);
    auto rounds = std::make_shared<double>(0);
    auto calls = std::make_shared<double>(0);
    call = [&, o, idx, val, rounds, calls]() mutable {
      ++o.seed;
      const DgcResult res = dgcStep(k, as<float>(a), as<float>(b), as<float>(c), n, o, idx->data(),
                                    val->data(), nullptr);
      *rounds += res.rounds;
      *calls += 1;
    };
    r.seconds = timeBest(call, minSeconds);
    r.elements = n;
    // u, v, g read and u, v written in the fused pass; each extra round reads v again.
    r.bytesMoved = n * (20.0 + 4.0 * (*rounds / *calls));
    return r;
  } else if (name == "topk") {
    const size_t kk = n / 1000 > 0 ? n / 1000 : 1;
    auto idx = std::make_shared<std::vector<uint32_t>>(kk);
    auto val = std::make_shared<std::vector<float>>(kk);
    call = [&, kk, idx, val] { topkAbs(k, as<float>(a), n, kk, idx->data(), val->data()); };
    perElement = 4;
  } else {
    throw Error(ErrorCode::kInvalidArgument, "no kernel benchmark named " + name);
  }
  r.seconds = timeBest(call, minSeconds);
  if (r.bytesMoved == 0) {
    r.elements = n;
    r.bytesMoved = perElement * n;
  }
  return r;
}

}  // namespace dtrain
