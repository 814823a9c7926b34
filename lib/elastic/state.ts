/**
 * What an elastic job commits and restores: parameters, optimizer state, loss scaler and the
 * loop's position, as an in-memory snapshot (Horovod elastic's State, torchft's state dict).
 */
import type { Communicator } from '../comm/communicator';
import { getCommunicator } from '../comm/world';
import { checkOptions } from '../common/args';
import { DtrainError } from '../common/errors';
import { checkParameters, type Parameter } from '../common/parameter';
import { LossScaler } from '../amp/loss-scaler';
import type { OptimizerStateDict } from '../optim/optimizer';
import { broadcastOptimizerState, broadcastParameters } from '../train/broadcast';
import { DistributedOptimizer } from '../train/distributed-optimizer';
import { elasticJob } from './world';
import { testDieInSyncFromEnv } from '../comm/config';

/** Anything with the optimizer state-dict pair: optim.SGD, optim.LARS, a DistributedOptimizer. */
export interface StatefulOptimizer {
  stateDict(): OptimizerStateDict;
  loadStateDict(s: OptimizerStateDict): void;
}

/** Options of {@link State}. */
export interface StateOptions {
  /** The parameters (or a model with parameters()). */
  params: Parameter[] | { parameters(): Parameter[] };
  /** Its state (momentum, step, learning rate) is committed and synced; a DistributedOptimizer also moves to each new generation. */
  optimizer?: StatefulOptimizer;
  /** A loss scaler whose scale and counters are committed and synced. */
  scaler?: LossScaler;
  /** Plain data (numbers, strings, arrays, objects) committed and synced with the rest: a sampler's position, a history. */
  extra?: Record<string, unknown>;
}

/** What a reset callback learns about the new generation. */
export interface ResetInfo {
  generation: number;
  /** Workers now. */
  size: number;
  /** Workers before the change. */
  previousSize: number;
  rank: number;
}

interface Snapshot {
  params: Float32Array[];
  optimizer: OptimizerStateDict | undefined;
  scaler: ReturnType<LossScaler['stateDict']> | undefined;
  epoch: number;
  batch: number;
  extra: Record<string, unknown>;
  stamp: number;
}

/** A deep copy of `sd`, written into `into`'s arrays where they fit (a commit per step allocates nothing). */
function copyState(sd: OptimizerStateDict, into?: OptimizerStateDict): OptimizerStateDict {
  const state: OptimizerStateDict['state'] = {};
  for (const [name, slots] of Object.entries(sd.state)) {
    state[name] = {};
    for (const [k, t] of Object.entries(slots)) {
      const keep = into?.state[name]?.[k];
      if (keep && keep.length === t.length) {
        keep.set(t);
        state[name][k] = keep;
      } else state[name][k] = Float32Array.from(t);
    }
  }
  return { type: sd.type, step: sd.step, hyper: { ...sd.hyper }, state };
}

/**
 * The state an elastic job keeps across membership changes. `epoch` and `batch` are the loop's
 * counters; `extra` any other plain data. Call {@link commit} at points where every rank has
 * finished the same step: a failure later rolls every rank back to that commit.
 *
 * Advance the counters before committing: a commit records where to resume, so it must say
 * "after this step", or the step is done twice after a failure.
 *
 * @example
 * ```js
 * const state = new elastic.State({ params: model, optimizer: opt });
 * state.onReset(({ size }) => { opt.lr = baseLr * size; });
 * await elastic.run(state, async (state) => {
 *   while (state.epoch < epochs) {
 *     while (state.batch < steps) { await oneStep(state.epoch, state.batch); state.batch++; await state.commit(); }
 *     state.epoch++; state.batch = 0; await state.commit();
 *   }
 * });
 * ```
 */
export class State {
  epoch = 0;
  batch = 0;
  extra: Record<string, unknown>;
  readonly params: readonly Parameter[];
  readonly optimizer: StatefulOptimizer | undefined;
  readonly scaler: LossScaler | undefined;
  /** Commits so far on this worker. */
  commits = 0;
  /**
   * How far this worker's committed state has come: the same on every rank of a generation
   * after a sync, one more per commit. A sync copies from the rank with the largest (a worker
   * that joins has -1, so it never is the source).
   */
  private stamp: number;
  private snap: Snapshot | undefined;
  private readonly callbacks: ((info: ResetInfo) => void | Promise<void>)[] = [];

  constructor(options: StateOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('elastic.State: options must be an object');
    checkOptions(options, ['params', 'optimizer', 'scaler', 'extra'], 'elastic.State');
    const p = options.params as Parameter[] | { parameters?: () => Parameter[] };
    this.params = checkParameters(Array.isArray(p) ? p : p?.parameters?.(), 'elastic.State');
    const o = options.optimizer;
    if (o !== undefined && (typeof o.stateDict !== 'function' || typeof o.loadStateDict !== 'function')) {
      throw new TypeError('elastic.State: optimizer must have stateDict() and loadStateDict()');
    }
    this.optimizer = o;
    if (options.scaler !== undefined && !(options.scaler instanceof LossScaler)) throw new TypeError('elastic.State: scaler must be an amp.LossScaler');
    this.scaler = options.scaler;
    if (options.extra !== undefined && (options.extra === null || typeof options.extra !== 'object')) throw new TypeError('elastic.State: extra must be an object');
    this.extra = options.extra ?? {};
    this.stamp = elasticJob()?.membership.settings.joiner ? -1 : 0;
  }

  /**
   * Snapshots the state, then agrees with every rank whether the membership changed (a worker
   * waits to join); if so every rank throws ERR_DTRAIN_MEMBERSHIP at this same step, and
   * {@link run} moves the job to the new membership from this commit.
   */
  async commit(): Promise<void> {
    this.stamp++;
    this.save();
    const job = elasticJob();
    if (!job) return;
    const comm = getCommunicator('elastic.State.commit');
    const flag = Float64Array.of(job.membership.changePending ? 1 : 0);
    if (comm.size > 1) await comm.allreduce(flag, { op: 'max' });
    if (flag[0] > 0) {
      throw new DtrainError(`elastic: a worker is waiting to join (agreed at commit ${this.commits}); moving to the next generation`, 'ERR_DTRAIN_MEMBERSHIP');
    }
  }

  /** Puts the last commit back (parameters, optimizer, scaler, counters, extra). */
  restore(): void {
    const s = this.snap;
    if (!s) return;
    this.params.forEach((p, i) => p.data.set(s.params[i]));
    if (this.optimizer && s.optimizer) this.optimizer.loadStateDict(copyState(s.optimizer));
    if (this.scaler && s.scaler) this.scaler.loadStateDict({ ...s.scaler });
    this.epoch = s.epoch;
    this.batch = s.batch;
    this.extra = structuredClone(s.extra);
    this.stamp = s.stamp;
  }

  /**
   * Makes every rank's state that of the rank holding the latest commit (the most senior such
   * one; a worker that joins never is), then commits it, so every rank starts the generation
   * from the same point. A DistributedOptimizer first checks that every rank holds the same
   * parameters and settings.
   */
  async sync(comm: Communicator = getCommunicator('elastic.State.sync')): Promise<void> {
    if (comm.size > 1) {
      if (this.optimizer instanceof DistributedOptimizer) this.optimizer.checkJob(comm);
      const stamps = await comm.allgather(Float64Array.of(this.stamp));
      const newest = Math.max(...stamps);
      if (newest < 0) throw new DtrainError('elastic: no rank of this generation holds the job\'s state', 'ERR_DTRAIN_MEMBERSHIP');
      const root = stamps.indexOf(newest);
      await broadcastParameters([...this.params], root, { communicator: comm });
      const job = elasticJob();
      if (job && testDieInSyncFromEnv() === job.membership.id) process.kill(process.pid, 'SIGKILL');
      if (this.optimizer) await broadcastOptimizerState(this.optimizer, root, { communicator: comm });
      const rest = await comm.broadcastObject({ epoch: this.epoch, batch: this.batch, extra: this.extra, scaler: this.scaler?.stateDict() ?? null }, root);
      this.epoch = rest.epoch;
      this.batch = rest.batch;
      this.extra = rest.extra;
      if (this.scaler && rest.scaler) this.scaler.loadStateDict(rest.scaler);
      this.stamp = newest;
    }
    this.save();
  }

  /** Calls `cb` after every reset, once the state is synced (rescale the learning rate, re-shard the data). */
  onReset(cb: (info: ResetInfo) => void | Promise<void>): void {
    if (typeof cb !== 'function') throw new TypeError('elastic.State.onReset: the callback must be a function');
    this.callbacks.push(cb);
  }

  /** @internal Runs the reset callbacks. */
  async fireReset(info: ResetInfo): Promise<void> {
    for (const cb of this.callbacks) await cb(info);
  }

  /** @internal Moves a DistributedOptimizer to the new generation's communicator. */
  rebind(comm: Communicator): void {
    if (this.optimizer instanceof DistributedOptimizer) this.optimizer.setCommunicator(comm);
  }

  private save(): void {
    const prev = this.snap;
    this.snap = {
      // Reuses the previous snapshot's arrays: a commit per step costs a copy, not an allocation.
      params: this.params.map((p, i) => {
        const keep = prev?.params[i];
        if (keep && keep.length === p.data.length) {
          keep.set(p.data);
          return keep;
        }
        return Float32Array.from(p.data);
      }),
      optimizer: this.optimizer ? copyState(this.optimizer.stateDict(), prev?.optimizer) : undefined,
      scaler: this.scaler?.stateDict(),
      epoch: this.epoch,
      batch: this.batch,
      extra: structuredClone(this.extra),
      stamp: this.stamp,
    };
    this.commits++;
  }
}
