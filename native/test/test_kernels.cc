// The CPU kernels at one level, against the scalar reference and against numpy:
//   test_kernels [--isa scalar|avx2|avx512] [--quick]
// (ctest runs it once per level; --quick skips the exhaustive comparison with numpy). Exits 77
// (ctest: skipped) when the CPU lacks the level.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/sparsify.h"
#include "kernels/elementwise.h"
#include "test/check.h"

using namespace dtrain;

namespace {

const CpuKernelTable* T;  // under test
const CpuKernelTable* R;  // scalar reference
std::mt19937 rng(12345);

// Lengths around every vector width and loop unroll, and an empty one.
const size_t kLengths[] = {0,  1,  2,  7,  8,  9,   15,  16,   17,  31,
                           32, 33, 63, 64, 65, 127, 200, 1000, 4099};

float randNormal() { return std::normal_distribution<float>(0.f, 1.f)(rng); }

// Normal values with a sprinkling of the awkward ones: zeros, denormals, huge, inf, NaN.
std::vector<float> randomFloats(size_t n, bool specials) {
  std::vector<float> v(n);
  for (auto& x : v) x = randNormal();
  if (specials) {
    const float odd[] = {0.f,
                         -0.f,
                         1e-40f,
                         -3e-39f,
                         6e-8f,
                         3e-5f,
                         65504.f,
                         65520.f,
                         -7e4f,
                         3e38f,
                         std::numeric_limits<float>::infinity(),
                         -std::numeric_limits<float>::infinity(),
                         std::numeric_limits<float>::quiet_NaN(),
                         bitsFloat(0x7f800001u),
                         bitsFloat(0xffa00000u)};
    for (size_t i = 0; i < n; i += 1 + rng() % 7) v[i] = odd[rng() % (sizeof(odd) / 4)];
  }
  return v;
}

bool sameBits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * 4) == 0; }

uint64_t kHashK = 0x9E3779B97F4A7C15ull;

std::string dataDir() { return DTRAIN_TEST_DATA_DIR; }

bool readReference(const char* name, uint64_t* out) {
  std::ifstream f(dataDir() + "/half_reference.txt");
  std::string key;
  unsigned long long v;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    char buf[64];
    if (std::sscanf(line.c_str(), "%63s %llu", buf, &v) == 2 && key.assign(buf) == name) {
      *out = v;
      return true;
    }
  }
  return false;
}

// Every float32 bit pattern through castToHalf, hashed as gen_half_reference.py hashes numpy's.
void testHalfAgainstNumpy() {
  uint64_t want16 = 0, want32 = 0;
  CHECK(readReference("float32_to_float16", &want16), "no float32_to_float16 in %s",
        dataDir().c_str());
  CHECK(readReference("float16_to_float32", &want32), "no float16_to_float32 in %s",
        dataDir().c_str());
  const size_t chunk = size_t{1} << 20;
  std::vector<uint32_t> in(chunk);
  std::vector<uint16_t> out(chunk), outB(chunk), refB(chunk);
  uint64_t h = 0, m = 1;
  bool bfOk = true;
  for (uint64_t start = 0; start < (uint64_t{1} << 32); start += chunk) {
    for (size_t i = 0; i < chunk; ++i) in[i] = static_cast<uint32_t>(start + i);
    const float* f = reinterpret_cast<const float*>(in.data());
    T->castToHalf(f, out.data(), chunk, 1.0f);
    for (size_t i = 0; i < chunk; ++i, m += kHashK) h += out[i] * m;
    // bfloat16 has no numpy reference: every pattern against the scalar definition, and the
    // definition itself is checked on known values in testBFloat16Values.
    if (T != R && (start >> 20) % 4 == 0) {
      T->castToBFloat16(f, outB.data(), chunk, 1.0f);
      R->castToBFloat16(f, refB.data(), chunk, 1.0f);
      if (std::memcmp(outB.data(), refB.data(), chunk * 2) != 0) bfOk = false;
    }
  }
  CHECK(h == want16, "%s castToHalf over all 2^32 floats: hash %llu, numpy's %llu", isaName(T->isa),
        (unsigned long long)h, (unsigned long long)want16);
  CHECK(bfOk, "%s castToBFloat16 differs from the scalar reference", isaName(T->isa));

  std::vector<uint16_t> halves(65536);
  std::iota(halves.begin(), halves.end(), 0);
  std::vector<float> back(65536);
  const bool bad = T->castFromHalf(halves.data(), back.data(), 65536, 1.0f);
  CHECK(bad, "castFromHalf missed the inf/NaN among all halves");
  uint64_t h2 = 0;
  m = 1;
  for (size_t i = 0; i < 65536; ++i, m += kHashK) h2 += uint64_t{floatBits(back[i])} * m;
  CHECK(h2 == want32, "%s castFromHalf over all 2^16 halves: hash %llu, numpy's %llu",
        isaName(T->isa), (unsigned long long)h2, (unsigned long long)want32);
  // Round trip: every finite half survives float32 and back, bit for bit; NaN stays NaN.
  std::vector<uint16_t> again(65536);
  T->castToHalf(back.data(), again.data(), 65536, 1.0f);
  size_t diff = 0;
  for (size_t i = 0; i < 65536; ++i) {
    const bool nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff);
    if (nan ? !((again[i] & 0x7c00) == 0x7c00 && (again[i] & 0x3ff)) : again[i] != i) ++diff;
  }
  CHECK(diff == 0, "%zu halves did not round-trip", diff);
}

void testBFloat16Values() {
  struct Case {
    uint32_t in;
    uint16_t out;
  } cases[] = {
      {0x3f800000u, 0x3f80}, {0x3f808000u, 0x3f80},  // tie, even stays
      {0x3f818000u, 0x3f82},                         // tie, odd rounds up
      {0x3f808001u, 0x3f81}, {0x7f7fffffu, 0x7f80},  // max float rounds to inf
      {0x7f800000u, 0x7f80}, {0xff800000u, 0xff80}, {0x7fc00000u, 0x7fc0},
      {0x7f800001u, 0x7fc0},  // signalling NaN quieted, not inf
      {0xff810000u, 0xffc1}, {0x00000001u, 0x0000}, {0x00008000u, 0x0000},
      {0x00018000u, 0x0002}, {0x80000000u, 0x8000},
  };
  for (const Case& c : cases) {
    float f = bitsFloat(c.in);
    uint16_t o;
    T->castToBFloat16(&f, &o, 1, 1.0f);
    CHECK(o == c.out, "bfloat16(0x%08x) = 0x%04x, want 0x%04x", c.in, o, c.out);
  }
  // A vector's worth, so the SIMD body (not only the tail) sees them.
  std::vector<float> v;
  for (int r = 0; r < 4; ++r)
    for (const Case& c : cases) v.push_back(bitsFloat(c.in));
  std::vector<uint16_t> o(v.size());
  T->castToBFloat16(v.data(), o.data(), v.size(), 1.0f);
  for (size_t i = 0; i < v.size(); ++i) {
    const Case& c = cases[i % (sizeof(cases) / sizeof(cases[0]))];
    CHECK(o[i] == c.out, "bfloat16 vector lane %zu: 0x%04x, want 0x%04x", i, o[i], c.out);
  }
}

void testCasts() {
  for (size_t n : kLengths) {
    for (size_t off = 0; off < 3; ++off) {
      const float scale = off == 2 ? 1.0f : std::ldexp(1.0f, static_cast<int>(rng() % 40) - 20);
      auto src = randomFloats(n + off, true);
      std::vector<uint16_t> a(n + off), b(n + off);
      T->castToHalf(src.data() + off, a.data() + off, n, scale);
      R->castToHalf(src.data() + off, b.data() + off, n, scale);
      CHECK(std::memcmp(a.data() + off, b.data() + off, n * 2) == 0, "castToHalf n=%zu off=%zu", n,
            off);
      T->castToBFloat16(src.data() + off, a.data() + off, n, scale);
      R->castToBFloat16(src.data() + off, b.data() + off, n, scale);
      CHECK(std::memcmp(a.data() + off, b.data() + off, n * 2) == 0, "castToBFloat16 n=%zu", n);
      // Back, with the non-finite report: random halves, some inf/NaN, some not.
      std::vector<uint16_t> h(n + off);
      const bool plant = rng() % 2;
      for (auto& x : h) x = static_cast<uint16_t>(rng() & 0xffff) & (plant ? 0xffff : 0xbbff);
      std::vector<float> fa(n + off), fb(n + off);
      for (int bf = 0; bf < 2; ++bf) {
        const bool ta =
            (bf ? T->castFromBFloat16 : T->castFromHalf)(h.data() + off, fa.data() + off, n, scale);
        const bool tb =
            (bf ? R->castFromBFloat16 : R->castFromHalf)(h.data() + off, fb.data() + off, n, scale);
        CHECK(ta == tb, "castFrom%s nonFinite n=%zu: %d vs %d", bf ? "BFloat16" : "Half", n, ta,
              tb);
        CHECK(sameBits(fa.data() + off, fb.data() + off, n), "castFrom%s n=%zu",
              bf ? "BFloat16" : "Half", n);
        bool any = false;
        for (size_t i = 0; i < n; ++i) any |= !std::isfinite(fb[off + i]);
        CHECK(tb == any, "reference nonFinite is wrong at n=%zu", n);
      }
      // Exactly one bad value anywhere is seen, by the read-only checks too.
      if (n) {
        std::vector<float> f(n, 1.0f);
        std::vector<uint16_t> hh(n, 0x3c00);
        CHECK(!T->nonFiniteFloat(f.data(), n) && !T->nonFiniteHalf(hh.data(), n), "clean n=%zu", n);
        const size_t at = rng() % n;
        f[at] = (rng() % 2) ? std::numeric_limits<float>::infinity() : std::nanf("");
        hh[at] = (rng() % 2) ? 0xfc00 : 0x7e01;
        CHECK(T->nonFiniteFloat(f.data(), n), "nonFiniteFloat missed at %zu of %zu", at, n);
        CHECK(T->nonFiniteHalf(hh.data(), n), "nonFiniteHalf missed at %zu of %zu", at, n);
        std::vector<float> dst(n);
        CHECK(T->castFromHalf(hh.data(), dst.data(), n, 0.5f), "castFromHalf missed at %zu", at);
      }
    }
  }
  // Denormal results, overflow from the scale, and a scale of 0 against inf (NaN).
  float big[40], small[40];
  for (int i = 0; i < 40; ++i) {
    big[i] = 30000.0f + i;
    small[i] = 1e-3f * (i + 1);
  }
  uint16_t o[40];
  T->castToHalf(big, o, 40, 4.0f);
  for (int i = 0; i < 40; ++i) CHECK(o[i] == 0x7c00, "overflow to inf: 0x%04x", o[i]);
  T->castToHalf(small, o, 40, 1e-5f);
  for (int i = 0; i < 40; ++i)
    CHECK(o[i] == floatToHalfBits(small[i] * 1e-5f) && o[i] < 0x0400, "subnormal");
}

template <typename X>
void fillRandom(std::vector<X>& v, DType d, bool specials) {
  for (auto& x : v) {
    if (d == DType::kInt32) {
      x = static_cast<X>(static_cast<int32_t>(rng()));
    } else if (d == DType::kFloat64) {
      std::memcpy(&x, &v[0], 0);
      double f = randNormal() * 100;
      if (specials && rng() % 13 == 0) f = (rng() % 2) ? std::nan("") : -INFINITY;
      std::memcpy(&x, &f, sizeof(X));
    } else {
      float f = randNormal() * 100;
      if (specials && rng() % 13 == 0) f = (rng() % 2) ? std::nanf("") : INFINITY;
      if (d == DType::kFloat32)
        std::memcpy(&x, &f, 4);
      else {
        uint16_t h = d == DType::kFloat16 ? floatToHalfBits(f) : floatToBFloat16Bits(f);
        std::memcpy(&x, &h, 2);
      }
    }
  }
}

void testReduce() {
  const DType types[] = {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kFloat16,
                         DType::kBFloat16};
  const ReduceOp ops[] = {ReduceOp::kSum, ReduceOp::kMin, ReduceOp::kMax, ReduceOp::kAvg};
  for (DType d : types) {
    const size_t es = dtypeSize(d);
    for (ReduceOp op : ops) {
      for (size_t n : kLengths) {
        const size_t off = rng() % 3;
        std::vector<uint64_t> a((n + off) * es / 8 + 2), b, s((n + off) * es / 8 + 2);
        // Fill as bytes of the right type.
        auto fill = [&](std::vector<uint64_t>& buf) {
          uint8_t* p = reinterpret_cast<uint8_t*>(buf.data());
          for (size_t i = 0; i < n + off; ++i) {
            if (es == 8) {
              std::vector<double> x(1);
              fillRandom(x, d, true);
              std::memcpy(p + i * 8, x.data(), 8);
            } else if (es == 4) {
              std::vector<uint32_t> x(1);
              fillRandom(x, d, true);
              std::memcpy(p + i * 4, x.data(), 4);
            } else {
              std::vector<uint16_t> x(1);
              fillRandom(x, d, true);
              std::memcpy(p + i * 2, x.data(), 2);
            }
          }
        };
        fill(a);
        fill(s);
        b = a;
        uint8_t* pa = reinterpret_cast<uint8_t*>(a.data()) + off * es;
        uint8_t* pb = reinterpret_cast<uint8_t*>(b.data()) + off * es;
        const uint8_t* ps = reinterpret_cast<const uint8_t*>(s.data()) + off * es;
        T->reduce(d, op, pa, ps, n);
        R->reduce(d, op, pb, ps, n);
        CHECK(std::memcmp(pa, pb, n * es) == 0, "reduce %s %s n=%zu off=%zu", dtypeName(d),
              reduceOpName(op), n, off);
      }
    }
  }
  // Half sums round once from float32: 2048 + 1 is a tie that stays even.
  uint16_t x[17], y[17];
  for (int i = 0; i < 17; ++i) {
    x[i] = floatToHalfBits(2048.f);
    y[i] = floatToHalfBits(1.f);
  }
  T->reduce(DType::kFloat16, ReduceOp::kSum, x, y, 17);
  for (int i = 0; i < 17; ++i) CHECK(x[i] == floatToHalfBits(2048.f), "fp16 2048+1");
}

bool near(double a, double b, double rel) {
  return std::fabs(a - b) <= rel * std::max(1.0, std::max(std::fabs(a), std::fabs(b)));
}

void testNorms() {
  for (size_t n : kLengths) {
    auto x = randomFloats(n + 3, false);
    std::vector<uint16_t> h(n + 3);
    R->castToHalf(x.data(), h.data(), n + 3, 1.0f);
    double exact = 0, exactH = 0, exactAbs = 0;
    float mx = 0;
    auto e = randomFloats(n + 3, false);
    for (size_t i = 1; i <= n; ++i) {
      exact += double(x[i]) * x[i];
      const double hv = halfBitsToFloat(h[i]);
      exactH += hv * hv;
      mx = std::max(mx, std::fabs(x[i]));
      exactAbs += std::fabs(double(float(x[i] + e[i])));
    }
    CHECK(near(T->sumSquares(x.data() + 1, n), exact, 1e-5), "sumSquares n=%zu", n);
    CHECK(near(T->sumSquaresHalf(h.data() + 1, n), exactH, 1e-5), "sumSquaresHalf n=%zu", n);
    CHECK(T->maxAbs(x.data() + 1, n) == mx, "maxAbs n=%zu", n);
    CHECK(near(T->errorAbsSum(x.data() + 1, e.data() + 1, n), exactAbs, 1e-5), "errorAbsSum n=%zu",
          n);
    if (n) {
      x[1 + rng() % n] = std::nanf("");
      CHECK(T->maxAbs(x.data() + 1, n) == R->maxAbs(x.data() + 1, n), "maxAbs ignores NaN n=%zu",
            n);
    }
  }
  // Float32 lanes over a long vector still sum accurately (blocks add in double).
  std::vector<float> ones(1 << 22, 1.0f);
  CHECK(T->sumSquares(ones.data(), ones.size()) == double(ones.size()), "sumSquares of 2^22 ones");
}

void testOptimizerElements() {
  for (size_t n : kLengths) {
    for (int variant = 0; variant < 8; ++variant) {
      const bool gradHalf = variant & 1, nesterov = variant & 2, half = variant & 4;
      auto w = randomFloats(n + 1, false), m = randomFloats(n + 1, false),
           g = randomFloats(n + 1, false);
      std::vector<uint16_t> g16(n + 1);
      R->castToHalf(g.data(), g16.data(), n + 1, 1.0f);
      const void* grad = gradHalf ? static_cast<const void*>(g16.data() + 1) : g.data() + 1;
      auto w2 = w, m2 = m;
      std::vector<uint16_t> h1(n + 1), h2(n + 1);
      SgdElementArgs a{0.05f, 0.9f, variant % 3 ? 1e-4f : 0.f, 1.0f / 1024, nesterov};
      T->sgdUpdate(a, w.data() + 1, grad, gradHalf, m.data() + 1, half ? h1.data() + 1 : nullptr,
                   n);
      R->sgdUpdate(a, w2.data() + 1, grad, gradHalf, m2.data() + 1, half ? h2.data() + 1 : nullptr,
                   n);
      CHECK(
          sameBits(w.data(), w2.data(), n + 1) && sameBits(m.data(), m2.data(), n + 1) && h1 == h2,
          "sgdUpdate n=%zu variant=%d", n, variant);
      LarsElementArgs l{0.01f, 0.9f, variant % 3 ? 5e-4f : 0.f, 0.5f};
      T->larsUpdate(l, w.data() + 1, grad, gradHalf, m.data() + 1, half ? h1.data() + 1 : nullptr,
                    n);
      R->larsUpdate(l, w2.data() + 1, grad, gradHalf, m2.data() + 1, half ? h2.data() + 1 : nullptr,
                    n);
      CHECK(
          sameBits(w.data(), w2.data(), n + 1) && sameBits(m.data(), m2.data(), n + 1) && h1 == h2,
          "larsUpdate n=%zu variant=%d", n, variant);
    }
  }
  // The formula itself, on one element (the reference is what the levels are checked against).
  float w = 1.0f, mom = 0.5f, g = 2.0f;
  SgdElementArgs a{0.1f, 0.9f, 0.01f, 0.5f, true};
  R->sgdUpdate(a, &w, &g, false, &mom, nullptr, 1);
  const float gg = 2.0f * 0.5f + 0.01f * 1.0f, b = 0.9f * 0.5f + gg;
  CHECK(mom == b && w == 1.0f - 0.1f * (gg + 0.9f * b), "sgd formula: w=%g mom=%g", w, mom);
}

// LARS over several tensors against a double-precision implementation written here.
void testLarsStep() {
  const size_t sizes[] = {1000, 17, 4096, 3, 0};
  const int count = 5;
  for (int gradHalf = 0; gradHalf < 2; ++gradHalf) {
    std::vector<std::vector<float>> w(count), v(count), g(count);
    std::vector<std::vector<uint16_t>> g16(count);
    std::vector<TensorSlot> slots(count);
    LarsOptions o;
    o.lr = 0.5f;
    o.gradScale = 0.25f;
    o.gradHalf = gradHalf;
    for (int t = 0; t < count; ++t) {
      w[t] = randomFloats(sizes[t], false);
      v[t] = randomFloats(sizes[t], false);
      g[t] = randomFloats(sizes[t], false);
      if (t == 3) std::fill(g[t].begin(), g[t].end(), 0.0f);  // zero gradient: trust 1
      g16[t].resize(sizes[t]);
      R->castToHalf(g[t].data(), g16[t].data(), sizes[t], 1.0f);
      if (gradHalf) R->castFromHalf(g16[t].data(), g[t].data(), sizes[t], 1.0f);
      slots[t] = {w[t].data(), gradHalf ? static_cast<const void*>(g16[t].data()) : g[t].data(),
                  v[t].data(), nullptr,
                  sizes[t],    t == 2};
    }
    auto w0 = w, v0 = v;
    std::vector<float> trust(count);
    CHECK(larsStep(*T, o, slots.data(), count, trust.data()), "larsStep skipped a finite step");
    for (int t = 0; t < count; ++t) {
      double ws = 0, gs = 0;
      for (size_t i = 0; i < sizes[t]; ++i) {
        ws += double(w0[t][i]) * w0[t][i];
        gs += double(g[t][i]) * g[t][i];
      }
      const double wn = std::sqrt(ws), gn = std::sqrt(gs) * o.gradScale;
      const bool excl = t == 2;
      const double want = excl || wn == 0 || gn == 0 ? 1.0 : o.eta * wn / (gn + o.weightDecay * wn);
      CHECK(near(trust[t], want, 1e-5), "trust[%d] = %g, want %g", t, trust[t], want);
      const double wd = excl ? 0 : o.weightDecay;
      for (size_t i = 0; i < sizes[t]; ++i) {
        const double gi = g[t][i] * double(o.gradScale) + wd * w0[t][i];
        const double nv = o.momentum * double(v0[t][i]) + o.lr * want * gi;
        CHECK(near(v[t][i], nv, 1e-5) && near(w[t][i], w0[t][i] - nv, 1e-5), "lars t=%d i=%zu", t,
              i);
        if (!near(w[t][i], w0[t][i] - nv, 1e-5)) break;
      }
    }
    // An inf in any gradient: nothing changes.
    auto w1 = w, v1 = v;
    if (gradHalf)
      g16[1][5] = 0x7c00;
    else
      g[1][5] = INFINITY;
    CHECK(!larsStep(*T, o, slots.data(), count, nullptr), "larsStep ran over an inf gradient");
    SgdOptions so;
    so.gradHalf = gradHalf;
    CHECK(!sgdStep(*T, so, slots.data(), count), "sgdStep ran over an inf gradient");
    for (int t = 0; t < count; ++t)
      CHECK(w[t] == w1[t] && v[t] == v1[t], "noop step changed tensor %d", t);
  }
}

struct ByMagnitude {
  const float* x;
  bool operator()(uint32_t a, uint32_t b) const {
    auto key = [](float f) { return f == f ? std::fabs(f) : -1.0f; };
    const float ka = key(x[a]), kb = key(x[b]);
    return ka > kb || (ka == kb && a < b);
  }
};

std::vector<uint32_t> referenceTopk(const std::vector<float>& x, size_t k) {
  std::vector<uint32_t> idx(x.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), ByMagnitude{x.data()});
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

void testTopk() {
  const size_t ns[] = {1, 5, 100, 5000, 20000, 300000};
  for (size_t n : ns) {
    for (int kind = 0; kind < 3; ++kind) {
      std::vector<float> x = randomFloats(n, kind == 1);
      if (kind == 2)
        for (auto& f : x) f = float(int(rng() % 5) - 2);  // many ties and zeros
      for (size_t k : {size_t{0}, size_t{1}, n / 1000, n / 100 + 1, n}) {
        if (k > n) continue;
        std::vector<uint32_t> idx(k);
        std::vector<float> val(k);
        topkAbs(*T, x.data(), n, k, idx.data(), val.data());
        const auto want = referenceTopk(x, k);
        CHECK(idx == want, "topk n=%zu k=%zu kind=%d", n, k, kind);
        bool vals = true;
        for (size_t i = 0; i < k; ++i) vals &= floatBits(val[i]) == floatBits(x[idx[i]]);
        CHECK(vals, "topk values n=%zu k=%zu", n, k);
      }
    }
  }
}

void testDgc() {
  // The fused accumulate-and-select primitive, bit for bit.
  for (size_t n : kLengths) {
    auto u = randomFloats(n + 1, false), v = randomFloats(n + 1, false),
         g = randomFloats(n + 1, true);
    auto u2 = u, v2 = v;
    std::vector<uint32_t> i1(n + 1), i2(n + 1);
    const size_t cap = n / 3;
    const size_t c1 = T->dgcAccumulateSelect(u.data() + 1, v.data() + 1, g.data() + 1, n, 0.9f,
                                             1.5f, i1.data(), cap);
    const size_t c2 = R->dgcAccumulateSelect(u2.data() + 1, v2.data() + 1, g.data() + 1, n, 0.9f,
                                             1.5f, i2.data(), cap);
    CHECK(c1 == c2 && i1 == i2 && sameBits(u.data(), u2.data(), n + 1) &&
              sameBits(v.data(), v2.data(), n + 1),
          "dgcAccumulateSelect n=%zu (%zu vs %zu)", n, c1, c2);
    const size_t s1 = T->selectAbove(v.data() + 1, n, 2.0f, i1.data(), cap);
    const size_t s2 = R->selectAbove(v.data() + 1, n, 2.0f, i2.data(), cap);
    CHECK(s1 == s2 && i1 == i2, "selectAbove n=%zu", n);
  }
  // The step: what is sent is exactly the top-|count| of the accumulated v, at most k of them;
  // u and v are zero there and accumulated elsewhere.
  const size_t ns[] = {1, 10, 3000, 200000, 1000003};
  for (size_t n : ns) {
    for (int half = 0; half < 2; ++half) {
      std::vector<float> u(n, 0.f), v(n, 0.f);
      for (int step = 0; step < 3; ++step) {
        auto g = randomFloats(n, false);
        std::vector<float> uu(n), vv(n);
        for (size_t i = 0; i < n; ++i) {
          uu[i] = 0.9f * u[i] + g[i];
          vv[i] = v[i] + uu[i];
        }
        DgcOptions o;
        o.seed = static_cast<uint32_t>(step);
        const size_t k = dgcTargetCount(n, o.density);
        std::vector<uint32_t> idx(k);
        std::vector<float> val(k);
        std::vector<uint16_t> val16(k);
        const DgcResult r = dgcStep(*T, u.data(), v.data(), g.data(), n, o, idx.data(),
                                    half ? nullptr : val.data(), half ? val16.data() : nullptr);
        CHECK(r.count <= k && (n < 1000 || r.count * 5 >= k * 4),
              "dgc n=%zu sent %zu of target %zu", n, r.count, k);
        idx.resize(r.count);
        CHECK(idx == referenceTopk(vv, r.count), "dgc n=%zu step %d: not the top %zu", n, step,
              r.count);
        std::vector<bool> sent(n);
        for (size_t j = 0; j < r.count; ++j) {
          sent[idx[j]] = true;
          CHECK(half ? val16[j] == floatToHalfBits(vv[idx[j]]) : val[j] == vv[idx[j]],
                "dgc value %zu", j);
        }
        size_t wrong = 0;
        for (size_t i = 0; i < n; ++i) {
          if (sent[i] ? (u[i] != 0 || v[i] != 0) : (u[i] != uu[i] || v[i] != vv[i])) ++wrong;
        }
        CHECK(wrong == 0, "dgc n=%zu: %zu elements of u/v wrong after masking", n, wrong);
      }
      // All-zero gradients (and state): nothing to send.
      std::vector<float> z(n, 0.f), zu(n, 0.f), zv(n, 0.f);
      std::vector<uint32_t> idx(dgcTargetCount(n, 0.001f));
      std::vector<float> val(idx.size());
      CHECK(dgcStep(*T, zu.data(), zv.data(), z.data(), n, DgcOptions(), idx.data(), val.data(),
                    nullptr)
                    .count == 0,
            "dgc sent something from all-zero gradients");
    }
  }
  // Decoding many ranks' pairs.
  std::vector<float> dense(50, 1.f), want(50, 1.f);
  for (int r = 0; r < 4; ++r) {
    std::vector<uint32_t> idx = {uint32_t(r), 7, 49};
    std::vector<float> val = {0.5f, -1.f, float(r)};
    scatterAdd(dense.data(), 50, idx.data(), val.data(), nullptr, 3);
    for (int j = 0; j < 3; ++j) want[idx[j]] += val[j];
  }
  CHECK(dense == want, "scatterAdd");
  uint32_t bad[] = {3, 50};
  float bv[] = {1.f, 1.f};
  bool threw = false;
  try {
    scatterAdd(dense.data(), 50, bad, bv, nullptr, 2);
  } catch (const Error&) {
    threw = true;
  }
  CHECK(threw && dense == want, "scatterAdd accepted index 50 of 50 or changed dense");
}

void testQuantizers() {
  for (size_t n : kLengths) {
    auto x = randomFloats(n, false);
    for (uint32_t s : {1u, 4u, 15u, 255u}) {
      const int planes = qsgdPlaneCount(s);
      const size_t pb = bitPlaneBytes(n);
      std::vector<uint8_t> a((1 + planes) * pb + 1, 0xAA), b = a;
      const float norm = static_cast<float>(std::sqrt(R->sumSquares(x.data(), n)));
      qsgdEncode(*T, x.data(), n, s, 99, a.data(), norm);
      qsgdEncode(*R, x.data(), n, s, 99, b.data(), norm);
      CHECK(a == b, "qsgd code n=%zu s=%u", n, s);
      std::vector<float> da(n, 1.f), db(n, 1.f);
      qsgdDecode(*T, a.data(), n, s, norm, da.data(), true);
      qsgdDecode(*R, a.data(), n, s, norm, db.data(), true);
      CHECK(sameBits(da.data(), db.data(), n), "qsgd decode n=%zu s=%u", n, s);
      // Levels never exceed s and signs match.
      qsgdDecode(*T, a.data(), n, s, norm, da.data(), false);
      for (size_t i = 0; i < n; ++i) {
        CHECK(std::fabs(da[i]) <= norm * 1.0001f && (da[i] == 0 || (da[i] < 0) == (x[i] < 0)),
              "qsgd value %zu", i);
      }
    }
    // The table decoders align the output first: every element offset of the output view.
    {
      const int planes = qsgdPlaneCount(15);
      std::vector<uint8_t> code((1 + planes) * bitPlaneBytes(n));
      const float norm = qsgdEncode(*R, x.data(), n, 15, 5, code.data());
      for (size_t off = 0; off < 16; ++off) {
        std::vector<float> da(n + 16, 3.f), db(n + 16, 3.f);
        for (bool acc : {false, true}) {
          qsgdDecode(*T, code.data(), n, 15, norm, da.data() + off, acc);
          qsgdDecode(*R, code.data(), n, 15, norm, db.data() + off, acc);
          CHECK(sameBits(da.data(), db.data(), n + 16), "qsgd decode n=%zu off=%zu", n, off);
          ternGradDecode(*T, code.data(), n, 0.5f, da.data() + off, acc);
          ternGradDecode(*R, code.data(), n, 0.5f, db.data() + off, acc);
          CHECK(sameBits(da.data(), db.data(), n + 16), "terngrad decode n=%zu off=%zu", n, off);
        }
      }
    }
    std::vector<uint8_t> ta(ternGradCodeBytes(n) + 1, 0x55), tb = ta;
    const float sa = ternGradEncode(*T, x.data(), n, 7, ta.data());
    const float sb = ternGradEncode(*R, x.data(), n, 7, tb.data());
    CHECK(sa == sb && ta == tb, "terngrad code n=%zu", n);
    std::vector<float> da(n), db(n);
    ternGradDecode(*T, ta.data(), n, sa, da.data(), false);
    ternGradDecode(*R, ta.data(), n, sa, db.data(), false);
    CHECK(sameBits(da.data(), db.data(), n), "terngrad decode n=%zu", n);
    auto g = randomFloats(n, false), e = randomFloats(n, false);
    auto e2 = e;
    std::vector<uint8_t> ca(bitPlaneBytes(n) + 1, 0x33), cb = ca;
    T->signEncode(g.data(), e.data(), n, 0.7f, ca.data());
    R->signEncode(g.data(), e2.data(), n, 0.7f, cb.data());
    CHECK(ca == cb && sameBits(e.data(), e2.data(), n), "sign code n=%zu", n);
    std::vector<float> oa(n, 2.f), ob(n, 2.f);
    T->signDecode(ca.data(), n, 0.7f, oa.data(), true);
    R->signDecode(ca.data(), n, 0.7f, ob.data(), true);
    CHECK(sameBits(oa.data(), ob.data(), n), "sign decode n=%zu", n);
  }
  // All zero: codes decode to zero.
  std::vector<float> z(100, 0.f), out(100, 5.f);
  std::vector<uint8_t> code(qsgdCodeBytes(100, 15));
  qsgdEncode(*T, z.data(), 100, 15, 1, code.data());
  qsgdDecode(*T, code.data(), 100, 15, 0.f, out.data(), false);
  CHECK(std::all_of(out.begin(), out.end(), [](float f) { return f == 0; }), "qsgd of zeros");
  CHECK(ternGradEncode(*T, z.data(), 100, 1, code.data()) == 0, "terngrad scale of zeros");
}

// Unbiased: the mean of many independent draws approaches x. Each decoded element is x_i plus
// noise of variance at most unit^2 / 4 (QSGD: a choice between adjacent levels) or scale^2 / 4
// (TernGrad), so over D draws the mean is within 5 standard deviations, unit / (2 sqrt(D)) * 5,
// except with probability about 6e-7 per element.
void testUnbiased() {
  const size_t n = 48;
  const int draws = 4000;
  auto x = randomFloats(n, false);
  std::vector<double> sq(n, 0), st(n, 0);
  std::vector<uint8_t> code(qsgdCodeBytes(n, 4)), tcode(ternGradCodeBytes(n));
  std::vector<float> out(n);
  float norm = 0, scale = 0;
  for (int d = 0; d < draws; ++d) {
    norm = qsgdEncode(*T, x.data(), n, 4, 1000 + d * 7919, code.data());
    qsgdDecode(*T, code.data(), n, 4, norm, out.data(), false);
    for (size_t i = 0; i < n; ++i) sq[i] += out[i];
    scale = ternGradEncode(*T, x.data(), n, 5000 + d * 104729, tcode.data());
    ternGradDecode(*T, tcode.data(), n, scale, out.data(), false);
    for (size_t i = 0; i < n; ++i) st[i] += out[i];
  }
  const double qBound = 5 * (norm / 4) / (2 * std::sqrt(double(draws)));
  const double tBound = 5 * scale / (2 * std::sqrt(double(draws)));
  for (size_t i = 0; i < n; ++i) {
    CHECK(std::fabs(sq[i] / draws - x[i]) <= qBound, "qsgd biased at %zu: %g vs %g (bound %g)", i,
          sq[i] / draws, x[i], qBound);
    CHECK(std::fabs(st[i] / draws - x[i]) <= tBound, "terngrad biased at %zu: %g vs %g", i,
          st[i] / draws, x[i]);
  }
}

// Error feedback loses nothing: after any number of steps, what was sent plus the residual is
// what went in.
void testErrorFeedback() {
  const size_t n = 1037;
  std::vector<float> e(n, 0.f), out(n);
  std::vector<double> in(n, 0), sent(n, 0);
  std::vector<uint8_t> code(bitPlaneBytes(n));
  for (int step = 0; step < 60; ++step) {
    auto g = randomFloats(n, false);
    const float scale = signEncode(*T, g.data(), e.data(), n, code.data());
    signDecode(*T, code.data(), n, scale, out.data(), false);
    for (size_t i = 0; i < n; ++i) {
      in[i] += g[i];
      sent[i] += out[i];
    }
  }
  double worst = 0;
  for (size_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(sent[i] + e[i] - in[i]));
  CHECK(worst < 1e-4, "error feedback lost %g", worst);
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += sent[i] + e[i] - in[i];
  CHECK(std::fabs(total) < 1e-3, "error feedback sum drifted by %g", total);
}

// Chunked QSGD, TernGrad and 1-bit: each chunk's scale is its own norm / max / mean |x| (checked
// in double), every decoded value is one of the two levels around |x| with x's sign, the SIMD
// and scalar codes agree bit for bit, and nothing is written past the code.
void testChunkedQuantizers() {
  for (size_t n : {size_t{1}, size_t{7}, size_t{64}, size_t{1000}, size_t{4099}}) {
    auto x = randomFloats(n, false);
    for (size_t chunk : {size_t{8}, size_t{64}, size_t{512}}) {
      const size_t chunks = chunkCount(n, chunk);
      const uint32_t s = 7;
      std::vector<uint8_t> a(qsgdCodeBytes(n, s) + 1, 0xAA), b = a;
      std::vector<float> na(chunks), nb(chunks), out(n);
      qsgdEncodeChunks(*T, x.data(), n, s, 3, chunk, a.data(), na.data());
      qsgdEncodeChunks(*R, x.data(), n, s, 3, chunk, b.data(), nb.data());
      // Norms sum in SIMD lanes or one by one: equal codes where the norms came out equal.
      for (size_t c = 0; c < chunks; ++c) CHECK(std::fabs(na[c] - nb[c]) <= 1e-6f * nb[c], "chunk norm %zu", c);
      CHECK(na != nb || a == b, "chunked qsgd code n=%zu chunk=%zu", n, chunk);
      CHECK(a.back() == 0xAA, "chunked qsgd wrote past the code");
      qsgdDecodeChunks(*T, a.data(), n, s, chunk, na.data(), out.data(), false);
      for (size_t c = 0; c < chunks; ++c) {
        double sq = 0;
        for (size_t i = c * chunk; i < std::min(n, (c + 1) * chunk); ++i) sq += double(x[i]) * x[i];
        CHECK(std::fabs(na[c] - std::sqrt(sq)) <= 1e-5 * std::sqrt(sq) + 1e-30, "chunk %zu norm", c);
        const double unit = na[c] / s;
        for (size_t i = c * chunk; i < std::min(n, (c + 1) * chunk); ++i) {
          const double r = std::fabs(x[i]) / unit, lv = std::fabs(out[i]) / unit;
          CHECK(std::fabs(lv - std::floor(r)) < 1e-3 || std::fabs(lv - std::floor(r) - 1) < 1e-3,
                "qsgd level %g for r %g at %zu", lv, r, i);
          CHECK(out[i] == 0 || (out[i] < 0) == (x[i] < 0), "qsgd sign at %zu", i);
        }
      }
      std::vector<uint8_t> ta(ternGradCodeBytes(n) + 1, 0xAA), tb = ta;
      std::vector<float> sa(chunks), sb(chunks);
      ternGradEncodeChunks(*T, x.data(), n, 5, chunk, ta.data(), sa.data());
      ternGradEncodeChunks(*R, x.data(), n, 5, chunk, tb.data(), sb.data());
      CHECK(sa == sb && ta == tb && ta.back() == 0xAA, "chunked terngrad n=%zu chunk=%zu", n, chunk);
      ternGradDecodeChunks(*T, ta.data(), n, chunk, sa.data(), out.data(), false);
      for (size_t i = 0; i < n; ++i) {
        float m = 0;
        for (size_t j = i / chunk * chunk; j < std::min(n, (i / chunk + 1) * chunk); ++j) m = std::max(m, std::fabs(x[j]));
        CHECK(out[i] == 0 || out[i] == (x[i] < 0 ? -m : m), "terngrad value at %zu", i);
      }
      std::vector<float> e(n, 0.f), scales(chunks);
      std::vector<uint8_t> sc(bitPlaneBytes(n) + 1, 0xAA);
      signEncodeChunks(*T, x.data(), e.data(), n, chunk, sc.data(), scales.data());
      signDecodeChunks(*T, sc.data(), n, chunk, scales.data(), out.data(), false);
      CHECK(sc.back() == 0xAA, "chunked sign wrote past the code");
      for (size_t i = 0; i < n; ++i) {
        const size_t c = i / chunk;
        double mean = 0;
        const size_t lo = c * chunk, hi = std::min(n, (c + 1) * chunk);
        for (size_t j = lo; j < hi; ++j) mean += std::fabs(x[j]) / double(hi - lo);
        CHECK(std::fabs(std::fabs(out[i]) - mean) <= 1e-5 * mean + 1e-30, "sign scale at %zu", i);
        CHECK(std::fabs(out[i] + e[i] - x[i]) <= 1e-6 * (std::fabs(x[i]) + mean), "sign residual at %zu", i);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--isa" && i + 1 < argc) {
      forceIsa(argv[++i], "--isa");
    } else if (arg == "--quick") {
      quick = true;
    } else {
      std::fprintf(stderr, "usage: test_kernels [--isa scalar|avx2|avx512] [--quick]\n");
      return 2;
    }
  }
  try {
    T = &cpuKernels();
  } catch (const Error& e) {
    std::fprintf(stderr, "skipped: %s\n", e.what());
    return 77;
  }
  R = &scalarKernelTable();
  std::printf("testing the %s kernels\n", isaName(T->isa));
  testBFloat16Values();
  testCasts();
  testReduce();
  testNorms();
  testOptimizerElements();
  testLarsStep();
  testTopk();
  testDgc();
  testQuantizers();
  testUnbiased();
  testErrorFeedback();
  testChunkedQuantizers();
  if (!quick) testHalfAgainstNumpy();
  return TEST_MAIN_RESULT();
}
