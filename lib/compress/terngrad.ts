import type { Communicator } from '../comm/communicator';
import { mixSeed } from '../common/rng';
import { randomSeed } from '../common/args';
import { loadBinding } from '../native';
import type { GradientBucket } from './compressor';
import { byteView, floatView, PackedCompressor, ScaledFloats, wordsFor } from './packed';
import { numberIn, optionsOf } from './options';

/** Options of {@link TernGrad}. */
export interface TernGradOptions {
  /** Elements per scale (a multiple of 8); default 512. */
  chunk?: number;
  /** Seed of the stochastic ternarization; default random. */
  seed?: number;
}

/**
 * TernGrad (Wen et al. 2017): each element becomes 0 or ±max|x| of its chunk, unbiased
 * (kept with probability |x| / max|x|); two bit-planes per element and one float32 scale per
 * chunk (the paper scales per layer; a chunk of 512 keeps the variance bounded on the large
 * layers of a fused bucket), exchanged by all-gather, decoded and summed on every rank.
 */
export class TernGrad extends PackedCompressor {
  readonly name = 'terngrad';
  readonly config: string;
  readonly chunk: number;
  private readonly seed: number;
  private steps = 0;
  private readonly k = loadBinding().kernels;
  private readonly scales = new ScaledFloats();

  constructor(options: TernGradOptions = {}) {
    super();
    const o = optionsOf(options, ['chunk', 'seed'], 'TernGrad');
    this.chunk = numberIn(o, 'chunk', 512, (v) => Number.isInteger(v) && v >= 8 && v % 8 === 0 && v <= 1 << 30, 'a multiple of 8', 'TernGrad');
    this.seed = o.seed === undefined ? randomSeed() : numberIn(o, 'seed', 0, (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer', 'TernGrad');
    this.config = `terngrad chunk=${this.chunk}`;
  }

  private codeBytes(n: number): number {
    return 2 * Math.ceil(n / 8);
  }

  protected words(bucket: GradientBucket): number {
    const n = bucket.data.length;
    return 1 + Math.ceil(n / this.chunk) + wordsFor(this.codeBytes(n));
  }

  protected encode(bucket: GradientBucket, msg: Int32Array, comm: Communicator): void {
    const n = bucket.data.length;
    const c = Math.ceil(n / this.chunk);
    const seed = mixSeed(this.seed, comm.rank, this.steps++, bucket.index);
    this.k.ternGradEncodeChunks(bucket.data, seed, this.chunk, byteView(msg, 1 + c, this.codeBytes(n)), floatView(msg, 1, c));
  }

  protected decodeAdd(bucket: GradientBucket, msg: Int32Array, scale: number, out: Float32Array): void {
    const n = out.length;
    const c = Math.ceil(n / this.chunk);
    const scales = this.scales.of(msg, 1, c, scale);
    this.k.ternGradDecodeChunks(byteView(msg, 1 + c, this.codeBytes(n)), this.chunk, scales, out, true);
  }
}
