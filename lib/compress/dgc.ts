import type { Communicator } from '../comm/communicator';
import { mixSeed } from '../common/rng';
import { randomSeed } from '../common/args';
import { dgcStep } from '../kernels/sparse';
import { loadBinding } from '../native';
import { BucketState } from './bucket-state';
import type { GradientBucket } from './compressor';
import { floatView, PackedCompressor, ScaledFloats } from './packed';
import { isDensity, numberIn, optionsOf } from './options';

/** Options of {@link DGC}; the defaults are the paper's (Lin et al. 2018). */
export interface DGCOptions {
  /** Fraction of each bucket's elements sent after the warm-up; default 0.001 (99.9% sparsity). */
  density?: number;
  /**
   * Density per epoch during the warm-up: epoch e < length uses `warmup[e]`; default the
   * paper's exponential ramp [0.25, 0.0625, 0.015625, 0.004] (75%, 93.75%, 98.4375%, 99.6%
   * sparsity over the first four epochs, then `density`). `[]` for none.
   */
  warmup?: number[];
  /** Momentum of the momentum correction (u = m u + g); default 0.9. */
  momentum?: number;
  /**
   * Local gradient clipping: before accumulation each worker scales its bucket's gradient down
   * to an L2 norm of at most `clipNorm / sqrt(N)` (N workers), the paper's rescaled threshold
   * (in unscaled units: with a LossScaler the threshold is multiplied by the scale).
   * Default none (use the clipping threshold the model would be trained with without DGC).
   */
  clipNorm?: number;
  /** Fraction of elements sampled to estimate the selection threshold; default 0.01. */
  sampleRatio?: number;
  /** Seed of the threshold sampling; default random. */
  seed?: number;
}

export const DGC_WARMUP = [0.25, 0.0625, 0.015625, 0.004] as const;

/**
 * Deep Gradient Compression (Lin, Han, Mao, Wang, Dally 2018): per bucket, momentum correction
 * and local accumulation (`u = m u + g; v = v + u`, the momentum living here, so the wrapped
 * optimizer must have momentum 0), optional local gradient clipping, selection of the largest
 * |v| at the current density, momentum factor masking (u and v zeroed where sent), and the
 * warm-up of sparsity over the first epochs. The (index, value) pairs travel by all-gather and
 * every rank scatter-adds all of them, dividing by N.
 */
export class DGC extends PackedCompressor {
  readonly name = 'dgc';
  readonly config: string;
  readonly ownsMomentum = true;
  readonly density: number;
  readonly warmup: readonly number[];
  readonly momentum: number;
  readonly clipNorm: number | undefined;
  readonly sampleRatio: number;
  private readonly seed: number;
  private epoch = 0;
  private steps = 0;
  protected override readonly state = new BucketState('DGC', (b) => [b.data.length, b.data.length]);
  private readonly k = loadBinding().kernels;
  private scaled = new Float32Array(0); // the clipped gradient
  private readonly values = new ScaledFloats();

  constructor(options: DGCOptions = {}) {
    super();
    const who = 'DGC';
    const o = optionsOf(options, ['density', 'warmup', 'momentum', 'clipNorm', 'sampleRatio', 'seed'], who);
    this.density = numberIn(o, 'density', 0.001, isDensity, 'in (0, 1]', who);
    const warm = o.warmup ?? DGC_WARMUP;
    if (!Array.isArray(warm)) throw new TypeError(`${who}: warmup must be an array of densities`);
    warm.forEach((d, i) => {
      if (typeof d !== 'number' || !isDensity(d)) throw new RangeError(`${who}: warmup[${i}] must be a density in (0, 1], got ${String(d)}`);
    });
    this.warmup = Object.freeze(warm.slice());
    this.momentum = numberIn(o, 'momentum', 0.9, (v) => v >= 0 && v < 1, 'in [0, 1)', who);
    this.clipNorm = o.clipNorm === undefined ? undefined : numberIn(o, 'clipNorm', 0, (v) => v > 0, 'a number > 0', who);
    this.sampleRatio = numberIn(o, 'sampleRatio', 0.01, isDensity, 'in (0, 1]', who);
    this.seed = o.seed === undefined ? randomSeed() : numberIn(o, 'seed', 0, (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer', who);
    this.config = `dgc density=${this.density} warmup=${this.warmup.join('/')} momentum=${this.momentum} clip=${this.clipNorm ?? 'none'} sample=${this.sampleRatio}`;
  }

  /** The density used in the current epoch. */
  get currentDensity(): number {
    return this.epoch < this.warmup.length ? this.warmup[this.epoch] : this.density;
  }

  setEpoch(epoch: number): void {
    this.epoch = epoch;
  }

  // The bound dgcStep keeps to: at most ceil(n * density) pairs (density as float32).
  private cap(n: number): number {
    return n === 0 ? 0 : Math.min(n, Math.max(1, Math.ceil(n * Math.fround(this.currentDensity))));
  }

  protected words(bucket: GradientBucket): number {
    return 2 + 2 * this.cap(bucket.data.length);
  }

  protected encode(bucket: GradientBucket, msg: Int32Array, comm: Communicator): void {
    const [u, v] = this.state.get(bucket);
    let g = bucket.data;
    if (this.clipNorm !== undefined) {
      // The gradients are still multiplied by the loss scale; so is the threshold.
      const limit = (this.clipNorm * bucket.lossScale) / Math.sqrt(comm.size);
      const norm = Math.sqrt(this.k.sumSquares(g));
      if (norm > limit) {
        if (this.scaled.length < g.length) this.scaled = new Float32Array(g.length);
        const s = this.scaled.subarray(0, g.length);
        const f = limit / norm;
        for (let i = 0; i < g.length; i++) s[i] = g[i] * f;
        g = s;
      }
    }
    const r = dgcStep({ u, v }, g, {
      momentum: this.momentum,
      density: this.currentDensity,
      sampleRatio: this.sampleRatio,
      seed: mixSeed(this.seed, comm.rank, this.steps++, bucket.index),
    });
    const cap = this.cap(bucket.data.length);
    msg[1] = r.indices.length;
    new Uint32Array(msg.buffer, msg.byteOffset + 8, cap).set(r.indices);
    floatView(msg, 2 + cap, cap).set(r.values as Float32Array);
  }

  protected decodeAdd(bucket: GradientBucket, msg: Int32Array, scale: number, out: Float32Array): void {
    const cap = (msg.length - 2) / 2;
    const count = msg[1];
    if (count < 0 || count > cap) throw new RangeError(`DGC: a message says it holds ${count} pairs; it has room for ${cap}`);
    const indices = new Uint32Array(msg.buffer, msg.byteOffset + 8, count);
    this.k.scatterAdd(out, indices, this.values.of(msg, 2 + cap, count, scale), false, count);
  }

  stateDict(): Record<string, unknown> {
    return { epoch: this.epoch, steps: this.steps, buckets: this.state.save() };
  }

  loadStateDict(s: Record<string, unknown>): void {
    if (s === null || typeof s !== 'object') throw new TypeError('DGC.loadStateDict: state must be an object');
    this.state.load(s.buckets);
    if (Number.isInteger(s.epoch)) this.epoch = s.epoch as number;
    if (Number.isInteger(s.steps)) this.steps = s.steps as number;
  }
}
