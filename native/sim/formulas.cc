#include "sim/formulas.h"

#include <cmath>

namespace dtrain {

std::optional<double> formulaSeconds(Algorithm a, int p, double n, const CostModel& m) {
  if (p == 1 || n == 0) return 0.0;
  int pp = 1;
  while (pp * 2 <= p) pp *= 2;
  const double lg = std::log2(pp);
  const bool pow2 = pp == p;
  const double frac = static_cast<double>(pp - 1) / pp;  // (p'-1)/p'
  switch (a) {
    case Algorithm::kRing:
      return 2.0 * (p - 1) * m.alpha + 2.0 * n * (p - 1) / p * m.beta + n * (p - 1) / p * m.gamma;
    case Algorithm::kRecursiveDoubling:
      if (pow2) return lg * (m.alpha + n * m.beta + n * m.gamma);
      return (lg + 2) * m.alpha + (lg + 2) * n * m.beta + (lg + 1) * n * m.gamma;
    case Algorithm::kHalvingDoubling:
      if (pow2) return 2 * lg * m.alpha + 2 * n * frac * m.beta + n * frac * m.gamma;
      return (2 * lg + 2) * m.alpha + (2 * frac + 2) * n * m.beta + n * (1 + frac) * m.gamma;
    default:
      return std::nullopt;
  }
}

}  // namespace dtrain
