import { loadBinding } from '../native';
import { MAX_LENGTH } from '../common/args';

/** The element types {@link alloc} makes arrays of, and the TypedArray each gives. */
export interface AllocTypes {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  int8: Int8Array;
}

const CTORS = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  int8: Int8Array,
} as const;

/**
 * A zeroed array of `length` elements in shared memory. Pass it (or a view into it) to an
 * all-reduce on every rank of a job on one host (shared-memory transport) and the ranks read
 * each other's data where it lies, reducing from the peers' memory, instead of copying it
 * through the transport's rings: one copy instead of several, for calls of 64 KiB and more.
 * Where a rank cannot map its peers' memory (another PID namespace), or other ranks pass
 * ordinary arrays, the call takes the transport as any other: results are the same either way.
 * The DistributedOptimizer's fusion buffers are such arrays. The memory is freed when the array
 * is garbage-collected. float16 and bfloat16 arrays hold the bits (pass `{ dtype }` to the
 * collectives, as for any Uint16Array).
 */
export function alloc<K extends keyof AllocTypes = 'float32'>(length: number, dtype?: K): AllocTypes[K] {
  const name = (dtype ?? 'float32') as keyof AllocTypes;
  const Ctor = (CTORS as Record<string, (typeof CTORS)[keyof typeof CTORS] | undefined>)[name as string];
  if (!Ctor || !Object.hasOwn(CTORS, name)) {
    throw new RangeError(`alloc: dtype must be one of ${Object.keys(CTORS).join(', ')}, got ${String(dtype)}`);
  }
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > MAX_LENGTH) {
    throw new RangeError(`alloc: length must be an integer from 0 to ${MAX_LENGTH}, got ${String(length)}`);
  }
  if (length === 0) return new Ctor(0) as AllocTypes[K];
  const buffer = loadBinding().allocShared(length * Ctor.BYTES_PER_ELEMENT);
  return new Ctor(buffer, 0, length) as AllocTypes[K];
}
