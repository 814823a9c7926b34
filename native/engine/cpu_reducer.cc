#include "engine/reducer.h"
#include "kernels/cpu/reduce.h"

namespace dtrain {

namespace {
class CpuReducer final : public Reducer {
 public:
  void reduce(DType dtype, ReduceOp op, void* dst, const void* src, size_t count) const override {
    reduceInto(dtype, op, dst, src, count);
  }
  void scale(DType dtype, void* dst, size_t count, int divisor) const override {
    scaleForAverage(dtype, dst, count, divisor);
  }
};
}  // namespace

const Reducer& cpuReducer() {
  static const CpuReducer r;
  return r;
}

}  // namespace dtrain
