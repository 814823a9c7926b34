// Throughput of each CPU kernel at a given level and size, and of memcpy on the same size in the
// same process, for `dtrain bench kernels` (which adds PyTorch's equivalents side by side).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kernels/cpu/isa.h"

namespace dtrain {

struct KernelBenchResult {
  std::string kernel;
  size_t elements = 0;
  double bytesMoved = 0;  // every byte read and written by one call, all passes included
  double seconds = 0;     // the fastest call
  double gbPerSecond() const { return seconds > 0 ? bytesMoved / seconds / 1e9 : 0; }
};

// The benchmarked kernels, in print order.
std::vector<std::string> kernelBenchNames();

// Times one kernel on inputs of `bytes` bytes (the float32 side for casts, the reduced buffer
// for reductions, the weights for optimizers, the gradient for compressors), repeating it for
// at least minSeconds after a warm-up; throws dtrain::Error for an unknown name.
KernelBenchResult benchKernel(const std::string& name, Isa isa, size_t bytes, double minSeconds);

// memcpy of `bytes` (read + write counted, as for the kernels).
KernelBenchResult benchMemcpy(size_t bytes, double minSeconds);

// The machine's ceilings at this size, for reading a kernel's ratio: "probe_read" reads `bytes`
// once (the best level's maxAbs, a read-only pass) and "probe_write" writes them (memset).
// A kernel that must read R and write W bytes takes at least max(R / read, W / write) seconds.
KernelBenchResult benchProbe(const std::string& name, size_t bytes, double minSeconds);

}  // namespace dtrain
