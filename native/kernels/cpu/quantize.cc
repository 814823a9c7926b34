#include "kernels/cpu/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace dtrain {

int qsgdPlaneCount(uint32_t s) {
  int p = 0;
  while (p < 32 && (static_cast<uint64_t>(1) << p) <= s) ++p;
  return p;
}

float qsgdEncode(const CpuKernelTable& k, const float* x, size_t n, uint32_t s, uint32_t seed,
                 uint8_t* code, float norm) {
  if (norm < 0) norm = static_cast<float>(std::sqrt(k.sumSquares(x, n)));
  const size_t plane = bitPlaneBytes(n);
  const int planes = qsgdPlaneCount(s);
  if (!(norm > 0) || !std::isfinite(norm)) {
    // All zero (or not finite): every level is 0; the decoder's unit makes the rest.
    std::memset(code, 0, (1 + planes) * plane);
    return norm;
  }
  const float levelScale = static_cast<float>(s) / norm;
  k.qsgdEncode(x, n, levelScale, s, seed, 0, code, code + plane, plane, planes);
  return norm;
}

void qsgdDecode(const CpuKernelTable& k, const uint8_t* code, size_t n, uint32_t s, float norm,
                float* out, bool accumulate) {
  const size_t plane = bitPlaneBytes(n);
  k.qsgdDecode(code, code + plane, plane, qsgdPlaneCount(s), n, norm / static_cast<float>(s), out,
               accumulate);
}

float ternGradEncode(const CpuKernelTable& k, const float* x, size_t n, uint32_t seed,
                     uint8_t* code) {
  const float scale = k.maxAbs(x, n);
  const size_t plane = bitPlaneBytes(n);
  if (!(scale > 0) || !std::isfinite(scale)) {
    std::memset(code, 0, 2 * plane);
    return scale;
  }
  k.ternGradEncode(x, n, 1.0f / scale, seed, 0, code, code + plane);
  return scale;
}

void ternGradDecode(const CpuKernelTable& k, const uint8_t* code, size_t n, float scale, float* out,
                    bool accumulate) {
  k.ternGradDecode(code, code + bitPlaneBytes(n), n, scale, out, accumulate);
}

float signEncode(const CpuKernelTable& k, const float* grad, float* residual, size_t n,
                 uint8_t* code) {
  if (n == 0) return 0;
  const float scale = static_cast<float>(k.errorAbsSum(grad, residual, n) / static_cast<double>(n));
  k.signEncode(grad, residual, n, scale, code);
  return scale;
}

void signDecode(const CpuKernelTable& k, const uint8_t* code, size_t n, float scale, float* out,
                bool accumulate) {
  k.signDecode(code, n, scale, out, accumulate);
}

void qsgdEncodeChunks(const CpuKernelTable& k, const float* x, size_t n, uint32_t s, uint32_t seed,
                      size_t chunk, uint8_t* code, float* norms) {
  const size_t plane = bitPlaneBytes(n);
  const int planes = qsgdPlaneCount(s);
  for (size_t c = 0, at = 0; at < n; ++c, at += chunk) {
    const size_t len = std::min(chunk, n - at);
    const float norm = static_cast<float>(std::sqrt(k.sumSquares(x + at, len)));
    norms[c] = norm;
    uint8_t* signs = code + at / 8;
    if (!(norm > 0) || !std::isfinite(norm)) {
      for (int p = 0; p <= planes; ++p) std::memset(signs + p * plane, 0, bitPlaneBytes(len));
      continue;
    }
    k.qsgdEncode(x + at, len, static_cast<float>(s) / norm, s, seed, static_cast<uint32_t>(at),
                 signs, signs + plane, plane, planes);
  }
}

void qsgdDecodeChunks(const CpuKernelTable& k, const uint8_t* code, size_t n, uint32_t s,
                      size_t chunk, const float* norms, float* out, bool accumulate) {
  const size_t plane = bitPlaneBytes(n);
  const int planes = qsgdPlaneCount(s);
  for (size_t c = 0, at = 0; at < n; ++c, at += chunk) {
    const size_t len = std::min(chunk, n - at);
    const uint8_t* signs = code + at / 8;
    k.qsgdDecode(signs, signs + plane, plane, planes, len, norms[c] / static_cast<float>(s),
                 out + at, accumulate);
  }
}

void ternGradEncodeChunks(const CpuKernelTable& k, const float* x, size_t n, uint32_t seed,
                          size_t chunk, uint8_t* code, float* scales) {
  const size_t plane = bitPlaneBytes(n);
  for (size_t c = 0, at = 0; at < n; ++c, at += chunk) {
    const size_t len = std::min(chunk, n - at);
    const float scale = k.maxAbs(x + at, len);
    scales[c] = scale;
    uint8_t* nonzero = code + at / 8;
    if (!(scale > 0) || !std::isfinite(scale)) {
      std::memset(nonzero, 0, bitPlaneBytes(len));
      std::memset(nonzero + plane, 0, bitPlaneBytes(len));
      continue;
    }
    k.ternGradEncode(x + at, len, 1.0f / scale, seed, static_cast<uint32_t>(at), nonzero,
                     nonzero + plane);
  }
}

void ternGradDecodeChunks(const CpuKernelTable& k, const uint8_t* code, size_t n, size_t chunk,
                          const float* scales, float* out, bool accumulate) {
  const size_t plane = bitPlaneBytes(n);
  for (size_t c = 0, at = 0; at < n; ++c, at += chunk) {
    const size_t len = std::min(chunk, n - at);
    const uint8_t* nonzero = code + at / 8;
    k.ternGradDecode(nonzero, nonzero + plane, len, scales[c], out + at, accumulate);
  }
}

void signEncodeChunks(const CpuKernelTable& k, const float* grad, float* residual, size_t n,
                      size_t chunk, uint8_t* code, float* scales) {
  for (size_t c = 0, at = 0; at < n; ++c, at += chunk) {
    const size_t len = std::min(chunk, n - at);
    scales[c] = signEncode(k, grad + at, residual + at, len, code + at / 8);
  }
}

void signDecodeChunks(const CpuKernelTable& k, const uint8_t* code, size_t n, size_t chunk,
                      const float* scales, float* out, bool accumulate) {
  for (size_t c = 0, at = 0; at < n; ++c, at += chunk) {
    const size_t len = std::min(chunk, n - at);
    k.signDecode(code + at / 8, len, scales[c], out + at, accumulate);
  }
}

}  // namespace dtrain
