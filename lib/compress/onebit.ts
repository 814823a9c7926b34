import type { Communicator } from '../comm/communicator';
import { loadBinding } from '../native';
import { BucketState } from './bucket-state';
import type { GradientBucket } from './compressor';
import { byteView, floatView, PackedCompressor, ScaledFloats, wordsFor } from './packed';
import { numberIn, optionsOf } from './options';

/** Options of {@link OneBit}. */
export interface OneBitOptions {
  /**
   * Carry each tensor's quantization error into its next step (Seide et al.'s error feedback);
   * default true. false is the ablation: the error is dropped every step.
   */
  errorFeedback?: boolean;
  /**
   * Elements per scale within each tensor (a multiple of 8); default 512. One scale per whole
   * tensor (Seide et al. use one per matrix column) is noisier on heavy-tailed gradients: the
   * reference model's first layer, half of whose inputs are background pixels, diverged with
   * it at lr 0.1 (docs/experiments.md).
   */
  chunk?: number;
}

/**
 * 1-bit SGD (Seide et al. 2014): per tensor, x = gradient + residual; the sign of every element
 * and one scale per chunk (mean |x| there) are sent; the residual keeps x minus what was sent,
 * so over steps nothing is lost. One bit per element and 32 bits per chunk, exchanged by
 * all-gather, decoded and summed everywhere.
 */
export class OneBit extends PackedCompressor {
  readonly name = 'onebit';
  readonly config: string;
  readonly errorFeedback: boolean;
  readonly chunk: number;
  private readonly scaled = new ScaledFloats();
  protected override readonly state = new BucketState('OneBit', (b) => b.offsets.map((_, i) => this.lengthOf(b, i)));
  private readonly k = loadBinding().kernels;

  constructor(options: OneBitOptions = {}) {
    super();
    const o = optionsOf(options, ['errorFeedback', 'chunk'], 'OneBit');
    if (o.errorFeedback !== undefined && typeof o.errorFeedback !== 'boolean') throw new TypeError('OneBit: errorFeedback must be a boolean');
    this.errorFeedback = (o.errorFeedback as boolean | undefined) ?? true;
    this.chunk = numberIn(o, 'chunk', 512, (v) => Number.isInteger(v) && v >= 8 && v % 8 === 0 && v <= 1 << 30, 'a multiple of 8', 'OneBit');
    this.config = `onebit feedback=${this.errorFeedback} chunk=${this.chunk}`;
  }

  private lengthOf(b: GradientBucket, i: number): number {
    return (i + 1 < b.offsets.length ? b.offsets[i + 1] : b.data.length) - b.offsets[i];
  }

  // Word layout: the flag, then per tensor its chunk scales and its sign plane (word-aligned).
  protected words(bucket: GradientBucket): number {
    let w = 1;
    for (const { c, bytes } of this.layout(bucket)) w += c + wordsFor(bytes);
    return w;
  }

  // Each tensor's place in a message: its chunk scales at word `at`, then its sign plane.
  private *layout(bucket: GradientBucket): Generator<{ i: number; off: number; n: number; c: number; bytes: number; at: number }> {
    let at = 1;
    for (let i = 0; i < bucket.offsets.length; i++) {
      const n = this.lengthOf(bucket, i);
      const c = Math.ceil(n / this.chunk);
      const bytes = Math.ceil(n / 8);
      yield { i, off: bucket.offsets[i], n, c, bytes, at };
      at += c + wordsFor(bytes);
    }
  }

  protected encode(bucket: GradientBucket, msg: Int32Array, _comm: Communicator): void {
    const res = this.state.get(bucket);
    for (const { i, off, n, c, bytes, at } of this.layout(bucket)) {
      if (!this.errorFeedback) res[i].fill(0);
      this.k.signEncodeChunks(bucket.data.subarray(off, off + n), res[i], this.chunk, byteView(msg, at + c, bytes), floatView(msg, at, c));
    }
  }

  protected decodeAdd(bucket: GradientBucket, msg: Int32Array, scale: number, out: Float32Array): void {
    for (const { off, n, c, bytes, at } of this.layout(bucket)) {
      const scales = this.scaled.of(msg, at, c, scale);
      this.k.signDecodeChunks(byteView(msg, at + c, bytes), this.chunk, scales, out.subarray(off, off + n), true);
    }
  }

  stateDict(): Record<string, unknown> | undefined {
    return this.errorFeedback ? { buckets: this.state.save() } : undefined;
  }

  loadStateDict(s: Record<string, unknown>): void {
    if (s === null || typeof s !== 'object') throw new TypeError('OneBit.loadStateDict: state must be an object');
    this.state.load(s.buckets);
  }
}
