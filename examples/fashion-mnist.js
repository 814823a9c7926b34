// Trains the reference MLP (784-512-256-10, ReLU) on Fashion-MNIST with synchronous
// data-parallel SGD: the README's main job.
//   npx dtrain run -np 2 examples/fashion-mnist.js [--epochs N] [--json] ...
//   node examples/fashion-mnist.js            (a job of one)
// The last line rank 0 prints is one JSON object: {np, epochs, steps, batch_per_worker, test_acc,
// train_loss, samples_per_s, step_ms, comm_wait_ms, bytes_sent_per_step}.
'use strict';
const { parseArgs } = require('node:util');
const dtrain = require('..');

const { nn, optim, data } = dtrain;

const USAGE = `usage: fashion-mnist.js [--epochs N] [--batch-per-worker B] [--lr LR] [--momentum M]
  [--weight-decay WD] [--optimizer sgd|lars] [--schedule cosine|constant|poly|onecycle]
  [--warmup-epochs E] [--algorithm A] [--fusion-threshold BYTES]
  [--checkpoint DIR] [--resume] [--seed S] [--json] [--no-progress]`;

function options() {
  const { values } = parseArgs({
    options: {
      epochs: { type: 'string', default: '15' },
      'batch-per-worker': { type: 'string', default: '128' },
      lr: { type: 'string' },
      momentum: { type: 'string', default: '0.9' },
      'weight-decay': { type: 'string' },
      optimizer: { type: 'string', default: 'sgd' },
      schedule: { type: 'string', default: 'cosine' },
      'warmup-epochs': { type: 'string', default: '0' },
      algorithm: { type: 'string' },
      'fusion-threshold': { type: 'string' },
      checkpoint: { type: 'string' },
      resume: { type: 'boolean', default: false },
      seed: { type: 'string', default: '0' },
      json: { type: 'boolean', default: false },
      'no-progress': { type: 'boolean', default: false },
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
  if (!['cosine', 'constant', 'poly', 'onecycle'].includes(values.schedule)) {
    throw new RangeError(`--schedule must be cosine, constant, poly or onecycle, got '${values.schedule}'\n${USAGE}`);
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
  return {
    epochs: num('epochs', true),
    batch: num('batch-per-worker', true),
    lr: num('lr'),
    momentum: num('momentum'),
    weightDecay: num('weight-decay'),
    optimizer: values.optimizer,
    schedule: values.schedule,
    warmupEpochs: num('warmup-epochs'),
    algorithm: values.algorithm,
    fusionThreshold: num('fusion-threshold', true),
    checkpoint: values.checkpoint,
    resume: values.resume,
    seed: num('seed', true),
    json: values.json,
    progress: values['no-progress'] ? false : undefined,
  };
}

async function main() {
  const o = options();
  await dtrain.init();
  const rank0 = dtrain.rank() === 0;
  // The linear scaling rule (Goyal et al. 2017): 0.1 per 256 samples of global batch for SGD;
  // 10 for LARS, whose trust ratio (eta |w| / |g|, eta 0.001) scales each layer's step down.
  const globalBatch = o.batch * dtrain.size();
  if (o.lr === undefined) {
    o.lr = optim.schedules.linearScaling({ baseLr: o.optimizer === 'lars' ? 10 : 0.1, batchSize: globalBatch, referenceBatch: 256 });
  }
  const say = (line) => rank0 && console.log(line);

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
  const params = model.parameters();
  const inner =
    o.optimizer === 'lars'
      ? new optim.LARS(params, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay ?? 5e-4 })
      : new optim.SGD(params, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay ?? 0 });
  const opt = new dtrain.DistributedOptimizer(inner, {
    fusionThreshold: o.fusionThreshold,
    algorithm: o.algorithm,
  });
  say(
    `${dtrain.size()} worker(s), batch ${o.batch} per worker (${globalBatch} in all), ${o.optimizer} lr ${+o.lr.toPrecision(4)} ` +
      `(${o.schedule}) momentum ${o.momentum}, ` +
      `${opt.buckets.length} gradient bucket(s), kernels at ${dtrain.kernels.info().isa}`,
  );

  const trainer = new dtrain.Trainer({
    model,
    optimizer: opt,
    data: { train: set.train, test: set.test },
    epochs: o.epochs,
    batchPerWorker: o.batch,
    seed: o.seed,
    checkpointDir: o.checkpoint,
    resume: o.resume,
    progress: o.progress,
    onMetrics: (m) => o.json && rank0 && console.log(JSON.stringify(m)),
  });
  // The learning rate per step: the chosen decay over the whole run, after an optional warm-up.
  const total = o.epochs * trainer.stepsPerEpoch;
  const warm = Math.round(o.warmupEpochs * trainer.stepsPerEpoch);
  const decay = {
    cosine: () => optim.schedules.cosine({ lr: o.lr, totalSteps: total }),
    constant: () => optim.schedules.constant(o.lr),
    poly: () => optim.schedules.polynomial({ lr: o.lr, totalSteps: total, power: 2 }),
    onecycle: () => optim.schedules.oneCycle({ maxLr: o.lr, totalSteps: total }),
  }[o.schedule]();
  trainer.schedule = warm > 0 ? optim.schedules.warmup(decay, { steps: warm }) : decay;
  const summary = await trainer.fit();
  say(JSON.stringify(summary));
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
