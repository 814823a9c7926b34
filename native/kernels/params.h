// The parameters of the multi-tensor optimizer steps and of Deep Gradient Compression, shared by
// the CPU kernels (cpu/optim.h, cpu/sparsify.h), the CUDA kernels (cuda/cuda_kernels.h) and the
// binding, which exports the defaults so that lib/kernels/ does not define them again. Plain
// structs: on the GPU the pointers are device memory.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dtrain {

// One tensor of a multi-tensor step.
struct TensorSlot {
  float* weights;
  const void* grad;     // float32, or float16 bits when the options say gradHalf
  float* state;         // momentum buffer (SGD) / velocity (LARS), zero at the first step
  uint16_t* weights16;  // optional: receives half(weights) after the update
  size_t n;
  bool exclude;  // SGD: no weight decay. LARS: no weight decay and no adaptation (bias, BN)
};

struct SgdOptions {
  float lr = 0.01f, momentum = 0.9f, weightDecay = 0, gradScale = 1;
  bool nesterov = false;
  bool gradHalf = false;
  bool checkFinite = true;  // read the gradients first and skip the step if any is inf/NaN
};

struct LarsOptions {
  float lr = 0.1f, momentum = 0.9f, weightDecay = 5e-4f, eta = 0.001f, gradScale = 1;
  bool gradHalf = false;
  bool checkFinite = true;
};

struct DgcOptions {
  float momentum = 0.9f;
  float density = 0.001f;     // target fraction of elements sent
  float sampleRatio = 0.01f;  // fraction of elements sampled to estimate the threshold
  uint32_t seed = 0;          // which positions are sampled
  int maxRounds = 10;         // threshold adaptations before settling for an exact top-k
};

}  // namespace dtrain
