// The SIMD primitives of kernel_table.h, written once over a vector type V (simd_avx2.h,
// simd_avx512.h) and instantiated by each level's file inside its target region. Loops run
// over whole vectors; the remainder goes to the scalar reference, so every length and every
// alignment gives the reference's results. Arithmetic is the reference's, operation for
// operation (no FMA contraction), which makes the levels bit-identical except where the
// summation order differs (norms and sums, documented in docs/kernels.md).
//
// No include guard: each level's file includes this once, inside its own namespace.

// Outputs larger than this bypass the cache (non-temporal stores): written once and not read
// back soon, they would otherwise cost a read-for-ownership and evict the inputs.
constexpr size_t kStreamBytes = size_t{8} << 20;

// Elements to process before p reaches 64-byte alignment (n if it never does).
template <typename T>
size_t headToAlign(const T* p, size_t n) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (a % sizeof(T)) return n;
  const size_t h = ((64 - a % 64) % 64) / sizeof(T);
  return h < n ? h : n;
}

// scale == 1 skips the multiply (which would quiet signalling NaNs), as the reference does.
template <bool Stream, bool Scaled>
void castToHalfLoop(const float* src, uint16_t* dst, size_t n, float scale, bool bf16) {
  const typename V::F s = V::set1(scale);
  size_t i = 0;
  if (bf16) {
    for (; i + 2 * V::W <= n; i += 2 * V::W) {
      const typename V::F x0 = V::load(src + i), x1 = V::load(src + i + V::W);
      V::storeBFloat16Pair(dst + i, Scaled ? V::mul(x0, s) : x0, Scaled ? V::mul(x1, s) : x1,
                           Stream);
    }
    scalar::castToBFloat16(src + i, dst + i, n - i, scale);
  } else {
    for (; i + V::W <= n; i += V::W) {
      const typename V::F x = V::load(src + i);
      const typename V::H h = V::toHalf(Scaled ? V::mul(x, s) : x);
      Stream ? V::streamH(dst + i, h) : V::storeH(dst + i, h);
    }
    scalar::castToHalf(src + i, dst + i, n - i, scale);
  }
  if (Stream) V::fence();
}

template <bool Scaled>
void castToHalfAny(const float* src, uint16_t* dst, size_t n, float scale, bool bf16) {
  if (n * 2 >= kStreamBytes) {
    const size_t head = headToAlign(dst, n);
    (bf16 ? scalar::castToBFloat16 : scalar::castToHalf)(src, dst, head, scale);
    if (head < n) castToHalfLoop<true, Scaled>(src + head, dst + head, n - head, scale, bf16);
  } else {
    castToHalfLoop<false, Scaled>(src, dst, n, scale, bf16);
  }
}

void castToHalf(const float* src, uint16_t* dst, size_t n, float scale) {
  (scale == 1.0f ? castToHalfAny<false> : castToHalfAny<true>)(src, dst, n, scale, false);
}
void castToBFloat16(const float* src, uint16_t* dst, size_t n, float scale) {
  (scale == 1.0f ? castToHalfAny<false> : castToHalfAny<true>)(src, dst, n, scale, true);
}

template <bool Stream, bool BF16>
bool castFromHalfLoop(const uint16_t* src, float* dst, size_t n, float scale) {
  const typename V::F s = V::set1(scale);
  typename V::M bad = V::notFinite(V::zero());
  const bool scaled = scale != 1.0f;
  size_t i = 0;
  for (; i + V::W <= n; i += V::W) {
    const typename V::H h = V::loadH(src + i);
    const typename V::F c = BF16 ? V::fromBFloat16(h) : V::fromHalfExact(h);
    const typename V::F x = scaled ? V::mul(c, s) : c;
    bad = V::orM(bad, V::notFinite(x));
    Stream ? V::stream(dst + i, x) : V::store(dst + i, x);
  }
  if (Stream) V::fence();
  const bool tail =
      (BF16 ? scalar::castFromBFloat16 : scalar::castFromHalf)(src + i, dst + i, n - i, scale);
  return V::bits(bad) != 0 || tail;
}

template <bool BF16>
bool castFromHalfAny(const uint16_t* src, float* dst, size_t n, float scale) {
  if (n * 4 >= kStreamBytes) {
    const size_t head = headToAlign(dst, n);
    const bool a = (BF16 ? scalar::castFromBFloat16 : scalar::castFromHalf)(src, dst, head, scale);
    const bool b = castFromHalfLoop<true, BF16>(src + head, dst + head, n - head, scale);
    return a || b;
  }
  return castFromHalfLoop<false, BF16>(src, dst, n, scale);
}

bool castFromHalf(const uint16_t* src, float* dst, size_t n, float scale) {
  return castFromHalfAny<false>(src, dst, n, scale);
}
bool castFromBFloat16(const uint16_t* src, float* dst, size_t n, float scale) {
  return castFromHalfAny<true>(src, dst, n, scale);
}

bool nonFiniteFloat(const float* src, size_t n) {
  size_t i = 0;
  // Check in blocks so a bad value near the start ends the scan early.
  while (i + 4 * V::W <= n) {
    const size_t end = i + 64 * V::W <= n ? i + 64 * V::W : n - (n - i) % (4 * V::W);
    typename V::M bad = V::notFinite(V::zero());
    for (; i < end; i += 4 * V::W) {
      bad = V::orM(
          bad, V::orM(V::orM(V::notFinite(V::load(src + i)), V::notFinite(V::load(src + i + V::W))),
                      V::orM(V::notFinite(V::load(src + i + 2 * V::W)),
                             V::notFinite(V::load(src + i + 3 * V::W)))));
    }
    if (V::bits(bad)) return true;
  }
  return scalar::nonFiniteFloat(src + i, n - i);
}

bool nonFiniteHalf(const uint16_t* src, size_t n) {
  size_t i = 0;
  while (i + 4 * V::W <= n) {
    const size_t end = i + 64 * V::W <= n ? i + 64 * V::W : n - (n - i) % (4 * V::W);
    typename V::M bad = V::notFinite(V::zero());
    for (; i < end; i += 4 * V::W) {
      bad = V::orM(bad, V::orM(V::orM(V::notFinite(V::fromHalf(V::loadH(src + i))),
                                      V::notFinite(V::fromHalf(V::loadH(src + i + V::W)))),
                               V::orM(V::notFinite(V::fromHalf(V::loadH(src + i + 2 * V::W))),
                                      V::notFinite(V::fromHalf(V::loadH(src + i + 3 * V::W))))));
    }
    if (V::bits(bad)) return true;
  }
  return scalar::nonFiniteHalf(src + i, n - i);
}

template <typename T>
void reduceAutoVec(ReduceOp op, T* __restrict d, const T* __restrict s, size_t n) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      for (size_t i = 0; i < n; ++i) d[i] = static_cast<T>(d[i] + s[i]);
      break;
    case ReduceOp::kMin:
      for (size_t i = 0; i < n; ++i) d[i] = s[i] < d[i] ? s[i] : d[i];
      break;
    case ReduceOp::kMax:
      for (size_t i = 0; i < n; ++i) d[i] = s[i] > d[i] ? s[i] : d[i];
      break;
    case ReduceOp::kProd:
      for (size_t i = 0; i < n; ++i) d[i] = static_cast<T>(d[i] * s[i]);
      break;
  }
}

void reduceFloat(ReduceOp op, float* d, const float* s, size_t n) {
  size_t i = 0;
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      for (; i + V::W <= n; i += V::W) V::store(d + i, V::add(V::load(d + i), V::load(s + i)));
      break;
    case ReduceOp::kMin:  // MINPS(s, d) is (s < d ? s : d), the reference's order
      for (; i + V::W <= n; i += V::W) V::store(d + i, V::minps(V::load(s + i), V::load(d + i)));
      break;
    case ReduceOp::kMax:
      for (; i + V::W <= n; i += V::W) V::store(d + i, V::maxps(V::load(s + i), V::load(d + i)));
      break;
    case ReduceOp::kProd:
      reduceAutoVec(op, d, s, n);
      return;
  }
  scalar::reduce(DType::kFloat32, op, d + i, s + i, n - i);
}

// bfloat16 sums without widening: the odd 16-bit lanes of a register, masked, and the even
// ones, shifted up, are already float32 vectors; add each, round, and merge back.
size_t reduceBFloat16Sum(uint16_t* d, const uint16_t* s, size_t n) {
  size_t i = 0;
  for (; i + 2 * V::W <= n; i += 2 * V::W) {
    const typename V::I a = V::loadI(d + i), b = V::loadI(s + i);
    const typename V::F lo = V::add(V::lowHalves(a), V::lowHalves(b));
    const typename V::F hi = V::add(V::highHalves(a), V::highHalves(b));
    V::storeI(d + i, V::joinHalves(V::roundTop(lo), V::roundTop(hi)));
  }
  return i;
}

template <bool BF16>
void reduceHalf(ReduceOp op, uint16_t* d, const uint16_t* s, size_t n) {
  size_t i = 0;
  if (op == ReduceOp::kProd) {  // rare: the scalar loop rounds each product as sums do
    scalar::reduce(BF16 ? DType::kBFloat16 : DType::kFloat16, op, d, s, n);
    return;
  }
  // The float16 sum below leaves fewer than kSumHalvesLanes <= W elements, so the vector loop
  // after it never sees a float16 sum (it would round it as bfloat16).
  static_assert(V::kSumHalvesLanes <= V::W, "the float16 sum must leave less than a vector");
  if (op == ReduceOp::kSum || op == ReduceOp::kAvg) {
    if (BF16) {
      i = reduceBFloat16Sum(d, s, n);
    } else {
      for (; i + V::kSumHalvesLanes <= n; i += V::kSumHalvesLanes) V::sumHalves(d + i, s + i);
    }
  }
  for (; i + V::W <= n; i += V::W) {
    const typename V::H dh = V::loadH(d + i), sh = V::loadH(s + i);
    const typename V::F a = BF16 ? V::fromBFloat16(dh) : V::fromHalf(dh);
    const typename V::F b = BF16 ? V::fromBFloat16(sh) : V::fromHalf(sh);
    typename V::H r;
    switch (op) {
      case ReduceOp::kSum:
      case ReduceOp::kAvg:
        r = V::toBFloat16(V::add(a, b));  // bfloat16 only: float16 sums are done above
        break;
      case ReduceOp::kMin:
        r = V::blendH(V::lt(b, a), dh, sh);
        break;
      default:
        r = V::blendH(V::gt(b, a), dh, sh);
        break;
    }
    V::storeH(d + i, r);
  }
  scalar::reduce(BF16 ? DType::kBFloat16 : DType::kFloat16, op, d + i, s + i, n - i);
}

void reduce(DType dtype, ReduceOp op, void* dst, const void* src, size_t n) {
  switch (dtype) {
    case DType::kFloat32:
      reduceFloat(op, static_cast<float*>(dst), static_cast<const float*>(src), n);
      break;
    case DType::kFloat64:
      reduceAutoVec(op, static_cast<double*>(dst), static_cast<const double*>(src), n);
      break;
    case DType::kInt32:
      if (op == ReduceOp::kSum || op == ReduceOp::kAvg) {
        reduceAutoVec(op, static_cast<uint32_t*>(dst), static_cast<const uint32_t*>(src), n);
      } else if (op == ReduceOp::kProd) {
        scalar::reduce(dtype, op, dst, src, n);
      } else {
        reduceAutoVec(op, static_cast<int32_t*>(dst), static_cast<const int32_t*>(src), n);
      }
      break;
    case DType::kUint8:
    case DType::kInt8:
    case DType::kInt64:
      scalar::reduce(dtype, op, dst, src, n);
      break;
    case DType::kFloat16:
      reduceHalf<false>(op, static_cast<uint16_t*>(dst), static_cast<const uint16_t*>(src), n);
      break;
    case DType::kBFloat16:
      reduceHalf<true>(op, static_cast<uint16_t*>(dst), static_cast<const uint16_t*>(src), n);
      break;
  }
}

// Float32 lanes are exact enough over a block of this many elements per lane; the blocks add up
// in double, so the error does not grow with the tensor.
constexpr size_t kSumBlock = 256;

template <typename Load>
double sumSquaresWith(size_t n, Load load, size_t* done) {
  double total = 0;
  size_t i = 0;
  const size_t step = 4 * V::W;
  while (i + step <= n) {
    const size_t end = i + kSumBlock * step <= n ? i + kSumBlock * step : n - (n - i) % step;
    typename V::F a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
    for (; i < end; i += step) {
      const typename V::F x0 = load(i), x1 = load(i + V::W), x2 = load(i + 2 * V::W),
                          x3 = load(i + 3 * V::W);
      a0 = V::add(a0, V::mul(x0, x0));
      a1 = V::add(a1, V::mul(x1, x1));
      a2 = V::add(a2, V::mul(x2, x2));
      a3 = V::add(a3, V::mul(x3, x3));
    }
    total += V::horizontalSumAsDouble(V::add(V::add(a0, a1), V::add(a2, a3)));
  }
  *done = i;
  return total;
}

double sumSquares(const float* x, size_t n) {
  size_t i;
  const double s = sumSquaresWith(
      n, [x](size_t k) { return V::load(x + k); }, &i);
  return s + scalar::sumSquares(x + i, n - i);
}

double sumSquaresHalf(const uint16_t* x, size_t n) {
  size_t i;
  const double s = sumSquaresWith(
      n, [x](size_t k) { return V::fromHalf(V::loadH(x + k)); }, &i);
  return s + scalar::sumSquaresHalf(x + i, n - i);
}

float maxAbs(const float* x, size_t n) {
  typename V::F m0 = V::zero(), m1 = V::zero();
  size_t i = 0;
  // MAXPS(|x|, m) keeps m when x is NaN.
  for (; i + 2 * V::W <= n; i += 2 * V::W) {
    m0 = V::maxps(V::abs(V::load(x + i)), m0);
    m1 = V::maxps(V::abs(V::load(x + i + V::W)), m1);
  }
  const float a = V::maxLanes(V::maxps(m0, m1));
  const float b = scalar::maxAbs(x + i, n - i);
  return a > b ? a : b;
}

template <bool GradHalf>
typename V::F loadGrad(const void* grad, size_t i) {
  if (GradHalf) return V::fromHalf(V::loadH(static_cast<const uint16_t*>(grad) + i));
  return V::load(static_cast<const float*>(grad) + i);
}

template <bool GradHalf, bool Half>
size_t sgdLoop(const SgdElementArgs& a, float* w, const void* grad, float* mom, uint16_t* w16,
               size_t n) {
  const typename V::F lr = V::set1(a.lr), m = V::set1(a.momentum), wd = V::set1(a.weightDecay),
                      gs = V::set1(a.gradScale);
  const bool decay = a.weightDecay != 0;
  size_t i = 0;
  for (; i + V::W <= n; i += V::W) {
    const typename V::F wv = V::load(w + i);
    typename V::F g = V::mul(loadGrad<GradHalf>(grad, i), gs);
    if (decay) g = V::add(g, V::mul(wd, wv));
    const typename V::F b = V::add(V::mul(m, V::load(mom + i)), g);
    V::store(mom + i, b);
    const typename V::F d = a.nesterov ? V::add(g, V::mul(m, b)) : b;
    const typename V::F nw = V::sub(wv, V::mul(lr, d));
    V::store(w + i, nw);
    if (Half) V::storeH(w16 + i, V::toHalf(nw));
  }
  return i;
}

// Picks the vector loop for the gradient type and the float16 copy, then hands the elements it
// left (fewer than a vector) to the scalar reference, which `tail(i, gradAt(i))` runs.
template <typename Loop, typename Tail>
void runUpdate(const void* grad, bool gradHalf, bool half, Loop loop, Tail tail) {
  const size_t i = gradHalf ? (half ? loop(std::true_type{}, std::true_type{})
                                    : loop(std::true_type{}, std::false_type{}))
                            : (half ? loop(std::false_type{}, std::true_type{})
                                    : loop(std::false_type{}, std::false_type{}));
  tail(i, gradHalf ? static_cast<const void*>(static_cast<const uint16_t*>(grad) + i)
                   : static_cast<const void*>(static_cast<const float*>(grad) + i));
}

void sgdUpdate(const SgdElementArgs& a, float* w, const void* grad, bool gradHalf, float* mom,
               uint16_t* w16, size_t n) {
  runUpdate(
      grad, gradHalf, w16 != nullptr,
      [&](auto gh, auto h) {
        return sgdLoop<decltype(gh)::value, decltype(h)::value>(a, w, grad, mom, w16, n);
      },
      [&](size_t i, const void* gt) {
        scalar::sgdUpdate(a, w + i, gt, gradHalf, mom + i, w16 ? w16 + i : nullptr, n - i);
      });
}

template <bool GradHalf, bool Half>
size_t larsLoop(const LarsElementArgs& a, float* w, const void* grad, float* v, uint16_t* w16,
                size_t n) {
  const typename V::F lr = V::set1(a.lrTrust), m = V::set1(a.momentum), wd = V::set1(a.weightDecay),
                      gs = V::set1(a.gradScale);
  const bool decay = a.weightDecay != 0;
  size_t i = 0;
  for (; i + V::W <= n; i += V::W) {
    const typename V::F wv = V::load(w + i);
    typename V::F g = V::mul(loadGrad<GradHalf>(grad, i), gs);
    if (decay) g = V::add(g, V::mul(wd, wv));
    const typename V::F nv = V::add(V::mul(m, V::load(v + i)), V::mul(lr, g));
    V::store(v + i, nv);
    const typename V::F nw = V::sub(wv, nv);
    V::store(w + i, nw);
    if (Half) V::storeH(w16 + i, V::toHalf(nw));
  }
  return i;
}

void larsUpdate(const LarsElementArgs& a, float* w, const void* grad, bool gradHalf, float* v,
                uint16_t* w16, size_t n) {
  runUpdate(
      grad, gradHalf, w16 != nullptr,
      [&](auto gh, auto h) {
        return larsLoop<decltype(gh)::value, decltype(h)::value>(a, w, grad, v, w16, n);
      },
      [&](size_t i, const void* gt) {
        scalar::larsUpdate(a, w + i, gt, gradHalf, v + i, w16 ? w16 + i : nullptr, n - i);
      });
}

// Appends the set lanes of `bits` as indices base + lane while under cap.
inline void appendIndices(uint32_t bits, size_t base, uint32_t* idx, size_t cap, size_t* count) {
  while (bits) {
    if (*count < cap) idx[*count] = static_cast<uint32_t>(base + __builtin_ctz(bits));
    ++*count;
    bits &= bits - 1;
  }
}

size_t dgcAccumulateSelect(float* u, float* v, const float* g, size_t n, float momentum,
                           float threshold, uint32_t* idx, size_t cap) {
  const typename V::F m = V::set1(momentum), t = V::set1(threshold);
  size_t count = 0, i = 0;
  for (; i + V::W <= n; i += V::W) {
    const typename V::F nu = V::add(V::mul(m, V::load(u + i)), V::load(g + i));
    const typename V::F nv = V::add(V::load(v + i), nu);
    V::store(u + i, nu);
    V::store(v + i, nv);
    const uint32_t bits = V::bits(V::ge(V::abs(nv), t));
    if (bits) appendIndices(bits, i, idx, cap, &count);
  }
  const size_t stored = count < cap ? count : cap;
  const size_t rest = scalar::dgcAccumulateSelect(u + i, v + i, g + i, n - i, momentum, threshold,
                                                  idx + stored, cap - stored);
  for (size_t k = stored; k < stored + rest && k < cap; ++k) idx[k] += static_cast<uint32_t>(i);
  return count + rest;
}

size_t selectAbove(const float* x, size_t n, float threshold, uint32_t* idx, size_t cap) {
  const typename V::F t = V::set1(threshold);
  size_t count = 0, i = 0;
  for (; i + 2 * V::W <= n; i += 2 * V::W) {
    const typename V::M m0 = V::ge(V::abs(V::load(x + i)), t);
    const typename V::M m1 = V::ge(V::abs(V::load(x + i + V::W)), t);
    const uint32_t bits = V::bits(m0) | (V::bits(m1) << V::W);
    if (bits) appendIndices(bits, i, idx, cap, &count);
  }
  const size_t stored = count < cap ? count : cap;
  const size_t rest = scalar::selectAbove(x + i, n - i, threshold, idx + stored, cap - stored);
  for (size_t k = stored; k < stored + rest && k < cap; ++k) idx[k] += static_cast<uint32_t>(i);
  return count + rest;
}

// Levels beyond kQsgdFixedMaxLevels: the 24-bit float draw (see the reference).
template <int Planes>
size_t qsgdEncodeLoop(const float* x, size_t n, float levelScale, uint32_t s, uint32_t seed,
                      uint32_t base, uint8_t* signs, uint8_t* planes, size_t planeStride,
                      int planeCount) {
  const int pc = Planes > 0 ? Planes : planeCount;
  const typename V::F ls = V::set1(levelScale), cap = V::set1(static_cast<float>(s)),
                      one = V::set1(1.0f), zero = V::zero();
  typename V::I ctr = V::counter(seed, base);
  size_t i = 0;
  for (; i + V::W <= n; i += V::W, ctr = V::step(ctr)) {
    const typename V::F xv = V::load(x + i);
    const typename V::F r = V::mul(V::abs(xv), ls);
    const typename V::F fl = V::floor(r);
    const typename V::F u = V::unit(ctr);
    const typename V::F level = V::minps(V::maskAdd(fl, V::lt(u, V::sub(r, fl)), one), cap);
    const typename V::I l = V::toInt(level);
    V::storeBits(signs + i / 8, V::bits(V::lt(xv, zero)));
    for (int p = 0; p < pc; ++p)
      V::storeBits(planes + p * planeStride + i / 8, V::bits(V::testBit(l, p)));
  }
  return i;
}

// The 16-bit draws (randomDraw16) of one block of 32 elements: 16 / W vectors of hashes, whose
// low halves serve the first 16 elements and high halves the next 16. base is a multiple of 32.
constexpr size_t kHashVectors = 16 / V::W;
struct Draws {
  typename V::I h[kHashVectors];
  typename V::I draw(size_t v) const {
    return v < kHashVectors ? V::low16(h[v]) : V::high16(h[v - kHashVectors]);
  }
};
inline Draws nextDraws(typename V::I* ctr) {
  Draws d;
  for (size_t k = 0; k < kHashVectors; ++k) {
    d.h[k] = V::hash(*ctr);
    *ctr = V::step(*ctr);
  }
  return d;
}

// qsgdLevel16 per lane: the level is bits 16 and up of t + draw, tested there without a shift.
template <int Planes>
size_t qsgdEncodeFixedLoop(const float* x, size_t n, float levelScale, uint32_t s, uint32_t seed,
                           uint32_t base, uint8_t* signs, uint8_t* planes, size_t planeStride,
                           int planeCount) {
  const int pc = Planes > 0 ? Planes : planeCount;
  const typename V::F ls16 = V::set1(levelScale * 65536.0f),
                      cap16 = V::set1(static_cast<float>(s) * 65536.0f), zero = V::zero();
  typename V::I ctr = V::counter(seed, base / 2);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const Draws d = nextDraws(&ctr);
    // Each plane's 32 bits are gathered in a register and stored once per block.
    uint32_t sb = 0, pb[Planes > 0 ? Planes : 32] = {};
    for (size_t v = 0; v < 2 * kHashVectors; ++v) {
      const typename V::F xv = V::load(x + i + v * V::W);
      const typename V::F t = V::minps(V::mul(V::abs(xv), ls16), cap16);
      const typename V::I l = V::addI(V::toIntNearest(t), d.draw(v));
      sb |= V::bits(V::lt(xv, zero)) << (v * V::W);
      for (int p = 0; p < pc; ++p) pb[p] |= V::bits(V::testBit(l, 16 + p)) << (v * V::W);
    }
    std::memcpy(signs + i / 8, &sb, 4);
    for (int p = 0; p < pc; ++p) std::memcpy(planes + p * planeStride + i / 8, &pb[p], 4);
  }
  return i;
}

void qsgdEncode(const float* x, size_t n, float levelScale, uint32_t s, uint32_t seed,
                uint32_t base, uint8_t* signs, uint8_t* planes, size_t planeStride,
                int planeCount) {
  size_t i = 0;
  if (base % 32 != 0) {
    // The SIMD draws start at a block of 32; an unaligned start is left to the reference.
  } else if (s > kQsgdFixedMaxLevels) {
    i = qsgdEncodeLoop<0>(x, n, levelScale, s, seed, base, signs, planes, planeStride, planeCount);
  } else {
    switch (planeCount) {
#define DTRAIN_PLANES(P)                                                                        \
  case P:                                                                                       \
    i = qsgdEncodeFixedLoop<P>(x, n, levelScale, s, seed, base, signs, planes, planeStride, P); \
    break;
      DTRAIN_PLANES(1)
      DTRAIN_PLANES(2)
      DTRAIN_PLANES(3)
      DTRAIN_PLANES(4)
      DTRAIN_PLANES(5)
      DTRAIN_PLANES(6)
      DTRAIN_PLANES(7)
      DTRAIN_PLANES(8)
#undef DTRAIN_PLANES
      default:
        i = qsgdEncodeFixedLoop<0>(x, n, levelScale, s, seed, base, signs, planes, planeStride,
                                   planeCount);
    }
  }
  if (i < n) {
    // The tail starts on a byte boundary (V::W is a multiple of 8); clear its bytes first, as
    // the reference sets bits in place.
    const size_t tailBytes = (n - i + 7) / 8;
    std::memset(signs + i / 8, 0, tailBytes);
    for (int p = 0; p < planeCount; ++p)
      std::memset(planes + p * planeStride + i / 8, 0, tailBytes);
    // Planes keep their stride; the tail's first byte is i / 8 in each.
    scalar::qsgdEncode(x + i, n - i, levelScale, s, seed, base + static_cast<uint32_t>(i),
                       signs + i / 8, planes + i / 8, planeStride, planeCount);
  }
}

// Decoders by table: element i's code is bit i of each of Bits planes (the first plane gives bit
// 0 of the code), and its value is table[code], filled with the scalar reference's own expression,
// so the bits agree. 64 elements per step: one 64-bit load per plane, byte codes, lookups.
inline uint64_t loadBits64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

template <int Bits, bool Stream, bool Accumulate>
size_t tableDecodeLoop(const uint8_t* const* planes, size_t n, const float* table, float* out) {
  const typename V::Table t = V::loadTable(table);
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    typename V::Idx x = V::idxFromBits(loadBits64(planes[0] + i / 8), 1);
    for (int b = 1; b < Bits; ++b) x = V::idxAddBits(x, loadBits64(planes[b] + i / 8), 1 << b);
    V::template lookup64<Bits>(t, x, [&](int q, typename V::F v) {
      float* o = out + i + q * V::W;
      if (Accumulate) {
        V::store(o, V::add(V::load(o), v));
      } else {
        Stream ? V::stream(o, v) : V::store(o, v);
      }
    });
  }
  if (Stream) V::fence();
  return i;
}

// The output starts on a cache line when that takes a whole number of code bytes (the head goes
// to the reference), so every vector store fills a line: measurably faster than straddling
// stores even when the lines are in cache. scalarPart(first, count) decodes the rest, first a
// multiple of 8.
template <int Bits, typename ScalarPart>
void tableDecode(const uint8_t* const* planes, size_t n, const float* table, float* out,
                 bool accumulate, ScalarPart scalarPart) {
  size_t head = headToAlign(out, n);
  if (head % 8) head = 0;
  if (head) scalarPart(0, head);
  const uint8_t* p[Bits];
  for (int b = 0; b < Bits; ++b) p[b] = planes[b] + head / 8;
  float* o = out + head;
  const size_t m = n - head;
  size_t done;
  if (accumulate) {
    done = tableDecodeLoop<Bits, false, true>(p, m, table, o);
  } else if (m * 4 >= kStreamBytes && reinterpret_cast<uintptr_t>(o) % 64 == 0) {
    done = tableDecodeLoop<Bits, true, false>(p, m, table, o);
  } else {
    done = tableDecodeLoop<Bits, false, false>(p, m, table, o);
  }
  if (head + done < n) scalarPart(head + done, m - done);
}

// More than 4 planes (s > 15): too many codes for a table; float adds per plane instead.
// Planes > 0 fixes the plane count at compile time (unrolled, constants hoisted); 0 reads it.
template <bool Stream, int Planes>
size_t qsgdDecodeLoop(const uint8_t* signs, const uint8_t* planes, size_t planeStride,
                      int planeCount, size_t n, float unit, float* out, bool accumulate) {
  const int pc = Planes > 0 ? Planes : planeCount;
  const typename V::F un = V::set1(unit), zero = V::zero();
  size_t i = 0;
  for (; i + V::W <= n; i += V::W) {
    typename V::F level = zero;
    for (int p = 0; p < pc; ++p) {
      level = V::maskAdd(level, V::fromBits(V::loadBits(planes + p * planeStride + i / 8)),
                         V::set1(static_cast<float>(1u << p)));
    }
    typename V::F val = V::mul(level, un);
    val = V::select(V::fromBits(V::loadBits(signs + i / 8)), V::neg(val), val);
    if (accumulate) {
      V::store(out + i, V::add(V::load(out + i), val));
    } else {
      Stream ? V::stream(out + i, val) : V::store(out + i, val);
    }
  }
  if (Stream) V::fence();
  return i;
}

template <bool Stream>
size_t qsgdDecodeAny(const uint8_t* signs, const uint8_t* planes, size_t planeStride,
                     int planeCount, size_t n, float unit, float* out, bool accumulate) {
  switch (planeCount) {
#define DTRAIN_PLANES(P) \
  case P:                \
    return qsgdDecodeLoop<Stream, P>(signs, planes, planeStride, P, n, unit, out, accumulate);
    DTRAIN_PLANES(5)
    DTRAIN_PLANES(6)
    DTRAIN_PLANES(7)
    DTRAIN_PLANES(8)
#undef DTRAIN_PLANES
    default:
      return qsgdDecodeLoop<Stream, 0>(signs, planes, planeStride, planeCount, n, unit, out,
                                       accumulate);
  }
}

// Decoded output is written once and not read back here: large outputs bypass the cache.
inline bool streamOut(const float* out, size_t n, bool accumulate) {
  return !accumulate && n * 4 >= kStreamBytes && reinterpret_cast<uintptr_t>(out) % 64 == 0;
}

void qsgdDecode(const uint8_t* signs, const uint8_t* planes, size_t planeStride, int planeCount,
                size_t n, float unit, float* out, bool accumulate) {
  if (planeCount <= 4) {
    // Code = level | sign << planeCount: at most 32 values.
    alignas(64) float table[32] = {};
    const uint8_t* p[5];
    const uint32_t levels = 1u << planeCount;
    for (uint32_t c = 0; c < 2 * levels; ++c) {
      const float val = static_cast<float>(c & (levels - 1)) * unit;
      table[c] = c >= levels ? -val : val;
    }
    for (int b = 0; b < planeCount; ++b) p[b] = planes + b * planeStride;
    p[planeCount] = signs;
    auto rest = [&](size_t first, size_t count) {
      scalar::qsgdDecode(signs + first / 8, planes + first / 8, planeStride, planeCount, count,
                         unit, out + first, accumulate);
    };
    switch (planeCount) {
      case 1:
        return tableDecode<2>(p, n, table, out, accumulate, rest);
      case 2:
        return tableDecode<3>(p, n, table, out, accumulate, rest);
      case 3:
        return tableDecode<4>(p, n, table, out, accumulate, rest);
      default:
        return tableDecode<5>(p, n, table, out, accumulate, rest);
    }
  }
  const size_t i =
      streamOut(out, n, accumulate)
          ? qsgdDecodeAny<true>(signs, planes, planeStride, planeCount, n, unit, out, accumulate)
          : qsgdDecodeAny<false>(signs, planes, planeStride, planeCount, n, unit, out, accumulate);
  scalar::qsgdDecode(signs + i / 8, planes + i / 8, planeStride, planeCount, n - i, unit, out + i,
                     accumulate);
}

// ternKeep16 per lane.
void ternGradEncode(const float* x, size_t n, float invScale, uint32_t seed, uint32_t base,
                    uint8_t* nonzero, uint8_t* signs) {
  const typename V::F inv16 = V::set1(invScale * 65536.0f), one16 = V::set1(65536.0f),
                      zero = V::zero();
  typename V::I ctr = V::counter(seed, base / 2);
  size_t i = 0;
  for (; base % 32 == 0 && i + 32 <= n; i += 32) {
    const Draws d = nextDraws(&ctr);
    uint32_t nb = 0, sb = 0;  // stored once per block
    for (size_t v = 0; v < 2 * kHashVectors; ++v) {
      const typename V::F xv = V::load(x + i + v * V::W);
      const typename V::I t = V::toIntNearest(V::minps(V::mul(V::abs(xv), inv16), one16));
      nb |= V::bits(V::ltI(d.draw(v), t)) << (v * V::W);
      sb |= V::bits(V::lt(xv, zero)) << (v * V::W);
    }
    std::memcpy(nonzero + i / 8, &nb, 4);
    std::memcpy(signs + i / 8, &sb, 4);
  }
  if (i < n) {
    const size_t tailBytes = (n - i + 7) / 8;
    std::memset(nonzero + i / 8, 0, tailBytes);
    std::memset(signs + i / 8, 0, tailBytes);
    scalar::ternGradEncode(x + i, n - i, invScale, seed, base + static_cast<uint32_t>(i),
                           nonzero + i / 8, signs + i / 8);
  }
}

void ternGradDecode(const uint8_t* nonzero, const uint8_t* signs, size_t n, float scale, float* out,
                    bool accumulate) {
  alignas(64) float table[32] = {};
  for (int c = 0; c < 4; ++c) {
    const float val = (c & 1) ? scale : 0.0f;
    table[c] = (c & 2) ? -val : val;
  }
  const uint8_t* p[2] = {nonzero, signs};
  tableDecode<2>(p, n, table, out, accumulate, [&](size_t first, size_t count) {
    scalar::ternGradDecode(nonzero + first / 8, signs + first / 8, count, scale, out + first,
                           accumulate);
  });
}

double errorAbsSum(const float* g, const float* e, size_t n) {
  double total = 0;
  size_t i = 0;
  const size_t step = 2 * V::W;
  while (i + step <= n) {
    const size_t end = i + kSumBlock * step <= n ? i + kSumBlock * step : n - (n - i) % step;
    typename V::F a0 = V::zero(), a1 = V::zero();
    for (; i < end; i += step) {
      a0 = V::add(a0, V::abs(V::add(V::load(g + i), V::load(e + i))));
      a1 = V::add(a1, V::abs(V::add(V::load(g + i + V::W), V::load(e + i + V::W))));
    }
    total += V::horizontalSumAsDouble(V::add(a0, a1));
  }
  return total + scalar::errorAbsSum(g + i, e + i, n - i);
}

void signEncode(const float* g, float* e, size_t n, float scale, uint8_t* signs) {
  const typename V::F pos = V::set1(scale), neg = V::set1(-scale), zero = V::zero();
  size_t i = 0;
  for (; i + V::W <= n; i += V::W) {
    const typename V::F x = V::add(V::load(g + i), V::load(e + i));
    const typename V::M m = V::lt(x, zero);
    V::storeBits(signs + i / 8, V::bits(m));
    V::store(e + i, V::sub(x, V::select(m, neg, pos)));
  }
  if (i < n) {
    std::memset(signs + i / 8, 0, (n - i + 7) / 8);
    scalar::signEncode(g + i, e + i, n - i, scale, signs + i / 8);
  }
}

// One plane: a mask select is cheaper than a table lookup.
template <bool Stream>
size_t signDecodeLoop(const uint8_t* signs, size_t n, float scale, float* out, bool accumulate) {
  const typename V::F pos = V::set1(scale), neg = V::set1(-scale);
  size_t i = 0;
  for (; i + V::W <= n; i += V::W) {
    const typename V::F val = V::select(V::fromBits(V::loadBits(signs + i / 8)), neg, pos);
    if (accumulate) {
      V::store(out + i, V::add(V::load(out + i), val));
    } else {
      Stream ? V::stream(out + i, val) : V::store(out + i, val);
    }
  }
  if (Stream) V::fence();
  return i;
}

void signDecode(const uint8_t* signs, size_t n, float scale, float* out, bool accumulate) {
  const size_t i = streamOut(out, n, accumulate)
                       ? signDecodeLoop<true>(signs, n, scale, out, accumulate)
                       : signDecodeLoop<false>(signs, n, scale, out, accumulate);
  scalar::signDecode(signs + i / 8, n - i, scale, out + i, accumulate);
}

#define DTRAIN_SIMD_TABLE(level)                                                            \
  {                                                                                         \
      level,          castToHalf,    castToBFloat16, castFromHalf,        castFromBFloat16, \
      nonFiniteFloat, nonFiniteHalf, reduce,         sumSquares,          sumSquaresHalf,   \
      maxAbs,         sgdUpdate,     larsUpdate,     dgcAccumulateSelect, selectAbove,      \
      qsgdEncode,     qsgdDecode,    ternGradEncode, ternGradDecode,      errorAbsSum,      \
      signEncode,     signDecode,                                                           \
  }
