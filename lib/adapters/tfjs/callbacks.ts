import type * as tfc from '@tensorflow/tfjs-core';
import type { Communicator } from '../../comm/communicator';
import { getCommunicator } from '../../comm/world';
import { checkSameSettings } from '../../train/fingerprint';
import { EpochProgress, progressTerminal } from '../../train/progress';
import { tfjs } from './load';
import { DistributedOptimizer } from './optimizer';
import { broadcastOptimizerWeights, broadcastWeights } from './weights';

const { core: tf, layers: tfl } = tfjs();

type Logs = Record<string, number | tfc.Scalar>;

/** Options of the callbacks. */
export interface CallbackOptions {
  /** The communicator; default the one `dtrain.init()` created. */
  communicator?: Communicator;
}

/**
 * Broadcasts the model's weights from `root` when training begins, so every rank starts from
 * the same model (Horovod's `BroadcastGlobalVariablesCallback`), and the optimizer's state:
 * at the start when root's optimizer already has slots (a resumed run), else after the first
 * batch, once they exist. It also tells a {@link DistributedOptimizer} each epoch as it begins
 * (DGC's warm-up). Pass it to `model.fit` / `fitDataset` on every rank.
 */
export class BroadcastWeightsCallback extends tfl.Callback {
  readonly root: number;
  private readonly comm: Communicator;
  private optimizerPending = false;

  constructor(root = 0, options: CallbackOptions = {}) {
    super();
    this.comm = options.communicator ?? getCommunicator('BroadcastWeightsCallback');
    if (!Number.isInteger(root) || root < 0 || root >= this.comm.size) {
      throw new RangeError(`BroadcastWeightsCallback: root must be an integer in [0, ${this.comm.size}), got ${String(root)}`);
    }
    this.root = root;
  }

  override async onTrainBegin(): Promise<void> {
    await broadcastWeights(this.model, this.root, { communicator: this.comm });
    const opt = this.model.optimizer;
    // Only the step count (one tensor) means no slots yet: they appear with the first update.
    this.optimizerPending = !!opt && (await broadcastOptimizerWeights(opt, this.root, { communicator: this.comm })) <= 1;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    const opt = this.model.optimizer;
    if (opt instanceof DistributedOptimizer) opt.setEpoch(epoch);
  }

  override async onBatchEnd(): Promise<void> {
    if (!this.optimizerPending) return;
    this.optimizerPending = false;
    await broadcastOptimizerWeights(this.model.optimizer, this.root, { communicator: this.comm });
  }
}

/**
 * Averages the epoch's logged metrics (loss, accuracy, validation metrics) across ranks, so
 * every rank reports the global values (Horovod's `MetricAverageCallback`). Put it before any
 * callback that reads the metrics (early stopping, a logger); `fit`'s returned History gets
 * the averages either way.
 */
export class MetricAverageCallback extends tfl.Callback {
  private readonly comm: Communicator;

  constructor(options: CallbackOptions = {}) {
    super();
    this.comm = options.communicator ?? getCommunicator('MetricAverageCallback');
  }

  override async onEpochEnd(_epoch: number, logs?: Logs): Promise<void> {
    if (!logs || this.comm.size === 1) return;
    const keys = Object.keys(logs).sort();
    checkSameSettings(`metrics ${keys.join(',')}`, this.comm, 'MetricAverageCallback', 'Every rank must compile the model with the same metrics.');
    const values = new Float64Array(keys.length);
    const scalars: tfc.Tensor[] = [];
    for (let i = 0; i < keys.length; i++) {
      const v = logs[keys[i]];
      if (typeof v === 'number') values[i] = v;
      else {
        values[i] = (await v.data())[0];
        scalars.push(v);
      }
    }
    await this.comm.allreduce(values, { op: 'avg' });
    keys.forEach((k, i) => (logs[k] = values[i]));
    // The scalars were replaced by numbers; as tfjs's own log resolution does, free them.
    tf.dispose(scalars);
  }
}

/**
 * A progress bar per epoch on rank 0 (steps, rank 0's loss, all workers' samples/s, ETA), drawn on the
 * terminal when there is one (through `dtrain run` too) and otherwise silent, as the Trainer's.
 * Give it to `fit` on every rank; only rank 0 draws.
 */
export class ProgressBarCallback extends tfl.Callback {
  private readonly stream: NodeJS.WriteStream | undefined;
  private bar: EpochProgress | undefined;
  private start = 0;
  private seen = 0;
  private loss = NaN;
  private readonly size: number;

  constructor(options: CallbackOptions = {}) {
    super();
    const comm = options.communicator ?? getCommunicator('ProgressBarCallback');
    this.size = comm.size;
    this.stream = comm.rank === 0 ? progressTerminal() : undefined;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    const p = this.params as { epochs?: number; steps?: number | null; samples?: number | null; batchSize?: number };
    const steps = p.steps ?? (p.samples && p.batchSize ? Math.ceil(p.samples / p.batchSize) : undefined);
    if (!this.stream || !steps) return;
    this.bar = new EpochProgress(this.stream, epoch + 1, p.epochs ?? epoch + 1, steps, 0);
    this.start = performance.now();
    this.seen = 0;
  }

  override async onBatchEnd(batch: number, logs?: Logs): Promise<void> {
    if (!this.bar) return;
    this.seen += typeof logs?.size === 'number' ? logs.size : 0;
    // Reading the loss waits for the step's kernels; every 10th batch is enough for a bar.
    const loss = logs?.loss;
    if (batch % 10 === 0 && loss !== undefined) this.loss = typeof loss === 'number' ? loss : (await loss.data())[0];
    this.bar.update(batch + 1, { loss: this.loss, samplesPerS: (this.seen * this.size * 1000) / Math.max(1, performance.now() - this.start) });
  }

  override async onEpochEnd(): Promise<void> {
    this.bar?.stop();
    this.bar = undefined;
  }
}
