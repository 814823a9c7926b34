// The CPU kernel benchmark without Node: bench_kernels [bytes [kernel]] prints one JSON line per
// kernel and level, like `dtrain bench kernels --json` (which calls the same code through the
// addon).
#include <cstdio>
#include <cstdlib>

#include "bench/kernel_bench.h"

using namespace dtrain;

int main(int argc, char** argv) {
  const size_t bytes = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : size_t{64} << 20;
  const KernelBenchResult mc = benchMemcpy(bytes, 0.3);
  for (const auto& name : kernelBenchNames()) {
    if (argc > 2 && name != argv[2]) continue;
    for (int l = 0; l < kIsaCount; ++l) {
      const Isa isa = static_cast<Isa>(l);
      if (!isaSupported(isa)) continue;
      const KernelBenchResult r = benchKernel(name, isa, bytes, 0.3);
      std::printf(
          "{\"kernel\":\"%s\",\"backend\":\"cpu\",\"isa\":\"%s\",\"bytes\":%zu,\"GBs\":%.2f,"
          "\"memcpy_GBs\":%.2f,\"ratio\":%.3f}\n",
          name.c_str(), isaName(isa), bytes, r.gbPerSecond(), mc.gbPerSecond(),
          r.gbPerSecond() / mc.gbPerSecond());
      std::fflush(stdout);
    }
  }
  return 0;
}
