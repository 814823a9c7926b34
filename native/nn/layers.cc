#include "nn/layers.h"

#include <cmath>
#include <cstring>

#include "nn/gemm.h"

namespace dtrain {

void linearForward(const LinearShape& s, const float* x, const float* w, const float* b, float* y,
                   bool relu) {
  GemmArgs g;
  g.m = s.batch, g.n = s.out, g.k = s.in;
  g.a = x, g.lda = s.in;
  g.b = w, g.ldb = s.in, g.transB = true;
  g.c = y, g.ldc = s.out;
  g.bias = b;
  g.relu = relu;
  sgemm(g);
}

void linearGradWeight(const LinearShape& s, const float* x, const float* dy, float* dw,
                      bool accumulate) {
  GemmArgs g;
  g.m = s.out, g.n = s.in, g.k = s.batch;
  g.a = dy, g.lda = s.out, g.transA = true;
  g.b = x, g.ldb = s.in;
  g.c = dw, g.ldc = s.in;
  g.accumulate = accumulate;
  sgemm(g);
}

void linearGradBias(const LinearShape& s, const float* dy, float* db, bool accumulate) {
  // Row by row, so the inner loop runs over contiguous memory and vectorizes; the sum over the
  // batch is in row order whatever the SIMD width, so every level gives the same bits.
  if (!accumulate) std::memset(db, 0, s.out * sizeof(float));
  for (size_t i = 0; i < s.batch; ++i) {
    const float* row = dy + i * s.out;
    for (size_t j = 0; j < s.out; ++j) db[j] += row[j];
  }
}

void linearGradInput(const LinearShape& s, const float* dy, const float* w, float* dx,
                     const float* mask) {
  GemmArgs g;
  g.m = s.batch, g.n = s.in, g.k = s.out;
  g.a = dy, g.lda = s.out;
  g.b = w, g.ldb = s.in;
  g.c = dx, g.ldc = s.in;
  g.mask = mask;
  g.ldmask = s.in;
  sgemm(g);
}

namespace {
inline size_t labelAt(const int32_t* l32, const uint8_t* l8, size_t i) {
  return l32 ? static_cast<size_t>(l32[i]) : l8[i];
}
}  // namespace

double softmaxCrossEntropy(const float* logits, const int32_t* labels32, const uint8_t* labels8,
                           size_t batch, size_t classes, float* dlogits, float scale) {
  double total = 0;
  const float gscale = batch ? scale / static_cast<float>(batch) : 0.0f;
  for (size_t i = 0; i < batch; ++i) {
    const float* z = logits + i * classes;
    const size_t label = labelAt(labels32, labels8, i);
    float mx = z[0];
    for (size_t j = 1; j < classes; ++j) mx = z[j] > mx ? z[j] : mx;
    // exp in double: the loss is summed over the batch and compared with torch's in tests.
    double sum = 0;
    for (size_t j = 0; j < classes; ++j) sum += std::exp(static_cast<double>(z[j] - mx));
    const double lse = std::log(sum) + mx;
    total += lse - z[label];
    if (dlogits) {
      float* d = dlogits + i * classes;
      for (size_t j = 0; j < classes; ++j) {
        const double p = std::exp(static_cast<double>(z[j]) - lse);
        d[j] = static_cast<float>(p - (j == label ? 1.0 : 0.0)) * gscale;
      }
    }
  }
  return batch ? total / static_cast<double>(batch) : 0.0;
}

size_t countCorrect(const float* logits, const int32_t* labels32, const uint8_t* labels8,
                    size_t batch, size_t classes) {
  size_t correct = 0;
  for (size_t i = 0; i < batch; ++i) {
    const float* z = logits + i * classes;
    size_t best = 0;
    for (size_t j = 1; j < classes; ++j) {
      if (z[j] > z[best]) best = j;
    }
    correct += best == labelAt(labels32, labels8, i);
  }
  return correct;
}

void gatherRows(const uint8_t* src8, const float* src32, const int32_t* indices, size_t rows,
                size_t features, float scale, float* dst) {
  for (size_t r = 0; r < rows; ++r, dst += features) {
    const size_t at = static_cast<size_t>(indices[r]) * features;
    if (src8) {
      const uint8_t* s = src8 + at;
      for (size_t j = 0; j < features; ++j) dst[j] = static_cast<float>(s[j]) * scale;
    } else if (scale == 1.0f) {
      std::memcpy(dst, src32 + at, features * sizeof(float));
    } else {
      const float* s = src32 + at;
      for (size_t j = 0; j < features; ++j) dst[j] = s[j] * scale;
    }
  }
}

void reluForward(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = x[i] > 0 ? x[i] : 0.0f;
}

void reluBackward(const float* dy, const float* y, float* dx, size_t n) {
  for (size_t i = 0; i < n; ++i) dx[i] = y[i] > 0 ? dy[i] : 0.0f;
}

}  // namespace dtrain
