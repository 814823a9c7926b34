import { loadBinding } from '../native';
import { checkOptions, expectArray, finiteNumber, integer, MAX_LENGTH, randomSeed, sameLength } from '../common/args';

const DECODE_OPTIONS = ['out', 'length', 'accumulate'] as const;

/*
 * Codes are bit-planes: bit i of a plane is bit (i % 8) of byte (i >> 3); each plane is
 * ceil(n / 8) bytes; padding bits are zero.
 */

const planeBytes = (n: number): number => Math.ceil(n / 8);

/** Level bit-planes QSGD uses for s levels: ceil(log2(s + 1)). */
export function qsgdPlaneCount(levels: number): number {
  let p = 0;
  while (p < 32 && 2 ** p <= levels) p++;
  return p;
}

/** Bytes of a QSGD code for n elements: a sign plane, then the level planes (LSB first). */
export function qsgdCodeBytes(n: number, levels: number): number {
  return (1 + qsgdPlaneCount(levels)) * planeBytes(n);
}

/** Options of {@link qsgdEncode}. */
export interface QsgdEncodeOptions {
  /** s, the number of levels (1..2^24); e.g. 15 for 5 bits per element. */
  levels: number;
  /** Seed of the stochastic rounding; default random. */
  seed?: number;
  /** Use this norm instead of computing ||x||_2 (e.g. to share one across calls). */
  norm?: number;
  /** Where to write the code; at least qsgdCodeBytes(x.length, levels) bytes. */
  out?: Uint8Array;
}

/** A QSGD code and the norm the decoder needs. */
export interface QsgdCode {
  code: Uint8Array;
  norm: number;
  levels: number;
}

function codeOut(out: Uint8Array | undefined, bytes: number): Uint8Array {
  if (out === undefined) return new Uint8Array(bytes);
  expectArray(out, Uint8Array, 'out');
  if (out.length < bytes) throw new RangeError(`out has ${out.length} bytes; the code needs ${bytes}`);
  return out;
}

function checkedInput(x: Float32Array, name: string): void {
  expectArray(x, Float32Array, name);
  if (x.length > MAX_LENGTH) throw new RangeError(`${name} is longer than 2^32 - 1 elements`);
}

/**
 * QSGD (Alistarh et al. 2017) with s levels: with r = |x_i| / ||x||_2 * s, the level is
 * floor(r) + 1 with probability r - floor(r), else floor(r), so the decoded value
 * `sign * level * ||x||_2 / s` is unbiased. Code: the sign plane and ceil(log2(s + 1)) level
 * planes.
 *
 * @throws TypeError for wrong array types; RangeError for levels out of 1..2^24 or a short out
 */
export function qsgdEncode(x: Float32Array, opts: QsgdEncodeOptions): QsgdCode {
  checkedInput(x, 'x');
  const o = checkOptions(opts, ['levels', 'seed', 'norm', 'out'], 'kernels.qsgdEncode');
  const levels = integer(o.levels, 'levels', 1, 1 << 24);
  const norm = o.norm === undefined ? -1 : finiteNumber(o.norm, 'norm');
  if (o.norm !== undefined && norm < 0) throw new RangeError(`norm must be >= 0, got ${norm}`);
  const code = codeOut(o.out, qsgdCodeBytes(x.length, levels));
  const seed = integer(o.seed, 'seed', 0, 0xffffffff, randomSeed());
  const used = loadBinding().kernels.qsgdEncode(x, levels, seed, code, norm);
  return { code, norm: used, levels };
}

/** Options of the decoders. */
export interface DecodeOptions {
  /** Where to write (or add); its length is the element count. Default: a new array of `length`. */
  out?: Float32Array;
  /** Element count when `out` is not given. */
  length?: number;
  /** Add into `out` instead of overwriting it (summing several ranks' codes); default false. */
  accumulate?: boolean;
}

function decodeOut(o: Partial<DecodeOptions>): Float32Array {
  if (o.out !== undefined) {
    expectArray(o.out, Float32Array, 'out');
    return o.out;
  }
  return new Float32Array(integer(o.length, 'length', 0, MAX_LENGTH));
}

/**
 * Decodes a QSGD code: `out[i] (+)= sign_i * level_i * norm / levels`.
 *
 * @throws TypeError / RangeError for wrong types, a short code, or neither out nor length
 */
export function qsgdDecode(q: QsgdCode, opts: DecodeOptions): Float32Array {
  expectArray(q.code, Uint8Array, 'code');
  const o = checkOptions(opts, DECODE_OPTIONS, 'kernels.qsgdDecode');
  const out = decodeOut(o);
  const levels = integer(q.levels, 'levels', 1, 1 << 24);
  if (q.code.length < qsgdCodeBytes(out.length, levels)) throw new RangeError('code is too short for out');
  loadBinding().kernels.qsgdDecode(q.code, levels, finiteNumber(q.norm, 'norm'), out, !!o.accumulate);
  return out;
}

/** A TernGrad code: a nonzero plane then a sign plane, and the scale max|x|. */
export interface TernCode {
  code: Uint8Array;
  scale: number;
}

/**
 * TernGrad (Wen et al. 2017): scale = max |x_i|; each element becomes scale * sign(x_i) with
 * probability |x_i| / scale, else 0 (unbiased).
 *
 * @throws TypeError for wrong types; RangeError for a short out
 */
export function ternGradEncode(x: Float32Array, opts?: { seed?: number; out?: Uint8Array }): TernCode {
  checkedInput(x, 'x');
  const o = checkOptions(opts, ['seed', 'out'], 'kernels.ternGradEncode');
  const code = codeOut(o.out, 2 * planeBytes(x.length));
  const scale = loadBinding().kernels.ternGradEncode(x, integer(o.seed, 'seed', 0, 0xffffffff, randomSeed()), code);
  return { code, scale };
}

/** Decodes a TernGrad code: `out[i] (+)= nonzero ? ±scale : 0`. */
export function ternGradDecode(t: TernCode, opts: DecodeOptions): Float32Array {
  expectArray(t.code, Uint8Array, 'code');
  const o = checkOptions(opts, DECODE_OPTIONS, 'kernels.ternGradDecode');
  const out = decodeOut(o);
  if (t.code.length < 2 * planeBytes(out.length)) throw new RangeError('code is too short for out');
  loadBinding().kernels.ternGradDecode(t.code, finiteNumber(t.scale, 'scale'), out, !!o.accumulate);
  return out;
}

/** A 1-bit code: the sign plane and the scale. */
export interface SignCode {
  code: Uint8Array;
  scale: number;
}

/**
 * 1-bit sign compression with error feedback (Seide et al. 2014): `x = grad + residual`;
 * scale = mean |x|; sends the sign bits of x; `residual = x - (x < 0 ? -scale : scale)`. What
 * was sent plus the residual always equals what went in, so nothing is lost over steps.
 *
 * @param residual - this tensor's error, zeros at the start; updated in place
 * @throws TypeError for wrong types; RangeError for a residual of another length or short out
 */
export function signEncode(grad: Float32Array, residual: Float32Array, opts?: { out?: Uint8Array }): SignCode {
  checkedInput(grad, 'grad');
  expectArray(residual, Float32Array, 'residual');
  sameLength(residual.length, grad.length, 'residual', 'grad');
  const o = checkOptions(opts, ['out'], 'kernels.signEncode');
  const code = codeOut(o.out, planeBytes(grad.length));
  const scale = loadBinding().kernels.signEncode(grad, residual, code);
  return { code, scale };
}

/** Decodes a 1-bit code: `out[i] (+)= sign ? -scale : scale`. */
export function signDecode(s: SignCode, opts: DecodeOptions): Float32Array {
  expectArray(s.code, Uint8Array, 'code');
  const o = checkOptions(opts, DECODE_OPTIONS, 'kernels.signDecode');
  const out = decodeOut(o);
  if (s.code.length < planeBytes(out.length)) throw new RangeError('code is too short for out');
  loadBinding().kernels.signDecode(s.code, finiteNumber(s.scale, 'scale'), out, !!o.accumulate);
  return out;
}
