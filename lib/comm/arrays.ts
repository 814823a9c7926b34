/**
 * The arrays the collectives take: which they are, their element type, and the exact integer
 * averages (summed in float64, truncated toward zero) that a wrapping integer sum cannot give.
 */
import { DTYPE_NAMES, isOneOf, nativeIds, type DType } from '../common/constants';
import type { CommArray } from '../native';

const ARRAY_TYPES =
  'a Float32Array, Float64Array, Int32Array, BigInt64Array, Uint8Array, Int8Array or Uint16Array (float16 or bfloat16 bits)';

/** Throws a TypeError naming `name` unless `buf` is an array the collectives take. */
export function checkArray(buf: unknown, fn: string, name = 'buf'): CommArray {
  if (
    !(
      buf instanceof Float32Array ||
      buf instanceof Float64Array ||
      buf instanceof Int32Array ||
      buf instanceof Uint16Array ||
      buf instanceof BigInt64Array ||
      buf instanceof Int8Array ||
      buf instanceof Uint8Array
    )
  ) {
    const got =
      buf === null ? 'null' : typeof buf === 'object' ? (buf as object).constructor?.name : typeof buf;
    // A device buffer reaches the collectives that run on GPUs before this check.
    const device = got === 'DeviceBuffer' ? ` (device buffers take allreduce, broadcast, allgather and reduceScatter; copy it to the host for ${fn.replace(/Sync$/, '')})` : '';
    throw new TypeError(`${fn}: ${name} must be ${ARRAY_TYPES}, got ${got}${device}`);
  }
  return buf;
}

/** The element type an array is on its own; undefined for a Uint16Array (it must be named). */
export function arrayDType(buf: CommArray): DType | undefined {
  if (buf instanceof Float32Array) return 'float32';
  if (buf instanceof Float64Array) return 'float64';
  if (buf instanceof Int32Array) return 'int32';
  if (buf instanceof BigInt64Array) return 'int64';
  if (buf instanceof Uint8Array) return 'uint8';
  if (buf instanceof Int8Array) return 'int8';
  return undefined;
}

/**
 * The native DType value for `buf` and the `dtype` option. A Uint16Array needs `float16` or
 * `bfloat16`: named, or `halfDefault` where the bits are only copied (broadcast, allgather).
 */
export function dtypeOf(buf: CommArray, o: { dtype?: unknown }, fn: string, halfDefault?: DType): number {
  const ids = nativeIds().dtype;
  const named = o.dtype;
  if (named !== undefined && !isOneOf(named, DTYPE_NAMES)) {
    throw new RangeError(`${fn}: dtype must be one of ${DTYPE_NAMES.join(', ')}, got ${String(named)}`);
  }
  const own = arrayDType(buf);
  if (own === undefined) {
    const half = named ?? halfDefault;
    if (half !== 'float16' && half !== 'bfloat16') {
      throw new TypeError(
        half === undefined
          ? `${fn}: buf is a Uint16Array: pass { dtype: 'float16' } or { dtype: 'bfloat16' } to say what its bits hold`
          : `${fn}: dtype ${half} does not fit a Uint16Array; use float16 or bfloat16`,
      );
    }
    return ids[half];
  }
  if (named !== undefined && named !== own) {
    throw new TypeError(`${fn}: dtype ${String(named)} does not match buf, a ${buf.constructor.name}`);
  }
  return ids[own];
}

/** Integer arrays whose average is computed in float64 (exact below 2^53). */
type WidenedArray = Int32Array | Uint8Array | Int8Array;

/**
 * For `avg` of integers: float64 copies to reduce instead (undefined when `bufs` are not
 * integers or the op is not avg). int64 is refused: its sum can wrap, and float64 is not exact.
 */
export function widenForAverage(bufs: CommArray[], op: string, fn: string): Float64Array[] | undefined {
  if (op !== 'avg') return undefined;
  const first = bufs[0];
  if (first instanceof BigInt64Array) {
    throw new RangeError(
      `${fn}: op 'avg' is not supported for int64 (the sum can wrap around); use 'sum' and divide, or a Float64Array`,
    );
  }
  if (!(first instanceof Int32Array || first instanceof Uint8Array || first instanceof Int8Array)) return undefined;
  return bufs.map((b) => Float64Array.from(b as WidenedArray));
}

/** Writes averaged float64 values back into the integer arrays, truncating toward zero. */
export function narrowAverage(bufs: CommArray[], wide: Float64Array[]): void {
  for (let i = 0; i < bufs.length; i++) {
    const b = bufs[i] as WidenedArray;
    const w = wide[i];
    for (let j = 0; j < w.length; j++) b[j] = Math.trunc(w[j]);
  }
}

/** A new array of buf's type and `length` elements. */
export function sameKind<T extends CommArray>(buf: T, length: number): T {
  return new (buf.constructor as new (n: number) => T)(length);
}
