import type { DType, ReduceOp } from '../common/constants';
import type { CommArray } from '../native';

/** Arrays the collectives accept: reduction happens in the array's own element type. */
export type { CommArray, DType, ReduceOp };

/**
 * An algorithm's name as `dtrain info` lists them; `hierarchical:<inner>` runs another
 * all-reduce algorithm inside. Any other registered name is accepted too.
 */
export type AlgorithmName =
  | 'auto'
  | 'ring'
  | 'halving-doubling'
  | 'binary-blocks'
  | 'recursive-doubling'
  | 'hierarchical'
  | `hierarchical:${'ring' | 'halving-doubling' | 'binary-blocks' | 'recursive-doubling'}`
  | 'binomial-tree'
  | 'pairwise'
  | (string & {});

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
  algorithm?: AlgorithmName;
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
  algorithm?: AlgorithmName;
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
  algorithm?: AlgorithmName;
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

/** Options of {@link reduce}. */
export interface ReduceOptions {
  /** Reduction operator; default `sum`. */
  op?: ReduceOp;
  /** Element type; required for a Uint16Array (`float16` or `bfloat16`). */
  dtype?: DType;
  /** `auto` (default: binomial-tree) or `binomial-tree`. */
  algorithm?: AlgorithmName;
  /** Seconds before the call fails with ERR_DTRAIN_TIMEOUT; default DTRAIN_TIMEOUT or 30. */
  timeout?: number;
}

/** Options of {@link gather}. */
export interface GatherOptions {
  /** Element type; for a Uint16Array, `float16` (default) or `bfloat16`: bits are only copied. */
  dtype?: DType;
  /** `auto` (default: binomial-tree) or `binomial-tree`. */
  algorithm?: AlgorithmName;
  /** Seconds before the call fails with ERR_DTRAIN_TIMEOUT; default DTRAIN_TIMEOUT or 30. */
  timeout?: number;
}

/** Options of {@link scatter}. */
export interface ScatterOptions<T extends CommArray = CommArray> {
  /** The root's data: size() * recv.length elements of recv's type, chunk r for rank r. Root only. */
  send?: T;
  /** Element type; for a Uint16Array, `float16` (default) or `bfloat16`: bits are only copied. */
  dtype?: DType;
  /** `auto` (default: binomial-tree) or `binomial-tree`. */
  algorithm?: AlgorithmName;
  /** Seconds before the call fails with ERR_DTRAIN_TIMEOUT; default DTRAIN_TIMEOUT or 30. */
  timeout?: number;
}

/** Options of {@link alltoall}. */
export interface AlltoallOptions {
  /**
   * Variable splits: elements of `buf` for each rank, in rank order (size() integers adding up
   * to buf.length). Without it, buf holds size() equal chunks.
   */
  sendCounts?: ArrayLike<number>;
  /**
   * Elements this rank receives from each rank. Optional: the ranks exchange their sendCounts
   * first, and when given these are checked against what the peers send (a difference is
   * ERR_DTRAIN_MISMATCH on every rank).
   */
  recvCounts?: ArrayLike<number>;
  /** Element type; for a Uint16Array, `float16` (default) or `bfloat16`: bits are only copied. */
  dtype?: DType;
  /** `auto` (default: pairwise) or `pairwise`. */
  algorithm?: AlgorithmName;
  /** Seconds before the call fails with ERR_DTRAIN_TIMEOUT; default DTRAIN_TIMEOUT or 30. */
  timeout?: number;
}

/** Options of {@link send} and {@link recv}. */
export interface PointToPointOptions {
  /**
   * An integer in [0, 2^32), default 0. Messages between two ranks are matched in the order they
   * were sent; the tag (with the type and length) is checked, and a recv whose tag differs from
   * the next message's fails with ERR_DTRAIN_MISMATCH.
   */
  tag?: number;
  /** Element type; for a Uint16Array, `float16` (default) or `bfloat16`: bits are only copied. */
  dtype?: DType;
  /** Seconds before the call fails with ERR_DTRAIN_TIMEOUT; default DTRAIN_TIMEOUT or 30. */
  timeout?: number;
}

/** Options of {@link newGroup}. */
export interface NewGroupOptions {
  /** Seconds the members wait for each other to connect; default the parent's initTimeout. */
  initTimeout?: number;
  /** The group's default per-collective timeout; default the parent's. */
  timeout?: number;
  /** Seconds a call may wait before the stall warning (see DTRAIN_STALL_WARN); 0 never; default the parent's. */
  stallWarn?: number;
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
  /**
   * Write a Chrome-trace / Perfetto timeline of every collective's phases (and the Trainer's) to
   * this file; under `dtrain run` each rank writes FILE.rank<r>. Env: DTRAIN_TIMELINE.
   */
  timeline?: string;
}
