// The reference model's layers on row-major float32 batches: a Linear layer's forward and its
// two backward products, ReLU, and mean softmax cross-entropy. The matrix products go through
// sgemm with the bias, ReLU and ReLU's backward fused into its epilogue.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dtrain {

struct LinearShape {
  size_t batch, in, out;
};

// y[batch, out] = x[batch, in] w[out, in]^T + b (b may be null), then max(0, .) when relu.
void linearForward(const LinearShape& s, const float* x, const float* w, const float* b, float* y,
                   bool relu);

// The parameter gradients from dy[batch, out] (the gradient of the layer's output before any
// ReLU): dw[out, in] (+)= dy^T x, and db[out] (+)= the column sums of dy. Separate, so the
// caller can report the bias gradient (and start its all-reduce) before the weight product.
void linearGradWeight(const LinearShape& s, const float* x, const float* dy, float* dw,
                      bool accumulate);
void linearGradBias(const LinearShape& s, const float* dy, float* db, bool accumulate);

// dx[batch, in] = dy w, times (mask > 0) elementwise when mask (the previous ReLU's output,
// batch x in) is given: the gradient of the previous layer's pre-activation.
void linearGradInput(const LinearShape& s, const float* dy, const float* w, float* dx,
                     const float* mask);

// Mean softmax cross-entropy of logits[batch, classes] against labels (int32 or uint8), and,
// when dlogits is not null, its gradient times scale: dlogits = scale * (softmax - onehot) /
// batch. Labels must be in [0, classes) (the caller checks). Returns the mean loss.
double softmaxCrossEntropy(const float* logits, const int32_t* labels32, const uint8_t* labels8,
                           size_t batch, size_t classes, float* dlogits, float scale);

// How many rows' largest logit is at the label (the first of ties).
size_t countCorrect(const float* logits, const int32_t* labels32, const uint8_t* labels8,
                    size_t batch, size_t classes);

// A batch from a data set: dst row r = src row indices[r] * scale, for `rows` rows of `features`
// values (src bytes, as image pixels are stored, or floats).
void gatherRows(const uint8_t* src8, const float* src32, const int32_t* indices, size_t rows,
                size_t features, float scale, float* dst);

// y = max(0, x); dx = dy * (y > 0). In place is allowed.
void reluForward(const float* x, float* y, size_t n);
void reluBackward(const float* dy, const float* y, float* dx, size_t n);

}  // namespace dtrain
