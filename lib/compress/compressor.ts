import type { Communicator } from '../comm/communicator';

/**
 * One fusion bucket of gradients as the DistributedOptimizer hands it to a compressor: the
 * gradient values of its parameters, packed in bucket order, and where each starts.
 */
export interface GradientBucket {
  /** Position among the optimizer's buckets (0 holds the last parameters, reduced first). */
  readonly index: number;
  /** The packed gradients; the compressor leaves the cross-rank mean here. */
  readonly data: Float32Array;
  /** The parameters' names, in packing order. */
  readonly names: readonly string[];
  /** Where each parameter starts in `data`. */
  readonly offsets: readonly number[];
  /**
   * The loss scale the values are multiplied by (1 without a LossScaler): a compressor that
   * keeps state across steps (error feedback, DGC's accumulators) rescales it when this changes.
   */
  readonly lossScale: number;
  /**
   * True when this step may be skipped on overflow (a LossScaler is in use): a compressor that
   * keeps state must then leave it as it was when any rank's bucket turns out non-finite.
   */
  readonly skippable: boolean;
}

/**
 * How a bucket of gradients travels: the DistributedOptimizer calls {@link Compressor.reduce}
 * once per bucket per step, in the same bucket order on every rank, and awaits the result
 * before the optimizer steps. A compressor may keep per-bucket state (error feedback, DGC's
 * momentum correction); it is saved in checkpoints through {@link Compressor.stateDict}.
 *
 * The contract every compressor keeps, which mixed precision relies on: when any rank's bucket
 * holds inf or NaN, every rank's result is non-finite too (so every rank skips the step), and
 * after a step skipped with a LossScaler ({@link Compressor.endStep}) no rank's state has
 * changed (without one, a non-finite step is an error that ends training anyway, and the state
 * is not kept aside).
 */
export interface Compressor {
  /** The name the `compression` option takes. */
  readonly name: string;
  /**
   * The name and every setting that must agree across ranks (`'qsgd levels=15 chunk=512'`):
   * the DistributedOptimizer checks it is the same on every rank. Default: the name.
   */
  readonly config?: string;
  /**
   * True when the compressor applies momentum itself (DGC's momentum correction): the wrapped
   * optimizer must then have momentum 0.
   */
  readonly ownsMomentum?: boolean;
  /**
   * Replaces `bucket.data` by the mean over all ranks (or the compressor's estimate of it).
   * `algorithm` is the DistributedOptimizer's all-reduce algorithm option, if any.
   */
  reduce(bucket: GradientBucket, comm: Communicator, algorithm: string | undefined): Promise<void>;
  /**
   * The same, blocking the calling thread (the collectives' `*Sync` calls): used where the
   * reduction runs on the calling thread (see the DistributedOptimizer's `background` option)
   * and by synchronous callers such as tfjs's applyGradients.
   */
  reduceSync(bucket: GradientBucket, comm: Communicator, algorithm: string | undefined): void;
  /**
   * Told after each optimizer step whether it was applied; when it was skipped (an overflow on
   * some rank, with a LossScaler), a stateful compressor puts its state back as it was before
   * the step's reduce calls.
   */
  endStep?(applied: boolean): void;
  /** Told the epoch before each epoch's first step (DGC's warm-up of sparsity). */
  setEpoch?(epoch: number): void;
  /** State to checkpoint (plain data and Float32Arrays), or undefined if none. */
  stateDict?(): Record<string, unknown> | undefined;
  loadStateDict?(state: Record<string, unknown>): void;
}

/** No compression: the bucket is all-reduced as float32 with `avg` (the baseline). */
export class NoCompression implements Compressor {
  readonly name = 'none';
  readonly config = 'none';
  async reduce(bucket: GradientBucket, comm: Communicator, algorithm: string | undefined): Promise<void> {
    await comm.allreduce(bucket.data, algorithm === undefined ? { op: 'avg' } : { op: 'avg', algorithm });
  }

  reduceSync(bucket: GradientBucket, comm: Communicator, algorithm: string | undefined): void {
    comm.allreduceSync(bucket.data, algorithm === undefined ? { op: 'avg' } : { op: 'avg', algorithm });
  }
}

/** A compressor's configuration string: its `config`, else its name. */
export function compressorConfig(c: Compressor): string {
  return c.config ?? c.name;
}
