import { checkOptions } from '../common/args';
import type { Parameter } from '../common/parameter';
import { Rng, randomSeed } from '../common/rng';
import { uniformInit } from './init';

/** Options of {@link Linear}. */
export interface LinearOptions {
  /** Add a learnable bias; default true. */
  bias?: boolean;
  /** Seed of the initial values (uniform, as torch.nn.Linear); default a random one. */
  seed?: number;
}

/**
 * y = x W^T + b, like torch.nn.Linear: `weight` is `[outFeatures, inFeatures]` row-major, the
 * same default initialisation (U(-1/sqrt(in), 1/sqrt(in)) for weight and bias). A model runs its
 * layers inside an `nn.Sequential`.
 */
export class Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    for (const [v, name] of [
      [inFeatures, 'inFeatures'],
      [outFeatures, 'outFeatures'],
    ] as const) {
      if (typeof v !== 'number') throw new TypeError(`nn.Linear: ${name} must be a number, got ${typeof v}`);
      if (!Number.isInteger(v) || v < 1 || v > 1 << 24) {
        throw new RangeError(`nn.Linear: ${name} must be an integer from 1 to 16777216, got ${v}`);
      }
    }
    checkOptions(options, ['bias', 'seed'], 'nn.Linear');
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const rng = new Rng(options.seed ?? randomSeed());
    const w = new Float32Array(outFeatures * inFeatures);
    uniformInit(w, inFeatures, rng);
    this.weight = { name: 'weight', data: w, grad: new Float32Array(w.length), shape: [outFeatures, inFeatures] };
    if (options.bias ?? true) {
      const b = new Float32Array(outFeatures);
      uniformInit(b, inFeatures, rng);
      this.bias = { name: 'bias', data: b, grad: new Float32Array(outFeatures), shape: [outFeatures] };
    } else {
      this.bias = null;
    }
  }

  /** [weight, bias], named `weight` and `bias` (prefixed by their place in a Sequential). */
  parameters(): Parameter[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  /** @internal Renames the parameters with a Sequential's prefix (`'0.'`). */
  setPrefix(prefix: string): void {
    this.weight.name = `${prefix}weight`;
    if (this.bias) this.bias.name = `${prefix}bias`;
  }
}

/** max(0, x), element-wise; fused into the preceding Linear's product where there is one. */
export class ReLU {
  parameters(): Parameter[] {
    return [];
  }
  /** @internal */
  setPrefix(_prefix: string): void {}
}
