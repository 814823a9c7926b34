import type { CommArray } from '../native';

/** Arrays the collectives accept: reduction happens in the array's own element type. */
export type { CommArray };

/**
 * Element types. A Float32Array, Float64Array or Int32Array is its own type (`dtype` may repeat
 * it); a Uint16Array holds the bits of `float16` or `bfloat16` values, and reductions on one need
 * `dtype` to say which. Half-precision sums add in float32 and round once per step.
 */
export type DType = 'float32' | 'float64' | 'int32' | 'float16' | 'bfloat16';

/**
 * Reduction operators. `avg` divides the sum by size() (integers truncate toward zero); for
 * float16 and bfloat16 each rank's values are divided by size() before they are summed (as
 * PyTorch DDP's float16 compression hook does), so a mean that fits the format never overflows.
 */
export type ReduceOp = 'sum' | 'avg' | 'min' | 'max';

/** Options of {@link allreduce}. */
export interface AllreduceOptions {
  /** Reduction operator; default `sum`. */
  op?: ReduceOp;
  /** Element type; required for a Uint16Array (`float16` or `bfloat16`). See {@link DType}. */
  dtype?: DType;
  /**
   * `auto` (default: the cost model's choice per call), `ring`, `halving-doubling`,
   * `binary-blocks`, `recursive-doubling`, `hierarchical` or `hierarchical:<inner>`; the
   * default comes from DTRAIN_ALLREDUCE_ALGO. See docs/algorithms.md.
   */
  algorithm?: string;
  /** Seconds before the call fails with ERR_DTRAIN_TIMEOUT; default DTRAIN_TIMEOUT or 30. */
  timeout?: number;
}

/** Options of {@link allgather}. */
export interface AllgatherOptions {
  /**
   * Element type; for a Uint16Array, `float16` (default) or `bfloat16`. Bits are copied as they
   * are, so it only has to agree across ranks.
   */
  dtype?: DType;
  /** `auto` (default, ring), `ring` or `recursive-doubling`. */
  algorithm?: string;
  /** Seconds before the call fails with ERR_DTRAIN_TIMEOUT; default DTRAIN_TIMEOUT or 30. */
  timeout?: number;
}

/** Options of {@link reduceScatter}. */
export interface ReduceScatterOptions {
  /** Reduction operator; default `sum`. */
  op?: ReduceOp;
  /** Element type; required for a Uint16Array (`float16` or `bfloat16`). See {@link DType}. */
  dtype?: DType;
  /** `auto` (default, ring), `ring` or `halving-doubling` (power-of-two sizes only). */
  algorithm?: string;
  /** Seconds before the call fails with ERR_DTRAIN_TIMEOUT; default DTRAIN_TIMEOUT or 30. */
  timeout?: number;
}

/** Options of {@link broadcast}. */
export interface BroadcastOptions {
  /**
   * Element type; for a Uint16Array, `float16` (default) or `bfloat16`. Bits are copied as they
   * are, so it only has to agree across ranks.
   */
  dtype?: DType;
  /** Seconds before the call fails with ERR_DTRAIN_TIMEOUT; default DTRAIN_TIMEOUT or 30. */
  timeout?: number;
}

/** Options every other collective takes. */
export interface CallOptions {
  /** Seconds before the call fails with ERR_DTRAIN_TIMEOUT; default DTRAIN_TIMEOUT or 30. */
  timeout?: number;
}

/** Options of {@link init}; each overrides the matching environment variable. */
export interface InitOptions {
  /** `shm` (same host, default) or `tcp`. Env: DTRAIN_TRANSPORT. */
  transport?: 'shm' | 'tcp';
  /** Default per-collective timeout in seconds. Env: DTRAIN_TIMEOUT (default 30). */
  timeout?: number;
  /** Seconds to wait for every worker to join. Env: DTRAIN_INIT_TIMEOUT (default 60). */
  initTimeout?: number;
}

/**
 * Errors raised by collectives carry a `code` and the ranks they are about:
 * ERR_DTRAIN_PEER_LOST (`rank` = the lost rank), ERR_DTRAIN_TIMEOUT (`ranks` = those awaited),
 * ERR_DTRAIN_MISMATCH (`ranks` = those that disagree with the majority), ERR_DTRAIN_BROKEN,
 * ERR_DTRAIN_BOOTSTRAP, ERR_DTRAIN_CLOSED.
 */
export interface DtrainError extends Error {
  code: string;
  rank?: number;
  ranks?: number[];
}
