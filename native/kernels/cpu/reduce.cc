#include "kernels/cpu/reduce.h"

#include <cstdint>

#include "kernels/cpu/kernel_table.h"
#include "kernels/elementwise.h"

namespace dtrain {

namespace {
template <typename T>
void divideIntegers(T* d, size_t count, int divisor) {
  for (size_t i = 0; i < count; ++i) d[i] = static_cast<T>(d[i] / divisor);
}
}  // namespace

void reduceInto(DType dtype, ReduceOp op, void* dst, const void* src, size_t count) {
  cpuKernels().reduce(dtype, op, dst, src, count);
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
    case DType::kInt32:
      divideIntegers(static_cast<int32_t*>(dst), count, divisor);
      break;
    case DType::kUint8:
      divideIntegers(static_cast<uint8_t*>(dst), count, divisor);
      break;
    case DType::kInt8:
      divideIntegers(static_cast<int8_t*>(dst), count, divisor);
      break;
    case DType::kInt64:
      divideIntegers(static_cast<int64_t*>(dst), count, divisor);
      break;
    case DType::kFloat16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      const float p = static_cast<float>(divisor);
      for (size_t i = 0; i < count; ++i) d[i] = floatToHalfBits(halfBitsToFloat(d[i]) / p);
      break;
    }
    case DType::kBFloat16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      const float p = static_cast<float>(divisor);
      for (size_t i = 0; i < count; ++i) {
        d[i] = floatToBFloat16Bits(bfloat16BitsToFloat(d[i]) / p);
      }
      break;
    }
  }
}

}  // namespace dtrain
