// Single-precision matrix products for the reference model, row-major throughout:
//   C = op(A) * op(B)  (+ C when accumulate), then an optional epilogue per element:
//   + bias[j], max(0, .) (ReLU), * (mask[i, j] > 0) (ReLU's backward, given the layer's output).
// op(X) is X or its transpose. Packed, cache-blocked, with one micro-kernel per instruction-set
// level (gemm_kernel.h); the driver and the packing are written once (gemm.cc).
#pragma once

#include <cstddef>

#include "kernels/cpu/isa.h"

namespace dtrain {

struct GemmArgs {
  size_t m = 0, n = 0, k = 0;
  const float* a = nullptr;  // op(A) is m x k: A is m x k (transA false) or k x m (true)
  size_t lda = 0;
  bool transA = false;
  const float* b = nullptr;  // op(B) is k x n: B is k x n (transB false) or n x k (true)
  size_t ldb = 0;
  bool transB = false;
  float* c = nullptr;  // m x n
  size_t ldc = 0;
  bool accumulate = false;       // C += product instead of C = product
  const float* bias = nullptr;   // n values added to every row
  bool relu = false;             // max(0, .) after the bias
  const float* mask = nullptr;   // m x n: elements where mask <= 0 become 0
  size_t ldmask = 0;
};

// Runs at activeIsa() (DTRAIN_ISA, else the best level of this CPU). Single-threaded: the
// workers are the parallelism. Throws dtrain::Error (kInvalidArgument) on inconsistent strides.
void sgemm(const GemmArgs& args);
void sgemm(Isa isa, const GemmArgs& args);

}  // namespace dtrain
