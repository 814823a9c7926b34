#include "kernels/cpu/optim.h"

#include <cmath>
#include <vector>

namespace dtrain {
namespace {

bool gradsFinite(const CpuKernelTable& k, bool gradHalf, const TensorSlot* t, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const bool bad = gradHalf ? k.nonFiniteHalf(static_cast<const uint16_t*>(t[i].grad), t[i].n)
                              : k.nonFiniteFloat(static_cast<const float*>(t[i].grad), t[i].n);
    if (bad) return false;
  }
  return true;
}

}  // namespace

bool sgdStep(const CpuKernelTable& k, const SgdOptions& o, const TensorSlot* tensors,
             size_t count) {
  if (o.checkFinite && !gradsFinite(k, o.gradHalf, tensors, count)) return false;
  for (size_t i = 0; i < count; ++i) {
    const TensorSlot& t = tensors[i];
    SgdElementArgs a{o.lr, o.momentum, t.exclude ? 0.0f : o.weightDecay, o.gradScale, o.nesterov};
    k.sgdUpdate(a, t.weights, t.grad, o.gradHalf, t.state, t.weights16, t.n);
  }
  return true;
}

double larsTrustRatio(double weightSumSquares, double gradSumSquares, double gradScale, double eta,
                      double weightDecay, bool exclude) {
  if (exclude) return 1.0;
  const double wn = std::sqrt(weightSumSquares);
  const double gn = std::sqrt(gradSumSquares) * std::fabs(gradScale);
  if (!(wn > 0) || !(gn > 0)) return 1.0;
  return eta * wn / (gn + weightDecay * wn);
}

bool larsStep(const CpuKernelTable& k, const LarsOptions& o, const TensorSlot* tensors,
              size_t count, float* trustOut) {
  std::vector<float> own;
  if (!trustOut) {
    own.resize(count);
    trustOut = own.data();
  }
  // The gradient norms come first, for every tensor: a non-finite gradient shows as a
  // non-finite norm, so the usual step needs no separate check pass. A finite gradient whose
  // square overflows float32 lanes also shows; the exact check then decides.
  bool suspect = false;
  for (size_t i = 0; i < count; ++i) {
    const TensorSlot& t = tensors[i];
    const double gs = o.gradHalf ? k.sumSquaresHalf(static_cast<const uint16_t*>(t.grad), t.n)
                                 : k.sumSquares(static_cast<const float*>(t.grad), t.n);
    if (!std::isfinite(gs)) suspect = true;
    const double ws = t.exclude ? 0.0 : k.sumSquares(t.weights, t.n);
    trustOut[i] =
        static_cast<float>(larsTrustRatio(ws, gs, o.gradScale, o.eta, o.weightDecay, t.exclude));
  }
  if (suspect && o.checkFinite && !gradsFinite(k, o.gradHalf, tensors, count)) return false;
  for (size_t i = 0; i < count; ++i) {
    const TensorSlot& t = tensors[i];
    LarsElementArgs a{static_cast<float>(static_cast<double>(o.lr) * trustOut[i]), o.momentum,
                      t.exclude ? 0.0f : o.weightDecay, o.gradScale};
    k.larsUpdate(a, t.weights, t.grad, o.gradHalf, t.state, t.weights16, t.n);
  }
  return true;
}

}  // namespace dtrain
