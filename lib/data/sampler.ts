import { checkOptions } from '../common/args';
import { Rng, mixSeed } from '../common/rng';

/**
 * Fills `perm` with epoch `epoch`'s order of the samples: Fisher-Yates from a generator seeded by
 * (seed, epoch) alone, so it is the same on every rank (the identity without shuffling).
 */
function fillPermutation(perm: Int32Array, shuffle: boolean, seed: number, epoch: number): Int32Array {
  for (let i = 0; i < perm.length; i++) perm[i] = i;
  if (!shuffle) return perm;
  const rng = new Rng(mixSeed(seed, epoch));
  for (let i = perm.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm;
}

/** Options of {@link DistributedSampler}. */
export interface DistributedSamplerOptions {
  rank: number;
  size: number;
  /** Shuffle every epoch (the same permutation on every rank); default true. */
  shuffle?: boolean;
  /** Seed of the shuffles; must be the same on every rank. Default 0. */
  seed?: number;
  /**
   * Drop the tail that does not divide evenly among the ranks; default false: pad by repeating
   * the first samples, as torch's DistributedSampler does, so every rank has the same count.
   */
  dropLast?: boolean;
}

/**
 * Which sample indices each rank reads per epoch, as torch.utils.data.DistributedSampler: a
 * seeded permutation of `n` per epoch (the same on every rank, from seed and epoch alone),
 * padded or trimmed to a multiple of `size`, of which rank r takes positions r, r + size, ...
 * Every rank gets the same count, so every rank runs the same number of steps and uneven data
 * never leaves one waiting in the last all-reduce.
 */
export class DistributedSampler {
  readonly n: number;
  readonly rank: number;
  readonly size: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  /** Samples per rank per epoch. */
  readonly numSamples: number;
  private epochValue = 0;
  private readonly perm: Int32Array;
  private readonly shard: Int32Array;
  private filledFor = -1;

  constructor(n: number, options: DistributedSamplerOptions) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`DistributedSampler: n must be a positive integer, got ${String(n)}`);
    if (options === null || typeof options !== 'object') throw new TypeError('DistributedSampler: options { rank, size } are required');
    checkOptions(options, ['rank', 'size', 'shuffle', 'seed', 'dropLast'], 'DistributedSampler');
    const { rank, size, shuffle = true, seed = 0, dropLast = false } = options;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`DistributedSampler: size must be a positive integer, got ${String(size)}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= size) {
      throw new RangeError(`DistributedSampler: rank must be an integer in [0, ${size}), got ${String(rank)}`);
    }
    if (!Number.isInteger(seed)) throw new TypeError(`DistributedSampler: seed must be an integer, got ${String(seed)}`);
    if (dropLast && n < size) throw new RangeError(`DistributedSampler: ${n} samples cannot be split among ${size} ranks with dropLast`);
    this.n = n;
    this.rank = rank;
    this.size = size;
    this.shuffle = !!shuffle;
    this.seed = seed;
    this.dropLast = !!dropLast;
    this.numSamples = this.dropLast ? Math.floor(n / size) : Math.ceil(n / size);
    this.perm = new Int32Array(n);
    this.shard = new Int32Array(this.numSamples);
  }

  /** The epoch whose permutation {@link indices} returns. */
  get epoch(): number {
    return this.epochValue;
  }

  /** Chooses the epoch (call it at the start of every epoch, as with torch's sampler). */
  setEpoch(epoch: number): void {
    if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`setEpoch: epoch must be an integer >= 0, got ${String(epoch)}`);
    this.epochValue = epoch;
  }

  /** This rank's sample indices for the current epoch (an array reused across epochs). */
  indices(): Int32Array {
    if (this.filledFor === this.epochValue) return this.shard;
    const perm = fillPermutation(this.perm, this.shuffle, this.seed, this.epochValue);
    // Position p of the padded list is perm[p mod n]; rank r takes p = r, r + size, ...
    for (let k = 0; k < this.numSamples; k++) this.shard[k] = perm[(this.rank + k * this.size) % this.n];
    this.filledFor = this.epochValue;
    return this.shard;
  }
}

/**
 * The sampler of elastic training, where the number of ranks may change within an epoch: the
 * epoch is the same seeded permutation as {@link DistributedSampler}'s (torch's), read as a
 * stream by global position. A step takes the next `size * batch` positions (the epoch's last
 * step what is left), split into `size` contiguous slices, so after a change the survivors
 * continue from the committed position with the new layout: no sample is skipped or repeated
 * within an epoch.
 */
export class ElasticSampler {
  readonly n: number;
  readonly shuffle: boolean;
  readonly seed: number;
  private readonly perm: Int32Array;
  private filledFor = -1;

  constructor(n: number, options: { shuffle?: boolean; seed?: number } = {}) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`ElasticSampler: n must be a positive integer, got ${String(n)}`);
    const { shuffle = true, seed = 0 } = options;
    if (!Number.isInteger(seed)) throw new TypeError(`ElasticSampler: seed must be an integer, got ${String(seed)}`);
    this.n = n;
    this.shuffle = !!shuffle;
    this.seed = seed;
    this.perm = new Int32Array(n);
  }

  /** Epoch `epoch`'s permutation (an array reused across epochs). */
  permutation(epoch: number): Int32Array {
    if (this.filledFor === epoch) return this.perm;
    fillPermutation(this.perm, this.shuffle, this.seed, epoch);
    this.filledFor = epoch;
    return this.perm;
  }

  /**
   * The positions the step starting at `position` takes ([start, end) of the whole step) and
   * this rank's slice of them.
   */
  step(position: number, rank: number, size: number, batch: number): { end: number; from: number; to: number } {
    const take = Math.min(size * batch, this.n - position);
    return {
      end: position + take,
      from: position + Math.floor((rank * take) / size),
      to: position + Math.floor(((rank + 1) * take) / size),
    };
  }
}
