import type { GradientBucket } from './compressor';

/**
 * A compressor's per-bucket state tensors (DGC's u and v, 1-bit's residuals), created as zeros
 * the first time a bucket is seen, saved and restored as plain arrays by bucket index.
 */
export class BucketState {
  private readonly byBucket = new Map<number, Float32Array[]>();
  private readonly scales = new Map<number, number>(); // the loss scale each bucket's state is in

  constructor(
    private readonly who: string,
    /** The lengths of a bucket's state tensors. */
    private readonly lengths: (bucket: GradientBucket) => number[],
  ) {}

  get(bucket: GradientBucket): Float32Array[] {
    const want = this.lengths(bucket);
    let s = this.byBucket.get(bucket.index);
    if (!s) {
      s = want.map((n) => new Float32Array(n));
      this.byBucket.set(bucket.index, s);
    } else if (s.length !== want.length || s.some((a, i) => a.length !== want[i])) {
      throw new RangeError(
        `${this.who}: the state of bucket ${bucket.index} holds tensors of ${s.map((a) => a.length).join(', ')} elements; ` +
          `the bucket needs ${want.join(', ')} (was it restored from another model?)`,
      );
    }
    // Accumulated values are in the units of the loss scale they were accumulated under.
    const was = this.scales.get(bucket.index) ?? bucket.lossScale;
    if (was !== bucket.lossScale) {
      const f = bucket.lossScale / was;
      for (const a of s) for (let i = 0; i < a.length; i++) a[i] *= f;
    }
    this.scales.set(bucket.index, bucket.lossScale);
    return s;
  }

  private readonly backups = new Map<number, Float32Array[]>();

  /** Copies the bucket's state aside, for {@link restore} if the step is skipped. */
  backup(bucket: GradientBucket): void {
    const s = this.get(bucket);
    let b = this.backups.get(bucket.index);
    if (!b || b.length !== s.length || b.some((a, i) => a.length !== s[i].length)) {
      b = s.map((a) => new Float32Array(a.length));
      this.backups.set(bucket.index, b);
    }
    s.forEach((a, i) => b[i].set(a));
  }

  /** Puts back the state {@link backup} copied. */
  restore(bucket: GradientBucket): void {
    const b = this.backups.get(bucket.index);
    const s = this.byBucket.get(bucket.index);
    if (b && s) s.forEach((a, i) => a.set(b[i]));
  }

  /** `[[tensors of bucket 0], [bucket 1], ...]` (copies) and the loss scale of each. */
  save(): { tensors: Float32Array[][]; scales: number[] } {
    const tensors: Float32Array[][] = [];
    const scales: number[] = [];
    for (const [i, s] of this.byBucket) {
      tensors[i] = s.map((a) => a.slice());
      scales[i] = this.scales.get(i) ?? 1;
    }
    return { tensors, scales };
  }

  load(state: unknown): void {
    const { tensors: saved, scales } = (state ?? {}) as { tensors?: unknown; scales?: unknown };
    if (!Array.isArray(saved) || !Array.isArray(scales)) throw new TypeError(`${this.who}.loadStateDict: the state's buckets must be { tensors, scales } arrays`);
    const next = new Map<number, Float32Array[]>();
    saved.forEach((s, i) => {
      if (s === undefined || s === null) return;
      if (!Array.isArray(s) || !s.every((a) => a instanceof Float32Array)) {
        throw new TypeError(`${this.who}.loadStateDict: bucket ${i}'s state must be an array of Float32Arrays`);
      }
      next.set(i, s.map((a: Float32Array) => a.slice()));
    });
    this.byBucket.clear();
    this.scales.clear();
    for (const [i, s] of next) {
      this.byBucket.set(i, s);
      const sc = scales[i];
      if (typeof sc === 'number' && sc > 0) this.scales.set(i, sc);
    }
  }
}
