import type * as tfc from '@tensorflow/tfjs-core';
import type * as tfd from '@tensorflow/tfjs-data';
import { getCommunicator } from '../../comm/world';
import { checkOptions } from '../../common/args';
import { DistributedSampler } from '../../data/sampler';
import { tfjs, tfjsData } from './load';

const tf = tfjs().core;

/** Options of {@link shard}. */
export interface ShardOptions {
  /** Shuffle before splitting, with the same seeded order on every rank; default true. */
  shuffle?: boolean;
  /** Seed of the shuffle; must be the same on every rank. Default 0. */
  seed?: number;
  /**
   * For a `tf.data.Dataset`: the shuffle buffer in elements (tf.data's `shuffle(bufferSize)`);
   * default the dataset's size when it is known. Ignored for tensors (shuffled whole).
   */
  bufferSize?: number;
}

type Tensors = tfc.Tensor | tfc.Tensor[] | Record<string, tfc.Tensor>;
type AnyDataset = tfd.Dataset<tfc.TensorContainer>;

function isDataset(d: unknown): d is AnyDataset {
  return !!d && typeof (d as AnyDataset).iterator === 'function' && typeof (d as AnyDataset).batch === 'function';
}

function checkRankSize(rank: number | undefined, size: number | undefined): { rank: number; size: number } {
  if (rank === undefined || size === undefined) {
    const comm = getCommunicator('shard');
    rank ??= comm.rank;
    size ??= comm.size;
  }
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`shard: size must be a positive integer, got ${String(size)}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= size) throw new RangeError(`shard: rank must be an integer in [0, ${size}), got ${String(rank)}`);
  return { rank, size };
}

function shardTensors<T extends Tensors>(data: T, rank: number, size: number, shuffle: boolean, seed: number): T {
  const list: [string, tfc.Tensor][] =
    data instanceof tf.Tensor ? [['', data]] : Array.isArray(data) ? data.map((t, i) => [String(i), t]) : Object.entries(data);
  if (list.length === 0) throw new RangeError('shard: no tensors given');
  for (const [k, t] of list) {
    if (!(t instanceof tf.Tensor)) throw new TypeError(`shard: ${k === '' ? 'data' : `data[${JSON.stringify(k)}]`} is not a tf.Tensor (give tensors, an array or object of tensors, or a tf.data.Dataset)`);
  }
  const n = list[0][1].shape[0];
  for (const [k, t] of list) {
    if (t.rank === 0 || t.shape[0] !== n) throw new RangeError(`shard: every tensor needs the same first dimension; data[${JSON.stringify(k)}] has shape [${t.shape.join(', ')}], the first has ${n} rows`);
  }
  if (n < size) throw new RangeError(`shard: ${n} rows cannot be split among ${size} ranks`);
  // The Trainer's sampler, dropping the tail: every rank the same number of rows, so the same
  // number of batches, and no row on two ranks.
  const indices = new DistributedSampler(n, { rank, size, shuffle, seed, dropLast: true }).indices();
  const idx = tf.tensor1d(Int32Array.from(indices), 'int32');
  try {
    const out = list.map(([k, t]) => [k, tf.gather(t, idx)] as const);
    if (data instanceof tf.Tensor) return out[0][1] as T;
    if (Array.isArray(data)) return out.map(([, t]) => t) as T;
    return Object.fromEntries(out) as T;
  } finally {
    idx.dispose();
  }
}

function shardDataset(ds: AnyDataset, rank: number, size: number, options: ShardOptions): AnyDataset {
  const data = tfjsData();
  let source = ds;
  if (options.shuffle ?? true) {
    const buffer = options.bufferSize ?? (Number.isFinite(ds.size) && ds.size > 0 ? ds.size : undefined);
    if (buffer === undefined) throw new RangeError('shard: the dataset has no known size; give bufferSize to shuffle it, or shuffle: false');
    source = ds.shuffle(buffer, String(options.seed ?? 0));
  }
  // Of every `size` consecutive elements rank r keeps the r-th, and an incomplete last group is
  // dropped: every rank gets the same count without knowing the dataset's length.
  const sharded = data.generator(async function* () {
    const it = await source.iterator();
    let group: tfc.TensorContainer[] = [];
    try {
      for (;;) {
        const { value, done } = await it.next();
        if (done) break;
        group.push(value);
        if (group.length < size) continue;
        const mine = group[rank];
        tf.dispose(group.filter((_, i) => i !== rank));
        group = [];
        yield mine;
      }
    } finally {
      tf.dispose(group);
    }
  } as unknown as () => Iterator<tfc.TensorContainer>);
  // A known size lets batch() and fitDataset (and the progress bar) count the batches.
  if (Number.isFinite(ds.size) && ds.size >= 0) (sharded as { size: number }).size = Math.floor(ds.size / size);
  return sharded;
}

/**
 * This rank's shard of the training data, for `model.fit` or `fitDataset`: tensors (one, an
 * array or an object of tensors with the same first dimension) are split by rows, a
 * `tf.data.Dataset` by elements (shard before `batch`). Every rank gets the same number of
 * rows or elements (the tail that does not divide evenly is dropped), so every rank runs the
 * same number of batches, and no sample is on two ranks. With `shuffle` (the default) the split
 * follows one seeded order, the same on every rank. `rank` and `size` default to the job's.
 * Tensors returned are new: dispose them when done.
 */
export function shard<T extends Tensors | AnyDataset>(data: T, rank?: number, size?: number, options: ShardOptions = {}): T {
  if (options === null || typeof options !== 'object') throw new TypeError('shard: options must be an object');
  checkOptions(options, ['shuffle', 'seed', 'bufferSize'], 'shard');
  const where = checkRankSize(rank, size);
  if (options.seed !== undefined && !Number.isInteger(options.seed)) throw new TypeError(`shard: seed must be an integer, got ${String(options.seed)}`);
  if (options.bufferSize !== undefined && !(Number.isInteger(options.bufferSize) && options.bufferSize > 0)) {
    throw new RangeError(`shard: bufferSize must be a positive integer, got ${String(options.bufferSize)}`);
  }
  if (isDataset(data)) return shardDataset(data, where.rank, where.size, options) as T;
  return shardTensors(data as Tensors, where.rank, where.size, options.shuffle ?? true, options.seed ?? 0) as T;
}
