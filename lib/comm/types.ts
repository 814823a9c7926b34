import type { DType, ReduceOp } from '../common/constants';
import type { CommArray } from '../native';

/** Arrays the collectives accept: reduction happens in the array's own element type. */
export type { CommArray, DType, ReduceOp };

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
  /**
   * `shm` (same host, default), `tcp`, or `auto` (shm when every rank is on one host, else tcp;
   * the choice is logged by rank 0). `dtrain info` lists the registered transports. Env:
   * DTRAIN_TRANSPORT.
   */
  transport?: 'auto' | 'shm' | 'tcp' | (string & {});
  /** Default per-collective timeout in seconds. Env: DTRAIN_TIMEOUT (default 30). */
  timeout?: number;
  /** Seconds to wait for every worker to join. Env: DTRAIN_INIT_TIMEOUT (default 60). */
  initTimeout?: number;
}
