import type { Communicator } from '../comm/communicator';
import { loadBinding } from '../native';
import { BucketState } from './bucket-state';
import type { GradientBucket } from './compressor';
import { byteView, floatView, PackedCompressor, wordsFor } from './packed';
import { optionsOf } from './options';

/** Options of {@link OneBit}. */
export interface OneBitOptions {
  /**
   * Carry each tensor's quantization error into its next step (Seide et al.'s error feedback);
   * default true. false is the ablation: the error is dropped every step.
   */
  errorFeedback?: boolean;
}

/**
 * 1-bit SGD (Seide et al. 2014): per tensor, x = gradient + residual; the sign of every element
 * and one scale (mean |x|) are sent; the residual keeps x minus what was sent, so over steps
 * nothing is lost. One bit per element, exchanged by all-gather, decoded and summed everywhere.
 */
export class OneBit extends PackedCompressor {
  readonly name = 'onebit';
  readonly config: string;
  readonly errorFeedback: boolean;
  private readonly residuals = new BucketState('OneBit', (b) => b.offsets.map((_, i) => this.lengthOf(b, i)));
  private readonly k = loadBinding().kernels;

  constructor(options: OneBitOptions = {}) {
    super();
    const o = optionsOf(options, ['errorFeedback'], 'OneBit');
    if (o.errorFeedback !== undefined && typeof o.errorFeedback !== 'boolean') throw new TypeError('OneBit: errorFeedback must be a boolean');
    this.errorFeedback = (o.errorFeedback as boolean | undefined) ?? true;
    this.config = `onebit feedback=${this.errorFeedback}`;
  }

  private lengthOf(b: GradientBucket, i: number): number {
    return (i + 1 < b.offsets.length ? b.offsets[i + 1] : b.data.length) - b.offsets[i];
  }

  // Word layout: flag, one scale per tensor, then each tensor's sign plane on a word boundary.
  protected words(bucket: GradientBucket): number {
    let w = 1 + bucket.offsets.length;
    for (let i = 0; i < bucket.offsets.length; i++) w += wordsFor(Math.ceil(this.lengthOf(bucket, i) / 8));
    return w;
  }

  protected encode(bucket: GradientBucket, msg: Int32Array, _comm: Communicator): void {
    const res = this.residuals.get(bucket);
    const t = bucket.offsets.length;
    const scales = floatView(msg, 1, t);
    let at = 1 + t;
    for (let i = 0; i < t; i++) {
      const n = this.lengthOf(bucket, i);
      const off = bucket.offsets[i];
      if (!this.errorFeedback) res[i].fill(0);
      const bytes = Math.ceil(n / 8);
      scales[i] = this.k.signEncode(bucket.data.subarray(off, off + n), res[i], byteView(msg, at, bytes));
      at += wordsFor(bytes);
    }
  }

  protected decodeAdd(bucket: GradientBucket, msg: Int32Array, scale: number, out: Float32Array): void {
    const t = bucket.offsets.length;
    const scales = floatView(msg, 1, t);
    let at = 1 + t;
    for (let i = 0; i < t; i++) {
      const n = this.lengthOf(bucket, i);
      const off = bucket.offsets[i];
      const bytes = Math.ceil(n / 8);
      this.k.signDecode(byteView(msg, at, bytes), scales[i] * scale, out.subarray(off, off + n), true);
      at += wordsFor(bytes);
    }
  }

  stateDict(): Record<string, unknown> | undefined {
    return this.errorFeedback ? { buckets: this.residuals.save() } : undefined;
  }

  loadStateDict(s: Record<string, unknown>): void {
    if (s === null || typeof s !== 'object') throw new TypeError('OneBit.loadStateDict: state must be an object');
    this.residuals.load(s.buckets);
  }
}
