// Every CUDA kernel against the CPU's scalar reference (needs a GPU; exits 77, skipped, without
// one). Bit-exact: casts (every float32 and float16 pattern, hashed as numpy's reference),
// reductions, SGD, quantizer codes and decodes, top-k and DGC selections. Tolerance: LARS
// (trust ratio from norms summed in another order: 1e-5 relative, then the update to 1e-5),
// scatter-add (atomics in any order: 1e-6 relative), and the encoders' own norms (1e-5).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/sparsify.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/elementwise.h"
#include "test/check.h"

using namespace dtrain;

namespace {

const CpuKernelTable& R = scalarKernelTable();
std::mt19937 rng(2024);
cudaStream_t stream;

template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) {
    cuda::check(cudaMalloc(&p, std::max<size_t>(count, 1) * sizeof(T)), "cudaMalloc");
  }
  explicit Dev(const std::vector<T>& h) : Dev(h.size()) { put(h); }
  ~Dev() { cudaFree(p); }
  void put(const std::vector<T>& h) {
    cuda::check(cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice), "put");
  }
  std::vector<T> get() const {
    std::vector<T> h(n);
    cuda::check(cudaStreamSynchronize(stream), "sync");
    cuda::check(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), "get");
    return h;
  }
};

std::vector<float> randomFloats(size_t n, bool specials) {
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  if (specials) {
    const float odd[] = {0.f,   -0.f,     1e-40f,    6e-8f, 65520.f,
                         3e38f, INFINITY, -INFINITY, NAN,   bitsFloat(0x7f800001u)};
    for (size_t i = 0; i < n; i += 1 + rng() % 7) v[i] = odd[rng() % 10];
  }
  return v;
}

template <typename T>
bool same(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

bool near(double a, double b, double rel) {
  return std::fabs(a - b) <= rel * std::max(1.0, std::max(std::fabs(a), std::fabs(b)));
}

const size_t kLengths[] = {0, 1, 31, 32, 33, 1000, 65537, 300001};

bool readReference(const char* name, unsigned long long* out) {
  std::ifstream f(std::string(DTRAIN_TEST_DATA_DIR) + "/half_reference.txt");
  std::string line;
  char key[64];
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (std::sscanf(line.c_str(), "%63s %llu", key, out) == 2 && std::string(key) == name)
      return true;
  }
  return false;
}

void testCastsExhaustive() {
  unsigned long long want16 = 0, want32 = 0;
  CHECK(
      readReference("float32_to_float16", &want16) && readReference("float16_to_float32", &want32),
      "reference file");
  const size_t chunk = size_t{1} << 26;
  Dev<uint32_t> in(chunk);
  Dev<uint16_t> out(chunk);
  std::vector<uint32_t> h(chunk);
  uint64_t hash = 0, m = 1;
  const uint64_t K = 0x9E3779B97F4A7C15ull;
  for (uint64_t start = 0; start < (uint64_t{1} << 32); start += chunk) {
    std::iota(h.begin(), h.end(), static_cast<uint32_t>(start));
    in.put(h);
    cuda::castToHalf(reinterpret_cast<const float*>(in.p), out.p, chunk, 1.0f, stream);
    for (uint16_t v : out.get()) {
      hash += v * m;
      m += K;
    }
  }
  CHECK(hash == want16, "CUDA castToHalf over all 2^32 floats: %llu, numpy %llu",
        (unsigned long long)hash, want16);
  std::vector<uint16_t> all(65536);
  std::iota(all.begin(), all.end(), 0);
  Dev<uint16_t> dh(all);
  Dev<float> df(65536);
  Dev<int> flag(std::vector<int>{0});
  cuda::castFromHalf(dh.p, df.p, 65536, 1.0f, flag.p, stream);
  uint64_t h2 = 0;
  m = 1;
  for (float f : df.get()) {
    h2 += uint64_t{floatBits(f)} * m;
    m += K;
  }
  CHECK(h2 == want32, "CUDA castFromHalf over all halves: %llu, numpy %llu", (unsigned long long)h2,
        want32);
  CHECK(flag.get()[0] == 1, "castFromHalf did not flag inf/NaN");
}

void testCastsAndReduce() {
  for (size_t n : kLengths) {
    auto x = randomFloats(n, true);
    Dev<float> dx(x);
    Dev<uint16_t> dh(n);
    std::vector<uint16_t> ref(n);
    for (int bf = 0; bf < 2; ++bf) {
      (bf ? cuda::castToBFloat16 : cuda::castToHalf)(dx.p, dh.p, n, 0.375f, stream);
      (bf ? R.castToBFloat16 : R.castToHalf)(x.data(), ref.data(), n, 0.375f);
      CHECK(same(dh.get(), ref), "cast%s n=%zu", bf ? "BFloat16" : "Half", n);
      Dev<float> back(n);
      Dev<int> flag(std::vector<int>{0});
      (bf ? cuda::castFromBFloat16 : cuda::castFromHalf)(dh.p, back.p, n, 3.0f, flag.p, stream);
      std::vector<float> rb(n);
      const bool bad = (bf ? R.castFromBFloat16 : R.castFromHalf)(ref.data(), rb.data(), n, 3.0f);
      CHECK(same(back.get(), rb) && (flag.get()[0] != 0) == bad, "castFrom%s n=%zu",
            bf ? "BFloat16" : "Half", n);
    }
    const DType types[] = {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kFloat16,
                           DType::kBFloat16};
    for (DType t : types) {
      for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMin, ReduceOp::kMax}) {
        const size_t bytes = n * dtypeSize(t);
        std::vector<uint8_t> a(bytes), b(bytes);
        auto fa = randomFloats(n, true), fb = randomFloats(n, true);
        for (size_t i = 0; i < n; ++i) {
          if (t == DType::kFloat32) {
            std::memcpy(&a[i * 4], &fa[i], 4);
            std::memcpy(&b[i * 4], &fb[i], 4);
          } else if (t == DType::kFloat64) {
            double x = fa[i], y = fb[i];
            std::memcpy(&a[i * 8], &x, 8);
            std::memcpy(&b[i * 8], &y, 8);
          } else if (t == DType::kInt32) {
            int32_t x = static_cast<int32_t>(rng()), y = static_cast<int32_t>(rng());
            std::memcpy(&a[i * 4], &x, 4);
            std::memcpy(&b[i * 4], &y, 4);
          } else {
            uint16_t x = t == DType::kFloat16 ? floatToHalfBits(fa[i]) : floatToBFloat16Bits(fa[i]);
            uint16_t y = t == DType::kFloat16 ? floatToHalfBits(fb[i]) : floatToBFloat16Bits(fb[i]);
            std::memcpy(&a[i * 2], &x, 2);
            std::memcpy(&b[i * 2], &y, 2);
          }
        }
        Dev<uint8_t> da(a), db(b);
        cuda::reduce(t, op, da.p, db.p, n, stream);
        R.reduce(t, op, a.data(), b.data(), n);
        CHECK(same(da.get(), a), "reduce %s %s n=%zu", dtypeName(t), reduceOpName(op), n);
      }
    }
  }
}

void testOptimizers() {
  const size_t sizes[] = {1, 1000, 70000, 33};
  for (int half = 0; half < 2; ++half) {
    std::vector<std::vector<float>> w, st, g;
    std::vector<std::vector<uint16_t>> g16;
    std::vector<std::unique_ptr<Dev<float>>> dw, ds, dg;
    std::vector<std::unique_ptr<Dev<uint16_t>>> dg16, dw16;
    std::vector<TensorSlot> dt;
    std::vector<TensorSlot> slots;
    std::vector<std::vector<uint16_t>> w16(4);
    for (int t = 0; t < 4; ++t) {
      const size_t n = sizes[t];
      w.push_back(randomFloats(n, false));
      st.push_back(randomFloats(n, false));
      g.push_back(randomFloats(n, false));
      g16.emplace_back(n);
      R.castToHalf(g.back().data(), g16.back().data(), n, 512.0f);
      w16[t].resize(n);
    }
    for (int t = 0; t < 4; ++t) {
      dw.emplace_back(new Dev<float>(w[t]));
      ds.emplace_back(new Dev<float>(st[t]));
      dg.emplace_back(new Dev<float>(g[t]));
      dg16.emplace_back(new Dev<uint16_t>(g16[t]));
      dw16.emplace_back(new Dev<uint16_t>(sizes[t]));
      dt.push_back({dw[t]->p, half ? static_cast<const void*>(dg16[t]->p) : dg[t]->p, ds[t]->p,
                    dw16[t]->p, sizes[t], t == 1});
      slots.push_back({w[t].data(), half ? static_cast<const void*>(g16[t].data()) : g[t].data(),
                       st[t].data(), w16[t].data(), sizes[t], t == 1});
    }
    SgdOptions so;
    so.lr = 0.05f;
    so.momentum = 0.9f;
    so.weightDecay = 1e-4f;
    so.gradScale = half ? 1.0f / 512 : 1.0f;
    so.nesterov = true;
    so.gradHalf = half;
    cuda::sgdStep(so, dt.data(), 4, stream);
    sgdStep(R, so, slots.data(), 4);
    for (int t = 0; t < 4; ++t) {
      CHECK(same(dw[t]->get(), w[t]) && same(ds[t]->get(), st[t]) && same(dw16[t]->get(), w16[t]),
            "sgd tensor %d half=%d", t, half);
    }
    LarsOptions lo;
    lo.lr = 0.1f;
    lo.momentum = 0.9f;
    lo.weightDecay = 5e-4f;
    lo.eta = 0.001f;
    lo.gradScale = so.gradScale;
    lo.gradHalf = half;
    Dev<float> trust(4);
    cuda::larsStep(lo, dt.data(), 4, trust.p, stream);
    std::vector<float> rt(4);
    larsStep(R, lo, slots.data(), 4, rt.data());
    auto gt = trust.get();
    for (int t = 0; t < 4; ++t) {
      CHECK(near(gt[t], rt[t], 1e-5), "lars trust %d: %g vs %g", t, gt[t], rt[t]);
      auto gw = dw[t]->get();
      size_t bad = 0;
      for (size_t i = 0; i < sizes[t]; ++i) bad += !near(gw[i], w[t][i], 1e-5);
      CHECK(bad == 0, "lars tensor %d: %zu weights off", t, bad);
    }
    // The noop flag: an inf gradient leaves everything as it was.
    auto before = dw[2]->get();
    if (half) {
      g16[2][7] = 0x7c00;
      dg16[2]->put(g16[2]);
    } else {
      g[2][7] = INFINITY;
      dg[2]->put(g[2]);
    }
    cuda::sgdStep(so, dt.data(), 4, stream);
    cuda::larsStep(lo, dt.data(), 4, nullptr, stream);
    CHECK(same(dw[2]->get(), before), "a step ran over an inf gradient");
  }
}

void testSparse() {
  for (size_t n : {size_t{10}, size_t{5000}, size_t{300000}}) {
    auto x = randomFloats(n, true);
    for (size_t i = 0; i < n; i += 13) x[i] = 2.0f;  // ties
    for (size_t k : {size_t{1}, n / 1000 + 1, n / 10}) {
      Dev<float> dx(x), dval(k);
      Dev<uint32_t> didx(k);
      cuda::topkAbs(dx.p, n, k, didx.p, dval.p, stream);
      std::vector<uint32_t> idx(k);
      std::vector<float> val(k);
      topkAbs(R, x.data(), n, k, idx.data(), val.data());
      CHECK(same(didx.get(), idx) && same(dval.get(), val), "topk n=%zu k=%zu", n, k);
    }
    std::vector<float> u(n, 0.f), v(n, 0.f);
    Dev<float> du(u), dv(v);
    for (int step = 0; step < 3; ++step) {
      auto g = randomFloats(n, false);
      Dev<float> dg(g);
      DgcOptions o;
      o.seed = step;
      const size_t k = dgcTargetCount(n, o.density);
      std::vector<uint32_t> idx(k);
      std::vector<float> val(k);
      const DgcResult r =
          dgcStep(R, u.data(), v.data(), g.data(), n, o, idx.data(), val.data(), nullptr);
      Dev<uint32_t> didx(k);
      Dev<float> dval(k);
      const size_t c = cuda::dgcStep(du.p, dv.p, dg.p, n, o, didx.p, dval.p, nullptr, stream);
      idx.resize(r.count);
      val.resize(r.count);
      auto gi = didx.get();
      auto gv = dval.get();
      gi.resize(c);
      gv.resize(c);
      CHECK(c == r.count && gi == idx && same(gv, val), "dgc n=%zu step %d: %zu vs %zu pairs", n,
            step, c, r.count);
      CHECK(same(du.get(), u) && same(dv.get(), v), "dgc n=%zu step %d: u/v differ", n, step);
      // Decoding: atomics add in any order.
      std::vector<float> dense(n, 1.f);
      Dev<float> dd(dense);
      cuda::scatterAdd(dd.p, n, didx.p, dval.p, nullptr, c, nullptr, stream);
      scatterAdd(dense.data(), n, idx.data(), val.data(), nullptr, r.count);
      auto gd = dd.get();
      size_t bad = 0;
      for (size_t i = 0; i < n; ++i) bad += !near(gd[i], dense[i], 1e-6);
      CHECK(bad == 0, "scatterAdd n=%zu: %zu off", n, bad);
    }
  }
}

void testQuantizers() {
  for (size_t n : kLengths) {
    auto x = randomFloats(n, false);
    Dev<float> dx(x);
    const float norm = static_cast<float>(std::sqrt(R.sumSquares(x.data(), n)));
    for (uint32_t s : {1u, 15u, 255u}) {
      const size_t bytes = qsgdCodeBytes(n, s);
      Dev<uint8_t> dc(bytes);
      std::vector<uint8_t> code(bytes);
      cuda::qsgdEncode(dx.p, n, s, 77, dc.p, norm, stream);
      qsgdEncode(R, x.data(), n, s, 77, code.data(), norm);
      CHECK(same(dc.get(), code), "qsgd code n=%zu s=%u", n, s);
      const float own = cuda::qsgdEncode(dx.p, n, s, 77, dc.p, -1, stream);
      CHECK(near(own, norm, 1e-5), "qsgd norm n=%zu", n);
      dc.put(code);
      Dev<float> out(n);
      std::vector<float> ref(n);
      cuda::qsgdDecode(dc.p, n, s, norm, out.p, false, stream);
      qsgdDecode(R, code.data(), n, s, norm, ref.data(), false);
      CHECK(same(out.get(), ref), "qsgd decode n=%zu s=%u", n, s);
    }
    Dev<uint8_t> dt(ternGradCodeBytes(n));
    std::vector<uint8_t> tc(ternGradCodeBytes(n));
    const float gs = cuda::ternGradEncode(dx.p, n, 5, dt.p, stream);
    const float rs = ternGradEncode(R, x.data(), n, 5, tc.data());
    CHECK(gs == rs && same(dt.get(), tc), "terngrad n=%zu", n);
    Dev<float> out(n);
    std::vector<float> ref(n);
    cuda::ternGradDecode(dt.p, n, rs, out.p, false, stream);
    ternGradDecode(R, tc.data(), n, rs, ref.data(), false);
    CHECK(same(out.get(), ref), "terngrad decode n=%zu", n);
    auto e = randomFloats(n, false);
    const auto e0 = e;
    Dev<float> de(e);
    Dev<uint8_t> ds(bitPlaneBytes(n));
    std::vector<uint8_t> sc(bitPlaneBytes(n));
    const float gsc = cuda::signEncode(dx.p, de.p, n, ds.p, stream);
    const float rsc = signEncode(R, x.data(), e.data(), n, sc.data());
    CHECK(near(gsc, rsc, 1e-5), "sign scale n=%zu", n);
    // The scale comes from a sum in another order, so compare what the code keeps: decoded value
    // plus new residual is the old residual plus the gradient.
    Dev<float> dout(n);
    cuda::signDecode(ds.p, n, gsc, dout.p, false, stream);
    auto gd = dout.get(), ge = de.get();
    size_t bad = 0;
    for (size_t i = 0; i < n; ++i) bad += !near(double(gd[i]) + ge[i], double(x[i]) + e0[i], 1e-5);
    CHECK(bad == 0, "sign encode+residual n=%zu: %zu elements lose value", n, bad);
  }
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "skipped: no CUDA device\n");
    return 77;
  }
  cudaDeviceProp prop;
  cuda::check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  std::printf("testing the CUDA kernels on %s\n", prop.name);
  cuda::check(cudaStreamCreate(&stream), "cudaStreamCreate");
  testCastsAndReduce();
  testOptimizers();
  testSparse();
  testQuantizers();
  testCastsExhaustive();
  return TEST_MAIN_RESULT();
}
