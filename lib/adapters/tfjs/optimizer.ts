import type * as tfc from '@tensorflow/tfjs-core';
import type { Communicator } from '../../comm/communicator';
import { fusionThresholdFromEnv } from '../../comm/config';
import { getCommunicator } from '../../comm/world';
import { checkOptions } from '../../common/args';
import { compressorConfig, NoCompression, type Compressor, type GradientBucket } from '../../compress/compressor';
import { makeCompressor } from '../../compress/registry';
import { DEFAULT_FUSION_THRESHOLD, type CommStats } from '../../train/distributed-optimizer';
import { checkSameParameters, checkSameSettings } from '../../train/fingerprint';
import { tfjs } from './load';

const tf = tfjs().core;

/** A named gradient or weight, as tfjs's optimizers take them (tfjs-core does not export the type). */
export interface NamedTensor {
  name: string;
  tensor: tfc.Tensor;
}

/** Options of the tfjs {@link DistributedOptimizer}. */
export interface TfjsDistributedOptimizerOptions {
  /**
   * Largest bucket of fused gradients in bytes; a larger gradient gets a bucket of its own. 0 =
   * one all-reduce per gradient. Default DTRAIN_FUSION_THRESHOLD, else 1 MiB.
   */
  fusionThreshold?: number;
  /** `none` (float32, the default), `fp16`, `dgc`, `qsgd`, `terngrad`, `onebit`, or a Compressor. */
  compression?: string | Compressor;
  /** `avg` (default): the mean of the ranks' gradients; `sum`: their sum. */
  op?: 'avg' | 'sum';
  /** All-reduce algorithm (see docs/algorithms.md); default the communicator's. */
  algorithm?: string;
  /** The communicator; default the one `dtrain.init()` created. */
  communicator?: Communicator;
}

interface Bucket extends GradientBucket {
  readonly data: Float32Array;
  lossScale: number;
}

interface Layout {
  key: string; // names and sizes: a change of the gradient set rebuilds the buckets
  buckets: Bucket[];
  // Per gradient (in the caller's order, nulls left out): its bucket and offset.
  where: { bucket: Bucket; offset: number; size: number }[];
}

const keepsArrays = new Map<string, boolean>();

/**
 * Whether the current backend uses the array a tensor is made from as the tensor's storage
 * (cpu does; wasm copies it into its heap), found by trying it once per backend.
 */
function backendKeepsArrays(): boolean {
  const name = tf.getBackend();
  let keeps = keepsArrays.get(name);
  if (keeps === undefined) {
    const probe = Float32Array.of(1);
    const t = tf.tensor(probe, [1], 'float32');
    probe[0] = 2;
    keeps = t.dataSync()[0] !== 1;
    t.dispose();
    keepsArrays.set(name, keeps);
  }
  return keeps;
}

function thresholdOf(v: unknown, who: string): number {
  if (v === undefined) return fusionThresholdFromEnv() ?? DEFAULT_FUSION_THRESHOLD;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new RangeError(`${who}: fusionThreshold must be an integer number of bytes >= 0, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * A `tf.Optimizer` that averages gradients across workers before the wrapped optimizer applies
 * them: Horovod's `DistributedOptimizer` for tfjs. `model.fit`, `fitDataset` and custom loops
 * with `optimizer.minimize` become data-parallel with the optimizer wrapped:
 *
 * ```js
 * model.compile({ optimizer: new DistributedOptimizer(tf.train.sgd(0.05)), loss: 'categoricalCrossentropy' });
 * ```
 *
 * tfjs applies gradients synchronously (inside the `tidy` of `fit`'s step), so the all-reduce
 * here is the blocking one: the gradients are packed, in reverse variable order, into float32
 * buckets of up to `fusionThreshold` bytes, each all-reduced with `allreduceSync`, and handed
 * to the wrapped optimizer as new tensors in the caller's form (a map, or an array in the same
 * order: built-in optimizers keep their slots by position). Every step first checks, with an
 * all-gather of four integers, that every rank brings the same gradients (names, sizes,
 * order); ranks that differ all get ERR_DTRAIN_MISMATCH naming the variable.
 *
 * Serialization is the wrapped optimizer's (`getClassName`, `getConfig`, `getWeights`,
 * `setWeights`), so a model saved with `includeOptimizer` loads without dtrain. Gradients must
 * be float32 (a TypeError names the variable otherwise).
 */
export class DistributedOptimizer extends tf.Optimizer {
  /** The wrapped optimizer, which applies the averaged gradients. */
  readonly optimizer: tfc.Optimizer;
  readonly fusionThreshold: number;
  readonly op: 'avg' | 'sum';
  readonly compressor: Compressor;
  readonly algorithm: string | undefined;
  readonly comm: Communicator;
  /** Time spent in the all-reduces (tfjs steps block in them: there is no overlap to hide it). */
  readonly stats: CommStats = { lastWaitMs: 0, totalWaitMs: 0, steps: 0 };
  private layout: Layout | undefined;
  private nextBucketIndex = 0; // a new layout's buckets get new indices: fresh compressor state

  // tf.Optimizer answers `instanceof` by duck typing (any object with minimize and
  // applyGradients), and subclasses inherit that; this class answers by its prototype chain.
  static override [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === 'object' && x !== null && DistributedOptimizer.prototype.isPrototypeOf(x);
  }

  constructor(optimizer: tfc.Optimizer, options: TfjsDistributedOptimizerOptions = {}) {
    super();
    const who = 'tfjs DistributedOptimizer';
    if (optimizer instanceof DistributedOptimizer) throw new TypeError(`${who}: the optimizer is already a DistributedOptimizer; wrap the inner optimizer once`);
    if (!(optimizer instanceof tf.Optimizer)) {
      throw new TypeError(`${who}: wrap a tf.Optimizer (tf.train.sgd(lr), tf.train.adam(), ...); for dtrain's own optimizers use dtrain.DistributedOptimizer`);
    }
    if (options === null || typeof options !== 'object') throw new TypeError(`${who}: options must be an object`);
    checkOptions(options, ['fusionThreshold', 'compression', 'op', 'algorithm', 'communicator'], who);
    this.optimizer = optimizer;
    this.fusionThreshold = thresholdOf(options.fusionThreshold, who);
    const op = options.op ?? 'avg';
    if (op !== 'avg' && op !== 'sum') throw new RangeError(`${who}: op must be 'avg' or 'sum', got ${JSON.stringify(op)}`);
    this.op = op;
    this.compressor = makeCompressor(options.compression);
    if (this.compressor.ownsMomentum && optimizer.getClassName() !== 'SGD') {
      throw new RangeError(
        `${who}: compression '${this.compressor.name}' applies momentum itself (momentum correction); wrap tf.train.sgd ` +
          `and set the compressor's momentum (got ${optimizer.getClassName()})`,
      );
    }
    if (options.algorithm !== undefined && typeof options.algorithm !== 'string') throw new TypeError(`${who}: algorithm must be a string`);
    this.algorithm = options.algorithm;
    this.comm = options.communicator ?? getCommunicator(who);
    checkSameSettings(`compression ${compressorConfig(this.compressor)}; op ${this.op}`, this.comm, who, 'Every rank must use the same compression and op.');
  }

  /** Averages `variableGradients` across ranks, then lets the wrapped optimizer apply them. */
  applyGradients(variableGradients: tfc.NamedTensorMap | NamedTensor[]): void {
    const asArray = Array.isArray(variableGradients);
    const entries: [string, tfc.Tensor | null | undefined][] = asArray
      ? variableGradients.map((g) => [g.name, g.tensor])
      : Object.keys(variableGradients).map((k) => [k, variableGradients[k]]);
    const present = entries.filter((e): e is [string, tfc.Tensor] => e[1] != null);
    for (const [name, t] of present) {
      if (t.dtype !== 'float32') {
        throw new TypeError(`tfjs DistributedOptimizer: the gradient of '${name}' is ${t.dtype}; dtrain all-reduces float32 gradients (make the variable float32)`);
      }
    }
    if (this.comm.size === 1 && this.compressor instanceof NoCompression) {
      // The mean over one rank is the gradient itself: no copies.
      this.stats.lastWaitMs = 0;
      this.stats.steps++;
      this.optimizer.applyGradients(variableGradients);
      return;
    }
    const layout = this.layoutFor(present);
    const t0 = performance.now();
    present.forEach(([, t], i) => layout.where[i].bucket.data.set(t.dataSync() as Float32Array, layout.where[i].offset));
    for (const b of layout.buckets) this.compressor.reduceSync(b, this.comm, this.algorithm);
    if (this.op === 'sum' && this.comm.size > 1) {
      for (const b of layout.buckets) for (let i = 0; i < b.data.length; i++) b.data[i] *= this.comm.size;
    }
    const waited = performance.now() - t0;
    this.stats.lastWaitMs = waited;
    this.stats.totalWaitMs += waited;
    this.stats.steps++;

    // The cpu backend keeps the array a tensor is made from as its storage, and the buckets
    // are refilled next step: there the tensors get copies. Backends that copy on creation
    // (wasm) get views, which spares a copy and, more, garbage whose collection slows the step.
    const copy = backendKeepsArrays();
    const made: tfc.Tensor[] = [];
    const reduced = new Map<string, tfc.Tensor>();
    present.forEach(([name, t], i) => {
      const { bucket, offset, size } = layout.where[i];
      const values = copy ? bucket.data.slice(offset, offset + size) : bucket.data.subarray(offset, offset + size);
      const r = tf.tensor(values, t.shape, 'float32');
      made.push(r);
      reduced.set(name, r);
    });
    try {
      if (asArray) {
        this.optimizer.applyGradients(entries.map(([name, t]) => ({ name, tensor: (t == null ? t : reduced.get(name)) as tfc.Tensor })));
      } else {
        const map: tfc.NamedTensorMap = {};
        for (const [name, t] of entries) map[name] = (t == null ? t : reduced.get(name)) as tfc.Tensor;
        this.optimizer.applyGradients(map);
      }
      this.compressor.endStep?.(true);
    } finally {
      tf.dispose(made);
    }
  }

  private layoutFor(present: [string, tfc.Tensor][]): Layout {
    // Every step, every rank checks that all ranks bring the same gradients (one all-gather of
    // four integers when they agree): a set that changes on one rank only (a variable left
    // without a gradient) is then the error naming it, on every rank, before any data moves.
    checkSameParameters(
      present.map(([name, t]) => ({ name, data: { length: t.size } })),
      this.comm,
      'tfjs DistributedOptimizer',
    );
    let key = '';
    for (const [name, t] of present) key += `${name}:${t.size};`;
    if (this.layout?.key === key) return this.layout;
    const buckets: Bucket[] = [];
    const where: Layout['where'] = new Array(present.length);
    let group: number[] = [];
    let bytes = 0;
    const close = () => {
      if (group.length === 0) return;
      const offsets: number[] = [];
      let n = 0;
      for (const i of group) {
        offsets.push(n);
        n += present[i][1].size;
      }
      const bucket: Bucket = { index: this.nextBucketIndex++, data: new Float32Array(n), names: group.map((i) => present[i][0]), offsets, lossScale: 1, skippable: false };
      group.forEach((i, k) => (where[i] = { bucket, offset: offsets[k], size: present[i][1].size }));
      buckets.push(bucket);
      group = [];
      bytes = 0;
    };
    // Reverse order, as the DistributedOptimizer of dtrain's own models packs them.
    for (let i = present.length - 1; i >= 0; i--) {
      const b = present[i][1].size * 4;
      if (group.length > 0 && bytes + b > this.fusionThreshold) close();
      group.push(i);
      bytes += b;
    }
    close();
    this.layout = { key, buckets, where };
    return this.layout;
  }

  /**
   * Tells the compressor the epoch (DGC's warm-up of sparsity). BroadcastWeightsCallback calls
   * it at every epoch's start in `fit`; a custom loop calls it itself.
   */
  setEpoch(epoch: number): void {
    if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`setEpoch: epoch must be an integer >= 0, got ${String(epoch)}`);
    this.compressor.setEpoch?.(epoch);
  }

  /** The wrapped optimizer's step count. */
  override get iterations(): number {
    return this.optimizer.iterations;
  }

  /** The wrapped optimizer's class name, so a saved model reloads without dtrain. */
  override getClassName(): string {
    return this.optimizer.getClassName();
  }

  override getConfig(): tfc.serialization.ConfigDict {
    return this.optimizer.getConfig();
  }

  override async getWeights(): Promise<NamedTensor[]> {
    return this.optimizer.getWeights();
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    return this.optimizer.setWeights(weightValues);
  }

  override dispose(): void {
    this.optimizer.dispose();
  }
}
