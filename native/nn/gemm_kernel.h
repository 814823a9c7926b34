// The per-level micro-kernels of sgemm: C[0:m, 0:n] (+)= Apanel * Bpanel for one MR x NR tile,
// with the epilogue. Apanel holds kc groups of MR values (column k of the tile's rows), aStep
// floats apart; Bpanel kc groups of NR values (row k of the tile's columns), bStep floats apart.
// Packed panels are zero-padded past m and n; the driver passes an unpacked matrix (its leading
// dimension as the step) only where a full tile's values lie there. The kernel always computes
// a full tile and only the store looks at m and n.
#pragma once

#include <cstddef>

#include "kernels/cpu/isa.h"

namespace dtrain {

struct GemmTile {
  float* c;
  size_t ldc;
  int m, n;                 // valid rows and columns of this tile (<= MR, NR)
  bool load;                // add the existing C (a later k block, or accumulate)
  const float* bias;        // this tile's n bias values, or null
  bool relu;                // max(0, .) after the bias
  const float* mask;        // this tile's mask rows (elements <= 0 zero the result), or null
  size_t ldmask;
};

using GemmMicroKernel = void (*)(size_t kc, const float* a, size_t aStep, const float* b,
                                 size_t bStep, const GemmTile& t);

// Writes rows j0..j0+cols of an n x k row-major matrix (columns of its transpose), k values
// p0..p0+kc, as one panel of nr columns: out[k * nr + c] = src[(j0 + c) * ld + p0 + k], zero for
// c >= cols.
using GemmTransposePack = void (*)(const float* src, size_t ld, size_t cols, size_t kc, int nr,
                                   float* out);

struct GemmShapeKernel {
  int mr, nr;
  // Cache blocks (elements): kc (depth of a packed panel), mc (rows of A packed at once), nc
  // (columns of B packed at once).
  size_t kc, mc, nc;
  GemmMicroKernel micro;
};

struct GemmKernel {
  Isa isa;
  GemmShapeKernel wide;    // the main tile
  GemmShapeKernel narrow;  // for products with few columns (n <= narrow.nr)
  GemmTransposePack packTransposed;
  int lanes;  // floats per vector FMA
  // Vector FMA instructions one core retires per nanosecond, over `iterations` rounds of a loop
  // of independent FMAs (gemm_bench.h turns it into the FMA peak).
  double (*fmaPerNs)(long iterations);
};

const GemmKernel& gemmKernel(Isa isa);

// Each level's kernel, in its own file (gemm_<level>.cc).
const GemmKernel& scalarGemmKernel();
const GemmKernel& avx2GemmKernel();
const GemmKernel& avx512GemmKernel();

// The portable transpose-pack (gemm_scalar.cc), also what the SIMD packers fall back to at edges.
void packTransposedScalar(const float* src, size_t ld, size_t cols, size_t kc, int nr, float* out);

}  // namespace dtrain
