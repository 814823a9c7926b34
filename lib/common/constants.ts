/**
 * The element types, reduction operators and collectives, named once for the type system; their
 * numeric values come only from the addon (its `registry.constants`), checked against these
 * names the first time they are needed.
 */
import { loadBinding } from '../native';

/** Element type names, in the addon's order. */
export const DTYPE_NAMES = ['float32', 'float64', 'int32', 'float16', 'bfloat16', 'uint8', 'int8', 'int64'] as const;

/**
 * Element types. A Float32Array, Float64Array, Int32Array, Uint8Array, Int8Array or
 * BigInt64Array (`int64`) is its own type (`dtype` may repeat it); a Uint16Array holds the bits
 * of `float16` or `bfloat16` values, and reductions on one need `dtype` to say which.
 * Half-precision sums add in float32 and round once per step. Integer sums and products wrap
 * around (two's complement), as in MPI, NCCL and torch.
 */
export type DType = (typeof DTYPE_NAMES)[number];

/** Reduction operator names. */
export const REDUCE_OP_NAMES = ['sum', 'avg', 'min', 'max', 'prod'] as const;

/**
 * Reduction operators. `avg` divides the sum by size(); for float16 and bfloat16 each rank's
 * values are divided by size() before they are summed (as PyTorch DDP's float16 compression hook
 * does), so a mean that fits the format never overflows. Integer averages (int32, uint8, int8)
 * are exact: summed in float64 and truncated toward zero, so `[2**31 - 1]` on every rank
 * averages to itself; `avg` of int64 is refused (its sum can wrap). `sum` and `prod` of
 * integers wrap around.
 */
export type ReduceOp = (typeof REDUCE_OP_NAMES)[number];

/** The collectives, as the binding's `run` names them. */
export const OP_KIND_NAMES = [
  'allreduce',
  'broadcast',
  'allgather',
  'barrier',
  'reduceScatter',
  'reduce',
  'gather',
  'scatter',
  'alltoall',
  'send',
  'recv',
  'join',
] as const;
export type OpKind = (typeof OP_KIND_NAMES)[number];

interface Ids {
  dtype: Record<DType, number>;
  reduceOp: Record<ReduceOp, number>;
  opKind: Record<OpKind, number>;
}

let ids: Ids | undefined;

function checked<N extends string>(what: string, names: readonly N[], native: Record<string, number>): Record<N, number> {
  const got = Object.keys(native).sort().join(', ');
  if (got !== [...names].sort().join(', ')) {
    throw new Error(
      `dtrain: the native addon's ${what} (${got}) are not this code's (${names.join(', ')}); rebuild it with \`npm run build:native\``,
    );
  }
  return native as Record<N, number>;
}

/** The addon's numeric values for every name above. */
export function nativeIds(): Ids {
  if (!ids) {
    const c = loadBinding().registry.constants;
    ids = {
      dtype: checked('element types', DTYPE_NAMES, c.dtypes),
      reduceOp: checked('reduction operators', REDUCE_OP_NAMES, c.reduceOps),
      opKind: checked('collectives', OP_KIND_NAMES, c.opKinds),
    };
  }
  return ids;
}

/** Whether `v` is one of `names` (an own name, never a prototype's). */
export function isOneOf<N extends string>(v: unknown, names: readonly N[]): v is N {
  return typeof v === 'string' && (names as readonly string[]).includes(v);
}
