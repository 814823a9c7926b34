import type { Parameter } from '../common/parameter';
import { checkOptions } from '../common/args';
import { loadBinding } from '../native';
import { nativeIds } from '../common/constants';
import type { Labels, NnBinding } from './binding';
import { Linear, ReLU } from './layers';
import { checkPrecision, HalfRounder, type Precision } from './precision';

/** Anything a {@link Sequential} can hold. */
export type Layer = Linear | ReLU | Sequential;

/** Options of {@link Sequential.lossAndGrad}. */
export interface LossAndGradOptions {
  /**
   * Called with each parameter as soon as its gradient is final, last layer first (bias, then
   * weight): pass `dopt.gradReady` so communication overlaps the rest of the backward pass.
   */
  onGrad?: (param: Parameter) => void;
  /** Add this batch's gradients to `grad` instead of overwriting them; default false. */
  accumulate?: boolean;
  /** Multiplies every gradient (a loss scale); default 1. */
  lossScale?: number;
}

// One step of the compiled program: a Linear (with the ReLU after it fused into its product) or
// a ReLU on its own.
interface LinearOp {
  kind: 'linear';
  layer: Linear;
  relu: boolean;
  in: number;
  out: number;
}
interface ReluOp {
  kind: 'relu';
  width: number;
}
type Op = LinearOp | ReluOp;

/**
 * Layers applied in order, like torch.nn.Sequential; parameters are named by position as in
 * torch's `state_dict` (`'0.weight'`, `'0.bias'`, `'2.weight'`, ...). It is the reference
 * model: forward and backward run natively (a packed SGEMM per product, with bias, ReLU and
 * ReLU's backward fused into it), one thread, into buffers reused from step to step.
 *
 * @example
 * ```js
 * const model = new nn.Sequential(new nn.Linear(784, 512), new nn.ReLU(), new nn.Linear(512, 10));
 * const loss = model.lossAndGrad(x, labels, 128, { onGrad: (p) => dopt.gradReady(p) });
 * ```
 */
export class Sequential {
  readonly layers: readonly Layer[];
  /** Width of the input rows (the first Linear's inFeatures). */
  readonly inFeatures: number;
  /** Width of the output rows (the logits). */
  readonly outFeatures: number;
  private readonly ops: Op[];
  private readonly params: Parameter[];
  private readonly native: NnBinding;
  private capacity = 0; // batch rows the buffers hold
  private acts: Float32Array[] = []; // each op's output
  private grads: [Float32Array, Float32Array] = [new Float32Array(0), new Float32Array(0)];
  private prec: Precision = 'fp32';
  private rounder: HalfRounder | null = null;
  // Half-precision copies of each Linear's weight and bias (fp16/bf16), refreshed every pass.
  private half = new Map<Linear, { w: Float32Array; b: Float32Array | null }>();
  private input: Float32Array = new Float32Array(0); // the last pass's input, as its precision stores it
  private readonly passGrads = new Map<Parameter, Float32Array>();

  constructor(...layers: Layer[]) {
    if (layers.length === 0) throw new RangeError('nn.Sequential: needs at least one layer');
    layers.forEach((l, i) => {
      if (!(l instanceof Linear || l instanceof ReLU || l instanceof Sequential)) {
        throw new TypeError(`nn.Sequential: layer ${i} is not an nn.Linear, nn.ReLU or nn.Sequential`);
      }
    });
    // A layer's parameters get their names from their place in one model; sharing a layer
    // between two models would rename the first model's parameters under it.
    const mine = new Set<object>();
    for (const l of layers) {
      if (l instanceof ReLU) continue; // no parameters: sharing one is harmless
      if (OWNED.has(l) || mine.has(l)) {
        throw new TypeError('nn.Sequential: a layer is already part of a Sequential (this one or another); create a new one');
      }
      mine.add(l);
    }
    for (const l of mine) OWNED.add(l);
    this.layers = layers;
    this.setPrefix('');
    this.ops = compile(flatten(layers));
    this.params = this.layers.flatMap((l) => l.parameters());
    const first = this.ops.find((o): o is LinearOp => o.kind === 'linear');
    if (!first) throw new RangeError('nn.Sequential: needs at least one nn.Linear');
    this.inFeatures = first.in;
    this.outFeatures = width(this.ops[this.ops.length - 1]);
    this.native = loadBinding().nn;
  }

  /**
   * Storage precision of activations and gradients (see {@link Precision}); default `fp32`.
   * With `fp16` or `bf16` every pass rounds the weights' working copy, each layer's output,
   * the logits, and every activation and parameter gradient to that format (overflow becomes
   * inf, as in half-precision storage), while the products accumulate in float32 and the
   * master weights stay float32. Use a LossScaler with `fp16`; `bf16` needs none.
   */
  get precision(): Precision {
    return this.prec;
  }
  set precision(p: Precision) {
    this.prec = checkPrecision(p, 'nn.Sequential');
    this.rounder = p === 'fp32' ? null : new HalfRounder(p === 'bf16');
    this.half.clear();
  }

  /** Every parameter, in layer order (weight before bias). */
  parameters(): Parameter[] {
    return this.params.slice();
  }

  /** @internal */
  setPrefix(prefix: string): void {
    this.layers.forEach((l, i) => l.setPrefix(`${prefix}${i}.`));
  }

  /**
   * The logits for a batch: `x` holds `batch` rows of `inFeatures` floats. Returns `batch` x
   * `outFeatures` floats in a buffer the next call reuses (copy it to keep it).
   *
   * @throws RangeError when `batch` is not a positive integer, `x` does not hold exactly `batch`
   *   rows, or `x` holds NaN or infinity (before any native work)
   */
  forward(x: Float32Array, batch: number): Float32Array {
    this.checkInput(x, batch, 'forward');
    return this.run(x, batch).subarray(0, batch * this.outFeatures);
  }

  /**
   * Forward, mean softmax cross-entropy against `labels` and backward: overwrites every
   * parameter's `grad` (or adds to it with `accumulate`), calling `onGrad` as each is final.
   * Returns the mean loss over the batch (a non-finite value is returned, not thrown: the caller
   * decides).
   *
   * @throws RangeError for a bad batch, input rows or labels (out of range, wrong length), before
   *   any native work
   */
  lossAndGrad(x: Float32Array, labels: Labels, batch: number, options: LossAndGradOptions = {}): number {
    this.checkInput(x, batch, 'lossAndGrad');
    this.checkLabels(labels, batch);
    const { onGrad, accumulate = false, lossScale = 1 } = checkGradOptions(options);
    const logits = this.run(x, batch);
    const nn = this.native;
    const last = this.ops.length - 1;
    let g = this.grads[0];
    const loss = nn.softmaxCrossEntropy(logits, labels, batch, this.outFeatures, g, lossScale);
    const r = this.rounder;
    r?.round(g, batch * this.outFeatures);
    let spare = this.grads[1];
    // g is the gradient of the logits; a ReLU fused into the last Linear sees it first.
    const lastOp = this.ops[last];
    if (lastOp.kind === 'linear' && lastOp.relu) nn.reluBackward(g, this.acts[last], g, batch * lastOp.out);
    for (let i = last; i >= 0; i--) {
      const op = this.ops[i];
      const input = i === 0 ? this.input : this.acts[i - 1];
      if (op.kind === 'relu') {
        // A ReLU not fused into a product: g = g * (output > 0), in place.
        nn.reluBackward(g, this.acts[i], g, batch * op.width);
        continue;
      }
      const { layer } = op;
      // The bias first (a cheap column sum), so its bucket can start before the weight product.
      if (layer.bias) {
        if (r && accumulate) {
          // Each pass's gradient is a half-precision value; the accumulation stays float32.
          const pass = this.passGrad(layer.bias);
          nn.linearGradBias(g, pass, batch, op.out, false);
          r.round(pass);
          this.addInto(layer.bias.grad, pass);
        } else {
          nn.linearGradBias(g, layer.bias.grad, batch, op.out, accumulate);
          r?.round(layer.bias.grad);
        }
        onGrad?.(layer.bias);
      }
      if (r && accumulate) {
        const pass = this.passGrad(layer.weight);
        nn.linearGradWeight(input, g, pass, batch, op.in, op.out, false);
        r.round(pass);
        this.addInto(layer.weight.grad, pass);
      } else {
        nn.linearGradWeight(input, g, layer.weight.grad, batch, op.in, op.out, accumulate);
        r?.round(layer.weight.grad);
      }
      onGrad?.(layer.weight);
      if (i === 0) break;
      // The gradient of the previous op's output; when that op is a Linear with its ReLU fused,
      // the ReLU's backward is fused here too (mask = its output).
      const prev = this.ops[i - 1];
      const mask = prev.kind === 'linear' && prev.relu ? this.acts[i - 1] : null;
      nn.linearGradInput(g, this.weightsOf(layer).w, spare, mask, batch, op.in, op.out);
      r?.round(spare, batch * op.in);
      [g, spare] = [spare, g];
    }
    return loss;
  }

  /**
   * How many of the batch's rows have their largest logit at the label (for accuracy); runs
   * forward.
   */
  countCorrect(x: Float32Array, labels: Labels, batch: number): number {
    this.checkInput(x, batch, 'countCorrect');
    this.checkLabels(labels, batch);
    return this.native.countCorrect(this.run(x, batch), labels, batch, this.outFeatures);
  }

  private run(x: Float32Array, batch: number): Float32Array {
    this.reserve(batch);
    const nn = this.native;
    const r = this.rounder;
    let input = x;
    if (r) {
      // The half-precision working copy of the weights (the master weights stay float32).
      for (const op of this.ops) {
        if (op.kind !== 'linear') continue;
        const h = this.weightsOf(op.layer);
        r.copy(op.layer.weight.data, h.w);
        if (h.b && op.layer.bias) r.copy(op.layer.bias.data, h.b);
      }
      // The input as the model stores it (Fashion-MNIST's bytes / 255 round to float16).
      const xs = this.acts[this.ops.length];
      xs.set(x);
      r.round(xs, x.length);
      input = xs.subarray(0, x.length);
    }
    this.input = input;
    for (let i = 0; i < this.ops.length; i++) {
      const op = this.ops[i];
      const out = this.acts[i];
      if (op.kind === 'linear') {
        const w = this.weightsOf(op.layer);
        nn.linearForward(input, w.w, w.b, out, batch, op.in, op.out, op.relu);
        r?.round(out, batch * op.out);
      } else {
        nn.reluForward(input, out, batch * op.width);
      }
      input = out;
    }
    return input;
  }

  // A scratch gradient per parameter, for accumulated passes at half precision.
  private passGrad(p: Parameter): Float32Array {
    let g = this.passGrads.get(p);
    if (!g) {
      g = new Float32Array(p.data.length);
      this.passGrads.set(p, g);
    }
    return g;
  }

  private addInto(dst: Float32Array, src: Float32Array): void {
    const ids = nativeIds();
    loadBinding().kernels.reduce(ids.dtype.float32, ids.reduceOp.sum, dst, src);
  }

  // The weights a pass computes with: the parameters themselves at fp32, else their rounded copy.
  private weightsOf(layer: Linear): { w: Float32Array; b: Float32Array | null } {
    let h = this.half.get(layer);
    if (!h) {
      h = this.rounder
        ? { w: new Float32Array(layer.weight.data.length), b: layer.bias ? new Float32Array(layer.bias.data.length) : null }
        : { w: layer.weight.data, b: layer.bias?.data ?? null };
      this.half.set(layer, h);
    }
    return h;
  }

  // Buffers grow to the largest batch seen and are reused: no allocation per step.
  private reserve(batch: number): void {
    if (batch <= this.capacity) return;
    this.capacity = batch;
    // One buffer per op's output, and one for the rounded input (used at fp16/bf16).
    this.acts = [...this.ops.map((op) => new Float32Array(batch * width(op))), new Float32Array(batch * this.inFeatures)];
    const widest = Math.max(...this.ops.map(width));
    this.grads = [new Float32Array(batch * widest), new Float32Array(batch * widest)];
  }

  private checkInput(x: Float32Array, batch: number, fn: string): void {
    if (typeof batch !== 'number') throw new TypeError(`${fn}: batch must be a number, got ${typeof batch}`);
    if (!Number.isInteger(batch) || batch < 1) {
      throw new RangeError(`${fn}: batch must be a positive integer, got ${batch}`);
    }
    if (!(x instanceof Float32Array)) throw new TypeError(`${fn}: x must be a Float32Array`);
    if (x.length !== batch * this.inFeatures) {
      throw new RangeError(
        `${fn}: x has ${x.length} elements; batch ${batch} x ${this.inFeatures} features needs ${batch * this.inFeatures}`,
      );
    }
    if (this.native.nonFinite(x, x.length)) {
      throw new RangeError(`${fn}: x holds NaN or infinity (row ${firstNonFiniteRow(x, this.inFeatures)})`);
    }
  }

  private checkLabels(labels: Labels, batch: number): void {
    if (!(labels instanceof Int32Array || labels instanceof Uint8Array)) {
      throw new TypeError('labels must be an Int32Array or a Uint8Array');
    }
    if (labels.length !== batch) {
      throw new RangeError(`labels has ${labels.length} elements; the batch is ${batch}`);
    }
    const classes = this.outFeatures;
    for (let i = 0; i < batch; i++) {
      const l = labels[i];
      if (l < 0 || l >= classes) {
        throw new RangeError(`labels[${i}] is ${l}; labels must be in [0, ${classes}) for ${classes} outputs`);
      }
    }
  }
}

function checkGradOptions(options: LossAndGradOptions): Partial<LossAndGradOptions> {
  const o = checkOptions(options, ['onGrad', 'accumulate', 'lossScale'], 'lossAndGrad');
  if (o.onGrad !== undefined && typeof o.onGrad !== 'function') throw new TypeError('lossAndGrad: onGrad must be a function');
  if (o.lossScale !== undefined && !(typeof o.lossScale === 'number' && Number.isFinite(o.lossScale) && o.lossScale > 0)) {
    throw new RangeError(`lossAndGrad: lossScale must be a positive finite number, got ${String(o.lossScale)}`);
  }
  return o;
}

function firstNonFiniteRow(x: Float32Array, features: number): number {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return Math.floor(i / features);
  return -1;
}

// Linear layers and Sequentials already placed in a Sequential.
const OWNED = new WeakSet<object>();

function flatten(layers: readonly Layer[]): (Linear | ReLU)[] {
  return layers.flatMap((l) => (l instanceof Sequential ? flatten(l.layers) : [l]));
}

function width(op: Op): number {
  return op.kind === 'linear' ? op.out : op.width;
}

function compile(layers: (Linear | ReLU)[]): Op[] {
  const ops: Op[] = [];
  let w = -1; // width of the current rows; unknown before the first Linear
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    if (l instanceof Linear) {
      if (w !== -1 && w !== l.inFeatures) {
        throw new RangeError(`nn.Sequential: a Linear takes ${l.inFeatures} features but the layer before gives ${w}`);
      }
      const relu = layers[i + 1] instanceof ReLU;
      ops.push({ kind: 'linear', layer: l, relu, in: l.inFeatures, out: l.outFeatures });
      if (relu) i++;
      w = l.outFeatures;
    } else {
      if (w === -1) throw new RangeError('nn.Sequential: a ReLU before the first Linear has no known width');
      ops.push({ kind: 'relu', width: w });
    }
  }
  return ops;
}
