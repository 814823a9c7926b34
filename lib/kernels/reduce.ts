import { checkOptions } from '../common/args';
import { nativeIds, type DType } from '../common/constants';
import { loadBinding } from '../native';

/**
 * The element types {@link reduce} takes: the collectives' {@link DType}.
 * @deprecated Use `DType`; this name remains for code written against earlier versions.
 */
export type KernelDType = DType;

/** Options of {@link reduce}. */
export interface ReduceOptions {
  /** `sum` (default), `min` or `max`. */
  op?: 'sum' | 'min' | 'max';
  /** Required for a Uint16Array (`float16` or `bfloat16`); otherwise the array's type. */
  dtype?: DType;
}

/** The operators an element-wise reduce has (an average is a sum and a division). */
const OPS = ['sum', 'min', 'max'] as const;

/**
 * Element-wise `dst[i] = dst[i] op src[i]`, the reduction the collectives run on arriving data,
 * at the CPU's SIMD level. float16/bfloat16 convert to float32, combine, and round once (nearest
 * even). int32 sums wrap. min is `src < dst ? src : dst` and max `src > dst ? src : dst`: a NaN
 * arriving in src is ignored, a NaN already in dst stays.
 *
 * @param dst - reduced in place; returned
 * @param src - same type and length as dst
 * @throws TypeError for unsupported or different array types, or a Uint16Array without dtype;
 *   RangeError for different lengths or an unknown op
 */
export function reduce<T extends Float32Array | Float64Array | Int32Array | Uint16Array>(
  dst: T,
  src: T,
  opts?: ReduceOptions,
): T {
  const o = checkOptions(opts, ['op', 'dtype'], 'kernels.reduce');
  const op = o.op ?? 'sum';
  if (!(OPS as readonly string[]).includes(op)) throw new RangeError(`op must be sum, min or max, got ${String(op)}`);
  let dtype: DType;
  if (dst instanceof Float32Array) dtype = 'float32';
  else if (dst instanceof Float64Array) dtype = 'float64';
  else if (dst instanceof Int32Array) dtype = 'int32';
  else if (dst instanceof Uint16Array) {
    if (o.dtype !== 'float16' && o.dtype !== 'bfloat16') {
      throw new TypeError('dtype must be float16 or bfloat16 for a Uint16Array dst');
    }
    dtype = o.dtype;
  } else {
    throw new TypeError('dst must be a Float32Array, Float64Array, Int32Array or Uint16Array');
  }
  if (o.dtype !== undefined && o.dtype !== dtype) {
    throw new TypeError(`dtype ${o.dtype} does not match dst (${dst.constructor.name})`);
  }
  if (!(src instanceof dst.constructor)) {
    throw new TypeError(`src must be a ${dst.constructor.name} like dst`);
  }
  if (src.length !== dst.length) throw new RangeError(`src has length ${src.length}; dst has ${dst.length}`);
  const ids = nativeIds();
  loadBinding().kernels.reduce(ids.dtype[dtype], ids.reduceOp[op], dst, src);
  return dst;
}
