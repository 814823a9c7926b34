import { loadBinding } from '../native';
import type { NativeTensorSlot } from './binding';
import { checkOptions, expectArray, finiteNumber, sameLength } from '../common/args';

/** One parameter tensor of a fused optimizer step. */
export interface OptimizerTensor {
  /** float32 master weights, updated in place. */
  weights: Float32Array;
  /** The gradient: float32, or float16 bits (Uint16Array) still multiplied by the loss scale. */
  grad: Float32Array | Uint16Array;
  /** Momentum buffer (SGD) or velocity (LARS), updated in place; zeros before the first step. */
  state: Float32Array;
  /** If given, receives the float16 copy of the updated weights in the same pass. */
  weights16?: Uint16Array;
  /** SGD: no weight decay. LARS: no weight decay and trust ratio 1 (biases, batch norm). */
  exclude?: boolean;
}

/** Options shared by {@link sgdStep} and {@link larsStep}. */
export interface StepOptions {
  /** Learning rate. */
  lr: number;
  /** Momentum; default 0.9. */
  momentum?: number;
  /** Weight decay (L2); default 0 for SGD, 5e-4 for LARS. */
  weightDecay?: number;
  /** Multiplies every gradient (1 / lossScale to unscale); default 1. */
  gradScale?: number;
  /** Skip the whole step when any gradient is inf or NaN (the noop flag); default true. */
  checkFinite?: boolean;
}

/** Options of {@link sgdStep}. */
export interface SgdStepOptions extends StepOptions {
  /** Nesterov momentum; default false. */
  nesterov?: boolean;
}

/** Options of {@link larsStep}. */
export interface LarsStepOptions extends StepOptions {
  /** LARS coefficient; default 0.001. */
  eta?: number;
}

/** Result of {@link larsStep}. */
export interface LarsStepResult {
  /** False when the step was skipped because a gradient held inf/NaN (nothing was changed). */
  applied: boolean;
  /** Each tensor's trust ratio (1 for excluded tensors or a zero norm). */
  trust: Float32Array;
}

function slots(tensors: OptimizerTensor[]): { slots: NativeTensorSlot[]; gradHalf: boolean } {
  if (!Array.isArray(tensors)) throw new TypeError('tensors must be an array');
  let gradHalf: boolean | undefined;
  const out = tensors.map((t, i) => {
    const name = `tensors[${i}]`;
    if (t === null || typeof t !== 'object') throw new TypeError(`${name} must be an object`);
    expectArray(t.weights, Float32Array, `${name}.weights`);
    expectArray(t.state, Float32Array, `${name}.state`);
    const half = t.grad instanceof Uint16Array;
    if (!half) expectArray(t.grad, Float32Array, `${name}.grad`);
    if (gradHalf !== undefined && half !== gradHalf) {
      throw new TypeError(`${name}.grad: all gradients must be Float32Array or all Uint16Array`);
    }
    gradHalf = half;
    sameLength(t.grad.length, t.weights.length, `${name}.grad`, `${name}.weights`);
    sameLength(t.state.length, t.weights.length, `${name}.state`, `${name}.weights`);
    if (t.weights16 !== undefined) {
      expectArray(t.weights16, Uint16Array, `${name}.weights16`);
      sameLength(t.weights16.length, t.weights.length, `${name}.weights16`, `${name}.weights`);
    }
    return { weights: t.weights, grad: t.grad, state: t.state, weights16: t.weights16, exclude: !!t.exclude };
  });
  return { slots: out, gradHalf: gradHalf ?? false };
}

/**
 * SGD with momentum over many tensors in one native call (like Apex's multi_tensor_apply), the
 * PyTorch formula per element: `g = grad * gradScale + weightDecay * w; b = momentum * b + g;
 * w -= lr * (nesterov ? g + momentum * b : b)`, optionally writing `weights16 = half(w)`.
 *
 * @returns false if the step was skipped (a gradient held inf/NaN and checkFinite is on)
 * @throws TypeError for wrong array types (naming the tensor and field); RangeError for length
 *   mismatches or non-finite hyperparameters
 */
export function sgdStep(tensors: OptimizerTensor[], opts: SgdStepOptions): boolean {
  const o = checkOptions(opts, ['lr', 'momentum', 'weightDecay', 'gradScale', 'checkFinite', 'nesterov'], 'kernels.sgdStep');
  const { slots: s, gradHalf } = slots(tensors);
  const k = loadBinding().kernels;
  const d = k.defaults.sgd;
  return k.sgdStep(s, {
    lr: finiteNumber(o.lr, 'lr'),
    momentum: finiteNumber(o.momentum, 'momentum', d.momentum),
    weightDecay: finiteNumber(o.weightDecay, 'weightDecay', d.weightDecay),
    gradScale: finiteNumber(o.gradScale, 'gradScale', d.gradScale),
    nesterov: o.nesterov ?? d.nesterov,
    gradHalf,
    checkFinite: o.checkFinite ?? d.checkFinite,
  });
}

/**
 * LARS (You et al. 2017) over many tensors: per tensor, `trust = eta * ||w|| / (||g|| +
 * weightDecay * ||w||)` with g the unscaled gradient (1 when either norm is 0 or the tensor is
 * excluded), then `v = momentum * v + lr * trust * (g + weightDecay * w); w -= v`. Norms
 * accumulate in float32 lanes and double across blocks.
 *
 * @throws as {@link sgdStep}
 */
export function larsStep(tensors: OptimizerTensor[], opts: LarsStepOptions): LarsStepResult {
  const o = checkOptions(opts, ['lr', 'momentum', 'weightDecay', 'gradScale', 'checkFinite', 'eta'], 'kernels.larsStep');
  const { slots: s, gradHalf } = slots(tensors);
  const trust = new Float32Array(s.length);
  const k = loadBinding().kernels;
  const d = k.defaults.lars;
  const applied = k.larsStep(
    s,
    {
      lr: finiteNumber(o.lr, 'lr'),
      momentum: finiteNumber(o.momentum, 'momentum', d.momentum),
      weightDecay: finiteNumber(o.weightDecay, 'weightDecay', d.weightDecay),
      eta: finiteNumber(o.eta, 'eta', d.eta),
      gradScale: finiteNumber(o.gradScale, 'gradScale', d.gradScale),
      gradHalf,
      checkFinite: o.checkFinite ?? d.checkFinite,
    },
    trust,
  );
  return { applied, trust };
}
