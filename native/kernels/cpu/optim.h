// Fused optimizer steps over many tensors in one call (the shape of Apex's multi_tensor_apply):
// float32 master weights, float32 or float16 gradients with the loss-scale unscale folded in,
// an optional float16 copy of the weights written in the same pass, and a skip when the
// gradients hold inf/NaN.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/kernel_table.h"
#include "kernels/params.h"

namespace dtrain {

// Returns false, touching nothing, when checkFinite found an inf/NaN gradient.
bool sgdStep(const CpuKernelTable& k, const SgdOptions& o, const TensorSlot* tensors, size_t count);

// LARS (You et al. 2017): per tensor, trust = eta * |w| / (|g| + wd * |w|) with |g| the norm of
// the unscaled gradient, or 1 when either norm is 0 or the tensor is excluded; then
//   v = momentum * v + lr * trust * (g + wd * w);  w = w - v.
// trustOut, if not null, receives each tensor's trust ratio. Returns false (nothing touched)
// when checkFinite found an inf/NaN gradient.
bool larsStep(const CpuKernelTable& k, const LarsOptions& o, const TensorSlot* tensors,
              size_t count, float* trustOut);

// The trust ratio, as larsStep computes it from the squared norms.
double larsTrustRatio(double weightSumSquares, double gradSumSquares, double gradScale, double eta,
                      double weightDecay, bool exclude);

}  // namespace dtrain
