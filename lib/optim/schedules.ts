/**
 * Learning-rate schedules: each a function of the step (0-based, counting optimizer steps) that
 * returns the learning rate, which the Trainer assigns to `optimizer.lr` before every step.
 * They compose: `warmup(cosine({...}), { steps })`. An option a schedule does not take is a
 * TypeError naming it.
 */
import { checkOptions } from '../common/args';

/** A learning rate as a function of the step. */
export type Schedule = (step: number) => number;

function positive(v: unknown, name: string, who: string, allowZero = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new RangeError(`schedules.${who}: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} finite number, got ${String(v)}`);
  }
  return v;
}

function stepsArg(v: unknown, name: string, who: string, allowZero = false): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
    throw new RangeError(`schedules.${who}: ${name} must be an integer >= ${allowZero ? 0 : 1}, got ${String(v)}`);
  }
  return v;
}

function checkStep(step: number): number {
  if (!Number.isInteger(step) || step < 0) throw new RangeError(`schedule: step must be an integer >= 0, got ${step}`);
  return step;
}

/** The same rate at every step. */
export function constant(lr: number): Schedule {
  positive(lr, 'lr', 'constant', true);
  return (step) => (checkStep(step), lr);
}

/**
 * The linear scaling rule (Goyal et al. 2017): `baseLr * batchSize / referenceBatch` for a
 * global batch of `batchSize` (referenceBatch defaults to 256, as in the paper).
 */
export function linearScaling(options: { baseLr: number; batchSize: number; referenceBatch?: number }): number {
  if (options === null || typeof options !== 'object') throw new TypeError('schedules.linearScaling: options { baseLr, batchSize } are required');
  checkOptions(options, ['baseLr', 'batchSize', 'referenceBatch'], 'schedules.linearScaling');
  const baseLr = positive(options.baseLr, 'baseLr', 'linearScaling');
  const batch = stepsArg(options.batchSize, 'batchSize', 'linearScaling');
  const ref = stepsArg(options.referenceBatch ?? 256, 'referenceBatch', 'linearScaling');
  return (baseLr * batch) / ref;
}

/**
 * Gradual warm-up: from `startLr` at step 0 the rate rises linearly to `target(steps)` at step
 * `steps`, then follows `target` (a schedule or a number).
 */
export function warmup(target: Schedule | number, options: { steps: number; startLr?: number }): Schedule {
  const t = typeof target === 'number' ? constant(target) : target;
  if (typeof t !== 'function') throw new TypeError('schedules.warmup: target must be a schedule or a number');
  checkOptions(options, ['steps', 'startLr'], 'schedules.warmup');
  const steps = stepsArg(options.steps, 'steps', 'warmup', true);
  const start = positive(options.startLr ?? 0, 'startLr', 'warmup', true);
  return (step) => {
    checkStep(step);
    if (step >= steps) return t(step);
    const end = t(steps);
    return start + ((end - start) * step) / steps;
  };
}

/**
 * Goyal et al.'s recipe: the linear scaling rule with gradual warm-up from `baseLr` to
 * `baseLr * batchSize / referenceBatch` over `warmupSteps`, then `after` (a schedule of the
 * scaled rate; default constant).
 */
export function goyal(options: {
  baseLr: number;
  batchSize: number;
  referenceBatch?: number;
  warmupSteps: number;
  after?: (scaledLr: number) => Schedule;
}): Schedule {
  checkOptions(options, ['baseLr', 'batchSize', 'referenceBatch', 'warmupSteps', 'after'], 'schedules.goyal');
  const { baseLr, batchSize, referenceBatch, warmupSteps, after } = options;
  const scaled = linearScaling({ baseLr, batchSize, referenceBatch });
  return warmup(after ? after(scaled) : constant(scaled), { steps: warmupSteps, startLr: baseLr });
}

/**
 * Polynomial decay (power 2 is LARS's): `(lr - endLr) * (1 - step / totalSteps)^power + endLr`,
 * and `endLr` from `totalSteps` on.
 */
export function polynomial(options: { lr: number; totalSteps: number; power?: number; endLr?: number }): Schedule {
  checkOptions(options, ['lr', 'totalSteps', 'power', 'endLr'], 'schedules.polynomial');
  const lr = positive(options.lr, 'lr', 'polynomial', true);
  const total = stepsArg(options.totalSteps, 'totalSteps', 'polynomial');
  const power = positive(options.power ?? 2, 'power', 'polynomial');
  const end = positive(options.endLr ?? 0, 'endLr', 'polynomial', true);
  return (step) => {
    checkStep(step);
    const left = Math.max(0, 1 - Math.min(step, total) / total);
    return (lr - end) * Math.pow(left, power) + end;
  };
}

/**
 * Step decay: `lr * gamma^floor(step / stepSize)` (torch's StepLR), or, with `milestones`,
 * `lr * gamma^(number of milestones <= step)` (MultiStepLR).
 */
export function stepDecay(options: { lr: number; stepSize?: number; milestones?: number[]; gamma?: number }): Schedule {
  checkOptions(options, ['lr', 'stepSize', 'milestones', 'gamma'], 'schedules.stepDecay');
  const lr = positive(options.lr, 'lr', 'stepDecay', true);
  const gamma = positive(options.gamma ?? 0.1, 'gamma', 'stepDecay', true);
  if ((options.stepSize === undefined) === (options.milestones === undefined)) {
    throw new TypeError('schedules.stepDecay: give exactly one of stepSize and milestones');
  }
  if (options.milestones !== undefined) {
    const ms = options.milestones.map((m) => stepsArg(m, 'milestones[]', 'stepDecay')).sort((a, b) => a - b);
    return (step) => {
      checkStep(step);
      let passed = 0;
      while (passed < ms.length && ms[passed] <= step) passed++;
      return lr * Math.pow(gamma, passed);
    };
  }
  const size = stepsArg(options.stepSize, 'stepSize', 'stepDecay');
  return (step) => lr * Math.pow(gamma, Math.floor(checkStep(step) / size));
}

/** Cosine annealing from `lr` to `minLr` over `totalSteps`, then `minLr` (torch's CosineAnnealingLR, one half-period). */
export function cosine(options: { lr: number; totalSteps: number; minLr?: number }): Schedule {
  checkOptions(options, ['lr', 'totalSteps', 'minLr'], 'schedules.cosine');
  const lr = positive(options.lr, 'lr', 'cosine', true);
  const total = stepsArg(options.totalSteps, 'totalSteps', 'cosine');
  const min = positive(options.minLr ?? 0, 'minLr', 'cosine', true);
  return (step) => {
    const t = Math.min(checkStep(step), total);
    return min + ((lr - min) * (1 + Math.cos((Math.PI * t) / total))) / 2;
  };
}

/**
 * The one-cycle policy (Smith 2018) as torch's OneCycleLR with cosine annealing and two phases:
 * from `maxLr / divFactor` up to `maxLr` by step `pctStart * totalSteps - 1`, then down to
 * `maxLr / divFactor / finalDivFactor` at step `totalSteps - 1`.
 */
export function oneCycle(options: {
  maxLr: number;
  totalSteps: number;
  pctStart?: number;
  divFactor?: number;
  finalDivFactor?: number;
}): Schedule {
  checkOptions(options, ['maxLr', 'totalSteps', 'pctStart', 'divFactor', 'finalDivFactor'], 'schedules.oneCycle');
  const maxLr = positive(options.maxLr, 'maxLr', 'oneCycle');
  const total = stepsArg(options.totalSteps, 'totalSteps', 'oneCycle');
  const pct = options.pctStart ?? 0.3;
  if (typeof pct !== 'number' || !(pct > 0 && pct < 1)) throw new RangeError(`schedules.oneCycle: pctStart must be in (0, 1), got ${String(pct)}`);
  const initial = maxLr / positive(options.divFactor ?? 25, 'divFactor', 'oneCycle');
  const min = initial / positive(options.finalDivFactor ?? 1e4, 'finalDivFactor', 'oneCycle');
  const upEnd = pct * total - 1;
  const downEnd = total - 1;
  const anneal = (start: number, end: number, f: number) => end + ((start - end) / 2) * (1 + Math.cos(Math.PI * f));
  return (step) => {
    checkStep(step);
    if (step <= upEnd) return anneal(initial, maxLr, upEnd > 0 ? step / upEnd : 1);
    const s = Math.min(step, downEnd);
    return anneal(maxLr, min, downEnd > upEnd ? (s - upEnd) / (downEnd - upEnd) : 1);
  };
}
