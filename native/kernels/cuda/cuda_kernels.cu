// CUDA versions of the CPU kernels; see cuda_kernels.h. Arithmetic on floats uses the _rn
// intrinsics, so no multiply-add is fused whatever nvcc's flags: the per-element results are
// the scalar reference's.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <cub/device/device_radix_sort.cuh>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/sparsify.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/elementwise.h"

namespace dtrain {
namespace cuda {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
  }
}

namespace {

constexpr int kThreads = 256;

unsigned blocksFor(size_t n) {
  const size_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::min<size_t>(std::max<size_t>(b, 1), 65535u * 8));
}

#define DTRAIN_GRID_LOOP(i, n)                                            \
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < (n); \
       i += size_t{gridDim.x} * blockDim.x)

// Device scratch freed when it goes out of scope (after the stream has used it).
template <typename T>
struct Scratch {
  T* p = nullptr;
  cudaStream_t s;
  Scratch(size_t count, cudaStream_t stream) : s(stream) {
    check(cudaMallocAsync(reinterpret_cast<void**>(&p), std::max<size_t>(count, 1) * sizeof(T), s),
          "cudaMallocAsync");
  }
  ~Scratch() { cudaFreeAsync(p, s); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

__device__ __forceinline__ bool finiteBits(float x) {
  return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u;
}

__device__ __forceinline__ float key(float x) {
  const float a = fabsf(x);
  return a == a ? a : -1.0f;
}

// ---- casts ----------------------------------------------------------------------------------

template <bool BF16>
__global__ void castToHalfKernel(const float* src, uint16_t* dst, size_t n, float scale) {
  const bool scaled = scale != 1.0f;
  DTRAIN_GRID_LOOP(i, n) {
    const float x = scaled ? __fmul_rn(src[i], scale) : src[i];
    dst[i] = BF16 ? floatToBFloat16Bits(x) : floatToHalfBits(x);
  }
}

template <bool BF16>
__global__ void castFromHalfKernel(const uint16_t* src, float* dst, size_t n, float scale,
                                   int* nonFinite) {
  const bool scaled = scale != 1.0f;
  bool bad = false;
  DTRAIN_GRID_LOOP(i, n) {
    const float c = BF16 ? bfloat16BitsToFloat(src[i]) : halfBitsToFloat(src[i]);
    const float x = scaled ? __fmul_rn(c, scale) : c;
    dst[i] = x;
    bad |= !finiteBits(x);
  }
  if (bad) atomicExch(nonFinite, 1);
}

// ---- reductions -----------------------------------------------------------------------------

template <typename T>
__global__ void reduceKernel(ReduceOp op, T* d, const T* s, size_t n) {
  DTRAIN_GRID_LOOP(i, n) {
    const T a = d[i], b = s[i];
    if (op == ReduceOp::kMin)
      d[i] = b < a ? b : a;
    else if (op == ReduceOp::kMax)
      d[i] = b > a ? b : a;
    else if (op == ReduceOp::kProd)
      d[i] = static_cast<T>(a * b);
    else
      d[i] = static_cast<T>(a + b);
  }
}

template <>
__global__ void reduceKernel<float>(ReduceOp op, float* d, const float* s, size_t n) {
  DTRAIN_GRID_LOOP(i, n) {
    const float a = d[i], b = s[i];
    if (op == ReduceOp::kMin)
      d[i] = b < a ? b : a;
    else if (op == ReduceOp::kMax)
      d[i] = b > a ? b : a;
    else if (op == ReduceOp::kProd)
      d[i] = __fmul_rn(a, b);
    else
      d[i] = __fadd_rn(a, b);
  }
}

template <bool BF16>
__global__ void reduceHalfKernel(ReduceOp op, uint16_t* d, const uint16_t* s, size_t n) {
  DTRAIN_GRID_LOOP(i, n) {
    const float a = BF16 ? bfloat16BitsToFloat(d[i]) : halfBitsToFloat(d[i]);
    const float b = BF16 ? bfloat16BitsToFloat(s[i]) : halfBitsToFloat(s[i]);
    if (op == ReduceOp::kMin)
      d[i] = b < a ? s[i] : d[i];
    else if (op == ReduceOp::kMax)
      d[i] = b > a ? s[i] : d[i];
    else if (op == ReduceOp::kProd)
      d[i] = BF16 ? floatToBFloat16Bits(__fmul_rn(a, b)) : floatToHalfBits(__fmul_rn(a, b));
    else
      d[i] = BF16 ? floatToBFloat16Bits(__fadd_rn(a, b)) : floatToHalfBits(__fadd_rn(a, b));
  }
}

// Division as the CPU's scaleForAverage: floats by a true division (__fdiv_rn), integers
// truncating toward zero, half precision through float32 with one rounding.
template <typename T>
__global__ void scaleKernel(T* d, size_t n, int divisor) {
  DTRAIN_GRID_LOOP(i, n) d[i] = static_cast<T>(d[i] / divisor);
}

template <>
__global__ void scaleKernel<float>(float* d, size_t n, int divisor) {
  const float p = static_cast<float>(divisor);
  DTRAIN_GRID_LOOP(i, n) d[i] = __fdiv_rn(d[i], p);
}

template <>
__global__ void scaleKernel<double>(double* d, size_t n, int divisor) {
  const double p = divisor;
  DTRAIN_GRID_LOOP(i, n) d[i] = __ddiv_rn(d[i], p);
}

template <bool BF16>
__global__ void scaleHalfKernel(uint16_t* d, size_t n, int divisor) {
  const float p = static_cast<float>(divisor);
  DTRAIN_GRID_LOOP(i, n) {
    const float x = __fdiv_rn(BF16 ? bfloat16BitsToFloat(d[i]) : halfBitsToFloat(d[i]), p);
    d[i] = BF16 ? floatToBFloat16Bits(x) : floatToHalfBits(x);
  }
}

// ---- multi-tensor optimizer steps ------------------------------------------------------------

// Apex-style: the work is a list of (tensor, chunk) pairs, one block each, in one launch.
constexpr size_t kChunk = 65536;

struct ChunkRef {
  int tensor;
  size_t start;
};

struct TensorList {
  Scratch<TensorSlot> tensors;
  Scratch<ChunkRef> chunks;
  unsigned chunkCount = 0;
  TensorList(const TensorSlot* t, int count, cudaStream_t s) : tensors(count, s), chunks(0, s) {
    std::vector<ChunkRef> refs;
    for (int i = 0; i < count; ++i) {
      for (size_t c = 0; c < t[i].n; c += kChunk) refs.push_back({i, c});
    }
    chunkCount = static_cast<unsigned>(refs.size());
    Scratch<ChunkRef> c(refs.size(), s);
    std::swap(chunks.p, c.p);
    // Pageable copies are staged by the driver before cudaMemcpyAsync returns, so the host
    // vectors may go out of scope.
    check(cudaMemcpyAsync(tensors.p, t, sizeof(TensorSlot) * count, cudaMemcpyHostToDevice, s),
          "copy tensors");
    if (!refs.empty()) {
      check(cudaMemcpyAsync(chunks.p, refs.data(), sizeof(ChunkRef) * refs.size(),
                            cudaMemcpyHostToDevice, s),
            "copy chunks");
    }
  }
};

__device__ __forceinline__ float gradAt(const TensorSlot& t, bool half, size_t i) {
  return half ? halfBitsToFloat(static_cast<const uint16_t*>(t.grad)[i])
              : static_cast<const float*>(t.grad)[i];
}

__global__ void checkFiniteKernel(const TensorSlot* ts, const ChunkRef* chunks, bool half,
                                  int* noop) {
  const ChunkRef c = chunks[blockIdx.x];
  const TensorSlot t = ts[c.tensor];
  const size_t end = min(t.n, c.start + kChunk);
  bool bad = false;
  for (size_t i = c.start + threadIdx.x; i < end; i += blockDim.x) {
    if (half)
      bad |= (static_cast<const uint16_t*>(t.grad)[i] & 0x7c00u) == 0x7c00u;
    else
      bad |= !finiteBits(static_cast<const float*>(t.grad)[i]);
  }
  if (bad) atomicExch(noop, 1);
}

__global__ void sgdKernel(SgdOptions p, const TensorSlot* ts, const ChunkRef* chunks,
                          const int* noop) {
  if (noop && *noop) return;
  const ChunkRef c = chunks[blockIdx.x];
  const TensorSlot t = ts[c.tensor];
  const float wd = t.exclude ? 0.0f : p.weightDecay;
  const size_t end = min(t.n, c.start + kChunk);
  for (size_t i = c.start + threadIdx.x; i < end; i += blockDim.x) {
    const float w = t.weights[i];
    float g = __fmul_rn(gradAt(t, p.gradHalf, i), p.gradScale);
    if (wd != 0) g = __fadd_rn(g, __fmul_rn(wd, w));
    const float b = __fadd_rn(__fmul_rn(p.momentum, t.state[i]), g);
    t.state[i] = b;
    const float d = p.nesterov ? __fadd_rn(g, __fmul_rn(p.momentum, b)) : b;
    const float nw = __fsub_rn(w, __fmul_rn(p.lr, d));
    t.weights[i] = nw;
    if (t.weights16) t.weights16[i] = floatToHalfBits(nw);
  }
}

__device__ double blockSum(double v) {
  __shared__ double part[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
  __syncthreads();
  double s = 0;
  if (threadIdx.x == 0) {
    for (int i = 0; i < kThreads / 32; ++i) s += part[i];
  }
  __syncthreads();
  return s;
}

// norms[2t] += sum w^2, norms[2t+1] += sum g^2 (g as stored, unscaled); flags non-finite g.
__global__ void larsNormsKernel(LarsOptions p, const TensorSlot* ts, const ChunkRef* chunks,
                                double* norms, int* noop) {
  const ChunkRef c = chunks[blockIdx.x];
  const TensorSlot t = ts[c.tensor];
  const size_t end = min(t.n, c.start + kChunk);
  double ws = 0, gs = 0;
  bool bad = false;
  for (size_t i = c.start + threadIdx.x; i < end; i += blockDim.x) {
    const double w = t.weights[i];
    const float gf = gradAt(t, p.gradHalf, i);
    bad |= !finiteBits(gf);
    ws += w * w;
    gs += static_cast<double>(gf) * gf;
  }
  if (bad && noop) atomicExch(noop, 1);
  ws = blockSum(ws);
  gs = blockSum(gs);
  if (threadIdx.x == 0) {
    atomicAdd(&norms[2 * c.tensor], ws);
    atomicAdd(&norms[2 * c.tensor + 1], gs);
  }
}

__global__ void larsUpdateKernel(LarsOptions p, const TensorSlot* ts, const ChunkRef* chunks,
                                 const double* norms, const int* noop, float* trustOut) {
  if (noop && *noop) return;
  const ChunkRef c = chunks[blockIdx.x];
  const TensorSlot t = ts[c.tensor];
  double trust = 1.0;
  if (!t.exclude) {
    const double wn = sqrt(norms[2 * c.tensor]);
    const double gn = sqrt(norms[2 * c.tensor + 1]) * fabs(static_cast<double>(p.gradScale));
    if (wn > 0 && gn > 0) trust = p.eta * wn / (gn + p.weightDecay * wn);
  }
  const float trustF = static_cast<float>(trust);
  if (trustOut && c.start == 0 && threadIdx.x == 0) trustOut[c.tensor] = trustF;
  const float lrTrust = static_cast<float>(static_cast<double>(p.lr) * trustF);
  const float wd = t.exclude ? 0.0f : p.weightDecay;
  const size_t end = min(t.n, c.start + kChunk);
  for (size_t i = c.start + threadIdx.x; i < end; i += blockDim.x) {
    const float w = t.weights[i];
    float g = __fmul_rn(gradAt(t, p.gradHalf, i), p.gradScale);
    if (wd != 0) g = __fadd_rn(g, __fmul_rn(wd, w));
    const float nv = __fadd_rn(__fmul_rn(p.momentum, t.state[i]), __fmul_rn(lrTrust, g));
    t.state[i] = nv;
    const float nw = __fsub_rn(w, nv);
    t.weights[i] = nw;
    if (t.weights16) t.weights16[i] = floatToHalfBits(nw);
  }
}

// ---- top-k and DGC --------------------------------------------------------------------------

// Ordering key: |x| bits + 1 (monotonic in |x|), 0 for NaN (below everything).
__global__ void magnitudeKeysKernel(const float* x, const uint32_t* at, size_t n, uint32_t* keys,
                                    uint32_t* idx) {
  DTRAIN_GRID_LOOP(i, n) {
    const uint32_t j = at ? at[i] : static_cast<uint32_t>(i);
    const uint32_t b = __float_as_uint(x[j]) & 0x7fffffffu;
    keys[i] = b > 0x7f800000u ? 0u : b + 1u;
    idx[i] = j;
  }
}

__global__ void gatherKernel(const float* x, const uint32_t* idx, size_t k, float* val) {
  DTRAIN_GRID_LOOP(i, k) val[i] = x[idx[i]];
}

void sortKeys(uint32_t* keys, size_t n, cudaStream_t s) {
  Scratch<uint32_t> out(n, s);
  size_t tempBytes = 0;
  check(cub::DeviceRadixSort::SortKeys(nullptr, tempBytes, keys, out.p, n, 0, 32, s), "SortKeys");
  Scratch<uint8_t> temp(tempBytes, s);
  check(cub::DeviceRadixSort::SortKeys(temp.p, tempBytes, keys, out.p, n, 0, 32, s), "SortKeys");
  check(cudaMemcpyAsync(keys, out.p, n * 4, cudaMemcpyDeviceToDevice, s), "copy");
}

// The k best of x at positions `at` (all of x when null), by (|x| desc, index asc), written to
// idx ascending. `at` must be ascending: the radix sort is stable, so among equal keys the
// lower index stays first.
void selectBest(const float* x, const uint32_t* at, size_t n, size_t k, uint32_t* idx,
                cudaStream_t s) {
  Scratch<uint32_t> keys(n, s), keysOut(n, s), ids(n, s), idsOut(n, s);
  magnitudeKeysKernel<<<blocksFor(n), kThreads, 0, s>>>(x, at, n, keys.p, ids.p);
  size_t tempBytes = 0;
  check(cub::DeviceRadixSort::SortPairsDescending(nullptr, tempBytes, keys.p, keysOut.p, ids.p,
                                                  idsOut.p, n, 0, 32, s),
        "SortPairsDescending");
  Scratch<uint8_t> temp(tempBytes, s);
  check(cub::DeviceRadixSort::SortPairsDescending(temp.p, tempBytes, keys.p, keysOut.p, ids.p,
                                                  idsOut.p, n, 0, 32, s),
        "SortPairsDescending");
  check(cudaMemcpyAsync(idx, idsOut.p, k * 4, cudaMemcpyDeviceToDevice, s), "copy");
  if (k > 1) sortKeys(idx, k, s);
}

__global__ void accumulateKernel(float* u, float* v, const float* g, size_t n, float m) {
  DTRAIN_GRID_LOOP(i, n) {
    const float nu = __fadd_rn(__fmul_rn(m, u[i]), g[i]);
    u[i] = nu;
    v[i] = __fadd_rn(v[i], nu);
  }
}

__global__ void sampleKeysKernel(const float* u, const float* v, const float* g,
                                 const uint32_t* pos, size_t count, float m, float* keys) {
  DTRAIN_GRID_LOOP(j, count) {
    const uint32_t i = pos[j];
    keys[j] = key(__fadd_rn(v[i], __fadd_rn(__fmul_rn(m, u[i]), g[i])));
  }
}

// Appends (in no particular order) indices with |x| >= thr while under cap; counts all.
template <bool Accumulate>
__global__ void selectKernel(float* u, float* v, const float* g, size_t n, float m, float thr,
                             uint32_t* cand, size_t cap, unsigned long long* count) {
  DTRAIN_GRID_LOOP(i, n) {
    float x;
    if (Accumulate) {
      const float nu = __fadd_rn(__fmul_rn(m, u[i]), g[i]);
      u[i] = nu;
      x = __fadd_rn(v[i], nu);
      v[i] = x;
    } else {
      x = v[i];
    }
    if (fabsf(x) >= thr) {
      const unsigned long long at = atomicAdd(count, 1ull);
      if (at < cap) cand[at] = static_cast<uint32_t>(i);
    }
  }
}

__global__ void emitKernel(float* u, float* v, const uint32_t* idx, size_t count, float* val32,
                           uint16_t* val16) {
  DTRAIN_GRID_LOOP(j, count) {
    const uint32_t i = idx[j];
    const float x = v[i];
    if (val32) val32[j] = x;
    if (val16) val16[j] = floatToHalfBits(x);
    u[i] = 0;
    v[i] = 0;
  }
}

__global__ void scatterAddKernel(float* dense, size_t n, const uint32_t* idx, const float* val32,
                                 const uint16_t* val16, size_t count, unsigned* outOfRange) {
  DTRAIN_GRID_LOOP(j, count) {
    if (idx[j] >= n) {
      if (outOfRange) atomicOr(outOfRange, 1u);
      continue;
    }
    atomicAdd(&dense[idx[j]], val32 ? val32[j] : halfBitsToFloat(val16[j]));
  }
}

__global__ void isNonzeroKernel(const float* v, const uint32_t* idx, size_t k, uint32_t* flags) {
  DTRAIN_GRID_LOOP(j, k) flags[j] = v[idx[j]] != 0.0f;
}

// ---- quantizers -----------------------------------------------------------------------------

__global__ void sumSquaresKernel(const float* x, size_t n, double* out) {
  double acc = 0;
  DTRAIN_GRID_LOOP(i, n) acc += static_cast<double>(x[i]) * x[i];
  acc = blockSum(acc);
  if (threadIdx.x == 0) atomicAdd(out, acc);
}

__global__ void errorAbsSumKernel(const float* g, const float* e, size_t n, double* out) {
  double acc = 0;
  DTRAIN_GRID_LOOP(i, n) acc += fabsf(__fadd_rn(g[i], e[i]));
  acc = blockSum(acc);
  if (threadIdx.x == 0) atomicAdd(out, acc);
}

// Non-negative floats order as their bits; NaN is skipped (as the CPU's maxAbs ignores it).
__global__ void maxAbsKernel(const float* x, size_t n, unsigned* out) {
  unsigned m = 0;
  DTRAIN_GRID_LOOP(i, n) {
    const unsigned b = __float_as_uint(x[i]) & 0x7fffffffu;
    if (b <= 0x7f800000u) m = max(m, b);
  }
  for (int o = 16; o > 0; o >>= 1) m = max(m, __shfl_down_sync(0xffffffffu, m, o));
  if ((threadIdx.x & 31) == 0) atomicMax(out, m);
}

// Each warp produces 32 consecutive elements' bits per plane with a ballot; lanes 0..3 store
// its four bytes (planes need not be 4-byte aligned).
__device__ __forceinline__ void storeBallot(uint8_t* plane, size_t base, size_t planeBytes,
                                            unsigned bits) {
  const unsigned lane = threadIdx.x & 31;
  const size_t byte = base / 8 + lane;
  if (lane < 4 && byte < planeBytes) plane[byte] = static_cast<uint8_t>(bits >> (8 * lane));
}

__device__ __forceinline__ bool bitAt(const uint8_t* plane, size_t i) {
  return (plane[i >> 3] >> (i & 7)) & 1u;
}

__global__ void qsgdEncodeKernel(const float* x, size_t n, float levelScale, uint32_t s,
                                 uint32_t seed, uint8_t* code, size_t planeBytes, int planes) {
  const size_t warps = size_t{gridDim.x} * blockDim.x / 32;
  const size_t warp = (blockIdx.x * size_t{blockDim.x} + threadIdx.x) / 32;
  const unsigned lane = threadIdx.x & 31;
  const float cap = static_cast<float>(s);
  const bool fixed = s <= kQsgdFixedMaxLevels;
  const float ls16 = __fmul_rn(levelScale, 65536.0f), cap16 = __fmul_rn(cap, 65536.0f);
  for (size_t base = warp * 32; base < n; base += warps * 32) {
    const size_t i = base + lane;
    uint32_t l = 0;
    bool neg = false;
    if (i < n) {
      if (fixed) {
        l = qsgdLevel16(fabsf(x[i]), ls16, cap16, randomDraw16(seed, static_cast<uint32_t>(i)));
      } else {
        const float r = __fmul_rn(fabsf(x[i]), levelScale);
        const float fl = floorf(r);
        const float up =
            randomUnit(seed, static_cast<uint32_t>(i)) < __fsub_rn(r, fl) ? 1.0f : 0.0f;
        float level = __fadd_rn(fl, up);
        level = level < cap ? level : cap;
        l = static_cast<uint32_t>(level);
      }
      neg = x[i] < 0;
    }
    storeBallot(code, base, planeBytes, __ballot_sync(0xffffffffu, neg));
    for (int p = 0; p < planes; ++p) {
      storeBallot(code + (1 + p) * planeBytes, base, planeBytes,
                  __ballot_sync(0xffffffffu, (l >> p) & 1u));
    }
  }
}

__global__ void qsgdDecodeKernel(const uint8_t* code, size_t n, size_t planeBytes, int planes,
                                 float unit, float* out, bool accumulate) {
  DTRAIN_GRID_LOOP(i, n) {
    uint32_t l = 0;
    for (int p = 0; p < planes; ++p)
      l |= static_cast<uint32_t>(bitAt(code + (1 + p) * planeBytes, i)) << p;
    float val = __fmul_rn(static_cast<float>(l), unit);
    if (bitAt(code, i)) val = -val;
    out[i] = accumulate ? __fadd_rn(out[i], val) : val;
  }
}

__global__ void ternGradEncodeKernel(const float* x, size_t n, float invScale, uint32_t seed,
                                     uint8_t* code, size_t planeBytes) {
  const float inv16 = __fmul_rn(invScale, 65536.0f);
  const size_t warps = size_t{gridDim.x} * blockDim.x / 32;
  const size_t warp = (blockIdx.x * size_t{blockDim.x} + threadIdx.x) / 32;
  const unsigned lane = threadIdx.x & 31;
  for (size_t base = warp * 32; base < n; base += warps * 32) {
    const size_t i = base + lane;
    bool nz = false, neg = false;
    if (i < n) {
      nz = ternKeep16(fabsf(x[i]), inv16, randomDraw16(seed, static_cast<uint32_t>(i)));
      neg = x[i] < 0;
    }
    storeBallot(code, base, planeBytes, __ballot_sync(0xffffffffu, nz));
    storeBallot(code + planeBytes, base, planeBytes, __ballot_sync(0xffffffffu, neg));
  }
}

__global__ void ternGradDecodeKernel(const uint8_t* code, size_t n, size_t planeBytes, float scale,
                                     float* out, bool accumulate) {
  DTRAIN_GRID_LOOP(i, n) {
    float val = bitAt(code, i) ? scale : 0.0f;
    if (bitAt(code + planeBytes, i)) val = -val;
    out[i] = accumulate ? __fadd_rn(out[i], val) : val;
  }
}

__global__ void signEncodeKernel(const float* g, float* e, size_t n, float scale, uint8_t* code,
                                 size_t planeBytes) {
  const size_t warps = size_t{gridDim.x} * blockDim.x / 32;
  const size_t warp = (blockIdx.x * size_t{blockDim.x} + threadIdx.x) / 32;
  const unsigned lane = threadIdx.x & 31;
  for (size_t base = warp * 32; base < n; base += warps * 32) {
    const size_t i = base + lane;
    bool neg = false;
    if (i < n) {
      const float x = __fadd_rn(g[i], e[i]);
      neg = x < 0;
      e[i] = __fsub_rn(x, neg ? -scale : scale);
    }
    storeBallot(code, base, planeBytes, __ballot_sync(0xffffffffu, neg));
  }
}

__global__ void signDecodeKernel(const uint8_t* code, size_t n, float scale, float* out,
                                 bool accumulate) {
  DTRAIN_GRID_LOOP(i, n) {
    const float val = bitAt(code, i) ? -scale : scale;
    out[i] = accumulate ? __fadd_rn(out[i], val) : val;
  }
}

// Warp-synchronous encoders need whole warps: round the grid up to a multiple of 32 threads.
unsigned warpBlocksFor(size_t n) { return blocksFor((n + 31) / 32 * 32); }

template <typename T>
T readBack(const T* d, cudaStream_t s) {
  T h;
  check(cudaMemcpyAsync(&h, d, sizeof(T), cudaMemcpyDeviceToHost, s), "copy back");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  return h;
}

int planeCountFor(uint32_t s) {
  int p = 0;
  while (p < 32 && (uint64_t{1} << p) <= s) ++p;
  return p;
}

}  // namespace

void castToHalf(const float* src, uint16_t* dst, size_t n, float scale, cudaStream_t s) {
  if (n) castToHalfKernel<false><<<blocksFor(n), kThreads, 0, s>>>(src, dst, n, scale);
  check(cudaGetLastError(), "castToHalf");
}
void castToBFloat16(const float* src, uint16_t* dst, size_t n, float scale, cudaStream_t s) {
  if (n) castToHalfKernel<true><<<blocksFor(n), kThreads, 0, s>>>(src, dst, n, scale);
  check(cudaGetLastError(), "castToBFloat16");
}
void castFromHalf(const uint16_t* src, float* dst, size_t n, float scale, int* nonFinite,
                  cudaStream_t s) {
  if (n) castFromHalfKernel<false><<<blocksFor(n), kThreads, 0, s>>>(src, dst, n, scale, nonFinite);
  check(cudaGetLastError(), "castFromHalf");
}
void castFromBFloat16(const uint16_t* src, float* dst, size_t n, float scale, int* nonFinite,
                      cudaStream_t s) {
  if (n) castFromHalfKernel<true><<<blocksFor(n), kThreads, 0, s>>>(src, dst, n, scale, nonFinite);
  check(cudaGetLastError(), "castFromBFloat16");
}

void reduce(DType dtype, ReduceOp op, void* dst, const void* src, size_t n, cudaStream_t s) {
  if (!n) return;
  const unsigned b = blocksFor(n);
  switch (dtype) {
    case DType::kFloat32:
      reduceKernel<float>
          <<<b, kThreads, 0, s>>>(op, static_cast<float*>(dst), static_cast<const float*>(src), n);
      break;
    case DType::kFloat64:
      reduceKernel<double><<<b, kThreads, 0, s>>>(op, static_cast<double*>(dst),
                                                  static_cast<const double*>(src), n);
      break;
    case DType::kUint8:
      reduceKernel<uint8_t><<<b, kThreads, 0, s>>>(op, static_cast<uint8_t*>(dst),
                                                   static_cast<const uint8_t*>(src), n);
      break;
    case DType::kInt8:
      reduceKernel<int8_t><<<b, kThreads, 0, s>>>(op, static_cast<int8_t*>(dst),
                                                  static_cast<const int8_t*>(src), n);
      break;
    case DType::kInt64:
      if (op == ReduceOp::kMin || op == ReduceOp::kMax) {
        reduceKernel<int64_t><<<b, kThreads, 0, s>>>(op, static_cast<int64_t*>(dst),
                                                     static_cast<const int64_t*>(src), n);
      } else {  // wrapping
        reduceKernel<uint64_t><<<b, kThreads, 0, s>>>(op, static_cast<uint64_t*>(dst),
                                                      static_cast<const uint64_t*>(src), n);
      }
      break;
    case DType::kInt32:
      if (op != ReduceOp::kMin && op != ReduceOp::kMax) {  // wrapping, as Int32Array does
        reduceKernel<uint32_t><<<b, kThreads, 0, s>>>(op, static_cast<uint32_t*>(dst),
                                                      static_cast<const uint32_t*>(src), n);
      } else {
        reduceKernel<int32_t><<<b, kThreads, 0, s>>>(op, static_cast<int32_t*>(dst),
                                                     static_cast<const int32_t*>(src), n);
      }
      break;
    case DType::kFloat16:
      reduceHalfKernel<false><<<b, kThreads, 0, s>>>(op, static_cast<uint16_t*>(dst),
                                                     static_cast<const uint16_t*>(src), n);
      break;
    case DType::kBFloat16:
      reduceHalfKernel<true><<<b, kThreads, 0, s>>>(op, static_cast<uint16_t*>(dst),
                                                    static_cast<const uint16_t*>(src), n);
      break;
  }
  check(cudaGetLastError(), "reduce");
}

void scale(DType dtype, void* dst, size_t n, int divisor, cudaStream_t s) {
  if (!n || divisor == 1) return;
  const unsigned b = blocksFor(n);
  switch (dtype) {
    case DType::kFloat32:
      scaleKernel<float><<<b, kThreads, 0, s>>>(static_cast<float*>(dst), n, divisor);
      break;
    case DType::kFloat64:
      scaleKernel<double><<<b, kThreads, 0, s>>>(static_cast<double*>(dst), n, divisor);
      break;
    case DType::kInt32:
      scaleKernel<int32_t><<<b, kThreads, 0, s>>>(static_cast<int32_t*>(dst), n, divisor);
      break;
    case DType::kUint8:
      scaleKernel<uint8_t><<<b, kThreads, 0, s>>>(static_cast<uint8_t*>(dst), n, divisor);
      break;
    case DType::kInt8:
      scaleKernel<int8_t><<<b, kThreads, 0, s>>>(static_cast<int8_t*>(dst), n, divisor);
      break;
    case DType::kInt64:
      scaleKernel<int64_t><<<b, kThreads, 0, s>>>(static_cast<int64_t*>(dst), n, divisor);
      break;
    case DType::kFloat16:
      scaleHalfKernel<false><<<b, kThreads, 0, s>>>(static_cast<uint16_t*>(dst), n, divisor);
      break;
    case DType::kBFloat16:
      scaleHalfKernel<true><<<b, kThreads, 0, s>>>(static_cast<uint16_t*>(dst), n, divisor);
      break;
  }
  check(cudaGetLastError(), "scale");
}

void sgdStep(const SgdOptions& p, const TensorSlot* tensors, int count, cudaStream_t s) {
  TensorList list(tensors, count, s);
  if (!list.chunkCount) return;
  Scratch<int> noop(1, s);
  check(cudaMemsetAsync(noop.p, 0, sizeof(int), s), "memset");
  if (p.checkFinite)
    checkFiniteKernel<<<list.chunkCount, kThreads, 0, s>>>(list.tensors.p, list.chunks.p,
                                                           p.gradHalf, noop.p);
  sgdKernel<<<list.chunkCount, kThreads, 0, s>>>(p, list.tensors.p, list.chunks.p, noop.p);
  check(cudaGetLastError(), "sgdStep");
}

void larsStep(const LarsOptions& p, const TensorSlot* tensors, int count, float* trust,
              cudaStream_t s) {
  TensorList list(tensors, count, s);
  if (!list.chunkCount) return;
  Scratch<double> norms(2 * count, s);
  Scratch<int> noop(1, s);
  check(cudaMemsetAsync(norms.p, 0, sizeof(double) * 2 * count, s), "memset");
  check(cudaMemsetAsync(noop.p, 0, sizeof(int), s), "memset");
  larsNormsKernel<<<list.chunkCount, kThreads, 0, s>>>(p, list.tensors.p, list.chunks.p, norms.p,
                                                       p.checkFinite ? noop.p : nullptr);
  larsUpdateKernel<<<list.chunkCount, kThreads, 0, s>>>(p, list.tensors.p, list.chunks.p, norms.p,
                                                        noop.p, trust);
  check(cudaGetLastError(), "larsStep");
}

void topkAbs(const float* x, size_t n, size_t k, uint32_t* idx, float* val, cudaStream_t s) {
  if (k > n) throw std::invalid_argument("topk: k is larger than the length");
  if (k == 0) return;
  selectBest(x, nullptr, n, k, idx, s);
  gatherKernel<<<blocksFor(k), kThreads, 0, s>>>(x, idx, k, val);
  check(cudaGetLastError(), "topk");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
}

size_t dgcStep(float* u, float* v, const float* g, size_t n, const DgcOptions& o, uint32_t* idx,
               float* val32, uint16_t* val16, cudaStream_t s) {
  const DgcOptions& p = o;
  const size_t k = dgcTargetCount(n, o.density);
  if (k == 0) return 0;
  size_t count = 0;
  if (dgcUsesExactPath(n, o)) {
    accumulateKernel<<<blocksFor(n), kThreads, 0, s>>>(u, v, g, n, p.momentum);
    selectBest(v, nullptr, n, k, idx, s);
    // Zeros are not sent: the kept indices are the k best, so the nonzero ones come first in
    // rank but not in index order; filter on the host (k is small on this path).
    std::vector<uint32_t> h(k), keep;
    Scratch<uint32_t> flags(k, s);
    isNonzeroKernel<<<blocksFor(k), kThreads, 0, s>>>(v, idx, k, flags.p);
    std::vector<uint32_t> f(k);
    check(cudaMemcpyAsync(h.data(), idx, k * 4, cudaMemcpyDeviceToHost, s), "copy");
    check(cudaMemcpyAsync(f.data(), flags.p, k * 4, cudaMemcpyDeviceToHost, s), "copy");
    check(cudaStreamSynchronize(s), "sync");
    for (size_t j = 0; j < k; ++j)
      if (f[j]) keep.push_back(h[j]);
    count = keep.size();
    if (count)
      check(cudaMemcpyAsync(idx, keep.data(), count * 4, cudaMemcpyHostToDevice, s), "copy");
  } else {
    std::vector<uint32_t> pos;
    dgcSamplePositions(n, dgcSampleWant(n, o.sampleRatio), o.seed, &pos);
    Scratch<uint32_t> dpos(pos.size(), s);
    Scratch<float> dkeys(pos.size(), s);
    check(cudaMemcpyAsync(dpos.p, pos.data(), pos.size() * 4, cudaMemcpyHostToDevice, s), "copy");
    sampleKeysKernel<<<blocksFor(pos.size()), kThreads, 0, s>>>(u, v, g, dpos.p, pos.size(),
                                                                p.momentum, dkeys.p);
    std::vector<float> keys(pos.size());
    check(cudaMemcpyAsync(keys.data(), dkeys.p, keys.size() * 4, cudaMemcpyDeviceToHost, s),
          "copy");
    check(cudaStreamSynchronize(s), "sync");
    float thr = dgcSampleThreshold(&keys, o.density);
    const size_t cap = 2 * k + 64;
    Scratch<uint32_t> cand(cap, s);
    Scratch<unsigned long long> dcount(1, s);
    auto pass = [&](bool accumulate) {
      check(cudaMemsetAsync(dcount.p, 0, sizeof(unsigned long long), s), "memset");
      if (accumulate)
        selectKernel<true>
            <<<blocksFor(n), kThreads, 0, s>>>(u, v, g, n, p.momentum, thr, cand.p, cap, dcount.p);
      else
        selectKernel<false>
            <<<blocksFor(n), kThreads, 0, s>>>(u, v, g, n, p.momentum, thr, cand.p, cap, dcount.p);
      return static_cast<size_t>(readBack(dcount.p, s));
    };
    count = pass(true);
    for (int round = 0; round < o.maxRounds; ++round) {
      if (count > cap)
        thr *= 1.3f;
      else if (count * 5 < k * 4)
        thr = std::max(thr * 0.8f, std::numeric_limits<float>::denorm_min());
      else
        break;
      count = pass(false);
    }
    if (count > cap) {
      selectBest(v, nullptr, n, k, idx, s);
      count = k;
    } else if (count > 0) {
      sortKeys(cand.p, count, s);  // ascending, as selectBest needs
      const size_t keepCount = std::min(count, k);
      selectBest(v, cand.p, count, keepCount, idx, s);
      count = keepCount;
    }
  }
  if (count) emitKernel<<<blocksFor(count), kThreads, 0, s>>>(u, v, idx, count, val32, val16);
  check(cudaGetLastError(), "dgcStep");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  return count;
}

void scatterAdd(float* dense, size_t n, const uint32_t* idx, const float* val32,
                const uint16_t* val16, size_t count, unsigned* outOfRange, cudaStream_t s) {
  if (count)
    scatterAddKernel<<<blocksFor(count), kThreads, 0, s>>>(dense, n, idx, val32, val16, count,
                                                           outOfRange);
  check(cudaGetLastError(), "scatterAdd");
}

float qsgdEncode(const float* x, size_t n, uint32_t levels, uint32_t seed, uint8_t* code,
                 float norm, cudaStream_t s) {
  const size_t planeBytes = (n + 7) / 8;
  const int planes = planeCountFor(levels);
  if (norm < 0) {
    Scratch<double> acc(1, s);
    check(cudaMemsetAsync(acc.p, 0, sizeof(double), s), "memset");
    if (n) sumSquaresKernel<<<blocksFor(n), kThreads, 0, s>>>(x, n, acc.p);
    norm = static_cast<float>(std::sqrt(readBack(acc.p, s)));
  }
  if (!(norm > 0) || !std::isfinite(norm)) {
    check(cudaMemsetAsync(code, 0, (1 + planes) * planeBytes, s), "memset");
  } else if (n) {
    qsgdEncodeKernel<<<warpBlocksFor(n), kThreads, 0, s>>>(x, n, static_cast<float>(levels) / norm,
                                                           levels, seed, code, planeBytes, planes);
  }
  check(cudaGetLastError(), "qsgdEncode");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  return norm;
}

void qsgdDecode(const uint8_t* code, size_t n, uint32_t levels, float norm, float* out,
                bool accumulate, cudaStream_t s) {
  if (n) {
    qsgdDecodeKernel<<<blocksFor(n), kThreads, 0, s>>>(code, n, (n + 7) / 8, planeCountFor(levels),
                                                       norm / static_cast<float>(levels), out,
                                                       accumulate);
  }
  check(cudaGetLastError(), "qsgdDecode");
}

float ternGradEncode(const float* x, size_t n, uint32_t seed, uint8_t* code, cudaStream_t s) {
  const size_t planeBytes = (n + 7) / 8;
  Scratch<unsigned> mx(1, s);
  check(cudaMemsetAsync(mx.p, 0, sizeof(unsigned), s), "memset");
  if (n) maxAbsKernel<<<blocksFor(n), kThreads, 0, s>>>(x, n, mx.p);
  const unsigned bits = readBack(mx.p, s);
  float scale;
  std::memcpy(&scale, &bits, 4);
  if (!(scale > 0) || !std::isfinite(scale)) {
    check(cudaMemsetAsync(code, 0, 2 * planeBytes, s), "memset");
  } else if (n) {
    ternGradEncodeKernel<<<warpBlocksFor(n), kThreads, 0, s>>>(x, n, 1.0f / scale, seed, code,
                                                               planeBytes);
  }
  check(cudaGetLastError(), "ternGradEncode");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  return scale;
}

void ternGradDecode(const uint8_t* code, size_t n, float scale, float* out, bool accumulate,
                    cudaStream_t s) {
  if (n)
    ternGradDecodeKernel<<<blocksFor(n), kThreads, 0, s>>>(code, n, (n + 7) / 8, scale, out,
                                                           accumulate);
  check(cudaGetLastError(), "ternGradDecode");
}

float signEncode(const float* g, float* residual, size_t n, uint8_t* code, cudaStream_t s) {
  if (n == 0) return 0;
  Scratch<double> acc(1, s);
  check(cudaMemsetAsync(acc.p, 0, sizeof(double), s), "memset");
  errorAbsSumKernel<<<blocksFor(n), kThreads, 0, s>>>(g, residual, n, acc.p);
  const float scale = static_cast<float>(readBack(acc.p, s) / static_cast<double>(n));
  signEncodeKernel<<<warpBlocksFor(n), kThreads, 0, s>>>(g, residual, n, scale, code, (n + 7) / 8);
  check(cudaGetLastError(), "signEncode");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  return scale;
}

void signDecode(const uint8_t* code, size_t n, float scale, float* out, bool accumulate,
                cudaStream_t s) {
  if (n) signDecodeKernel<<<blocksFor(n), kThreads, 0, s>>>(code, n, scale, out, accumulate);
  check(cudaGetLastError(), "signDecode");
}

}  // namespace cuda
}  // namespace dtrain
