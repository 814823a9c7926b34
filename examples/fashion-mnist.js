// Trains the reference MLP (784-512-256-10, ReLU) on Fashion-MNIST with synchronous
// data-parallel SGD: the README's main job.
//   npx dtrain run -np 2 examples/fashion-mnist.js [--epochs N] [--json] ...
//   node examples/fashion-mnist.js            (a job of one)
// The last line rank 0 prints is one JSON object: {np, epochs, steps, updates, skipped_steps,
// loss_scale, precision, compression, batch_per_worker, test_acc, train_loss, samples_per_s, step_ms,
// comm_wait_ms, bytes_sent_per_step, optimizer, lr, global_batch, batch_schedule, mode, wall_s}.
// With parameter servers (docs/async.md):
//   npx dtrain run -np 4 --servers 2 examples/fashion-mnist.js --mode ps-async|ps-sync|ssp [--staleness S]
// and the summary adds {mode, servers, staleness, wall_s, updates, mean_staleness, ...}.
'use strict';
const { parseArgs } = require('node:util');
const dtrain = require('..');
const { trainWithServers } = require('./ps-train');

const { nn, optim, data, amp, compress } = dtrain;

const USAGE = `usage: fashion-mnist.js [--epochs N] [--batch-per-worker B] [--lr LR] [--momentum M]
  [--weight-decay WD] [--optimizer sgd|lars] [--schedule cosine|constant|poly|onecycle|step]
  [--warmup-epochs E] [--decay-epochs E1,E2,..] [--decay-factor F] [--batch-schedule]
  [--precision fp32|mixed|bf16] [--compression none|fp16|dgc|qsgd|terngrad|onebit]
  [--dgc-density D] [--dgc-warmup D1,D2,..] [--dgc-clip NORM] [--qsgd-levels S] [--no-error-feedback]
  [--onebit-chunk N] [--lars-exclude none|1d]
  [--algorithm A] [--fusion-threshold BYTES]
  [--checkpoint DIR] [--resume] [--seed S] [--json] [--no-progress]
  [--mode allreduce|ps-sync|ps-async|ssp] [--staleness S] [--staleness-lr] [--servers K]
  [--slow-rank R] [--slow-factor F] [--eval-every STEPS] [--eval-samples N]
  [--elastic] [--commit-every STEPS] [--sample-ledger FILE]`;

const MODES = ['allreduce', 'ps-sync', 'ps-async', 'ssp'];

const PRECISIONS = ['fp32', 'mixed', 'bf16'];

function options() {
  const { values } = parseArgs({
    options: {
      epochs: { type: 'string', default: '15' },
      'batch-per-worker': { type: 'string', default: '128' },
      lr: { type: 'string' },
      momentum: { type: 'string' },
      'weight-decay': { type: 'string' },
      optimizer: { type: 'string', default: 'sgd' },
      schedule: { type: 'string', default: 'cosine' },
      'warmup-epochs': { type: 'string', default: '0' },
      'decay-epochs': { type: 'string' },
      'decay-factor': { type: 'string', default: '10' },
      'batch-schedule': { type: 'boolean', default: false },
      precision: { type: 'string', default: 'fp32' },
      compression: { type: 'string', default: 'none' },
      'dgc-density': { type: 'string' },
      'dgc-warmup': { type: 'string' },
      'dgc-clip': { type: 'string' },
      'qsgd-levels': { type: 'string' },
      'no-error-feedback': { type: 'boolean', default: false },
      'onebit-chunk': { type: 'string' },
      'lars-exclude': { type: 'string', default: 'none' },
      algorithm: { type: 'string' },
      'fusion-threshold': { type: 'string' },
      checkpoint: { type: 'string' },
      resume: { type: 'boolean', default: false },
      seed: { type: 'string', default: '0' },
      json: { type: 'boolean', default: false },
      'no-progress': { type: 'boolean', default: false },
      mode: { type: 'string', default: 'allreduce' },
      staleness: { type: 'string' },
      'staleness-lr': { type: 'boolean', default: false },
      servers: { type: 'string' },
      'slow-rank': { type: 'string' },
      'slow-factor': { type: 'string', default: '3' },
      'eval-every': { type: 'string', default: '0' },
      'eval-samples': { type: 'string' },
      elastic: { type: 'boolean', default: false },
      'commit-every': { type: 'string' },
      'sample-ledger': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const num = (name, integer) => {
    const v = Number(values[name]);
    if (values[name] === undefined) return undefined;
    if (!Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw new RangeError(`--${name} must be ${integer ? 'an integer' : 'a number'}, got '${values[name]}'\n${USAGE}`);
    }
    return v;
  };
  if (values.optimizer !== 'sgd' && values.optimizer !== 'lars') {
    throw new RangeError(`--optimizer must be sgd or lars, got '${values.optimizer}'\n${USAGE}`);
  }
  if (!['cosine', 'constant', 'poly', 'onecycle', 'step'].includes(values.schedule)) {
    throw new RangeError(`--schedule must be cosine, constant, poly, onecycle or step, got '${values.schedule}'\n${USAGE}`);
  }
  if (!PRECISIONS.includes(values.precision)) {
    throw new RangeError(`--precision must be ${PRECISIONS.join(', ')}, got '${values.precision}'\n${USAGE}`);
  }
  if (!compress.compressorNames().includes(values.compression)) {
    throw new RangeError(`--compression must be one of ${compress.compressorNames().join(', ')}, got '${values.compression}'\n${USAGE}`);
  }
  const list = (name) => {
    if (values[name] === undefined) return undefined;
    const xs = values[name].split(',').filter((x) => x !== '').map(Number);
    if (xs.some((x) => !Number.isFinite(x))) throw new RangeError(`--${name} must be numbers separated by commas, got '${values[name]}'\n${USAGE}`);
    return xs;
  };
  if (!['none', '1d'].includes(values['lars-exclude'])) throw new RangeError(`--lars-exclude must be none or 1d, got '${values['lars-exclude']}'\n${USAGE}`);
  const decayEpochs = list('decay-epochs');
  if (values.schedule === 'step' && !decayEpochs) throw new RangeError(`--schedule step needs --decay-epochs E1,E2,..\n${USAGE}`);
  if (values['batch-schedule'] && values.schedule !== 'step') {
    throw new RangeError(`--batch-schedule grows the batch at --schedule step's decay points; give --schedule step --decay-epochs E1,E2,..\n${USAGE}`);
  }
  for (const [flag, needs] of [['dgc-density', 'dgc'], ['dgc-warmup', 'dgc'], ['dgc-clip', 'dgc'], ['qsgd-levels', 'qsgd'], ['no-error-feedback', 'onebit'], ['onebit-chunk', 'onebit']]) {
    if (values[flag] !== undefined && values[flag] !== false && values.compression !== needs) {
      throw new RangeError(`--${flag} applies to --compression ${needs}, not ${values.compression}\n${USAGE}`);
    }
  }
  for (const name of ['epochs', 'batch-per-worker']) {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`--${name} must be a positive integer, got '${values[name]}'\n${USAGE}`);
  }
  const warm = Number(values['warmup-epochs']);
  if (!(warm >= 0 && warm < Number(values.epochs))) {
    throw new RangeError(`--warmup-epochs must be >= 0 and less than --epochs (${values.epochs}), got '${values['warmup-epochs']}'\n${USAGE}`);
  }
  if (values.resume && !values.checkpoint) throw new RangeError(`--resume needs --checkpoint DIR\n${USAGE}`);
  if (!MODES.includes(values.mode)) throw new RangeError(`--mode must be ${MODES.join(', ')}, got '${values.mode}'\n${USAGE}`);
  const ps = values.mode !== 'allreduce';
  if (values.staleness !== undefined && values.mode !== 'ssp') throw new RangeError(`--staleness applies to --mode ssp, not ${values.mode}\n${USAGE}`);
  if (values.staleness !== undefined && !(Number.isInteger(Number(values.staleness)) && Number(values.staleness) >= 0)) {
    throw new RangeError(`--staleness must be an integer >= 0, got '${values.staleness}'\n${USAGE}`);
  }
  if (!ps) {
    for (const flag of ['staleness-lr', 'servers']) {
      if (values[flag] !== undefined && values[flag] !== false) throw new RangeError(`--${flag} applies to the parameter-server modes (--mode ps-sync, ps-async, ssp)\n${USAGE}`);
    }
  } else {
    for (const flag of ['checkpoint', 'batch-schedule', 'precision']) {
      if (values[flag] !== undefined && values[flag] !== false && !(flag === 'precision' && values[flag] === 'fp32')) {
        throw new RangeError(`--${flag} is not supported with --mode ${values.mode} (the servers hold fp32 parameters and no checkpoint)\n${USAGE}`);
      }
    }
  }
  if (values.servers !== undefined && !(Number.isInteger(Number(values.servers)) && Number(values.servers) >= 0)) {
    throw new RangeError(`--servers must be a whole number, got '${values.servers}'\n${USAGE}`);
  }
  if (values.elastic) {
    if (ps) throw new RangeError(`--elastic trains with all-reduce; it does not take --mode ${values.mode}\n${USAGE}`);
    for (const flag of ['resume', 'batch-schedule']) {
      if (values[flag]) throw new RangeError(`--${flag} is not supported with --elastic (its state lives in in-memory commits)\n${USAGE}`);
    }
  } else {
    for (const flag of ['commit-every', 'sample-ledger']) {
      if (values[flag] !== undefined) throw new RangeError(`--${flag} applies to --elastic\n${USAGE}`);
    }
  }
  for (const name of ['slow-factor']) {
    if (!(Number(values[name]) >= 1)) throw new RangeError(`--${name} must be a number >= 1, got '${values[name]}'\n${USAGE}`);
  }
  for (const name of ['eval-every', 'slow-rank']) {
    if (values[name] !== undefined && !(Number.isInteger(Number(values[name])) && Number(values[name]) >= 0)) {
      throw new RangeError(`--${name} must be an integer >= 0, got '${values[name]}'\n${USAGE}`);
    }
  }
  if (values['eval-samples'] !== undefined && !(Number.isInteger(Number(values['eval-samples'])) && Number(values['eval-samples']) >= 1)) {
    throw new RangeError(`--eval-samples must be a positive integer, got '${values['eval-samples']}'\n${USAGE}`);
  }
  return {
    epochs: num('epochs', true),
    batch: num('batch-per-worker', true),
    lr: num('lr'),
    // Asynchrony acts as momentum of its own (Mitliagkas et al. 2016: about 1 - 1/N with N
    // workers), so the asynchronous modes default to less of the explicit kind.
    momentum: num('momentum') ?? (values.mode === 'ps-async' || values.mode === 'ssp' ? 0.5 : 0.9),
    weightDecay: num('weight-decay'),
    optimizer: values.optimizer,
    schedule: values.schedule,
    warmupEpochs: num('warmup-epochs'),
    decayEpochs,
    decayFactor: num('decay-factor'),
    batchSchedule: values['batch-schedule'],
    precision: values.precision,
    compression: values.compression,
    dgcDensity: num('dgc-density'),
    dgcWarmup: list('dgc-warmup'),
    dgcClip: num('dgc-clip'),
    qsgdLevels: num('qsgd-levels'),
    errorFeedback: !values['no-error-feedback'],
    onebitChunk: num('onebit-chunk', true),
    larsExclude: values['lars-exclude'],
    algorithm: values.algorithm,
    fusionThreshold: num('fusion-threshold', true),
    checkpoint: values.checkpoint,
    resume: values.resume,
    seed: num('seed', true),
    json: values.json,
    progress: values['no-progress'] ? false : undefined,
    mode: values.mode,
    staleness: values.staleness === undefined ? 2 : Number(values.staleness),
    stalenessLr: values['staleness-lr'],
    servers: num('servers', true),
    slowRank: num('slow-rank', true),
    slowFactor: num('slow-factor'),
    evalEvery: num('eval-every', true),
    evalSamples: num('eval-samples', true),
    elastic: values.elastic,
    commitEvery: num('commit-every', true),
    sampleLedger: values['sample-ledger'],
  };
}

async function main() {
  const o = options();
  await dtrain.init();
  // In an elastic job rank 0 may change (the most senior survivor), so ask each time.
  const isRank0 = () => dtrain.rank() === 0;
  const rank0 = isRank0();
  // SGD: the linear scaling rule (Goyal et al. 2017), 0.1 per 256 samples of global batch.
  // LARS: 10 at 256, whose trust ratio (eta |w| / |g|, eta 0.001) scales each layer's step
  // down, grown with the square root of the batch (linear growth diverged at 8,192: lr 320;
  // docs/experiments.md has the sweep).
  const servers = dtrain.ps.numServers();
  if (o.mode !== 'allreduce' && servers === 0) {
    throw new RangeError(`--mode ${o.mode} needs parameter servers: run it with 'dtrain run -np N --servers K examples/fashion-mnist.js --mode ${o.mode}' (K >= 1)\n${USAGE}`);
  }
  if (o.servers !== undefined && o.servers !== servers) {
    throw new RangeError(`--servers ${o.servers} with ${servers} parameter server(s) in this job; start it with 'dtrain run --servers ${o.servers}'${o.servers === 0 && o.mode !== 'allreduce' ? ` (a ps mode needs at least 1)` : ''}\n${USAGE}`);
  }
  if (o.mode === 'allreduce' && servers > 0) throw new RangeError(`this job has ${servers} parameter server(s); give --mode ps-sync, ps-async or ssp\n${USAGE}`);
  // In the asynchronous modes every push is one update from one worker's batch, so the rate
  // follows the batch of a push; sync averages every worker's into one (the global batch).
  const async = o.mode === 'ps-async' || o.mode === 'ssp';
  // An elastic job scales from its size at the start, the same on a worker that joins later.
  const startSize = dtrain.elastic.membership()?.initialSize ?? dtrain.size();
  const globalBatch = o.batch * (async ? 1 : startSize);
  if (o.lr === undefined) {
    o.lr =
      o.optimizer === 'lars'
        ? 10 * Math.sqrt(globalBatch / 256)
        : optim.schedules.linearScaling({ baseLr: 0.1, batchSize: globalBatch, referenceBatch: 256 });
  }
  const say = (line) => isRank0() && console.log(line);

  const set = data.loadFashionMnist();
  if (set.slice) {
    say(
      `Fashion-MNIST not found in ${set.searched.join(', ')}; training on the ${set.train.count}-image slice ` +
        `shipped with dtrain instead. For the full set: apt-get install dataset-fashion-mnist, or set FASHION_MNIST_DIR.`,
    );
  } else {
    say(`Fashion-MNIST from ${set.dir}: ${set.train.count} training and ${set.test.count} test images`);
  }

  const model = new nn.Sequential(
    new nn.Linear(784, 512, { seed: o.seed * 3 + 1 }),
    new nn.ReLU(),
    new nn.Linear(512, 256, { seed: o.seed * 3 + 2 }),
    new nn.ReLU(),
    new nn.Linear(256, 10, { seed: o.seed * 3 + 3 }),
  );
  // Mixed precision: float16 activations and gradients with dynamic loss scaling; bfloat16
  // has float32's exponent range, so it needs no loss scale.
  model.precision = { fp32: 'fp32', mixed: 'fp16', bf16: 'bf16' }[o.precision];
  const lossScaler = o.precision === 'mixed' ? new amp.LossScaler() : undefined;
  // DGC's momentum correction keeps the momentum in the compressor, so the optimizer has none.
  const compression = {
    none: () => 'none',
    fp16: () => 'fp16',
    dgc: () => new compress.DGC({ momentum: o.momentum, density: o.dgcDensity, warmup: o.dgcWarmup, clipNorm: o.dgcClip, seed: o.seed }),
    qsgd: () => new compress.QSGD({ levels: o.qsgdLevels, seed: o.seed }),
    terngrad: () => new compress.TernGrad({ seed: o.seed }),
    onebit: () => new compress.OneBit({ errorFeedback: o.errorFeedback, chunk: o.onebitChunk }),
  }[o.compression]();
  const momentum = o.compression === 'dgc' ? 0 : o.momentum;
  // A straggler for the experiments: rank R's every pass takes F times as long (it sleeps the
  // difference, as a slower machine would keep its CPU to itself).
  if (o.slowRank !== undefined && o.slowRank === dtrain.rank() && o.slowFactor > 1) {
    const pass = model.lossAndGrad.bind(model);
    const cell = new Int32Array(new SharedArrayBuffer(4));
    model.lossAndGrad = (...args) => {
      const t = performance.now();
      const loss = pass(...args);
      Atomics.wait(cell, 0, 0, (performance.now() - t) * (o.slowFactor - 1));
      return loss;
    };
  }
  if (o.mode !== 'allreduce') {
    const summary = await trainWithServers({ o: { ...o, momentum }, model, set, compression, say });
    say(JSON.stringify({ ...summary, optimizer: o.optimizer, lr: o.lr, global_batch: o.batch * dtrain.size() }));
    await dtrain.shutdown();
    return;
  }
  const params = model.parameters();
  const inner =
    o.optimizer === 'lars'
      ? // Every parameter adapted by default: excluded ones (`--lars-exclude 1d`: biases) step at
        // the raw lr, tens at large batch, which cost points at batch 8,192 (docs/experiments.md).
        new optim.LARS(params, { lr: o.lr, momentum, weightDecay: o.weightDecay ?? 5e-4, exclude: o.larsExclude === '1d' ? undefined : () => false })
      : new optim.SGD(params, { lr: o.lr, momentum, weightDecay: o.weightDecay ?? 0 });
  const opt = new dtrain.DistributedOptimizer(inner, {
    fusionThreshold: o.fusionThreshold,
    algorithm: o.algorithm,
    compression,
    lossScaler,
  });
  say(
    `${dtrain.size()} worker(s), batch ${o.batch} per worker (${globalBatch} in all), ${o.optimizer} lr ${+o.lr.toPrecision(4)} ` +
      `(${o.schedule}) momentum ${o.momentum}, precision ${o.precision}, compression ${compress.compressorConfig(opt.compressor)}, ` +
      `${opt.buckets.length} gradient bucket(s), kernels at ${dtrain.kernels.info().isa}`,
  );

  // Growing the batch instead of decaying the rate (Smith et al. 2018): at each decay epoch the
  // batch is multiplied by the factor the rate would have been divided by; the rate stays.
  const decayEpochs = o.decayEpochs ?? [];
  const evals = [];
  const growth = (epoch) => o.decayFactor ** decayEpochs.filter((e) => e <= epoch).length;
  const trainer = new dtrain.Trainer({
    model,
    optimizer: opt,
    data: { train: set.train, test: set.test },
    epochs: o.epochs,
    batchPerWorker: o.batch,
    batchSchedule: o.batchSchedule ? (epoch) => Math.round(o.batch * growth(epoch)) : undefined,
    seed: o.seed,
    checkpointDir: o.checkpoint,
    resume: o.resume,
    progress: o.progress,
    onMetrics: (m) => o.json && isRank0() && console.log(JSON.stringify(m)),
    ...(o.elastic ? { elastic: true, commitEvery: o.commitEvery, sampleLedger: o.sampleLedger } : {}),
    evalEverySteps: o.evalEvery,
    evalSamples: o.evalSamples,
    onEval: (point) => {
      evals.push(point);
      if (o.json && rank0) console.log(JSON.stringify({ eval: point }));
    },
  });
  // The learning rate per step: the chosen decay over the whole run, after an optional warm-up.
  const total = o.epochs * trainer.stepsPerEpoch;
  const warm = Math.round(o.warmupEpochs * trainer.stepsPerEpoch);
  // The first step of each decay epoch (epochs may differ in steps when the batch grows).
  const stepAt = (epoch) => {
    let n = 0;
    for (let e = 0; e < Math.min(epoch, o.epochs); e++) n += trainer.stepsInEpoch(e);
    return n;
  };
  const decay = {
    cosine: () => optim.schedules.cosine({ lr: o.lr, totalSteps: total }),
    constant: () => optim.schedules.constant(o.lr),
    poly: () => optim.schedules.polynomial({ lr: o.lr, totalSteps: total, power: 2 }),
    onecycle: () => optim.schedules.oneCycle({ maxLr: o.lr, totalSteps: total }),
    step: () =>
      o.batchSchedule
        ? optim.schedules.constant(o.lr)
        : optim.schedules.stepDecay({ lr: o.lr, milestones: decayEpochs.map(stepAt).filter((m) => m > 0), gamma: 1 / o.decayFactor }),
  }[o.schedule]();
  trainer.schedule = warm > 0 ? optim.schedules.warmup(decay, { steps: warm }) : decay;
  const t0 = performance.now();
  const summary = await trainer.fit();
  const extra = { mode: o.elastic ? 'elastic' : 'allreduce', wall_s: (performance.now() - t0) / 1000, ...(o.evalEvery > 0 ? { evals } : {}) };
  say(JSON.stringify({ ...summary, optimizer: o.optimizer, lr: o.lr, global_batch: globalBatch, batch_schedule: o.batchSchedule, ...extra }));
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
