import { checkOptions } from '../common/args';
import { checkParameters, type Parameter } from '../common/parameter';

/** Options of {@link Optimizer.step}. */
export interface OptimizerStepOptions {
  /**
   * Multiplies every gradient inside the fused update (1 / loss scale to unscale, 1 / k to
   * average k accumulated passes); default 1.
   */
  gradScale?: number;
}

/** What {@link Optimizer.stateDict} returns: plain data, saved in checkpoints. */
export interface OptimizerStateDict {
  /** The optimizer's class (`'SGD'`, `'LARS'`); loading into another kind is an error. */
  type: string;
  /** Steps taken so far. */
  step: number;
  /** The hyperparameters, including the current learning rate. */
  hyper: Record<string, number | boolean>;
  /** Per parameter (by name), its state tensors (`momentum`). */
  state: Record<string, Record<string, Float32Array>>;
}

/**
 * The interface every optimizer here has, and all that the DistributedOptimizer and the Trainer
 * use: parameters, a settable learning rate, a synchronous fused step, and state.
 */
export interface Optimizer {
  readonly params: readonly Parameter[];
  lr: number;
  /** Applies one update from the parameters' `grad`; false when it was skipped (inf/NaN). */
  step(options?: OptimizerStepOptions): boolean;
  /** Zeroes every gradient. */
  zeroGrad(): void;
  stateDict(): OptimizerStateDict;
  /** Restores a state dict; checks everything before changing anything. */
  loadStateDict(state: OptimizerStateDict): void;
}

/** Shared parts of SGD and LARS: parameters, lr, per-parameter buffers and their state dict. */
export abstract class BaseOptimizer implements Optimizer {
  readonly params: readonly Parameter[];
  /** Steps applied so far (skipped steps do not count). */
  steps = 0;
  /** Steps skipped because a gradient held inf or NaN. */
  skipped = 0;
  protected lrValue: number;
  protected readonly buffers: Float32Array[];
  protected abstract readonly type: string;

  protected constructor(params: Parameter[], lr: unknown, who: string) {
    this.params = Object.freeze(checkParameters(params, who).slice());
    this.lrValue = checkLr(lr, who);
    this.buffers = this.params.map((p) => new Float32Array(p.data.length));
  }

  get lr(): number {
    return this.lrValue;
  }
  set lr(value: number) {
    this.lrValue = checkLr(value, this.type);
  }

  abstract step(options?: OptimizerStepOptions): boolean;

  zeroGrad(): void {
    for (const p of this.params) p.grad.fill(0);
  }

  /** The hyperparameters other than lr, as saved in the state dict. */
  protected abstract hyper(): Record<string, number | boolean>;

  stateDict(): OptimizerStateDict {
    const state: OptimizerStateDict['state'] = {};
    this.params.forEach((p, i) => {
      state[p.name] = { momentum: this.buffers[i].slice() };
    });
    return { type: this.type, step: this.steps, hyper: { lr: this.lrValue, ...this.hyper() }, state };
  }

  loadStateDict(s: OptimizerStateDict): void {
    const who = `${this.type}.loadStateDict`;
    if (s === null || typeof s !== 'object') throw new TypeError(`${who}: state must be an object`);
    if (s.type !== this.type) throw new TypeError(`${who}: the state is a ${String(s.type)} optimizer's, not ${this.type}'s`);
    if (!Number.isInteger(s.step) || s.step < 0) throw new TypeError(`${who}: step must be a non-negative integer`);
    if (s.state === null || typeof s.state !== 'object') throw new TypeError(`${who}: state.state is missing`);
    const names = Object.keys(s.state);
    if (names.length !== this.params.length) {
      throw new RangeError(`${who}: the state has ${names.length} parameters; this optimizer has ${this.params.length}`);
    }
    const incoming = this.params.map((p) => {
      const entry = s.state[p.name];
      const m = entry?.momentum;
      if (!(m instanceof Float32Array)) throw new RangeError(`${who}: no momentum for parameter '${p.name}'`);
      if (m.length !== p.data.length) {
        throw new RangeError(`${who}: parameter '${p.name}' has ${p.data.length} elements; its saved momentum has ${m.length}`);
      }
      return m;
    });
    const lr = checkLr(s.hyper?.lr, who);
    this.loadHyper(s.hyper ?? {}, who);
    incoming.forEach((m, i) => this.buffers[i].set(m));
    this.steps = s.step;
    this.lrValue = lr;
  }

  /** Checks and takes the saved hyperparameters (other than lr). */
  protected abstract loadHyper(hyper: Record<string, number | boolean>, who: string): void;

  /** The per-parameter state buffers (momentum/velocity), for broadcastOptimizerState. */
  stateBuffers(): readonly Float32Array[] {
    return this.buffers;
  }
}

export function checkLr(lr: unknown, who: string): number {
  if (typeof lr !== 'number') throw new TypeError(`${who}: lr must be a number, got ${typeof lr}`);
  if (!Number.isFinite(lr) || lr < 0) throw new RangeError(`${who}: lr must be a finite number >= 0, got ${lr}`);
  return lr;
}

/** A finite number option in [min, max], or the default. */
export function numberOption(o: Record<string, unknown>, key: string, dflt: number, who: string, min = 0, max = Infinity): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw new TypeError(`${who}: ${key} must be a number, got ${typeof v}`);
  if (!Number.isFinite(v) || v < min || v > max) {
    throw new RangeError(`${who}: ${key} must be a finite number in [${min}, ${max}], got ${v}`);
  }
  return v;
}

export function gradScaleOf(options: OptimizerStepOptions | undefined, who: string): number {
  if (options === undefined) return 1;
  checkOptions(options, ['gradScale'], `${who}.step`);
  const v = numberOption(options as Record<string, unknown>, 'gradScale', 1, `${who}.step`);
  if (v === 0) throw new RangeError(`${who}.step: gradScale must be > 0, got 0`);
  return v;
}

/**
 * The hyperparameters as the kernel gets them, checked at every step: they are plain settable
 * fields, and a NaN momentum would otherwise turn every weight into NaN without a word.
 */
export function checkHyper(values: Record<string, number>, who: string): void {
  for (const [key, v] of Object.entries(values)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`${who}.step: ${key} must be a finite number >= 0, got ${String(v)}`);
  }
}
