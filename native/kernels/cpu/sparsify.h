// Sparsification: exact top-k by magnitude, Deep Gradient Compression's step (Lin et al. 2018),
// and the decoder that scatter-adds sparse gradients into a dense buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cpu/kernel_table.h"
#include "kernels/params.h"

namespace dtrain {

// The k elements of largest |x| (NaN counts as below every number; ties go to the lower index),
// written as indices in ascending order and their values. k <= n. Exact: the result equals
// sorting by (|x| descending, index ascending) and taking the first k.
void topkAbs(const CpuKernelTable& t, const float* x, size_t n, size_t k, uint32_t* idx,
             float* val);

// Elements DGC targets for n elements at this density: ceil(n * density), at least 1 (n > 0).
size_t dgcTargetCount(size_t n, float density);

struct DgcResult {
  size_t count = 0;     // pairs written
  float threshold = 0;  // the |v| threshold finally used (0 when an exact top-k decided)
  int rounds = 0;       // passes over v after the fused one
};

// One DGC step on a tensor: u = m u + g; v = v + u (momentum correction, local accumulation);
// a threshold on |v| from a sample (adapted x1.3 / x0.8 while too many or too few pass, with an
// exact top-k on the passing set when more than the target pass); the selected (index, v)
// pairs in ascending index order, values as float32 (val32) or float16 bits (val16; the other
// null); then u and v are zeroed where sent (momentum factor masking). At most
// dgcTargetCount(n, density) pairs; idx and the value array must hold that many.
DgcResult dgcStep(const CpuKernelTable& t, float* u, float* v, const float* g, size_t n,
                  const DgcOptions& o, uint32_t* idx, float* val32, uint16_t* val16);

// dense[idx[i]] += val[i] for the pairs of one sender (float32 or float16 values). Throws
// dtrain::Error (kInvalidArgument) if an index is >= n, before adding anything.
void scatterAdd(float* dense, size_t n, const uint32_t* idx, const float* val32,
                const uint16_t* val16, size_t count);

// Shared with the CUDA DGC so both choose the same threshold: the sampled positions (runs of
// 16 elements at random lines) and the sample's threshold for a density.
size_t dgcSampleWant(size_t n, float sampleRatio);
void dgcSamplePositions(size_t n, size_t want, uint32_t seed, std::vector<uint32_t>* out);
float dgcSampleThreshold(std::vector<float>* keys, float density);
// Whether dgcStep takes the small-tensor path (accumulate, then an exact top-k).
bool dgcUsesExactPath(size_t n, const DgcOptions& o);

}  // namespace dtrain
