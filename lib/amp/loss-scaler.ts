import { checkOptions } from '../common/args';
import { DtrainError } from '../common/errors';

/** Options of {@link LossScaler}; the defaults are torch.cuda.amp.GradScaler's. */
export interface LossScalerOptions {
  /** The first scale; default 65536 (2^16). */
  initScale?: number;
  /** Multiplies the scale after `growthInterval` clean steps in a row; default 2. */
  growthFactor?: number;
  /** Multiplies the scale on an overflow; default 0.5. */
  backoffFactor?: number;
  /** Clean steps in a row before the scale grows; default 2000. */
  growthInterval?: number;
  /**
   * The scale never backs off below this; an overflow at this scale is an error (training would
   * otherwise skip every step from then on without a word). Default 1.
   */
  minScale?: number;
}

/** What {@link LossScaler.stateDict} returns (saved in checkpoints). */
export interface LossScalerState {
  scale: number;
  growthTracker: number;
  updates: number;
  skipped: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  minScale: number;
}

function positive(v: unknown, name: string, dflt: number, test: (x: number) => boolean, rule: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || !test(v)) {
    throw new RangeError(`LossScaler: ${name} must be ${rule}, got ${String(v)}`);
  }
  return v;
}

/**
 * Dynamic loss scaling for float16 training, with torch.cuda.amp.GradScaler's semantics: the
 * loss (and so every gradient) is multiplied by {@link scale} before backward, so small
 * gradients do not underflow in float16; the optimizer divides it out inside its fused step.
 * {@link update} is called once per step with whether any gradient held inf or NaN: an overflow
 * backs the scale off (times `backoffFactor`) and restarts the count of clean steps; after
 * `growthInterval` clean steps in a row the scale grows (times `growthFactor`) and the count
 * restarts. bfloat16 has float32's range and needs no scaling.
 *
 * @example
 * ```js
 * const scaler = new dtrain.amp.LossScaler();
 * const opt = new dtrain.DistributedOptimizer(sgd, { lossScaler: scaler });
 * model.lossAndGrad(x, y, batch, { lossScale: scaler.scale, onGrad: (p) => opt.gradReady(p) });
 * await opt.step(); // unscales, skips on overflow on every rank, updates the scaler
 * ```
 */
export class LossScaler {
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;
  readonly minScale: number;
  private current: number;
  private tracker = 0;
  /** Calls to {@link update}. */
  updates = 0;
  /** Updates that saw an overflow (steps skipped). */
  skipped = 0;

  constructor(options: LossScalerOptions = {}) {
    const o = checkOptions(options, ['initScale', 'growthFactor', 'backoffFactor', 'growthInterval', 'minScale'], 'LossScaler');
    this.growthFactor = positive(o.growthFactor, 'growthFactor', 2, (x) => x > 1, 'a number > 1');
    this.backoffFactor = positive(o.backoffFactor, 'backoffFactor', 0.5, (x) => x > 0 && x < 1, 'a number in (0, 1)');
    this.growthInterval = positive(o.growthInterval, 'growthInterval', 2000, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
    this.minScale = positive(o.minScale, 'minScale', 1, (x) => x > 0, 'a number > 0');
    this.current = positive(o.initScale, 'initScale', 65536, (x) => x > 0, 'a number > 0');
    if (this.current < this.minScale) throw new RangeError(`LossScaler: initScale (${this.current}) is below minScale (${this.minScale})`);
  }

  /** The settings every rank must share (checked by the DistributedOptimizer). */
  get config(): string {
    return `growth=${this.growthFactor} backoff=${this.backoffFactor} interval=${this.growthInterval} min=${this.minScale}`;
  }

  /** The factor the loss is multiplied by now. */
  get scale(): number {
    return this.current;
  }

  /** Clean steps in a row since the last growth or overflow. */
  get growthTracker(): number {
    return this.tracker;
  }

  /**
   * Records one step: `foundInf` true when any rank's gradients held inf or NaN (the step was
   * skipped). Returns the new scale.
   *
   * @throws DtrainError `ERR_DTRAIN_NONFINITE` when an overflow happens at `minScale` (the
   *   gradients overflow whatever the scale: the model diverged or the inputs hold huge values)
   */
  update(foundInf: boolean): number {
    this.updates++;
    if (foundInf) {
      this.skipped++;
      if (this.current <= this.minScale) {
        throw new DtrainError(
          `LossScaler: the gradients overflowed at update ${this.updates} with the loss scale already at minScale ` +
            `(${this.minScale}); they are not finite at any scale. Lower the learning rate or check the inputs.`,
          'ERR_DTRAIN_NONFINITE',
        );
      }
      this.current = Math.max(this.current * this.backoffFactor, this.minScale);
      this.tracker = 0;
      return this.current;
    }
    if (++this.tracker === this.growthInterval) {
      const grown = this.current * this.growthFactor;
      // GradScaler keeps the scale when growing it would overflow, and restarts the count.
      if (Number.isFinite(grown) && grown <= 3.4028234663852886e38) this.current = grown;
      this.tracker = 0;
    }
    return this.current;
  }

  stateDict(): LossScalerState {
    return {
      scale: this.current,
      growthTracker: this.tracker,
      updates: this.updates,
      skipped: this.skipped,
      growthFactor: this.growthFactor,
      backoffFactor: this.backoffFactor,
      growthInterval: this.growthInterval,
      minScale: this.minScale,
    };
  }

  /** Restores the scale and counts; the factors must match this scaler's. */
  loadStateDict(s: LossScalerState): void {
    const who = 'LossScaler.loadStateDict';
    if (s === null || typeof s !== 'object') throw new TypeError(`${who}: state must be an object`);
    if (!(typeof s.scale === 'number' && Number.isFinite(s.scale) && s.scale > 0)) throw new RangeError(`${who}: scale must be a positive number, got ${String(s.scale)}`);
    for (const key of ['growthTracker', 'updates', 'skipped'] as const) {
      if (!Number.isInteger(s[key]) || s[key] < 0) throw new RangeError(`${who}: ${key} must be a count, got ${String(s[key])}`);
    }
    for (const key of ['growthFactor', 'backoffFactor', 'growthInterval', 'minScale'] as const) {
      if (s[key] !== undefined && s[key] !== this[key]) {
        throw new RangeError(`${who}: the state was saved with ${key} ${s[key]}; this scaler has ${this[key]}`);
      }
    }
    if (s.scale < this.minScale) throw new RangeError(`${who}: scale ${s.scale} is below this scaler's minScale ${this.minScale}`);
    this.current = s.scale;
    this.tracker = s.growthTracker;
    this.updates = s.updates;
    this.skipped = s.skipped;
  }
}
