import { loadBinding } from '../native';
import { checkOptions, expectArray, finiteNumber, outputArray } from '../common/args';

/** Options of {@link castToHalf} and {@link castToBFloat16}. */
export interface CastToHalfOptions {
  /** Multiplies each value first (loss scaling); default 1. The product rounds to float32. */
  scale?: number;
  /** Where to write; must have the source's length. Default: a new array. */
  out?: Uint16Array;
}

/** Options of {@link castFromHalf} and {@link castFromBFloat16}. */
export interface CastFromHalfOptions {
  /** Multiplies each converted value (unscaling, e.g. 1 / lossScale); default 1. */
  scale?: number;
  /** Where to write; must have the source's length. Default: a new array. */
  out?: Float32Array;
}

/** Result of {@link castFromHalf} and {@link castFromBFloat16}. */
export interface CastFromHalfResult {
  out: Float32Array;
  /** Whether any output value is inf or NaN (the overflow check of dynamic loss scaling). */
  nonFinite: boolean;
}

const CAST_OPTIONS = ['scale', 'out'] as const;

function toHalf(src: Float32Array, opts: CastToHalfOptions | undefined, bf16: boolean): Uint16Array {
  expectArray(src, Float32Array, 'src');
  const o = checkOptions(opts, CAST_OPTIONS, bf16 ? 'kernels.castToBFloat16' : 'kernels.castToHalf');
  const scale = finiteNumber(o.scale, 'scale', 1);
  const out = outputArray(o.out, Uint16Array, src.length, 'src');
  loadBinding().kernels.castToHalf(src, out, scale, bf16);
  return out;
}

function fromHalf(src: Uint16Array, opts: CastFromHalfOptions | undefined, bf16: boolean): CastFromHalfResult {
  expectArray(src, Uint16Array, 'src');
  const o = checkOptions(opts, CAST_OPTIONS, bf16 ? 'kernels.castFromBFloat16' : 'kernels.castFromHalf');
  const scale = finiteNumber(o.scale, 'scale', 1);
  const out = outputArray(o.out, Float32Array, src.length, 'src');
  const nonFinite = loadBinding().kernels.castFromHalf(src, out, scale, bf16);
  return { out, nonFinite };
}

/**
 * float32 -> IEEE float16 bits, `half(src[i] * scale)`: round to nearest even, bit-exact with
 * numpy's `astype(np.float16)` for every input (subnormals, overflow to inf, NaN kept NaN with
 * its payload truncated as numpy does).
 *
 * @param src - values to convert
 * @param opts - `scale` (default 1) and `out`
 * @returns the float16 bit patterns (a new array, or `out`)
 * @throws TypeError if src or out has the wrong type; RangeError if out's length differs or
 *   scale is not finite
 */
export function castToHalf(src: Float32Array, opts?: CastToHalfOptions): Uint16Array {
  return toHalf(src, opts, false);
}

/**
 * float32 -> bfloat16 bits, `bfloat16(src[i] * scale)`: round to nearest even; inf stays inf;
 * NaN becomes a quiet NaN with sign and top payload kept (never inf).
 *
 * @throws as {@link castToHalf}
 */
export function castToBFloat16(src: Float32Array, opts?: CastToHalfOptions): Uint16Array {
  return toHalf(src, opts, true);
}

/**
 * float16 bits -> float32, `float(src[i]) * scale` (exact conversion, one rounding for the
 * scale), fused with the check dynamic loss scaling needs: `nonFinite` tells whether any
 * result is inf or NaN.
 *
 * @throws TypeError if src or out has the wrong type; RangeError if out's length differs or
 *   scale is not finite
 */
export function castFromHalf(src: Uint16Array, opts?: CastFromHalfOptions): CastFromHalfResult {
  return fromHalf(src, opts, false);
}

/** bfloat16 bits -> float32 with a scale and the non-finite check; see {@link castFromHalf}. */
export function castFromBFloat16(src: Uint16Array, opts?: CastFromHalfOptions): CastFromHalfResult {
  return fromHalf(src, opts, true);
}
