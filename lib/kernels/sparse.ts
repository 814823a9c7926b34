import { loadBinding } from '../native';
import { checkOptions, expectArray, finiteNumber, integer, MAX_LENGTH, randomSeed, sameLength } from '../common/args';

/** Result of {@link topk}: indices ascending, and the values there. */
export interface TopkResult {
  indices: Uint32Array;
  values: Float32Array;
}

/**
 * The exact k largest elements by magnitude: the same set as sorting by (|x| descending, index
 * ascending) and taking the first k; NaN ranks below every number. A sample estimates a
 * threshold, one SIMD pass collects everything at or above it, and an exact selection runs on
 * those (falling back to a full selection when the estimate misses).
 *
 * @param k - 0..x.length
 * @throws TypeError if x is not a Float32Array; RangeError if k is out of range
 */
export function topk(x: Float32Array, k: number): TopkResult {
  expectArray(x, Float32Array, 'x');
  if (x.length > MAX_LENGTH) throw new RangeError('x is longer than 2^32 - 1 elements');
  const kk = integer(k, 'k', 0, x.length);
  const indices = new Uint32Array(kk);
  const values = new Float32Array(kk);
  loadBinding().kernels.topk(x, kk, indices, values);
  return { indices, values };
}

/** The per-tensor state of Deep Gradient Compression: both zeros before the first step. */
export interface DgcState {
  /** Momentum-corrected gradient (u). */
  u: Float32Array;
  /** Local accumulation (v): what has not been sent yet. */
  v: Float32Array;
}

/** Options of {@link dgcStep}. */
export interface DgcOptions {
  /** Momentum m of the correction u = m u + g; default 0.9. */
  momentum?: number;
  /** Target fraction of elements to send; default 0.001. */
  density?: number;
  /** Fraction of elements sampled to estimate the threshold; default 0.01. */
  sampleRatio?: number;
  /** Which positions are sampled; default random. */
  seed?: number;
  /** Threshold adaptations before an exact top-k decides; default 10. */
  maxRounds?: number;
  /** Values as float16 bits (Uint16Array) instead of float32; default false. */
  half?: boolean;
}

/** Result of {@link dgcStep}: `(indices[i], values[i])` pairs, indices ascending. */
export interface DgcResult {
  indices: Uint32Array;
  values: Float32Array | Uint16Array;
  /** The |v| threshold finally used; 0 when an exact top-k decided. */
  threshold: number;
  /** Extra passes over v the threshold adaptation took. */
  rounds: number;
}

/**
 * One Deep Gradient Compression step (Lin et al. 2018) on one tensor: momentum correction and
 * local accumulation `u = m u + g; v = v + u`; a threshold on |v| from a sample (adapted x1.3 /
 * x0.8 while too many or too few pass, with an exact top-k on the passing set when more than
 * the target pass); the selected (index, v) pairs; then momentum factor masking (u and v are
 * zeroed where sent). Sends at most `ceil(n * density)` pairs, at least 0.8 of that unless
 * fewer nonzero elements exist or the adaptation ran out of rounds; never sends zeros or NaN.
 *
 * @throws TypeError for wrong array types; RangeError for length mismatches or bad options
 */
export function dgcStep(state: DgcState, grad: Float32Array, opts?: DgcOptions): DgcResult {
  const o = checkOptions(opts, ['momentum', 'density', 'sampleRatio', 'seed', 'maxRounds', 'half'], 'kernels.dgcStep');
  if (state === null || typeof state !== 'object') throw new TypeError('state must be an object');
  expectArray(state.u, Float32Array, 'state.u');
  expectArray(state.v, Float32Array, 'state.v');
  expectArray(grad, Float32Array, 'grad');
  if (grad.length > MAX_LENGTH) throw new RangeError('grad is longer than 2^32 - 1 elements');
  sameLength(state.u.length, grad.length, 'state.u', 'grad');
  sameLength(state.v.length, grad.length, 'state.v', 'grad');
  const d = loadBinding().kernels.defaults.dgc;
  const density = finiteNumber(o.density, 'density', d.density);
  if (!(density > 0 && density <= 1)) throw new RangeError(`density must be in (0, 1], got ${density}`);
  const sampleRatio = finiteNumber(o.sampleRatio, 'sampleRatio', d.sampleRatio);
  if (!(sampleRatio > 0 && sampleRatio <= 1)) throw new RangeError(`sampleRatio must be in (0, 1], got ${sampleRatio}`);
  const n = grad.length;
  // The native side holds density as float32; count as it does.
  const k = n === 0 ? 0 : Math.min(n, Math.max(1, Math.ceil(n * Math.fround(density))));
  const indices = new Uint32Array(k);
  const half = !!o.half;
  const values = half ? new Uint16Array(k) : new Float32Array(k);
  const r = loadBinding().kernels.dgcStep(state.u, state.v, grad, indices, values, half, {
    momentum: finiteNumber(o.momentum, 'momentum', d.momentum),
    density,
    sampleRatio,
    seed: integer(o.seed, 'seed', 0, 0xffffffff, randomSeed()),
    maxRounds: integer(o.maxRounds, 'maxRounds', 0, 1000, d.maxRounds),
  });
  return {
    indices: indices.subarray(0, r.count),
    values: values.subarray(0, r.count),
    threshold: r.threshold,
    rounds: r.rounds,
  };
}

/** One sender's sparse gradient, as {@link dgcStep} returns it (or as received). */
export interface SparseGradient {
  indices: Uint32Array;
  values: Float32Array | Uint16Array;
}

/**
 * The DGC decoder: scatter-adds many ranks' sparse gradients into a dense buffer,
 * `dense[indices[i]] += values[i]`, sender by sender in the order given (so every rank that
 * decodes the same list gets the same bits). Uint16Array values are float16 bits.
 *
 * @param dense - accumulated into in place; returned
 * @throws TypeError for wrong array types; RangeError for an index >= dense.length (nothing is
 *   added from that sender) or indices/values of different lengths
 */
export function dgcDecode(dense: Float32Array, parts: SparseGradient[]): Float32Array {
  expectArray(dense, Float32Array, 'dense');
  if (!Array.isArray(parts)) throw new TypeError('parts must be an array');
  const k = loadBinding().kernels;
  parts.forEach((p, i) => {
    expectArray(p.indices, Uint32Array, `parts[${i}].indices`);
    const half = p.values instanceof Uint16Array;
    if (!half) expectArray(p.values, Float32Array, `parts[${i}].values`);
    sameLength(p.values.length, p.indices.length, `parts[${i}].values`, `parts[${i}].indices`);
    k.scatterAdd(dense, p.indices, p.values, half, p.indices.length);
  });
  return dense;
}
