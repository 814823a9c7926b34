import { loadBinding } from '../native';
import type { KernelsBinding } from '../kernels/binding';

/**
 * The storage precision of a model's activations and gradients: `fp32`; `fp16` (IEEE half, with
 * a loss scale against underflow: mixed precision); `bf16` (bfloat16, float32's range, no loss
 * scaling needed). Master weights and the optimizer stay float32 in every case.
 */
export type Precision = 'fp32' | 'fp16' | 'bf16';

export const PRECISIONS: readonly Precision[] = ['fp32', 'fp16', 'bf16'];

export function checkPrecision(p: unknown, who: string): Precision {
  if (!PRECISIONS.includes(p as Precision)) {
    throw new RangeError(`${who}: precision must be one of ${PRECISIONS.join(', ')}, got ${JSON.stringify(p)}`);
  }
  return p as Precision;
}

/**
 * Rounds float32 buffers to the nearest float16 or bfloat16 value in place (the cast kernels
 * there and back), which is what storing them in half precision does to their values:
 * rounding, underflow to subnormals and zero, overflow to inf. The products themselves
 * accumulate in float32 (as tensor cores do), so a layer's output is the float32 sum of
 * half-precision inputs, rounded once.
 */
export class HalfRounder {
  private scratch = new Uint16Array(0);
  private readonly k: KernelsBinding = loadBinding().kernels;

  constructor(private readonly bf16: boolean) {}

  /** Rounds `x[0..n)` in place; returns whether any value is now inf or NaN. */
  round(x: Float32Array, n = x.length): boolean {
    if (n === 0) return false;
    if (this.scratch.length < n) this.scratch = new Uint16Array(n);
    const src = n === x.length ? x : x.subarray(0, n);
    const h = n === this.scratch.length ? this.scratch : this.scratch.subarray(0, n);
    this.k.castToHalf(src, h, 1, this.bf16);
    return this.k.castFromHalf(h, src, 1, this.bf16);
  }

  /** `dst = round(src)`. */
  copy(src: Float32Array, dst: Float32Array): void {
    dst.set(src);
    this.round(dst);
  }
}
