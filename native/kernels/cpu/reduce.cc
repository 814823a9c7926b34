#include "kernels/cpu/reduce.h"

#include <algorithm>
#include <cstdint>

namespace dtrain {
namespace {

// __restrict lets the compiler vectorize: dst and src never overlap (src is a peer's data in a
// staging area or a shared-memory ring).
template <typename T, typename F>
void apply(T* __restrict dst, const T* __restrict src, size_t n, F f) {
  for (size_t i = 0; i < n; ++i) dst[i] = f(dst[i], src[i]);
}

template <typename T>
void reduceTyped(ReduceOp op, void* dst, const void* src, size_t n) {
  T* d = static_cast<T*>(dst);
  const T* s = static_cast<const T*>(src);
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      apply(d, s, n, [](T a, T b) { return static_cast<T>(a + b); });
      break;
    case ReduceOp::kMin:
      apply(d, s, n, [](T a, T b) { return b < a ? b : a; });
      break;
    case ReduceOp::kMax:
      apply(d, s, n, [](T a, T b) { return b > a ? b : a; });
      break;
  }
}

// Integer sums wrap (two's complement) like Int32Array arithmetic in JS, instead of the
// undefined behaviour of signed overflow in C++.
void reduceInt32(ReduceOp op, void* dst, const void* src, size_t n) {
  if (op == ReduceOp::kSum || op == ReduceOp::kAvg) {
    auto* d = static_cast<uint32_t*>(dst);
    auto* s = static_cast<const uint32_t*>(src);
    apply(d, s, n, [](uint32_t a, uint32_t b) { return a + b; });
  } else {
    reduceTyped<int32_t>(op, dst, src, n);
  }
}

}  // namespace

void reduceInto(DType dtype, ReduceOp op, void* dst, const void* src, size_t count) {
  switch (dtype) {
    case DType::kFloat32: reduceTyped<float>(op, dst, src, count); break;
    case DType::kFloat64: reduceTyped<double>(op, dst, src, count); break;
    case DType::kInt32: reduceInt32(op, dst, src, count); break;
  }
}

void scaleForAverage(DType dtype, void* dst, size_t count, int divisor) {
  switch (dtype) {
    case DType::kFloat32: {
      float* d = static_cast<float*>(dst);
      const float p = static_cast<float>(divisor);
      for (size_t i = 0; i < count; ++i) d[i] = d[i] / p;
      break;
    }
    case DType::kFloat64: {
      double* d = static_cast<double*>(dst);
      const double p = divisor;
      for (size_t i = 0; i < count; ++i) d[i] = d[i] / p;
      break;
    }
    case DType::kInt32: {
      int32_t* d = static_cast<int32_t*>(dst);
      for (size_t i = 0; i < count; ++i) d[i] = d[i] / divisor;
      break;
    }
  }
}

}  // namespace dtrain
