import type { Parameter } from '../common/parameter';
import type { NativeTensorSlot } from '../kernels/binding';
import { loadBinding } from '../native';
import { checkOptions } from '../common/args';
import { BaseOptimizer, checkHyper, gradScaleOf, numberOption, type OptimizerStepOptions } from './optimizer';

/** Which parameters LARS leaves out of weight decay and of the adaptation (trust ratio 1). */
export type LarsExclude = ((param: Parameter) => boolean) | RegExp | string;

/** Options of {@link LARS}; the defaults are the paper's (You, Gitman, Ginsburg 2017). */
export interface LARSOptions {
  lr: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 5e-4. */
  weightDecay?: number;
  /** The trust coefficient; default 0.001. */
  eta?: number;
  /**
   * Parameters kept out of weight decay and adaptation: a predicate, a RegExp tested on the
   * name, or a string that names must end with. Default: every 1-D parameter (biases, norms)
   * by `shape`, or, for parameters without a shape, names ending in `bias`. Excluded parameters
   * step at the raw lr (trust ratio 1): with the tens of LARS learning rates at large batch that
   * is a far larger step than the adapted ones take; `() => false` adapts every parameter.
   */
  exclude?: LarsExclude;
}

/**
 * Layer-wise adaptive rate scaling. Per parameter, trust = eta * ||w|| / (||g|| + weightDecay *
 * ||w||) (1 when either norm is 0 or the parameter is excluded); then per element
 * `v = momentum * v + lr * trust * (g + weightDecay * w); w -= v` (no weight decay on excluded
 * parameters). One native multi-tensor call; `trustRatios` holds the last step's ratios.
 */
export class LARS extends BaseOptimizer {
  protected readonly type = 'LARS';
  momentum: number;
  weightDecay: number;
  eta: number;
  /** Each parameter's trust ratio at the last step, in parameter order. */
  readonly trustRatios: Float32Array;
  /** Which parameters are excluded, in parameter order. */
  readonly excluded: readonly boolean[];
  private readonly slots: NativeTensorSlot[];
  private readonly native = loadBinding().kernels;
  private readonly opts = { lr: 0, momentum: 0, weightDecay: 0, eta: 0, gradScale: 1, gradHalf: false, checkFinite: true };

  constructor(params: Parameter[], options: LARSOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('LARS: options must be an object with lr');
    checkOptions(options, ['lr', 'momentum', 'weightDecay', 'eta', 'exclude'], 'LARS');
    super(params, options.lr, 'LARS');
    const o = options as unknown as Record<string, unknown>;
    this.momentum = numberOption(o, 'momentum', 0.9, 'LARS');
    this.weightDecay = numberOption(o, 'weightDecay', 5e-4, 'LARS');
    this.eta = numberOption(o, 'eta', 0.001, 'LARS');
    const exclude = excludePredicate(options.exclude);
    this.excluded = Object.freeze(this.params.map(exclude));
    this.trustRatios = new Float32Array(this.params.length);
    this.slots = this.params.map((p, i) => ({
      weights: p.data,
      grad: p.grad,
      state: this.buffers[i],
      exclude: this.excluded[i],
    }));
  }

  /** One update; false, changing nothing, when any gradient holds inf or NaN. */
  step(options?: OptimizerStepOptions): boolean {
    const o = this.opts;
    o.lr = this.lrValue;
    o.momentum = this.momentum;
    o.weightDecay = this.weightDecay;
    o.eta = this.eta;
    checkHyper({ momentum: this.momentum, weightDecay: this.weightDecay, eta: this.eta }, 'LARS');
    o.gradScale = gradScaleOf(options, 'LARS');
    const applied = this.native.larsStep(this.slots, o, this.trustRatios);
    if (applied) this.steps++;
    else this.skipped++;
    return applied;
  }

  protected hyper(): Record<string, number | boolean> {
    return { momentum: this.momentum, weightDecay: this.weightDecay, eta: this.eta };
  }

  protected loadHyper(h: Record<string, number | boolean>, who: string): void {
    const momentum = numberOption(h, 'momentum', this.momentum, who);
    const weightDecay = numberOption(h, 'weightDecay', this.weightDecay, who);
    const eta = numberOption(h, 'eta', this.eta, who);
    this.momentum = momentum;
    this.weightDecay = weightDecay;
    this.eta = eta;
  }
}

function excludePredicate(e: unknown): (p: Parameter) => boolean {
  if (e === undefined) return (p) => (p.shape ? p.shape.length <= 1 : /(^|\.)bias$/.test(p.name));
  if (typeof e === 'function') return (p) => !!(e as (p: Parameter) => unknown)(p);
  if (e instanceof RegExp) {
    // Without the g and y flags, test() keeps no state between names.
    const re = new RegExp(e.source, e.flags.replace(/[gy]/g, ''));
    return (p) => re.test(p.name);
  }
  if (typeof e === 'string') return (p) => p.name.endsWith(e);
  throw new TypeError('LARS: exclude must be a function, a RegExp or a string');
}
