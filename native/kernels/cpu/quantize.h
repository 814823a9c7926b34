// Gradient quantizers and their decoders: QSGD with s levels, TernGrad, and 1-bit sign
// compression with error feedback. Codes are bit-planes: bit i of a plane is bit (i % 8) of
// byte i / 8, each plane ceil(n / 8) bytes long.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/kernel_table.h"

namespace dtrain {

inline size_t bitPlaneBytes(size_t n) { return (n + 7) / 8; }

// Level bit-planes QSGD needs for s levels: ceil(log2(s + 1)).
int qsgdPlaneCount(uint32_t s);
// Code size: a sign plane then qsgdPlaneCount(s) level planes, least significant first.
inline size_t qsgdCodeBytes(size_t n, uint32_t s) {
  return (1 + static_cast<size_t>(qsgdPlaneCount(s))) * bitPlaneBytes(n);
}

// QSGD (Alistarh et al. 2017): with r = |x_i| / ||x||_2 * s, level_i = floor(r) + 1 with
// probability r - floor(r), else floor(r) (unbiased); decoded x_i = sgn * level_i * ||x||_2 / s.
// Uses `norm` if it is >= 0, else computes ||x||_2; returns the norm used. The randomness is
// randomDraw16(seed, i) (randomUnit(seed, i) for s > 32767); see kernel_table.h. s must be
// in 1..2^24.
float qsgdEncode(const CpuKernelTable& k, const float* x, size_t n, uint32_t s, uint32_t seed,
                 uint8_t* code, float norm = -1);
void qsgdDecode(const CpuKernelTable& k, const uint8_t* code, size_t n, uint32_t s, float norm,
                float* out, bool accumulate);

// TernGrad (Wen et al. 2017): scale = max |x_i|; x~_i = scale * sgn(x_i) * b_i with
// b_i ~ Bernoulli(|x_i| / scale). Code: a nonzero plane then a sign plane. Returns the scale.
inline size_t ternGradCodeBytes(size_t n) { return 2 * bitPlaneBytes(n); }
float ternGradEncode(const CpuKernelTable& k, const float* x, size_t n, uint32_t seed,
                     uint8_t* code);
void ternGradDecode(const CpuKernelTable& k, const uint8_t* code, size_t n, float scale, float* out,
                    bool accumulate);

// 1-bit sign compression with error feedback (Seide et al. 2014): x = g + e;
// scale = mean |x|; sent: scale and the sign plane of x; e = x - (x < 0 ? -scale : scale).
// The residual e is the caller's, one per tensor, zero at the start. Returns the scale.
float signEncode(const CpuKernelTable& k, const float* grad, float* residual, size_t n,
                 uint8_t* code);
void signDecode(const CpuKernelTable& k, const uint8_t* code, size_t n, float scale, float* out,
                bool accumulate);

// Chunked QSGD and TernGrad: one norm (QSGD) or scale (TernGrad) per `chunk` elements, as
// the QSGD paper's bucketing (d = 512) does, so the variance grows with the chunk, not with the
// whole tensor. The code has the unchunked layout over all n (chunk is a multiple of 8, so each
// chunk starts on a byte of every plane); `scales` holds ceil(n / chunk) floats. The random
// draws are indexed by the element's position in the whole tensor, as in the unchunked code.
// A chunk whose norm or scale is not finite encodes as zeros and keeps its non-finite scale, so
// the decoder's output is NaN there and the overflow is seen by whoever checks the result.
void qsgdEncodeChunks(const CpuKernelTable& k, const float* x, size_t n, uint32_t s, uint32_t seed,
                      size_t chunk, uint8_t* code, float* norms);
void qsgdDecodeChunks(const CpuKernelTable& k, const uint8_t* code, size_t n, uint32_t s,
                      size_t chunk, const float* norms, float* out, bool accumulate);
void ternGradEncodeChunks(const CpuKernelTable& k, const float* x, size_t n, uint32_t seed,
                          size_t chunk, uint8_t* code, float* scales);
void ternGradDecodeChunks(const CpuKernelTable& k, const uint8_t* code, size_t n, size_t chunk,
                          const float* scales, float* out, bool accumulate);
// Chunked 1-bit: one scale (mean |x| of the chunk) per `chunk` elements, the sign plane over
// all n as in signEncode; `scales` holds ceil(n / chunk) floats.
void signEncodeChunks(const CpuKernelTable& k, const float* grad, float* residual, size_t n,
                      size_t chunk, uint8_t* code, float* scales);
void signDecodeChunks(const CpuKernelTable& k, const uint8_t* code, size_t n, size_t chunk,
                      const float* scales, float* out, bool accumulate);
inline size_t chunkCount(size_t n, size_t chunk) { return (n + chunk - 1) / chunk; }

}  // namespace dtrain
