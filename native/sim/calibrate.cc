#include "sim/calibrate.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "kernels/cpu/reduce.h"

namespace dtrain {

double measureReduceSecondsPerByte(size_t bytes) {
  const size_t n = std::max<size_t>(bytes / 4, 1024);
  std::vector<float> dst(n, 1.0f), src(n, 2.0f);
  reduceInto(DType::kFloat32, ReduceOp::kSum, dst.data(), src.data(), n);  // first touch
  double best = 1e9;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    reduceInto(DType::kFloat32, ReduceOp::kSum, dst.data(), src.data(), n);
    double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, t);
  }
  return best / (n * 4.0);
}

}  // namespace dtrain
