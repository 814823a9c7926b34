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
}

/**
 * How a bucket of gradients travels: the DistributedOptimizer calls {@link Compressor.reduce}
 * once per bucket per step, in the same bucket order on every rank, and awaits the result
 * before the optimizer steps. A compressor may keep per-bucket state (error feedback, DGC's
 * momentum correction); it is saved in checkpoints through {@link Compressor.stateDict}.
 *
 * The next pieces plug in here without touching the optimizer: fp16 (half the bytes, with
 * pre-division), Deep Gradient Compression and the quantizers (all-gather of encoded
 * gradients, decoded and summed).
 */
export interface Compressor {
  /** The name the `compression` option takes. */
  readonly name: string;
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
  /** State to checkpoint (plain data and Float32Arrays), or undefined if none. */
  stateDict?(): Record<string, unknown> | undefined;
  loadStateDict?(state: Record<string, unknown>): void;
}

/** No compression: the bucket is all-reduced as float32 with `avg` (the baseline). */
export class NoCompression implements Compressor {
  readonly name = 'none';
  async reduce(bucket: GradientBucket, comm: Communicator, algorithm: string | undefined): Promise<void> {
    await comm.allreduce(bucket.data, algorithm === undefined ? { op: 'avg' } : { op: 'avg', algorithm });
  }

  reduceSync(bucket: GradientBucket, comm: Communicator, algorithm: string | undefined): void {
    comm.allreduceSync(bucket.data, algorithm === undefined ? { op: 'avg' } : { op: 'avg', algorithm });
  }
}

/** The compressors by name, for the `compression` option. */
const REGISTRY: Record<string, () => Compressor> = {
  none: () => new NoCompression(),
};

/** The names `compression` accepts. */
export function compressorNames(): string[] {
  return Object.keys(REGISTRY);
}

/** A compressor from a name or an instance. */
export function makeCompressor(c: string | Compressor | undefined): Compressor {
  if (c === undefined) return new NoCompression();
  if (typeof c === 'string') {
    const make = REGISTRY[c];
    if (!make) throw new RangeError(`compression must be one of ${compressorNames().join(', ')} (or a Compressor), got '${c}'`);
    return make();
  }
  if (c === null || typeof c !== 'object' || typeof (c as Compressor).reduce !== 'function' || typeof (c as Compressor).reduceSync !== 'function') {
    throw new TypeError('compression must be a name or an object with reduce(bucket, comm, algorithm) and reduceSync(bucket, comm, algorithm)');
  }
  return c;
}
