#include "kernels/cpu/sparsify.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/error.h"
#include "kernels/elementwise.h"

namespace dtrain {
namespace {

// Magnitude for ordering; NaN below everything.
inline float key(float x) {
  const float a = std::fabs(x);
  return a == a ? a : -1.0f;
}

// Keeps the k best of cand (by key descending, index ascending) and sorts them by index.
void keepBest(const float* x, std::vector<uint32_t>& cand, size_t k) {
  auto better = [x](uint32_t a, uint32_t b) {
    const float ka = key(x[a]), kb = key(x[b]);
    return ka > kb || (ka == kb && a < b);
  };
  if (cand.size() > k) {
    std::nth_element(cand.begin(), cand.begin() + k, cand.end(), better);
    cand.resize(k);
  }
  std::sort(cand.begin(), cand.end());
}

// Sampling reads whole cache lines at random places: far fewer misses than random elements.
constexpr size_t kLine = 16;

// Positions of about `want` sampled elements: kLine-element runs starting at random lines.
template <typename F>
void sampleLines(size_t n, size_t want, uint32_t seed, F visit) {
  const size_t lines = (n + kLine - 1) / kLine;
  const size_t runs = (want + kLine - 1) / kLine;
  for (size_t r = 0; r < runs; ++r) {
    const uint64_t pick =
        (static_cast<uint64_t>(randomBits(seed, static_cast<uint32_t>(r))) * lines) >> 32;
    const size_t start = static_cast<size_t>(pick) * kLine;
    const size_t end = std::min(n, start + kLine);
    for (size_t i = start; i < end; ++i) visit(i);
  }
}

// The r-th largest (1-based) of the sample's keys.
float rankedKey(std::vector<float>& keys, size_t r) {
  r = std::min(std::max<size_t>(r, 1), keys.size());
  std::nth_element(keys.begin(), keys.begin() + (r - 1), keys.end(), std::greater<float>());
  return keys[r - 1];
}

// A threshold of 0 would select zeros; the smallest positive float selects only nonzeros.
inline float positive(float t) { return t > 0 ? t : std::numeric_limits<float>::denorm_min(); }

}  // namespace

size_t dgcSampleWant(size_t n, float sampleRatio) {
  return std::max<size_t>(static_cast<size_t>(std::ceil(static_cast<double>(n) * sampleRatio)),
                          1024);
}

void dgcSamplePositions(size_t n, size_t want, uint32_t seed, std::vector<uint32_t>* out) {
  out->clear();
  sampleLines(n, want, seed, [out](size_t i) { out->push_back(static_cast<uint32_t>(i)); });
}

float dgcSampleThreshold(std::vector<float>* keys, float density) {
  const size_t ks = static_cast<size_t>(
      std::ceil(static_cast<double>(keys->size()) * static_cast<double>(density)));
  return positive(rankedKey(*keys, ks));
}

bool dgcUsesExactPath(size_t n, const DgcOptions& o) {
  const size_t k = dgcTargetCount(n, o.density);
  return dgcSampleWant(n, o.sampleRatio) >= n / 2 || k * 16 > n;
}

namespace {

void topkFull(const float* x, size_t n, size_t k, std::vector<uint32_t>& cand) {
  cand.resize(n);
  for (size_t i = 0; i < n; ++i) cand[i] = static_cast<uint32_t>(i);
  keepBest(x, cand, k);
}

}  // namespace

void topkAbs(const CpuKernelTable& t, const float* x, size_t n, size_t k, uint32_t* idx,
             float* val) {
  if (k > n) throw Error(ErrorCode::kInvalidArgument, "topk: k is larger than the length");
  if (k == 0) return;
  std::vector<uint32_t> cand;
  if (n < 8192 || k * 16 > n) {
    topkFull(x, n, k, cand);
  } else {
    // Estimate a threshold that about 2k elements pass, collect everything at or above it in
    // one SIMD pass, and pick the exact top k among those: every element below the threshold
    // ranks below every collected one, so the answer is exact whenever at least k pass.
    std::vector<float> keys;
    const size_t want = std::min(n, std::max<size_t>(8192, n / 64));
    sampleLines(n, want, 0x5eed1234u, [&](size_t i) { keys.push_back(key(x[i])); });
    const double perSample = static_cast<double>(keys.size()) / static_cast<double>(n);
    size_t rank = static_cast<size_t>(std::ceil(2.0 * k * perSample)) + 4;
    const size_t cap = 4 * k + 1024;
    cand.resize(cap);
    bool done = false;
    for (int round = 0; round < 4 && !done; ++round) {
      const float thr = positive(rankedKey(keys, rank));
      const size_t c = t.selectAbove(x, n, thr, cand.data(), cap);
      if (c > cap) {
        rank = std::max<size_t>(1, rank / 2);
      } else if (c < k) {
        if (rank >= keys.size()) break;
        rank *= 2;
      } else {
        cand.resize(c);
        keepBest(x, cand, k);
        done = true;
      }
    }
    if (!done) topkFull(x, n, k, cand);
  }
  for (size_t i = 0; i < k; ++i) {
    idx[i] = cand[i];
    val[i] = x[cand[i]];
  }
}

size_t dgcTargetCount(size_t n, float density) {
  if (n == 0) return 0;
  const double c = std::ceil(static_cast<double>(n) * static_cast<double>(density));
  return std::min(n, std::max<size_t>(1, static_cast<size_t>(c)));
}

DgcResult dgcStep(const CpuKernelTable& t, float* u, float* v, const float* g, size_t n,
                  const DgcOptions& o, uint32_t* idx, float* val32, uint16_t* val16) {
  DgcResult res;
  const size_t k = dgcTargetCount(n, o.density);
  if (k == 0) return res;
  const float m = o.momentum;
  std::vector<uint32_t> cand;
  size_t count = 0;
  const size_t sampleWant = dgcSampleWant(n, o.sampleRatio);
  if (dgcUsesExactPath(n, o)) {
    // Small tensors: accumulate, then an exact top-k.
    t.dgcAccumulateSelect(u, v, g, n, m, std::numeric_limits<float>::infinity(), nullptr, 0);
    std::vector<uint32_t> sel(k);
    std::vector<float> vals(k);
    topkAbs(t, v, n, k, sel.data(), vals.data());
    cand.assign(sel.begin(), sel.end());
    // Elements that are exactly 0 are not worth sending.
    cand.erase(std::remove_if(cand.begin(), cand.end(), [v](uint32_t i) { return v[i] == 0; }),
               cand.end());
  } else {
    // The sample is of the accumulated v the fused pass is about to write, computed with the
    // same float operations, so the threshold applies to exactly those values.
    std::vector<uint32_t> pos;
    dgcSamplePositions(n, sampleWant, o.seed, &pos);
    std::vector<float> keys(pos.size());
    for (size_t j = 0; j < pos.size(); ++j) {
      const uint32_t i = pos[j];
      const float nu = m * u[i] + g[i];
      const float nv = v[i] + nu;
      keys[j] = key(nv);
    }
    float thr = dgcSampleThreshold(&keys, o.density);
    const size_t cap = 2 * k + 64;
    cand.resize(cap);
    count = t.dgcAccumulateSelect(u, v, g, n, m, thr, cand.data(), cap);
    for (int round = 0; round < o.maxRounds; ++round) {
      if (count > cap) {
        thr *= 1.3f;
      } else if (count * 5 < k * 4) {  // fewer than 0.8 k
        thr = positive(thr * 0.8f);
      } else {
        break;
      }
      count = t.selectAbove(v, n, thr, cand.data(), cap);
      ++res.rounds;
    }
    res.threshold = thr;
    if (count > cap) {
      std::vector<uint32_t> sel(k);
      std::vector<float> vals(k);
      topkAbs(t, v, n, k, sel.data(), vals.data());
      cand.assign(sel.begin(), sel.end());
      res.threshold = 0;
    } else {
      cand.resize(count);
      keepBest(v, cand, k);
    }
  }
  for (size_t i = 0; i < cand.size(); ++i) {
    const uint32_t j = cand[i];
    idx[i] = j;
    if (val32) val32[i] = v[j];
    if (val16) val16[i] = floatToHalfBits(v[j]);
    u[j] = 0;
    v[j] = 0;
  }
  res.count = cand.size();
  return res;
}

void scatterAdd(float* dense, size_t n, const uint32_t* idx, const float* val32,
                const uint16_t* val16, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (idx[i] >= n) {
      throw Error(ErrorCode::kInvalidArgument,
                  "scatterAdd: index " + std::to_string(idx[i]) + " at position " +
                      std::to_string(i) + " is out of range for length " + std::to_string(n));
    }
  }
  if (val32) {
    for (size_t i = 0; i < count; ++i) dense[idx[i]] += val32[i];
  } else {
    for (size_t i = 0; i < count; ++i) dense[idx[i]] += halfBitsToFloat(val16[i]);
  }
}

}  // namespace dtrain
