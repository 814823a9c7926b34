import type { CommArray } from '../native';

/** Arrays the collectives accept: reduction happens in the array's own element type. */
export type { CommArray };

/** Reduction operators. `avg` divides the sum by size() (integers truncate toward zero). */
export type ReduceOp = 'sum' | 'avg' | 'min' | 'max';

/** Options of {@link allreduce}. */
export interface AllreduceOptions {
  /** Reduction operator; default `sum`. */
  op?: ReduceOp;
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
  /** `auto` (default, ring), `ring` or `recursive-doubling`. */
  algorithm?: string;
  /** Seconds before the call fails with ERR_DTRAIN_TIMEOUT; default DTRAIN_TIMEOUT or 30. */
  timeout?: number;
}

/** Options of {@link reduceScatter}. */
export interface ReduceScatterOptions {
  /** Reduction operator; default `sum`. */
  op?: ReduceOp;
  /** `auto` (default, ring), `ring` or `halving-doubling` (power-of-two sizes only). */
  algorithm?: string;
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
