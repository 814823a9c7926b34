#include "kernels/cpu/reduce.h"

#include <cstdint>

#include "kernels/cpu/kernel_table.h"
#include "kernels/elementwise.h"

namespace dtrain {

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
    case DType::kInt32: {
      int32_t* d = static_cast<int32_t*>(dst);
      for (size_t i = 0; i < count; ++i) d[i] = d[i] / divisor;
      break;
    }
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
