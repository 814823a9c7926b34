import type { Communicator } from '../comm/communicator';
import { mixSeed } from '../common/rng';
import { randomSeed } from '../common/args';
import { qsgdCodeBytes } from '../kernels/quantize';
import { loadBinding } from '../native';
import type { GradientBucket } from './compressor';
import { byteView, floatView, PackedCompressor, ScaledFloats, wordsFor } from './packed';
import { numberIn, optionsOf } from './options';

/** Options of {@link QSGD}. */
export interface QSGDOptions {
  /** s, the number of levels (1..2^24); default 15 (4 level bits and a sign bit per element). */
  levels?: number;
  /**
   * Elements per norm (the paper's bucket size d; a multiple of 8); default 512. The variance of
   * the estimate grows with the chunk, so one norm per large tensor would be far noisier.
   */
  chunk?: number;
  /** Seed of the stochastic rounding; default random (each rank and step draws its own). */
  seed?: number;
}

/**
 * QSGD (Alistarh et al. 2017): each chunk of a bucket is quantized to s levels of its L2 norm
 * with unbiased stochastic rounding; the message holds the chunk norms and the bit-planes
 * (sign and ceil(log2(s + 1)) level bits per element), exchanged by all-gather, then every rank
 * decodes and sums all of them.
 */
export class QSGD extends PackedCompressor {
  readonly name = 'qsgd';
  readonly config: string;
  readonly levels: number;
  readonly chunk: number;
  private readonly seed: number;
  private steps = 0;
  private readonly k = loadBinding().kernels;
  private readonly norms = new ScaledFloats();

  constructor(options: QSGDOptions = {}) {
    super();
    const o = optionsOf(options, ['levels', 'chunk', 'seed'], 'QSGD');
    this.levels = numberIn(o, 'levels', 15, (v) => Number.isInteger(v) && v >= 1 && v <= 1 << 24, 'an integer from 1 to 2^24', 'QSGD');
    this.chunk = numberIn(o, 'chunk', 512, (v) => Number.isInteger(v) && v >= 8 && v % 8 === 0 && v <= 1 << 30, 'a multiple of 8', 'QSGD');
    this.seed = o.seed === undefined ? randomSeed() : numberIn(o, 'seed', 0, (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer', 'QSGD');
    this.config = `qsgd levels=${this.levels} chunk=${this.chunk}`;
  }

  private chunks(n: number): number {
    return Math.ceil(n / this.chunk);
  }

  protected words(bucket: GradientBucket): number {
    const n = bucket.data.length;
    return 1 + this.chunks(n) + wordsFor(qsgdCodeBytes(n, this.levels));
  }

  protected encode(bucket: GradientBucket, msg: Int32Array, comm: Communicator): void {
    const n = bucket.data.length;
    const c = this.chunks(n);
    const seed = mixSeed(this.seed, comm.rank, this.steps++, bucket.index);
    this.k.qsgdEncodeChunks(bucket.data, this.levels, seed, this.chunk, byteView(msg, 1 + c, qsgdCodeBytes(n, this.levels)), floatView(msg, 1, c));
  }

  protected decodeAdd(bucket: GradientBucket, msg: Int32Array, scale: number, out: Float32Array): void {
    const n = out.length;
    const c = this.chunks(n);
    const norms = this.norms.of(msg, 1, c, scale);
    this.k.qsgdDecodeChunks(byteView(msg, 1 + c, qsgdCodeBytes(n, this.levels)), this.levels, this.chunk, norms, out, true);
  }
}
