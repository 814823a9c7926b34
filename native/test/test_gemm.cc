// sgemm at every instruction-set level against a float64 reference: every transpose, the
// epilogues (bias, ReLU, mask, accumulate), sizes around every tile and block edge, strides wider
// than the rows, and k = 0. Also the reference model's layers against the same reference.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "check.h"
#include "kernels/cpu/isa.h"
#include "nn/gemm.h"
#include "nn/gemm_kernel.h"
#include "nn/layers.h"

using namespace dtrain;

namespace {

std::mt19937 rng(12345);

std::vector<float> randomVec(size_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct Case {
  size_t m, n, k;
  bool transA, transB, accumulate, bias, relu, mask;
  size_t pad;  // extra elements per row in every matrix
};

// |got - want| <= tol * (sum over k of |a| |b|), the error bound of a float32 dot product.
bool runCase(Isa isa, const Case& c) {
  const size_t lda = (c.transA ? c.m : c.k) + c.pad, ldb = (c.transB ? c.k : c.n) + c.pad;
  const size_t ldc = c.n + c.pad;
  const size_t aRows = c.transA ? c.k : c.m, bRows = c.transB ? c.n : c.k;
  std::vector<float> a = randomVec(aRows * lda + 1), b = randomVec(bRows * ldb + 1);
  std::vector<float> c0 = randomVec(c.m * ldc + 1), bias = randomVec(c.n), mask = randomVec(c.m * ldc + 1);
  std::vector<float> out = c0;
  GemmArgs g;
  g.m = c.m, g.n = c.n, g.k = c.k;
  g.a = a.data(), g.lda = lda, g.transA = c.transA;
  g.b = b.data(), g.ldb = ldb, g.transB = c.transB;
  g.c = out.data(), g.ldc = ldc;
  g.accumulate = c.accumulate;
  g.bias = c.bias ? bias.data() : nullptr;
  g.relu = c.relu;
  g.mask = c.mask ? mask.data() : nullptr;
  g.ldmask = ldc;
  sgemm(isa, g);
  bool ok = true;
  for (size_t i = 0; i < c.m; ++i) {
    for (size_t j = 0; j < c.n; ++j) {
      double s = 0, bound = 0;
      for (size_t p = 0; p < c.k; ++p) {
        const double av = c.transA ? a[p * lda + i] : a[i * lda + p];
        const double bv = c.transB ? b[j * ldb + p] : b[p * ldb + j];
        s += av * bv;
        bound += std::fabs(av * bv);
      }
      if (c.accumulate) s += c0[i * ldc + j], bound += std::fabs(c0[i * ldc + j]);
      if (c.bias) s += bias[j], bound += std::fabs(bias[j]);
      if (c.relu) s = s > 0 ? s : 0;
      if (c.mask && !(mask[i * ldc + j] > 0)) s = 0;
      const double got = out[i * ldc + j];
      const double tol = 1e-6 * (bound + 1) * (c.k + 2);
      // Near zero, ReLU may keep or drop a value whose sign is within rounding.
      const bool reluEdge = c.relu && std::fabs(s) <= tol && std::fabs(got) <= 2 * tol;
      if (!(std::fabs(got - s) <= tol) && !reluEdge) {
        if (ok) {
          CHECK(false, "%s m=%zu n=%zu k=%zu tA=%d tB=%d acc=%d bias=%d relu=%d mask=%d pad=%zu: "
                "C[%zu,%zu] = %.7g, want %.7g", isaName(isa), c.m, c.n, c.k, c.transA, c.transB,
                c.accumulate, c.bias, c.relu, c.mask, c.pad, i, j, got, s);
        }
        ok = false;
      }
    }
    // Padding past n is never written.
    for (size_t j = c.n; j < ldc && i + 1 < c.m; ++j) {
      if (out[i * ldc + j] != c0[i * ldc + j]) {
        CHECK(false, "%s: padding C[%zu,%zu] was written", isaName(isa), i, j);
        return false;
      }
    }
  }
  return ok;
}

void testGemm(Isa isa) {
  const GemmKernel& kern = gemmKernel(isa);
  const size_t mr = kern.wide.mr, nr = kern.wide.nr;
  const std::vector<size_t> ms = {1, mr - 1, mr, mr + 1, 2 * mr + 3, kern.wide.mc + 5};
  const std::vector<size_t> ns = {1, 7, static_cast<size_t>(kern.narrow.nr), nr - 1, nr + 1, 3 * nr + 5};
  const std::vector<size_t> ks = {0, 1, 15, 17, kern.wide.kc + 3, 2 * kern.wide.kc + 1};
  int cases = 0;
  for (size_t m : ms)
    for (size_t n : ns)
      for (size_t k : ks)
        for (int t = 0; t < 4; ++t) {
          const bool tA = t & 1, tB = t & 2;
          const int e = cases % 5;
          Case c{m, n, k, tA, tB, e == 1, e == 2 || e == 4, e == 2, e == 3 || e == 4, static_cast<size_t>(cases % 3)};
          runCase(isa, c);
          ++cases;
        }
  // The reference model's shapes at a batch of 128.
  for (auto [in, out] : std::vector<std::pair<size_t, size_t>>{{784, 512}, {512, 256}, {256, 10}}) {
    runCase(isa, {128, out, in, false, true, false, true, true, false, 0});
    runCase(isa, {out, in, 128, true, false, true, false, false, false, 0});
    runCase(isa, {128, in, out, false, false, false, false, false, true, 0});
  }
  std::printf("sgemm %s: %d cases\n", isaName(isa), cases + 9);
}

void testLayers() {
  const size_t batch = 37, in = 29, out = 13;
  std::vector<float> x = randomVec(batch * in), w = randomVec(out * in), b = randomVec(out);
  std::vector<float> y(batch * out);
  linearForward({batch, in, out}, x.data(), w.data(), b.data(), y.data(), true);
  for (size_t i = 0; i < batch; ++i)
    for (size_t j = 0; j < out; ++j) {
      double s = b[j];
      for (size_t p = 0; p < in; ++p) s += static_cast<double>(x[i * in + p]) * w[j * in + p];
      s = s > 0 ? s : 0;
      CHECK(std::fabs(y[i * out + j] - s) < 1e-4, "linearForward y[%zu,%zu] = %g, want %g", i, j,
            y[i * out + j], s);
    }
  // Softmax cross-entropy and its gradient.
  std::vector<int32_t> labels(batch);
  for (size_t i = 0; i < batch; ++i) labels[i] = static_cast<int32_t>((i * 7) % out);
  std::vector<float> d(batch * out);
  const double loss = softmaxCrossEntropy(y.data(), labels.data(), nullptr, batch, out, d.data(), 2.0f);
  double want = 0;
  for (size_t i = 0; i < batch; ++i) {
    double mx = -1e30, sum = 0;
    for (size_t j = 0; j < out; ++j) mx = std::max(mx, static_cast<double>(y[i * out + j]));
    for (size_t j = 0; j < out; ++j) sum += std::exp(y[i * out + j] - mx);
    want += std::log(sum) + mx - y[i * out + labels[i]];
    for (size_t j = 0; j < out; ++j) {
      const double g = 2.0 * (std::exp(y[i * out + j] - mx) / sum - (static_cast<int>(j) == labels[i])) / batch;
      CHECK(std::fabs(d[i * out + j] - g) < 1e-6, "dlogits[%zu,%zu] = %g, want %g", i, j, d[i * out + j], g);
    }
  }
  want /= batch;
  CHECK(std::fabs(loss - want) < 1e-9, "loss %.12g, want %.12g", loss, want);
  // Bias gradient = column sums; accumulate adds.
  std::vector<float> dw(out * in, 1.0f), db(out, 1.0f);
  linearGradBias({batch, in, out}, d.data(), db.data(), true);
  for (size_t j = 0; j < out; ++j) {
    double s = 1;
    for (size_t i = 0; i < batch; ++i) s += d[i * out + j];
    CHECK(std::fabs(db[j] - s) < 1e-5, "db[%zu] = %g, want %g", j, db[j], s);
  }
  std::printf("layers: ok\n");
}

}  // namespace

int main() {
  for (int l = 0; l < kIsaCount; ++l) {
    const Isa isa = static_cast<Isa>(l);
    if (!isaSupported(isa)) {
      std::printf("sgemm %s: not supported by this CPU, skipped\n", isaName(isa));
      continue;
    }
    testGemm(isa);
  }
  testLayers();
  return TEST_MAIN_RESULT();
}
