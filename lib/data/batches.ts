import { checkOptions } from '../common/args';
import { loadBinding } from '../native';
import type { NnBinding } from '../nn/binding';
import { checkDataset, type Dataset } from './dataset';

/** One batch: views of the loader's preallocated arrays, valid until the next batch. */
export interface Batch {
  x: Float32Array;
  y: Int32Array;
  /** Rows in this batch (the last batch of an epoch may be smaller). */
  size: number;
  /** Which batch of the epoch this is (0-based). */
  index: number;
}

/**
 * Fills batches of `batchSize` rows from a data set in the order of an index list (a sampler's
 * shard), into arrays allocated once: a training step allocates nothing.
 */
export class BatchLoader {
  readonly dataset: Dataset;
  readonly batchSize: number;
  /** Drop a last batch smaller than batchSize; default false. */
  readonly dropLast: boolean;
  private readonly xBuf: Float32Array;
  private readonly yBuf: Int32Array;
  private readonly views = new Map<number, { x: Float32Array; y: Int32Array }>();
  private readonly native: NnBinding = loadBinding().nn;

  constructor(dataset: Dataset, batchSize: number, options: { dropLast?: boolean } = {}) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`BatchLoader: batchSize must be a positive integer, got ${String(batchSize)}`);
    checkOptions(options, ['dropLast'], 'BatchLoader');
    this.dataset = checkDataset(dataset, 'BatchLoader');
    this.batchSize = batchSize;
    this.dropLast = !!options.dropLast;
    this.xBuf = new Float32Array(batchSize * dataset.features);
    this.yBuf = new Int32Array(batchSize);
  }

  /** Batches per epoch for an index list of `count` samples. */
  batchesFor(count: number): number {
    return this.dropLast ? Math.floor(count / this.batchSize) : Math.ceil(count / this.batchSize);
  }

  /**
   * Fills batch `index` of the order given by `indices`; returns views sized to the batch (the
   * same view objects each time a size recurs, so no allocation per step).
   */
  fill(indices: Int32Array, index: number): Batch {
    const { x: src, y: labels, features, count } = this.dataset;
    const start = index * this.batchSize;
    const size = Math.min(this.batchSize, indices.length - start);
    if (size <= 0 || index < 0) throw new RangeError(`BatchLoader: batch ${index} is past the end (${indices.length} samples)`);
    // One native pass gathers the rows (and turns bytes into scaled floats); it checks every index.
    this.native.gatherRows(src, count, indices, start, size, features, this.dataset.scale ?? 1, this.xBuf);
    for (let r = 0; r < size; r++) this.yBuf[r] = labels[indices[start + r]];
    let v = this.views.get(size);
    if (!v) {
      v = { x: this.xBuf.subarray(0, size * features), y: this.yBuf.subarray(0, size) };
      this.views.set(size, v);
    }
    return { x: v.x, y: v.y, size, index };
  }

  /** Iterates the batches of one epoch in the order of `indices`. */
  *epoch(indices: Int32Array, fromBatch = 0): IterableIterator<Batch> {
    const n = this.batchesFor(indices.length);
    for (let b = fromBatch; b < n; b++) yield this.fill(indices, b);
  }
}
