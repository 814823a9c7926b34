import { nowNs, timelineActive, traceSpan, TID_JS } from '../comm/timeline';
import * as fs from 'fs';
import * as path from 'path';
import type { Communicator } from '../comm/communicator';
import { getCommunicator } from '../comm/world';
import type { Parameter } from '../common/parameter';
import { BatchLoader } from '../data/batches';
import { checkDataset, type Dataset } from '../data/dataset';
import { DistributedSampler, ElasticSampler } from '../data/sampler';
import { State, type ResetInfo } from '../elastic/state';
import { recoveryStats, run as elasticRun } from '../elastic/run';
import { membership as elasticMembership } from '../elastic/index';
import type { Labels } from '../nn/binding';
import type { Optimizer } from '../optim/optimizer';
import { checkOptions } from '../common/args';
import type { Schedule } from '../optim/schedules';
import { broadcastOptimizerState, broadcastParameters, broadcastString } from './broadcast';
import { loadCheckpoint, loadCheckpointFile, saveCheckpoint, saveCheckpointFile } from './checkpoint';
import { DistributedOptimizer } from './distributed-optimizer';
import { compressorConfig } from '../compress/compressor';
import { DtrainError } from '../common/errors';
import { EpochProgress, progressTerminal } from './progress';

/** What the Trainer needs of a model: parameters and a fused loss-and-gradient pass. */
export interface TrainableModel {
  parameters(): Parameter[];
  lossAndGrad(
    x: Float32Array,
    labels: Labels,
    batch: number,
    options?: { onGrad?: (p: Parameter) => void; accumulate?: boolean; lossScale?: number },
  ): number;
  /** `fp32`, `fp16` or `bf16` (nn.Sequential's), reported in the summary; default fp32. */
  precision?: string;
  /** Correct predictions in a batch, for evaluation; else `forward` and an argmax are used. */
  countCorrect?(x: Float32Array, labels: Labels, batch: number): number;
  forward?(x: Float32Array, batch: number): Float32Array;
}

/** Options of {@link Trainer}. */
export interface TrainerOptions {
  model: TrainableModel;
  /** A DistributedOptimizer, or a plain optimizer (wrapped in one with default options). */
  optimizer: DistributedOptimizer | Optimizer;
  data: { train: Dataset; test?: Dataset };
  /** Epochs to train (in all, counting those a resumed run already did). */
  epochs: number;
  /** Samples per worker per step; default 128. */
  batchPerWorker?: number;
  /**
   * Samples per worker per step in each epoch (0-based), to grow the batch during training
   * instead of decaying the learning rate (Smith et al. 2018); default `batchPerWorker` always.
   * It must return a positive integer and be the same function on every rank.
   */
  batchSchedule?: (epoch: number) => number;
  /** The learning rate per step; default: the optimizer's own lr throughout. */
  schedule?: Schedule;
  /** Seed of the per-epoch shuffles (the same on every rank); default 0. */
  seed?: number;
  /** Shuffle every epoch; default true. */
  shuffle?: boolean;
  /** Drop each epoch's last, smaller batch; default false. */
  dropLast?: boolean;
  /** Rows per evaluation batch; default 1000. */
  evalBatch?: number;
  /** Where rank 0 writes checkpoints (after every epoch, and every `checkpointEverySteps`). */
  checkpointDir?: string;
  /** Also checkpoint every this many steps; default 0 (epochs only). */
  checkpointEverySteps?: number;
  /** Continue from `checkpointDir`'s checkpoint when there is one; default false. */
  resume?: boolean;
  /** Receives every epoch's metrics (on every rank; the values are the same). */
  onMetrics?: (m: EpochMetrics) => void;
  /**
   * Also evaluate every this many optimizer steps (sharded, as at each epoch's end) and report it
   * to `onEval`, for curves of accuracy against time; default 0 (epochs only).
   */
  evalEverySteps?: number;
  /** Test rows those evaluations use (the first ones); default the whole test set. */
  evalSamples?: number;
  /** Receives each `evalEverySteps` evaluation (on every rank; the values are the same). */
  onEval?: (e: EvalPoint) => void;
  /** Rank 0 appends every epoch's metrics here as a JSON line. */
  metricsFile?: string;
  /** Draw a progress bar on rank 0; default: when there is a terminal to draw on. */
  progress?: boolean;
  /** Plain progress lines (rank 0); default console.log, silent while a bar is drawn. */
  log?: (line: string) => void;
  /** The communicator; default the one init() created. */
  communicator?: Communicator;
  /**
   * Train elastically (`dtrain run --elastic`): commit every `commitEvery` steps, and on a lost
   * or added worker continue from the last commit on the new membership, with the learning rate
   * scaled by workers now / workers at the start (the linear scaling rule) and the epoch's
   * remaining samples re-sharded. Takes neither `resume` nor `batchSchedule` nor
   * `backwardPassesPerStep` > 1. Default false.
   */
  elastic?: boolean;
  /**
   * With `elastic`: steps between commits; default 10. A commit is a copy of the parameters and
   * optimizer state and an 8-byte all-reduce: every step cost 15% of Fashion-MNIST's throughput
   * on 4 workers here, every 10 steps under 1% (docs/elastic.md); a failure redoes at most that
   * many steps.
   */
  commitEvery?: number;
  /** With `elastic`: called on every rank after each reset, once the state is synced. */
  onReset?: (info: ResetInfo) => void | Promise<void>;
  /**
   * With `elastic`: every worker appends each step's sample indices (and each reset's restart
   * step) to FILE.<worker id> as JSON lines, to check that no sample is lost or repeated.
   */
  sampleLedger?: string;
}

/** One epoch's figures, as the JSON lines and the example's summary report them. */
export interface EpochMetrics {
  epoch: number;
  /** Optimizer steps so far, all epochs (skipped ones included). */
  steps: number;
  /** Parameter updates so far (steps not skipped). */
  updates: number;
  /** Steps skipped so far because some rank's gradients overflowed (mixed precision). */
  skipped_steps: number;
  /** The loss scale at the end of the epoch (1 without a LossScaler). */
  loss_scale: number;
  /** Samples per worker per step in this epoch. */
  batch_per_worker: number;
  /** Mean training loss over this epoch's batches and all ranks. */
  train_loss: number;
  /** Accuracy on the test set (sharded across ranks, counts summed); null without one. */
  test_acc: number | null;
  /** Samples per second over all ranks (training only, evaluation excluded). */
  samples_per_s: number;
  /** Mean wall time of a step. */
  step_ms: number;
  /** Mean time per step waiting on communication that overlap did not hide. */
  comm_wait_ms: number;
  /** Bytes this rank's transport sent per step, mean over the epoch. */
  bytes_sent_per_step: number;
  lr: number;
  epoch_s: number;
  /** Resident set size after the epoch, MiB (leaks show as growth). */
  rss_mib: number;
}

/** One evaluation between epochs (see `evalEverySteps`). */
export interface EvalPoint {
  /** Optimizer steps so far. */
  step: number;
  /** 1-based epoch in progress. */
  epoch: number;
  test_acc: number;
  /** Seconds since fit() started. */
  wall_s: number;
}

/** What {@link Trainer.fit} resolves to: the last epoch's figures and the job's shape. */
export interface TrainSummary {
  np: number;
  epochs: number;
  steps: number;
  /** Parameter updates (steps not skipped). */
  updates: number;
  /** Steps skipped on overflow (mixed precision with a LossScaler). */
  skipped_steps: number;
  /** The loss scale at the end (1 without a LossScaler). */
  loss_scale: number;
  /** `fp32`, `mixed` (fp16 with loss scaling), `fp16` (without) or `bf16`. */
  precision: string;
  /** The compressor's name (`none`, `fp16`, `dgc`, ...). */
  compression: string;
  /** The last epoch's batch per worker. */
  batch_per_worker: number;
  test_acc: number | null;
  train_loss: number;
  samples_per_s: number;
  step_ms: number;
  comm_wait_ms: number;
  bytes_sent_per_step: number;
  /** Elastic training: membership changes recovered from (np is then the workers at the end). */
  resets?: number;
}

const KNOWN = [
  'model', 'optimizer', 'data', 'epochs', 'batchPerWorker', 'batchSchedule', 'schedule', 'seed', 'shuffle', 'dropLast', 'evalBatch',
  'checkpointDir', 'checkpointEverySteps', 'resume', 'onMetrics', 'metricsFile', 'progress', 'log', 'communicator',
  'evalEverySteps', 'evalSamples', 'onEval', 'elastic', 'commitEvery', 'onReset', 'sampleLedger',
];

function positiveInt(v: unknown, name: string, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`Trainer: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

/**
 * The synchronous data-parallel loop (the survey's recommendation): broadcast parameters and
 * optimizer state from rank 0; per epoch a sharded shuffle, forward/backward with the
 * all-reduce of each bucket overlapping the rest of backward, the step, the schedule;
 * evaluation sharded across ranks; checkpoints that resume bit for bit; metrics as JSON
 * lines; a progress bar on rank 0.
 */
export class Trainer {
  readonly model: TrainableModel;
  readonly optimizer: DistributedOptimizer;
  private communicator: Communicator;
  readonly epochs: number;
  readonly batchPerWorker: number;
  /** The learning rate per optimizer step (settable until fit()); default the optimizer's own. */
  schedule: Schedule | undefined;
  private readonly o: TrainerOptions;
  private readonly train: Dataset;
  private readonly test: Dataset | undefined;
  private readonly sampler: DistributedSampler;
  private readonly loader: BatchLoader;
  private readonly loaders = new Map<number, BatchLoader>();
  private readonly batchSchedule: ((epoch: number) => number) | undefined;
  private readonly params: Parameter[];
  private readonly onGrad: (p: Parameter) => void;
  private epoch = 0; // the epoch in progress (0-based)
  private batchInEpoch = 0; // the next batch of that epoch
  private step = 0; // optimizer steps so far
  private compressorSaved = false; // the restored checkpoint has per-rank compressor files
  private history: EpochMetrics[] = [];

  constructor(options: TrainerOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('Trainer: options must be an object');
    checkOptions(options, KNOWN, 'Trainer');
    const { model, optimizer, data } = options;
    if (!model || typeof model.parameters !== 'function' || typeof model.lossAndGrad !== 'function') {
      throw new TypeError('Trainer: model must have parameters() and lossAndGrad()');
    }
    if (!data || typeof data !== 'object') throw new TypeError('Trainer: data must be { train, test? }');
    checkOptions(data, ['train', 'test'], 'Trainer: data');
    this.o = options;
    this.model = model;
    this.communicator = options.communicator ?? getCommunicator('Trainer');
    this.optimizer =
      optimizer instanceof DistributedOptimizer ? optimizer : new DistributedOptimizer(optimizer, { communicator: this.comm });
    this.train = checkDataset(data.train, 'Trainer: data.train');
    this.test = data.test === undefined ? undefined : checkDataset(data.test, 'Trainer: data.test');
    this.epochs = positiveInt(options.epochs, 'epochs');
    this.batchPerWorker = positiveInt(options.batchPerWorker, 'batchPerWorker', 128);
    positiveInt(options.evalBatch, 'evalBatch', 1000);
    if (options.evalEverySteps !== undefined && options.evalEverySteps !== 0) positiveInt(options.evalEverySteps, 'evalEverySteps');
    if (options.evalSamples !== undefined) positiveInt(options.evalSamples, 'evalSamples');
    if (options.onEval !== undefined && typeof options.onEval !== 'function') throw new TypeError('Trainer: onEval must be a function');
    if (options.schedule !== undefined && typeof options.schedule !== 'function') throw new TypeError('Trainer: schedule must be a function of the step');
    this.schedule = options.schedule;
    if (options.resume && !options.checkpointDir) throw new TypeError('Trainer: resume needs checkpointDir');
    this.params = model.parameters();
    const dopt = this.optimizer;
    this.onGrad = (p) => dopt.gradReady(p);
    // Elastic training shards by position (ElasticSampler); this one only counts steps, at the
    // job's size at the start, so every worker (one that joins later too) has the same schedule.
    const elasticStart = options.elastic ? (elasticMembership()?.initialSize ?? this.comm.size) : undefined;
    this.sampler = new DistributedSampler(this.train.count, {
      rank: elasticStart !== undefined ? 0 : this.comm.rank,
      size: elasticStart ?? this.comm.size,
      shuffle: options.shuffle ?? true,
      seed: options.seed ?? 0,
    });
    this.loader = new BatchLoader(this.train, this.batchPerWorker, { dropLast: options.dropLast ?? false });
    this.loaders.set(this.batchPerWorker, this.loader);
    if (options.batchSchedule !== undefined && typeof options.batchSchedule !== 'function') {
      throw new TypeError('Trainer: batchSchedule must be a function of the epoch returning the batch per worker');
    }
    this.batchSchedule = options.batchSchedule;
    if (this.test && this.test.features !== this.train.features) {
      throw new RangeError(`Trainer: data.test has ${this.test.features} features per row, data.train ${this.train.features}`);
    }
    const width = (model as { inFeatures?: unknown }).inFeatures;
    if (typeof width === 'number' && width !== this.train.features) {
      throw new RangeError(`Trainer: the model takes ${width} features per row, data.train has ${this.train.features}`);
    }
    if (this.stepsPerEpoch === 0) {
      const k = this.optimizer.backwardPassesPerStep;
      throw new RangeError(
        `Trainer: an epoch would have no step: each of ${this.comm.size} worker(s) gets ${this.sampler.numSamples} of the ` +
          `${this.train.count} samples, ${this.loader.batchesFor(this.sampler.numSamples)} batch(es) of ${this.batchPerWorker}` +
          `${this.loader.dropLast ? ' (dropLast)' : ''}, and a step takes ${k}; use a smaller batchPerWorker`,
      );
    }
  }

  /** The communicator (in elastic training, the current generation's). */
  get comm(): Communicator {
    return this.communicator;
  }

  /** Trains to `epochs` (from a checkpoint with `resume`); resolves to the last epoch's summary. */
  async fit(): Promise<TrainSummary> {
    if (this.o.elastic) return this.fitElastic();
    await this.start();
    const k = this.optimizer.backwardPassesPerStep;
    const rank0 = this.comm.rank === 0;
    const terminal = rank0 && this.o.progress !== false ? progressTerminal() : undefined;
    const useBar = this.o.progress === true || (this.o.progress === undefined && terminal !== undefined);
    const log = this.o.log ?? ((line: string) => console.log(line));
    const dopt = this.optimizer;
    const scaler = dopt.lossScaler;
    // One options object for every pass; lossScale only with a scaler (a model may not know it).
    const passOptions: { onGrad: (p: Parameter) => void; accumulate: boolean; lossScale?: number } = { onGrad: this.onGrad, accumulate: false };
    const evalEvery = this.test ? (this.o.evalEverySteps ?? 0) : 0;
    const fitStart = performance.now();
    for (; this.epoch < this.epochs; this.epoch++, this.batchInEpoch = 0) {
      this.sampler.setEpoch(this.epoch);
      dopt.compressor.setEpoch?.(this.epoch);
      const indices = this.sampler.indices();
      const loader = this.loaderFor(this.epoch);
      const steps = Math.floor(loader.batchesFor(indices.length) / k);
      const first = Math.floor(this.batchInEpoch / k);
      const bar = useBar && terminal ? new EpochProgress(terminal, this.epoch + 1, this.epochs, steps, first) : undefined;
      const bytes0 = this.comm.bytesSent;
      const wait0 = this.optimizer.stats.totalWaitMs;
      let lossSum = 0;
      let batches = 0;
      let samples = 0;
      const t0 = performance.now();
      for (let s = first; s < steps; s++) {
        if (this.schedule) this.optimizer.lr = this.schedule(this.step);
        let stepLoss = 0;
        for (let pass = 0; pass < k; pass++) {
          const b = loader.fill(indices, s * k + pass);
          passOptions.accumulate = pass > 0;
          if (scaler) passOptions.lossScale = scaler.scale;
          const traced = timelineActive();
          const f0 = traced ? nowNs() : 0;
          const loss = this.model.lossAndGrad(b.x, b.y, b.size, passOptions);
          if (traced) traceSpan('forward + backward', TID_JS, f0, nowNs(), { step: this.step, pass, batch: b.size });
          stepLoss += loss;
          samples += b.size;
        }
        // Every rank holds the same averaged gradients, so a non-finite one (what a non-finite
        // loss on any rank leads to) stops every rank at the same step; with loss scaling the
        // step is skipped on every rank and the scale backs off.
        let applied: boolean;
        const s0 = timelineActive() ? nowNs() : 0;
        try {
          applied = await dopt.step();
          if (s0) traceSpan('wait for buckets + optimizer step', TID_JS, s0, nowNs(), { step: this.step });
        } catch (err) {
          bar?.stop();
          if (err instanceof DtrainError && err.code === 'ERR_DTRAIN_NONFINITE') {
            err.message = `${err.message} (epoch ${this.epoch + 1}, step ${s + 1} of ${steps}, global step ${this.step + 1})`;
          }
          throw err;
        }
        // A step skipped on overflow does not count in the loss (its loss may be inf in fp16).
        if (applied) {
          lossSum += stepLoss;
          batches += k;
        }
        if (!applied && !scaler) {
          bar?.stop();
          throw new DtrainError(
            `Trainer: the averaged gradient holds inf or NaN at epoch ${this.epoch + 1}, step ${s + 1} of ${steps} ` +
              `(global step ${this.step + 1}); training stopped. Lower the learning rate, check the inputs, or enable loss scaling.`,
            'ERR_DTRAIN_NONFINITE',
          );
        }
        this.step++;
        this.batchInEpoch = (s + 1) * k;
        bar?.update(s + 1, { loss: lossSum / batches, samplesPerS: (samples * this.comm.size * 1000) / (performance.now() - t0) });
        if (evalEvery > 0 && this.step % evalEvery === 0) {
          const counts = Float64Array.from(await this.evaluateLocal(this.o.evalSamples));
          if (this.comm.size > 1) await this.comm.allreduce(counts, { op: 'sum' });
          this.o.onEval?.({ step: this.step, epoch: this.epoch + 1, test_acc: counts[0] / counts[1], wall_s: (performance.now() - fitStart) / 1000 });
        }
        const every = this.o.checkpointEverySteps ?? 0;
        if (every > 0 && this.step % every === 0 && s + 1 < steps) this.checkpoint();
      }
      const trainMs = performance.now() - t0;
      bar?.stop();
      const m = await this.epochMetrics(lossSum, batches, samples, trainMs, steps - first, bytes0, wait0, loader.batchSize);
      // The loss summed over every rank: the same on all, so all stop together.
      if (!Number.isFinite(m.train_loss)) {
        throw new DtrainError(
          `Trainer: the training loss was ${m.train_loss} in epoch ${m.epoch} while the averaged gradients stayed finite; training stopped`,
          'ERR_DTRAIN_NONFINITE',
        );
      }
      this.batchInEpoch = 0;
      this.history.push(m);
      if (this.o.checkpointDir) this.checkpoint(this.epoch + 1);
      if (rank0) {
        if (this.o.metricsFile) fs.appendFileSync(this.o.metricsFile, `${JSON.stringify(m)}\n`);
        log(
          `epoch ${m.epoch}/${this.epochs}: loss ${m.train_loss.toFixed(4)}` +
            (m.test_acc === null ? '' : `, test accuracy ${m.test_acc.toFixed(4)}`) +
            `, ${Math.round(m.samples_per_s)} samples/s, step ${m.step_ms.toFixed(2)} ms (comm wait ${m.comm_wait_ms.toFixed(2)} ms)`,
        );
      }
      this.o.onMetrics?.(m);
    }
    return this.summary();
  }

  // The elastic loop: the same step as fit()'s, with the epoch read as a stream of positions
  // (ElasticSampler) so a new membership continues where the last commit left off.
  private async fitElastic(): Promise<TrainSummary> {
    const dopt = this.optimizer;
    if (this.o.resume) throw new TypeError('Trainer: elastic training keeps its state in memory commits; it does not take resume');
    if (this.batchSchedule) throw new TypeError('Trainer: elastic training does not take a batchSchedule');
    if (dopt.backwardPassesPerStep !== 1) throw new RangeError('Trainer: elastic training takes backwardPassesPerStep 1');
    const commitEvery = positiveInt(this.o.commitEvery, 'commitEvery', 10);
    if (this.o.onReset !== undefined && typeof this.o.onReset !== 'function') throw new TypeError('Trainer: onReset must be a function');
    for (const [name, set] of [['checkpointDir', this.o.checkpointDir !== undefined], ['evalEverySteps', (this.o.evalEverySteps ?? 0) > 0], ['dropLast', this.o.dropLast === true]] as const) {
      if (set) throw new TypeError(`Trainer: elastic training does not take ${name} (its state lives in memory commits; see docs/elastic.md)`);
    }
    const sampler = new ElasticSampler(this.train.count, { shuffle: this.sampler.shuffle, seed: this.sampler.seed });
    const n = this.train.count;
    const b = this.batchPerWorker;
    const baseLr = dopt.lr;
    const scaler = dopt.lossScaler;
    // Synced from the rank with the latest commit, so a worker that joins takes the job's rate.
    const extra: ElasticProgress = { position: 0, step: 0, skipped: 0, initialSize: this.sampler.size, baseLr: dopt.lr, history: [] };
    const state = new State({ params: this.params, optimizer: dopt, scaler, extra: extra as unknown as Record<string, unknown> });
    if (this.o.onReset) state.onReset(this.o.onReset);
    const log = this.o.log ?? ((line: string) => console.log(line));
    const passOptions: { onGrad: (p: Parameter) => void; accumulate: boolean; lossScale?: number } = { onGrad: this.onGrad, accumulate: false };
    await elasticRun(state, async (st) => {
      this.communicator = getCommunicator('Trainer');
      const comm = this.comm;
      const x = st.extra as unknown as ElasticProgress;
      await this.checkSettings();
      dopt.skippedSteps = x.skipped;
      this.history = x.history;
      const who = elasticMembership();
      const ledger = this.o.sampleLedger ? `${this.o.sampleLedger}.${who?.id ?? `w${comm.rank}`}` : undefined;
      if (ledger && who && who.generation > 0) fs.appendFileSync(ledger, `${JSON.stringify({ reset: who.generation, step: x.step })}\n`);
      // The linear scaling rule over the workers there are now; the schedule follows the samples
      // seen, in steps of the starting global batch, so a smaller job does not run it faster.
      const lrScale = comm.size / x.initialSize;
      while (st.epoch < this.epochs) {
        this.epoch = st.epoch;
        const perm = sampler.permutation(st.epoch);
        dopt.compressor.setEpoch?.(st.epoch);
        const bytes0 = comm.bytesSent;
        const wait0 = dopt.stats.totalWaitMs;
        let lossSum = 0;
        let batches = 0;
        let samples = 0;
        let steps = 0;
        const t0 = performance.now();
        while (x.position < n) {
          const { end, from, to } = sampler.step(x.position, comm.rank, comm.size, b);
          const seen = Math.floor((st.epoch * n + x.position) / (b * x.initialSize));
          dopt.lr = (this.schedule ? this.schedule(seen) : x.baseLr) * lrScale;
          // Written before the gradients leave (buckets start during backward), so every step
          // whose update some rank may have applied is in the ledger.
          if (ledger) fs.appendFileSync(ledger, `${JSON.stringify({ g: who?.generation ?? 0, s: x.step + 1, e: st.epoch, i: Array.from(perm.subarray(from, to)) })}\n`);
          if (to > from) {
            const batch = this.loader.fill(perm.subarray(from, to), 0);
            if (scaler) passOptions.lossScale = scaler.scale;
            lossSum += this.model.lossAndGrad(batch.x, batch.y, batch.size, passOptions);
            samples += batch.size;
            batches++;
          } else {
            // Fewer samples left than ranks: this rank's share of the step is nothing.
            for (const p of this.params) {
              p.grad.fill(0);
              this.onGrad(p);
            }
          }
          const applied = await dopt.step();
          if (!applied && !scaler) {
            throw new DtrainError(
              `Trainer: the averaged gradient holds inf or NaN at epoch ${st.epoch + 1}, global step ${x.step + 1}; training stopped. Lower the learning rate, check the inputs, or enable loss scaling.`,
              'ERR_DTRAIN_NONFINITE',
            );
          }
          x.step++;
          if (!applied) x.skipped++;
          x.position = end;
          st.batch++;
          this.step = x.step;
          steps++;
          // The epoch's last step is committed with its metrics, below: a failure in between
          // redoes the step rather than report an epoch of no samples.
          if (x.step % commitEvery === 0 && x.position < n) await st.commit();
        }
        const m = await this.epochMetrics(lossSum, batches, samples, performance.now() - t0, steps, bytes0, wait0, b);
        if (!Number.isFinite(m.train_loss)) {
          throw new DtrainError(`Trainer: the training loss was ${m.train_loss} in epoch ${m.epoch} while the averaged gradients stayed finite; training stopped`, 'ERR_DTRAIN_NONFINITE');
        }
        x.history.push(m);
        if (comm.rank === 0) {
          if (this.o.metricsFile) fs.appendFileSync(this.o.metricsFile, `${JSON.stringify(m)}\n`);
          log(
            `epoch ${m.epoch}/${this.epochs}: loss ${m.train_loss.toFixed(4)}` +
              (m.test_acc === null ? '' : `, test accuracy ${m.test_acc.toFixed(4)}`) +
              `, ${comm.size} worker(s), ${Math.round(m.samples_per_s)} samples/s`,
          );
        }
        this.o.onMetrics?.(m);
        st.epoch++;
        st.batch = 0;
        x.position = 0;
        await st.commit();
      }
    });
    this.history = (state.extra as unknown as ElasticProgress).history;
    return { ...this.summary(), resets: recoveryStats().resets };
  }

  /** Optimizer steps per epoch (the same on every rank), at the first epoch's batch. */
  get stepsPerEpoch(): number {
    return this.stepsInEpoch(0);
  }

  /** Optimizer steps in epoch `epoch` (0-based), whose batch `batchSchedule` may have changed. */
  stepsInEpoch(epoch: number): number {
    return Math.floor(this.loaderFor(epoch).batchesFor(this.sampler.numSamples) / this.optimizer.backwardPassesPerStep);
  }

  /** The batch per worker in epoch `epoch` (0-based). */
  batchInEpochOf(epoch: number): number {
    return this.loaderFor(epoch).batchSize;
  }

  private loaderFor(epoch: number): BatchLoader {
    if (!this.batchSchedule) return this.loader;
    const b = this.batchSchedule(epoch);
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 1) {
      throw new RangeError(`Trainer: batchSchedule(${epoch}) must return a positive integer batch per worker, got ${String(b)}`);
    }
    let l = this.loaders.get(b);
    if (!l) {
      l = new BatchLoader(this.train, b, { dropLast: this.loader.dropLast });
      this.loaders.set(b, l);
    }
    return l;
  }

  /** The metrics of every epoch trained by this fit(). */
  get metrics(): readonly EpochMetrics[] {
    return this.history;
  }

  private summary(): TrainSummary {
    const last = this.history[this.history.length - 1];
    const precision = this.model.precision ?? 'fp32';
    return {
      np: this.comm.size,
      epochs: this.epochs,
      steps: this.step,
      updates: last?.updates ?? 0,
      skipped_steps: last?.skipped_steps ?? 0,
      loss_scale: this.optimizer.lossScaler?.scale ?? 1,
      precision: precision === 'fp16' && this.optimizer.lossScaler ? 'mixed' : precision,
      compression: this.optimizer.compressor.name,
      batch_per_worker: last?.batch_per_worker ?? this.batchPerWorker,
      test_acc: last?.test_acc ?? null,
      train_loss: last?.train_loss ?? NaN,
      samples_per_s: last?.samples_per_s ?? 0,
      step_ms: last?.step_ms ?? 0,
      comm_wait_ms: last?.comm_wait_ms ?? 0,
      bytes_sent_per_step: last?.bytes_sent_per_step ?? 0,
    };
  }

  // The settings every rank must share (a rank with another batch or seed would average
  // mismatched gradients, or read overlapping shards, without any collective noticing).
  private settings(): [string, number][] {
    return [
      ['batchPerWorker', this.batchPerWorker],
      ['backwardPassesPerStep', this.optimizer.backwardPassesPerStep],
      ['seed', this.sampler.seed],
      ['shuffle', this.sampler.shuffle ? 1 : 0],
      ['dropLast', this.loader.dropLast ? 1 : 0],
      ['epochs', this.epochs],
      ['data.train.count', this.train.count],
      ['data.test.count', this.test?.count ?? -1],
      ['resume', this.o.resume ? 1 : 0],
      // A worker that joins an elastic job builds its schedule itself: it must be the same one.
      ...(this.o.elastic && this.schedule ? [0, 97, 1000, 10007].map((t): [string, number] => [`schedule(${t})`, (this.schedule as Schedule)(t)]) : []),
      ...Array.from({ length: this.batchSchedule ? this.epochs : 0 }, (_, e): [string, number] => [`batchSchedule(${e})`, this.loaderFor(e).batchSize]),
    ];
  }

  // What a position in an epoch means: the same samples only with the same number of ranks,
  // batch (per epoch, with a batch schedule), passes per step and dropLast.
  private layout(): CheckpointState['layout'] {
    return {
      np: this.comm.size,
      batchPerWorker: this.batchPerWorker,
      backwardPassesPerStep: this.optimizer.backwardPassesPerStep,
      dropLast: this.loader.dropLast,
      batchSchedule: this.batchSchedule ? Array.from({ length: this.epochs }, (_, e) => this.loaderFor(e).batchSize).join(',') : 'none',
    };
  }

  private async checkSettings(): Promise<void> {
    const comm = this.comm;
    if (comm.size > 1) {
      const mine = this.settings();
      const all = await comm.allgather(Float64Array.from(mine, ([, v]) => v));
      const n = mine.length;
      for (let f = 0; f < n; f++) {
        const values = Array.from({ length: comm.size }, (_, r) => all[r * n + f]);
        if (values.some((v) => v !== values[0])) {
          throw new DtrainError(
            `Trainer: the ranks disagree on ${mine[f][0]}: ${values.map((v, r) => `rank ${r} has ${v}`).join(', ')}; every rank must train with the same settings`,
            'ERR_DTRAIN_MISMATCH',
            values.map((v, r) => (v !== values[0] ? r : -1)).filter((r) => r >= 0),
          );
        }
      }
    }
  }

  // Resume (rank 0 reads the checkpoint and tells every rank how it went) and the initial
  // broadcast from rank 0 of parameters, optimizer state and the position in training.
  private async start(): Promise<void> {
    const comm = this.comm;
    await this.checkSettings();
    // [status: 1 resumed, 0 nothing to resume, -1 failed; epoch; batch; step]
    const position = new Float64Array(4);
    let failure = '';
    if (this.o.resume && comm.rank === 0) {
      try {
        const found = loadCheckpoint(this.o.checkpointDir as string);
        if (found) {
          this.restore(found.state as CheckpointState, found.file);
          position.set([1, this.epoch, this.batchInEpoch, this.step]);
          (this.o.log ?? console.log)(`resumed from ${found.file}: epoch ${this.epoch + 1}, batch ${this.batchInEpoch}, step ${this.step}`);
        }
      } catch (err) {
        position[0] = -1;
        failure = (err as Error).message;
      }
    }
    if (comm.size > 1) {
      await comm.broadcast(position, 0);
      if (position[0] === -1) failure = await broadcastString(comm.rank === 0 ? failure : undefined, 0, comm);
    }
    if (position[0] === -1) throw new Error(failure);
    [, this.epoch, this.batchInEpoch, this.step] = Array.from(position);
    if (position[0] === 1) {
      // Whether per-rank compressor files were saved: rank 0 read it from the checkpoint.
      const flag = Float64Array.of(this.compressorSaved ? 1 : 0);
      if (comm.size > 1) await comm.broadcast(flag, 0);
      await this.restoreCompressor(flag[0] === 1);
      if (this.optimizer.lossScaler && comm.size > 1) {
        const sc = this.optimizer.lossScaler;
        const st = Float64Array.of(sc.scale, sc.growthTracker, sc.updates, sc.skipped, this.optimizer.skippedSteps);
        await comm.broadcast(st, 0);
        sc.loadStateDict({ ...sc.stateDict(), scale: st[0], growthTracker: st[1], updates: st[2], skipped: st[3] });
        this.optimizer.skippedSteps = st[4];
      }
    }
    if (comm.size > 1) {
      await broadcastParameters(this.params, 0, { communicator: comm });
      await broadcastOptimizerState(this.optimizer, 0, { communicator: comm });
    }
  }

  // A compressor's state is each rank's own (error feedback, DGC's accumulators): every rank
  // saves and restores its file, stamped with the step so a file from another save is refused.
  private compressorFile(): string {
    return path.join(this.o.checkpointDir as string, `compressor-rank${this.comm.rank}.dtc`);
  }

  private async restoreCompressor(saved: boolean): Promise<void> {
    const c = this.optimizer.compressor;
    if (!saved || !c.loadStateDict) return;
    let failure = '';
    try {
      const found = loadCheckpointFile(this.compressorFile());
      const saved = found?.state as { step?: number; state?: Record<string, unknown> } | undefined;
      if (!saved) throw new Error(`${this.compressorFile()}: missing; the compressor's state was not saved with this checkpoint`);
      if (saved.step !== this.step) throw new Error(`${this.compressorFile()}: saved at step ${saved.step}, the checkpoint at step ${this.step}`);
      if (saved.state) c.loadStateDict(saved.state);
    } catch (err) {
      failure = `rank ${this.comm.rank}: ${(err as Error).message}`;
    }
    // Agreed, so no rank carries on alone.
    const bad = Float64Array.of(failure ? 1 : 0);
    if (this.comm.size > 1) await this.comm.allreduce(bad, { op: 'max' });
    if (failure) throw new Error(failure);
    if (bad[0] > 0) throw new Error('Trainer: another rank could not restore its compressor state; see its error');
  }

  private checkpoint(completedEpochs?: number): void {
    if (!this.o.checkpointDir) return;
    const compressorState = this.optimizer.compressor.stateDict?.();
    if (compressorState !== undefined) saveCheckpointFile(this.compressorFile(), { step: this.step, state: compressorState });
    if (this.comm.rank !== 0) return;
    const state: CheckpointState = {
      format: 'dtrain.trainer/1',
      epoch: completedEpochs ?? this.epoch,
      batchInEpoch: completedEpochs !== undefined ? 0 : this.batchInEpoch,
      step: this.step,
      sampler: { seed: this.sampler.seed, shuffle: this.sampler.shuffle, n: this.sampler.n },
      layout: this.layout(),
      params: Object.fromEntries(this.params.map((p) => [p.name, p.data])),
      optimizer: this.optimizer.stateDict() as unknown as Record<string, unknown>,
      compressor: compressorConfig(this.optimizer.compressor),
      compressorState: compressorState !== undefined,
      lossScaler: (this.optimizer.lossScaler?.stateDict() as unknown as Record<string, unknown>) ?? null,
      skippedSteps: this.optimizer.skippedSteps,
      history: this.history as unknown as Record<string, unknown>[],
    };
    saveCheckpoint(this.o.checkpointDir, state);
  }

  // Checks the whole checkpoint against this model and optimizer before changing anything.
  private restore(s: CheckpointState, file: string): void {
    const bad = (why: string) => new Error(`${file}: ${why}; not loaded (nothing was changed)`);
    if (s === null || typeof s !== 'object' || s.format !== 'dtrain.trainer/1') throw bad('not a Trainer checkpoint');
    const saved = s.params ?? {};
    const names = Object.keys(saved);
    if (names.length !== this.params.length) throw bad(`it holds ${names.length} parameters, the model has ${this.params.length}`);
    for (const p of this.params) {
      const t = saved[p.name];
      if (!(t instanceof Float32Array)) throw bad(`it has no parameter '${p.name}' (it has ${names.slice(0, 6).join(', ')}...)`);
      if (t.length !== p.data.length) throw bad(`parameter '${p.name}' has ${t.length} elements there, ${p.data.length} in the model`);
    }
    if (s.sampler?.n !== this.train.count || s.sampler.seed !== this.sampler.seed || s.sampler.shuffle !== this.sampler.shuffle) {
      throw bad(`it was trained on ${s.sampler?.n} samples with seed ${s.sampler?.seed}; this run has ${this.train.count} with seed ${this.sampler.seed}`);
    }
    // The position in an epoch is a batch index: it means the same samples only with the same
    // number of ranks, batch, passes per step and dropLast.
    for (const [key, want] of Object.entries(this.layout())) {
      const saved = s.layout as Record<string, unknown> | undefined;
      // Checkpoints of the training issue had no batch schedule.
      const had = key === 'batchSchedule' && saved && !(key in saved) ? 'none' : saved?.[key];
      if (had !== want) throw bad(`it was saved with ${key} ${String(had)}; this run has ${String(want)} (resume with the same settings)`);
    }
    const config = compressorConfig(this.optimizer.compressor);
    // Checkpoints of the training issue named the compressor ('none' or null) instead.
    const savedConfig = s.compressor === null || s.compressor === undefined ? 'none' : s.compressor;
    if (savedConfig !== config) throw bad(`it was saved with compression '${savedConfig}'; this run uses '${config}'`);
    const scaler = this.optimizer.lossScaler;
    if (!!scaler !== !!s.lossScaler) throw bad(`it was saved ${s.lossScaler ? 'with' : 'without'} a loss scaler; this run has ${scaler ? 'one' : 'none'}`);
    if (scaler && s.lossScaler) {
      try {
        scaler.loadStateDict(s.lossScaler as never);
      } catch (err) {
        throw bad(`loss scaler: ${(err as Error).message}`);
      }
    }
    for (const [v, name] of [[s.epoch, 'epoch'], [s.batchInEpoch, 'batchInEpoch'], [s.step, 'step']] as const) {
      if (!Number.isInteger(v) || v < 0) throw bad(`${name} is not a count`);
    }
    try {
      // Checks everything it takes before it changes anything.
      this.optimizer.loadStateDict(s.optimizer as never);
    } catch (err) {
      throw bad(`optimizer state: ${(err as Error).message}`);
    }
    for (const p of this.params) p.data.set(saved[p.name]);
    this.compressorSaved = s.compressorState ?? s.compressor !== null;
    this.optimizer.skippedSteps = s.skippedSteps ?? 0;
    this.epoch = s.epoch;
    this.batchInEpoch = s.batchInEpoch;
    this.step = s.step;
    this.history = (s.history as unknown as EpochMetrics[]) ?? [];
  }

  // Sums over ranks (loss, wait, bytes) and the sharded evaluation.
  private async epochMetrics(
    lossSum: number,
    batches: number,
    samples: number,
    trainMs: number,
    steps: number,
    bytes0: number,
    wait0: number,
    batch: number,
  ): Promise<EpochMetrics> {
    const waitMs = this.optimizer.stats.totalWaitMs - wait0;
    const bytes = this.comm.bytesSent - bytes0;
    const sums = Float64Array.of(lossSum, batches, waitMs, bytes, ...(await this.evaluateLocal()));
    await this.comm.allreduce(sums, { op: 'sum' });
    const np = this.comm.size;
    const stepsDone = Math.max(steps, 1);
    return {
      epoch: this.epoch + 1,
      steps: this.step,
      updates: this.step - this.optimizer.skippedSteps,
      skipped_steps: this.optimizer.skippedSteps,
      loss_scale: this.optimizer.lossScaler?.scale ?? 1,
      batch_per_worker: batch,
      train_loss: sums[1] > 0 ? sums[0] / sums[1] : NaN,
      test_acc: this.test ? sums[4] / sums[5] : null,
      samples_per_s: trainMs > 0 ? (samples * np * 1000) / trainMs : 0,
      step_ms: trainMs / stepsDone,
      comm_wait_ms: sums[2] / np / stepsDone,
      bytes_sent_per_step: sums[3] / np / stepsDone,
      lr: this.optimizer.lr,
      epoch_s: trainMs / 1000,
      rss_mib: process.memoryUsage().rss / 2 ** 20,
    };
  }

  // This rank's share of the test set (rows rank, rank + size, ...): [correct, count].
  private async evaluateLocal(rows?: number): Promise<[number, number]> {
    const test = this.test;
    if (!test) return [0, 0];
    const { rank, size } = this.comm;
    const n = Math.min(rows ?? test.count, test.count);
    const mine = new Int32Array(Math.max(0, Math.ceil((n - rank) / size)));
    for (let i = 0; i < mine.length; i++) mine[i] = rank + i * size;
    const loader = new BatchLoader(test, this.o.evalBatch ?? 1000);
    let correct = 0;
    for (const b of loader.epoch(mine)) correct += this.countCorrect(b.x, b.y, b.size, test.classes);
    return [correct, mine.length];
  }

  private countCorrect(x: Float32Array, y: Int32Array, batch: number, classes: number): number {
    if (this.model.countCorrect) return this.model.countCorrect(x, y, batch);
    if (!this.model.forward) throw new TypeError('Trainer: evaluating needs model.countCorrect() or model.forward()');
    const logits = this.model.forward(x, batch);
    const width = logits.length / batch;
    let correct = 0;
    for (let i = 0; i < batch; i++) {
      let best = 0;
      for (let j = 1; j < width; j++) if (logits[i * width + j] > logits[i * width + best]) best = j;
      if (best === y[i] && best < classes) correct++;
    }
    return correct;
  }
}

/** What elastic training commits besides parameters and optimizer: where it is in the data. */
interface ElasticProgress {
  /** Samples of the current epoch's permutation consumed so far (all ranks together). */
  position: number;
  step: number;
  skipped: number;
  /** Workers at the start: the learning rate scales by workers now / this. */
  initialSize: number;
  /** The learning rate without a schedule (rank 0's at the start). */
  baseLr: number;
  history: EpochMetrics[];
}

interface CheckpointState {
  format: string;
  epoch: number;
  batchInEpoch: number;
  step: number;
  sampler: { seed: number; shuffle: boolean; n: number };
  /** What the position in an epoch means: the same samples only with these settings. */
  layout: { np: number; batchPerWorker: number; backwardPassesPerStep: number; dropLast: boolean; batchSchedule?: string };
  params: Record<string, Float32Array>;
  optimizer: Record<string, unknown>;
  /** The compressor's configuration (`Compressor.config`); null in the training issue's checkpoints. */
  compressor: string | null;
  /** Whether each rank saved its compressor's state in compressor-rank<r>.dtc beside this file. */
  compressorState?: boolean;
  /** The LossScaler's state dict, or null without one. */
  lossScaler: Record<string, unknown> | null;
  skippedSteps?: number;
  history: Record<string, unknown>[];
}
