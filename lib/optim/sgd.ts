import type { Parameter } from '../common/parameter';
import type { NativeTensorSlot } from '../kernels/binding';
import { loadBinding } from '../native';
import { checkOptions } from '../common/args';
import { BaseOptimizer, checkHyper, gradScaleOf, numberOption, type OptimizerStepOptions } from './optimizer';

/** Options of {@link SGD}; the defaults are torch.optim.SGD's. */
export interface SGDOptions {
  lr: number;
  /** Default 0. */
  momentum?: number;
  /** Default false; needs momentum > 0. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient; default 0. */
  weightDecay?: number;
}

/**
 * Stochastic gradient descent with torch.optim.SGD's exact semantics (dampening 0): per element
 * `g = grad + weightDecay * w; b = momentum * b + g` (b = g at the first step, as the buffer
 * starts at zero); `w -= lr * (nesterov ? g + momentum * b : b)`; without momentum `w -= lr * g`.
 * All parameters update in one native multi-tensor call.
 */
export class SGD extends BaseOptimizer {
  protected readonly type = 'SGD';
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  private readonly slots: NativeTensorSlot[];
  private readonly native = loadBinding().kernels;
  private readonly opts = { lr: 0, momentum: 0, weightDecay: 0, gradScale: 1, nesterov: false, gradHalf: false, checkFinite: true };

  constructor(params: Parameter[], options: SGDOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('SGD: options must be an object with lr');
    checkOptions(options, ['lr', 'momentum', 'nesterov', 'weightDecay'], 'SGD');
    super(params, options.lr, 'SGD');
    const o = options as unknown as Record<string, unknown>;
    this.momentum = numberOption(o, 'momentum', 0, 'SGD');
    this.weightDecay = numberOption(o, 'weightDecay', 0, 'SGD');
    this.nesterov = checkNesterov(options.nesterov, this.momentum, 'SGD');
    this.slots = this.params.map((p, i) => ({ weights: p.data, grad: p.grad, state: this.buffers[i] }));
  }

  /**
   * One update from the current gradients. Returns false, changing nothing, when any gradient
   * holds inf or NaN (counted in `skipped`).
   */
  step(options?: OptimizerStepOptions): boolean {
    const o = this.opts;
    o.lr = this.lrValue;
    o.momentum = this.momentum;
    o.weightDecay = this.weightDecay;
    o.nesterov = this.nesterov;
    checkHyper({ momentum: this.momentum, weightDecay: this.weightDecay }, 'SGD');
    o.gradScale = gradScaleOf(options, 'SGD');
    const applied = this.native.sgdStep(this.slots, o);
    if (applied) this.steps++;
    else this.skipped++;
    return applied;
  }

  protected hyper(): Record<string, number | boolean> {
    return { momentum: this.momentum, nesterov: this.nesterov, weightDecay: this.weightDecay };
  }

  protected loadHyper(h: Record<string, number | boolean>, who: string): void {
    const momentum = numberOption(h, 'momentum', this.momentum, who);
    const weightDecay = numberOption(h, 'weightDecay', this.weightDecay, who);
    const nesterov = checkNesterov(h.nesterov ?? this.nesterov, momentum, who);
    this.momentum = momentum;
    this.weightDecay = weightDecay;
    this.nesterov = nesterov;
  }
}

function checkNesterov(v: unknown, momentum: number, who: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new TypeError(`${who}: nesterov must be a boolean`);
  if (v && momentum <= 0) throw new RangeError(`${who}: nesterov needs momentum > 0 (as torch.optim.SGD)`);
  return v;
}
