import { nowNs, timelineActive, traceAsyncSpan, TID_BUCKETS } from '../comm/timeline';
import type { Communicator } from '../comm/communicator';
import { elasticFromEnv, fusionThresholdFromEnv, workerCpusFromEnv } from '../comm/config';
import { availableParallelism } from 'node:os';
import { getCommunicator } from '../comm/world';
import { alloc } from '../comm/alloc';
import { checkParameters, type Parameter } from '../common/parameter';
import { compressorConfig, NoCompression, type Compressor, type GradientBucket } from '../compress/compressor';
import { makeCompressor } from '../compress/registry';
import type { Optimizer, OptimizerStateDict } from '../optim/optimizer';
import { checkOptions } from '../common/args';
import { checkSameParameters, checkSameSettings } from './fingerprint';
import { LossScaler } from '../amp/loss-scaler';

/**
 * The default fusion threshold in bytes: small enough that the first bucket (the last layers)
 * starts while backward still computes the large first layer, large enough that per-call
 * overhead stays small. Measured in docs/training.md (`dtrain bench train --fusion-threshold`).
 */
export const DEFAULT_FUSION_THRESHOLD = 1 << 20;

/** Options of {@link DistributedOptimizer}. */
export interface DistributedOptimizerOptions {
  /**
   * Largest bucket of fused gradients in bytes (a larger tensor gets a bucket of its own, reduced
   * in place); 0 = one bucket per tensor. Default DTRAIN_FUSION_THRESHOLD, else 1 MiB.
   */
  fusionThreshold?: number;
  /** Local backward passes accumulated (with `accumulate: true`) before one all-reduce; default 1. */
  backwardPassesPerStep?: number;
  /** `avg` (default): the mean over ranks (and over the accumulated passes); `sum`: their sum. */
  op?: 'avg' | 'sum';
  /**
   * How buckets travel: `none` (float32 all-reduce, the default), `fp16`, `dgc`, `qsgd`,
   * `terngrad`, `onebit` (see `dtrain.compress`), or a Compressor instance with its own settings.
   */
  compression?: string | Compressor;
  /**
   * Dynamic loss scaling (mixed precision): the gradients arrive multiplied by
   * `lossScaler.scale`; step() divides it out inside the fused update, skips the step on every
   * rank when any rank's gradients held inf or NaN, and updates the scaler.
   */
  lossScaler?: LossScaler;
  /** All-reduce algorithm for the buckets (see docs/algorithms.md); default the communicator's. */
  algorithm?: string;
  /**
   * Run bucket all-reduces on the communicator's engine thread, overlapping the rest of
   * backward (true), or on the calling thread as each bucket is ready (false). Default: true
   * when this worker has at least two CPUs (those `dtrain run` bound it to, else the host's
   * divided among its local workers), so the compute thread and the engine thread each get one;
   * else false, since an engine thread competing with compute for the same cores costs more
   * than overlap saves (measured in docs/training.md).
   */
  background?: boolean;
  /** The communicator; default the one `dtrain.init()` created. */
  communicator?: Communicator;
}

/** How long the last steps waited on communication that overlap did not hide. */
export interface CommStats {
  /**
   * Milliseconds the last step spent waiting on its buckets' communication: awaiting them in
   * step(), or blocked in them on the calling thread (with `background` false).
   */
  lastWaitMs: number;
  /** Sum over all steps. */
  totalWaitMs: number;
  /** Steps taken. */
  steps: number;
}

interface Bucket extends GradientBucket {
  readonly params: readonly Parameter[];
  readonly fused: boolean; // false: one parameter, reduced in its own grad array
  lossScale: number; // the loss scale of this step's values
  skippable: boolean;
  ready: number; // parameters whose gradient is final this step
  launched: boolean;
  promise: Promise<void> | undefined;
}

const DONE: Promise<void> = Promise.resolve();

interface Slot {
  bucket: Bucket;
  passes: number;
}

function fusionThresholdOf(v: unknown): number {
  if (v === undefined) return fusionThresholdFromEnv() ?? DEFAULT_FUSION_THRESHOLD;
  if (typeof v !== 'number') throw new TypeError(`DistributedOptimizer: fusionThreshold must be a number of bytes, got ${typeof v} ${JSON.stringify(v)}`);
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`DistributedOptimizer: fusionThreshold must be an integer number of bytes >= 0, got ${v}`);
  return v;
}

/**
 * A fused bucket's buffer: shared memory (alloc) where the system allows it, else an ordinary
 * array (a sandbox that forbids memfd_create), which all-reduces through the transport.
 */
function fusionBuffer(n: number): Float32Array {
  try {
    return alloc(n);
  } catch {
    return new Float32Array(n);
  }
}

/**
 * Averages gradients across workers before the wrapped optimizer steps (Horovod's
 * DistributedOptimizer, PyTorch DDP's bucketing). Gradients are packed into buckets in reverse
 * parameter order (the order backward produces them) up to `fusionThreshold` bytes;
 * {@link gradReady} starts a bucket's all-reduce as soon as its last gradient is in, so it
 * runs on the engine thread while backward computes the earlier layers, and {@link step}
 * waits for the rest, unpacks and steps. Buckets always launch in bucket order, so every rank
 * issues the same collectives in the same order whatever order its gradients arrive in.
 *
 * At construction every rank checks, with a blocking exchange, that all ranks hold the same
 * parameters (names, sizes, order): different models fail with ERR_DTRAIN_MISMATCH naming the
 * first differing parameter, rather than hanging or averaging the wrong tensors.
 *
 * @example
 * ```js
 * const opt = new dtrain.DistributedOptimizer(new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 }));
 * const loss = model.lossAndGrad(x, y, batch, { onGrad: (p) => opt.gradReady(p) });
 * await opt.step();
 * ```
 */
export class DistributedOptimizer {
  /** The wrapped optimizer. */
  readonly optimizer: Optimizer;
  readonly params: readonly Parameter[];
  readonly fusionThreshold: number;
  readonly backwardPassesPerStep: number;
  readonly op: 'avg' | 'sum';
  readonly compressor: Compressor;
  readonly algorithm: string | undefined;
  private communicator: Communicator;
  /** Whether bucket all-reduces run on the engine thread (see the `background` option). */
  readonly background: boolean;
  /** The buckets, in launch order: which parameters each holds and its size. */
  readonly buckets: readonly Bucket[];
  readonly stats: CommStats = { lastWaitMs: 0, totalWaitMs: 0, steps: 0 };
  /** The loss scaler, when training with dynamic loss scaling. */
  readonly lossScaler: LossScaler | undefined;
  /** Steps skipped because some rank's gradients held inf or NaN (the same count on every rank). */
  skippedSteps = 0;
  private readonly slots = new Map<Parameter, Slot>();
  private next = 0; // first bucket not yet launched
  private syncWaitMs = 0; // time this step's buckets blocked the calling thread

  constructor(optimizer: Optimizer, options: DistributedOptimizerOptions = {}) {
    const who = 'DistributedOptimizer';
    if (optimizer instanceof DistributedOptimizer) {
      throw new TypeError(`${who}: the optimizer is already a DistributedOptimizer; wrap the inner optimizer once`);
    }
    if (!optimizer || typeof optimizer.step !== 'function' || !Array.isArray(optimizer.params)) {
      throw new TypeError(`${who}: wrap an optimizer with params and step() (optim.SGD, optim.LARS, ...)`);
    }
    if (options === null || typeof options !== 'object') throw new TypeError(`${who}: options must be an object`);
    checkOptions(options, ['fusionThreshold', 'backwardPassesPerStep', 'op', 'compression', 'lossScaler', 'algorithm', 'background', 'communicator'], who);
    this.optimizer = optimizer;
    this.params = checkParameters(optimizer.params as Parameter[], who);
    this.fusionThreshold = fusionThresholdOf(options.fusionThreshold);
    const k = options.backwardPassesPerStep ?? 1;
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`${who}: backwardPassesPerStep must be an integer >= 1, got ${String(k)}`);
    this.backwardPassesPerStep = k;
    const op = options.op ?? 'avg';
    if (op !== 'avg' && op !== 'sum') throw new RangeError(`${who}: op must be 'avg' or 'sum', got ${String(op)}`);
    this.op = op;
    this.compressor = makeCompressor(options.compression);
    const momentum = (optimizer as { momentum?: unknown }).momentum;
    if (this.compressor.ownsMomentum && typeof momentum === 'number' && momentum > 0) {
      throw new RangeError(
        `${who}: compression '${this.compressor.name}' applies momentum itself (momentum correction); give the optimizer momentum 0 ` +
          `and set the compressor's momentum (${optimizer.constructor.name} has momentum ${momentum})`,
      );
    }
    if (options.lossScaler !== undefined && !(options.lossScaler instanceof LossScaler)) {
      throw new TypeError(`${who}: lossScaler must be an amp.LossScaler`);
    }
    this.lossScaler = options.lossScaler;
    if (options.algorithm !== undefined && typeof options.algorithm !== 'string') {
      throw new TypeError(`${who}: algorithm must be a string`);
    }
    this.algorithm = options.algorithm;
    this.communicator = options.communicator ?? getCommunicator(who);
    if (options.background !== undefined && typeof options.background !== 'boolean') throw new TypeError(`${who}: background must be a boolean`);
    // A worker bound by the launcher has its own CPUs; unbound ones share the host's.
    const cpusPerWorker = workerCpusFromEnv() ?? Math.floor(availableParallelism() / this.comm.localSize);
    this.background = options.background ?? cpusPerWorker >= 2;
    // In an elastic job every rank checks at elastic.run's sync instead, where survivors and a
    // worker that joins make the same calls at the same point.
    if (elasticFromEnv() === undefined) this.checkJob(this.comm);
    this.buckets = this.makeBuckets();
  }

  /** The communicator the gradients are averaged over. */
  get comm(): Communicator {
    return this.communicator;
  }

  /**
   * Averages over `comm` from now on (elastic training's next generation); a step in progress
   * is abandoned. elastic.run then checks the job with {@link checkJob} on every rank.
   */
  setCommunicator(comm: Communicator): void {
    this.communicator = comm;
    this.syncWaitMs = 0;
    this.reset();
  }

  /**
   * Checks that every rank of `comm` holds the same parameters and settings (blocking
   * exchanges): the constructor's check, which elastic training runs at each sync instead.
   */
  checkJob(comm: Communicator = this.comm): void {
    const who = 'DistributedOptimizer';
    checkSameParameters(this.params, comm, who);
    // Ranks that compress differently would exchange messages of different formats.
    checkSameSettings(
      [`compression ${compressorConfig(this.compressor)}`, `lossScaler ${this.lossScaler ? this.lossScaler.config : 'off'}`, `op ${this.op}`, `backwardPassesPerStep ${this.backwardPassesPerStep}`].join('; '),
      comm,
      who,
    );
  }

  get lr(): number {
    return this.optimizer.lr;
  }
  set lr(value: number) {
    this.optimizer.lr = value;
  }

  private makeBuckets(): Bucket[] {
    const buckets: Bucket[] = [];
    let group: Parameter[] = [];
    let bytes = 0;
    const close = () => {
      if (group.length === 0) return;
      const fused = group.length > 1;
      const offsets: number[] = [];
      let n = 0;
      for (const p of group) {
        offsets.push(n);
        n += p.data.length;
      }
      const bucket: Bucket = {
        index: buckets.length,
        params: group,
        names: group.map((p) => p.name),
        offsets,
        // In shared memory: on one host, peers reduce a large bucket straight from it.
        data: fused ? fusionBuffer(n) : group[0].grad,
        fused,
        lossScale: 1,
        skippable: false,
        ready: 0,
        launched: false,
        promise: undefined,
      };
      buckets.push(bucket);
      for (const p of group) this.slots.set(p, { bucket, passes: 0 });
      group = [];
      bytes = 0;
    };
    for (let i = this.params.length - 1; i >= 0; i--) {
      const p = this.params[i];
      const b = p.data.length * 4;
      if (group.length > 0 && bytes + b > this.fusionThreshold) close();
      group.push(p);
      bytes += b;
    }
    close();
    return buckets;
  }

  /**
   * Marks `param`'s gradient final for this step (pass it as nn's `onGrad`). With
   * backwardPassesPerStep k, the k-th call in a step counts. When a bucket's last gradient is
   * in, its all-reduce starts (after every earlier bucket's). Parameters are recognised by
   * identity: pass the same objects the wrapped optimizer was given.
   *
   * @throws TypeError if `param` is not one of the optimizer's parameters; Error if it is
   *   reported more than k times before step()
   */
  gradReady(param: Parameter): void {
    const slot = this.slots.get(param);
    if (!slot) {
      const name = param && typeof param === 'object' ? `'${String(param.name)}'` : String(param);
      throw new TypeError(`gradReady: ${name} is not a parameter of this DistributedOptimizer`);
    }
    if (++slot.passes > this.backwardPassesPerStep) {
      // Horovod refuses this too: the extra gradient would be added on top of an average that is
      // already (or is being) reduced, and the ranks would drift apart.
      throw new Error(
        `gradReady: '${param.name}' was reported ${slot.passes} times since the last step(), with ` +
          `backwardPassesPerStep ${this.backwardPassesPerStep}; call step() after every ${this.backwardPassesPerStep} backward pass(es)`,
      );
    }
    if (slot.passes !== this.backwardPassesPerStep) return;
    const b = slot.bucket;
    if (++b.ready === b.params.length) this.launchReady();
  }

  private launchReady(): void {
    while (this.next < this.buckets.length && this.buckets[this.next].ready === this.buckets[this.next].params.length) {
      this.launch(this.buckets[this.next++]);
    }
  }

  private launch(b: Bucket): void {
    // Timeline: the bucket's all-reduce from its last gradient to its result, beside backward.
    const traced = timelineActive();
    const t0 = traced ? nowNs() : 0;
    if (traced) {
      const name = `bucket ${b.index} all-reduce (${b.data.length * 4} bytes, ${b.params.length} tensors)`;
      const id = `bucket-${b.index}-${this.stats.steps}`;
      const done = () => traceAsyncSpan(name, id, TID_BUCKETS, t0, nowNs(), { bucket: b.index, first: b.params[0]?.name });
      try {
        this.launchTraced(b);
      } finally {
        if (b.promise) b.promise.then(done, () => undefined);
      }
      return;
    }
    this.launchTraced(b);
  }

  private launchTraced(b: Bucket): void {
    if (b.fused) b.params.forEach((p, i) => b.data.set(p.grad, b.offsets[i]));
    b.lossScale = this.lossScaler?.scale ?? 1;
    b.skippable = this.lossScaler !== undefined;
    b.launched = true;
    if (this.comm.size === 1 && this.compressor instanceof NoCompression) {
      // The mean over one rank is the gradient itself. A compressor still runs in a job of one,
      // so training has the same numerics at every size (DGC also holds the momentum).
      b.promise = DONE;
      return;
    }
    if (!this.background) {
      const t0 = performance.now();
      try {
        this.compressor.reduceSync(b, this.comm, this.algorithm);
        b.promise = DONE;
      } catch (err) {
        b.promise = Promise.reject(err);
        b.promise.catch(() => undefined);
      }
      this.syncWaitMs += performance.now() - t0;
      return;
    }
    const p = this.compressor.reduce(b, this.comm, this.algorithm);
    // Handled here so a failure while backward still runs is not reported as unhandled; step()
    // awaits the same promise and throws its error.
    p.catch(() => undefined);
    b.promise = p;
  }

  /**
   * Starts every bucket not yet started, waits for all, unpacks the averaged gradients into the
   * parameters' `grad` and steps the wrapped optimizer (dividing out the loss scale inside the
   * fused update). Resolves to whether the step was applied: false when some rank's gradients
   * held inf or NaN; then no rank changed any parameter or optimizer state, since every rank
   * holds the same averaged (non-finite) gradients, and the loss scaler, if any, backs off.
   *
   * @throws DtrainError `ERR_DTRAIN_NONFINITE` from the loss scaler when the gradients overflow
   *   with the scale already at its minimum
   */
  async step(): Promise<boolean> {
    while (this.next < this.buckets.length) this.launch(this.buckets[this.next++]);
    const t0 = performance.now();
    let failure: unknown;
    for (const b of this.buckets) {
      try {
        await b.promise;
      } catch (err) {
        failure ??= err;
      }
    }
    const waited = performance.now() - t0 + this.syncWaitMs;
    this.syncWaitMs = 0;
    this.stats.lastWaitMs = waited;
    this.stats.totalWaitMs += waited;
    this.reset();
    if (failure !== undefined) throw failure;
    for (const b of this.buckets) {
      if (!b.fused) continue;
      b.params.forEach((p, i) => p.grad.set(b.data.subarray(b.offsets[i], b.offsets[i] + p.data.length)));
    }
    this.stats.steps++;
    // The mean over the k accumulated passes, the sum over ranks when asked for, and the loss
    // scale divided out, all in the fused update.
    const lossScale = this.buckets[0]?.lossScale ?? 1;
    const scale = (this.op === 'sum' ? this.comm.size : 1) / this.backwardPassesPerStep / lossScale;
    const applied = this.optimizer.step(scale === 1 ? undefined : { gradScale: scale });
    if (!applied) this.skippedSteps++;
    this.compressor.endStep?.(applied);
    this.lossScaler?.update(!applied);
    return applied;
  }

  private reset(): void {
    this.next = 0;
    for (const b of this.buckets) {
      b.ready = 0;
      b.launched = false;
      b.promise = undefined;
    }
    for (const s of this.slots.values()) s.passes = 0;
  }

  zeroGrad(): void {
    this.optimizer.zeroGrad();
  }

  stateDict(): OptimizerStateDict {
    return this.optimizer.stateDict();
  }

  loadStateDict(state: OptimizerStateDict): void {
    this.optimizer.loadStateDict(state);
  }
}
