#include "nn/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "common/error.h"
#include "nn/gemm_kernel.h"

namespace dtrain {
namespace {

// Packing buffers, kept per thread and grown on demand: no allocation per call in steady state.
struct PackBuffers {
  float* a = nullptr;
  size_t aCap = 0;
  float* b = nullptr;
  size_t bCap = 0;
  ~PackBuffers() {
    std::free(a);
    std::free(b);
  }
  static float* grow(float*& p, size_t& cap, size_t want) {
    if (want > cap) {
      std::free(p);
      p = static_cast<float*>(std::aligned_alloc(64, ((want * sizeof(float) + 63) / 64) * 64));
      if (!p) throw std::bad_alloc();
      cap = want;
    }
    return p;
  }
};

thread_local PackBuffers tlsPack;
thread_local PackBuffers tlsSwap;  // the transposed result of a swapped product (.a only)

// The fraction of a tiling's multiply-adds that land in C (the rest is the tiles' padding).
double tileUse(size_t m, size_t n, const GemmKernel& kern) {
  const GemmShapeKernel& sk = n <= static_cast<size_t>(kern.narrow.nr) ? kern.narrow : kern.wide;
  const double rows = static_cast<double>((m + sk.mr - 1) / sk.mr * sk.mr);
  const double cols = static_cast<double>((n + sk.nr - 1) / sk.nr * sk.nr);
  return static_cast<double>(m) * static_cast<double>(n) / (rows * cols);
}

// kc runs of `count` contiguous floats, `ld` apart, into a panel `width` wide (zero past count):
// the packing of an operand whose panel rows are already contiguous.
void packRows(const float* src, size_t ld, size_t count, size_t kc, int width, float* out) {
  for (size_t k = 0; k < kc; ++k, src += ld, out += width) {
    std::memcpy(out, src, count * sizeof(float));
    for (size_t c = count; c < static_cast<size_t>(width); ++c) out[c] = 0;
  }
}

// op(A)[i0:i0+mc, p0:p0+kc] into panels of mr rows: panel q holds, for each k, the mr values
// of rows q*mr.. (zero past mc).
void packA(const GemmArgs& g, const GemmKernel& kern, size_t i0, size_t mc, size_t p0, size_t kc,
           int mr, float* out) {
  for (size_t q = 0; q < mc; q += mr, out += kc * mr) {
    const size_t rows = std::min<size_t>(mr, mc - q);
    if (g.transA) {
      // A is k x m: the mr values of one k are contiguous.
      packRows(g.a + p0 * g.lda + i0 + q, g.lda, rows, kc, mr, out);
    } else {
      kern.packTransposed(g.a + (i0 + q) * g.lda + p0, g.lda, rows, kc, mr, out);
    }
  }
}

// op(B)[p0:p0+kc, j0+q0:j0+nc] into panels of nr columns: panel q holds, for each k, the nr
// values of columns q*nr.. (zero past nc).
void packB(const GemmArgs& g, const GemmKernel& kern, size_t p0, size_t kc, size_t j0, size_t q0,
           size_t nc, int nr, float* out) {
  for (size_t q = q0; q < nc; q += nr, out += kc * nr) {
    const size_t cols = std::min<size_t>(nr, nc - q);
    if (!g.transB) {
      packRows(g.b + p0 * g.ldb + j0 + q, g.ldb, cols, kc, nr, out);
    } else {
      kern.packTransposed(g.b + (j0 + q) * g.ldb + p0, g.ldb, cols, kc, nr, out);
    }
  }
}

void check(const GemmArgs& g) {
  const size_t aCols = g.transA ? g.m : g.k;
  const size_t bCols = g.transB ? g.k : g.n;
  if ((g.m && g.k && g.lda < aCols) || (g.k && g.n && g.ldb < bCols) || (g.m && g.n && g.ldc < g.n) ||
      (g.mask && g.ldmask < g.n)) {
    throw Error(ErrorCode::kInvalidArgument, "sgemm: a leading dimension is smaller than its row");
  }
}

}  // namespace

const GemmKernel& gemmKernel(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return avx512GemmKernel();
    case Isa::kAvx2:
      return avx2GemmKernel();
    case Isa::kScalar:
      break;
  }
  return scalarGemmKernel();
}

void sgemm(const GemmArgs& g) { sgemm(activeIsa(), g); }

void sgemm(Isa isa, const GemmArgs& g) {
  check(g);
  if (g.m == 0 || g.n == 0) return;
  const GemmKernel& kern = gemmKernel(isa);
  // A narrow product (the classifier layer: n = 10) wastes most of every tile; its transpose
  // C^T = op(B)^T op(A)^T tiles far better. Computed into a small buffer, then transposed into
  // C with the epilogue.
  if (g.k > 0 && g.m * g.n <= (size_t{1} << 16) && tileUse(g.n, g.m, kern) > 1.3 * tileUse(g.m, g.n, kern)) {
    GemmArgs t;
    t.m = g.n, t.n = g.m, t.k = g.k;
    t.a = g.b, t.lda = g.ldb, t.transA = !g.transB;
    t.b = g.a, t.ldb = g.lda, t.transB = !g.transA;
    float* ct = PackBuffers::grow(tlsSwap.a, tlsSwap.aCap, g.m * g.n);
    t.c = ct, t.ldc = g.m;
    sgemm(isa, t);
    for (size_t i = 0; i < g.m; ++i) {
      float* crow = g.c + i * g.ldc;
      for (size_t j = 0; j < g.n; ++j) {
        float x = ct[j * g.m + i];
        if (g.accumulate) x += crow[j];
        if (g.bias) x += g.bias[j];
        if (g.relu) x = x > 0 ? x : 0.0f;
        if (g.mask && !(g.mask[i * g.ldmask + j] > 0)) x = 0;
        crow[j] = x;
      }
    }
    return;
  }
  if (g.k == 0) {
    // An empty sum: C is 0 (or unchanged), then the epilogue.
    for (size_t i = 0; i < g.m; ++i) {
      for (size_t j = 0; j < g.n; ++j) {
        float x = g.accumulate ? g.c[i * g.ldc + j] : 0.0f;
        if (g.bias) x += g.bias[j];
        if (g.relu) x = x > 0 ? x : 0.0f;
        if (g.mask && !(g.mask[i * g.ldmask + j] > 0)) x = 0;
        g.c[i * g.ldc + j] = x;
      }
    }
    return;
  }
  const GemmShapeKernel& sk = g.n <= static_cast<size_t>(kern.narrow.nr) ? kern.narrow : kern.wide;
  const size_t mr = sk.mr, nr = sk.nr;
  // Balance the k blocks so the last one is not a sliver.
  const size_t kBlocks = (g.k + sk.kc - 1) / sk.kc;
  const size_t kcMax = (g.k + kBlocks - 1) / kBlocks;
  // Blocks are whole panels: the packing buffers hold ncMax / nr panels of B and mcMax / mr of A.
  const size_t ncMax = std::min(std::max(sk.nc / nr, size_t{1}) * nr, (g.n + nr - 1) / nr * nr);
  const size_t mcMax = std::min(std::max(sk.mc / mr, size_t{1}) * mr, (g.m + mr - 1) / mr * mr);
  // With only a tile or two of rows, each packed panel of B would be read once or twice, and
  // with a short k it is a few rows that stay in cache anyway: the kernel reads a row-major B in
  // place instead (full panels; the last partial one is packed).
  const bool directB = !g.transB && (g.m <= 2 * mr || g.k <= 32);
  float* pa = PackBuffers::grow(tlsPack.a, tlsPack.aCap, mcMax * kcMax);
  float* pb = PackBuffers::grow(tlsPack.b, tlsPack.bCap, ncMax * kcMax);

  for (size_t j0 = 0; j0 < g.n; j0 += ncMax) {
    const size_t nc = std::min(ncMax, g.n - j0);
    const size_t ncFull = directB ? nc / nr * nr : 0;  // panels read in place
    for (size_t p0 = 0; p0 < g.k; p0 += kcMax) {
      const size_t kc = std::min(kcMax, g.k - p0);
      const bool first = p0 == 0, last = p0 + kc == g.k;
      packB(g, kern, p0, kc, j0, ncFull, nc, sk.nr, pb);
      for (size_t i0 = 0; i0 < g.m; i0 += mcMax) {
        const size_t mc = std::min(mcMax, g.m - i0);
        packA(g, kern, i0, mc, p0, kc, sk.mr, pa);
        for (size_t jr = 0; jr < nc; jr += nr) {
          const size_t j = j0 + jr;
          const bool inPlace = jr < ncFull;
          const float* bp = inPlace ? g.b + p0 * g.ldb + j : pb + (jr - ncFull) * kc;
          const size_t bStep = inPlace ? g.ldb : nr;
          for (size_t ir = 0; ir < mc; ir += mr) {
            const size_t i = i0 + ir;
            GemmTile t;
            t.c = g.c + i * g.ldc + j;
            t.ldc = g.ldc;
            t.m = static_cast<int>(std::min(mr, mc - ir));
            t.n = static_cast<int>(std::min(nr, nc - jr));
            t.load = !first || g.accumulate;
            t.bias = last && g.bias ? g.bias + j : nullptr;
            t.relu = last && g.relu;
            t.mask = last && g.mask ? g.mask + i * g.ldmask + j : nullptr;
            t.ldmask = g.ldmask;
            sk.micro(kc, pa + ir * kc, mr, bp, bStep, t);
          }
        }
      }
    }
  }
}

}  // namespace dtrain
