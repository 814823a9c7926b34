'use strict';
// Worker for test/82.tfjs: dtrain/tfjs in real multi-process jobs on the cpu backend.
// argv[2] is the scenario; results are printed as "RESULT {json}" lines.
const crypto = require('node:crypto');
const dtrain = require('../..');
const tfjs = require('dtrain/tfjs');
const tf = require('@tensorflow/tfjs');

const scenario = process.argv[2];

function result(obj) {
  console.log(`RESULT ${JSON.stringify(obj)}`);
}

function digest(tensors) {
  const h = crypto.createHash('sha256');
  for (const t of tensors) h.update(Buffer.from(t.dataSync().buffer));
  return h.digest('hex').slice(0, 16);
}

function mlp(seed, hidden = 32) {
  const init = (k) => tf.initializers.glorotUniform({ seed: seed * 10 + k });
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [20], units: hidden, activation: 'relu', kernelInitializer: init(1), biasInitializer: 'randomNormal' }),
      tf.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: init(2) }),
    ],
  });
}

// A small fixed classification problem: the same rows on every rank.
function problem(n) {
  const x = tf.randomUniform([n, 20], -1, 1, 'float32', 7);
  const labels = tf.tidy(() => x.slice([0, 0], [n, 4]).argMax(1));
  const y = tf.oneHot(labels, 4).toFloat();
  labels.dispose();
  return [x, y];
}

function errorOf(err) {
  return { name: err.name, code: err.code, message: err.message, ranks: err.ranks };
}

const scenarios = {
  // Different initial weights on every rank; the callback makes them root's at onTrainBegin.
  async broadcast() {
    const rank = dtrain.rank();
    const model = mlp(rank + 1);
    const before = digest(model.getWeights());
    const opt = new tfjs.DistributedOptimizer(tf.train.momentum(0.1, 0.9));
    model.compile({ optimizer: opt, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const [x0, y0] = problem(96);
    const [x, y] = tfjs.shard([x0, y0]);
    let atBegin;
    let optimizerWeights;
    const epochs = [];
    const history = await model.fit(x, y, {
      batchSize: 8,
      epochs: 2,
      shuffle: false,
      verbose: 0,
      callbacks: [
        new tfjs.BroadcastWeightsCallback(0),
        new tfjs.MetricAverageCallback(),
        new tf.CustomCallback({
          onTrainBegin: () => {
            atBegin = digest(model.getWeights());
          },
          onEpochEnd: (epoch, logs) => {
            epochs.push({ loss: logs.loss, acc: logs.acc });
          },
          onTrainEnd: async () => {
            optimizerWeights = (await opt.getWeights()).length;
          },
        }),
      ],
    });
    result({
      rank,
      before,
      atBegin,
      after: digest(model.getWeights()),
      optimizerWeights,
      iterations: opt.iterations,
      epochs,
      history: history.history.loss,
      rows: x.shape[0],
    });
  },

  // fitDataset on a sharded tf.data.Dataset: same batch count, disjoint rows, equal weights.
  async dataset() {
    const rank = dtrain.rank();
    const model = mlp(3);
    model.compile({ optimizer: new tfjs.DistributedOptimizer(tf.train.sgd(0.1)), loss: 'categoricalCrossentropy' });
    const [x, y] = problem(50);
    const ids = tf.data.array([...Array(50).keys()]);
    const rows = [];
    const ds = tfjs
      .shard(tf.data.zip({ i: ids, xs: tf.data.array(tf.unstack(x)), ys: tf.data.array(tf.unstack(y)) }), undefined, undefined, { seed: 5 })
      .map(({ i, xs, ys }) => {
        rows.push(i);
        return { xs, ys };
      })
      .batch(4);
    let batches = 0;
    await model.fitDataset(ds, {
      epochs: 1,
      verbose: 0,
      callbacks: [new tfjs.BroadcastWeightsCallback(), new tf.CustomCallback({ onBatchEnd: () => batches++ })],
    });
    result({ rank, rows, batches, after: digest(model.getWeights()) });
  },

  // Tensors are flat over many steps of a custom loop and of fit.
  async leak() {
    const model = mlp(1);
    const opt = new tfjs.DistributedOptimizer(tf.train.adam(0.01), { fusionThreshold: 256 });
    const [x, y] = problem(32);
    const counts = [];
    for (let step = 1; step <= 100; step++) {
      opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x)));
      if (step === 5 || step === 100) counts.push(tf.memory().numTensors);
    }
    model.compile({ optimizer: opt, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const perEpoch = [];
    await model.fit(x, y, {
      batchSize: 4,
      epochs: 4,
      verbose: 0,
      callbacks: [new tfjs.MetricAverageCallback(), new tf.CustomCallback({ onEpochEnd: () => perEpoch.push(tf.memory().numTensors) })],
    });
    result({ rank: dtrain.rank(), counts, perEpoch, buckets: opt.stats.steps });
  },

  // Compressed gradients: every rank still applies the same update, and the loss falls.
  async compression() {
    const out = {};
    for (const [name, inner] of [
      ['fp16', () => tf.train.momentum(0.1, 0.9)],
      ['qsgd', () => tf.train.momentum(0.1, 0.9)],
      ['dgc', () => tf.train.sgd(0.1)],
    ]) {
      const model = mlp(2);
      await tfjs.broadcastWeights(model); // the biases' initializer is not seeded
      const compression = name === 'dgc' ? new dtrain.compress.DGC({ density: 0.1, warmup: [] }) : name;
      const opt = new tfjs.DistributedOptimizer(inner(), { compression, fusionThreshold: 1024 });
      const [x0, y0] = problem(64);
      const [x, y] = tfjs.shard([x0, y0]);
      const losses = [];
      for (let step = 0; step < 30; step++) {
        const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x)), true);
        losses.push(loss.dataSync()[0]);
        loss.dispose();
      }
      out[name] = { first: losses[0], last: losses[losses.length - 1], weights: digest(model.getWeights()) };
    }
    result({ rank: dtrain.rank(), out });
  },

  // Robustness: repeated fits leak nothing on any rank; DGC follows its warm-up through
  // BroadcastWeightsCallback; an optimizer without getWeights (Adamax) still trains; a change of
  // the trained variables restarts a stateful compressor instead of failing.
  async robust() {
    const rank = dtrain.rank();
    const [x0, y0] = problem(64);
    const [x, y] = tfjs.shard([x0, y0]);
    const model = mlp(4);
    model.compile({ optimizer: new tfjs.DistributedOptimizer(tf.train.adam(0.01)), loss: 'categoricalCrossentropy' });
    const counts = [];
    for (let i = 0; i < 4; i++) {
      await model.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, callbacks: [new tfjs.BroadcastWeightsCallback()] });
      counts.push(tf.memory().numTensors);
    }
    const dgc = new dtrain.compress.DGC({ density: 0.05, warmup: [0.5, 0.25] });
    const densities = [];
    const m2 = mlp(5);
    m2.compile({ optimizer: new tfjs.DistributedOptimizer(tf.train.sgd(0.1), { compression: dgc }), loss: 'categoricalCrossentropy' });
    await m2.fit(x, y, { batchSize: 8, epochs: 3, verbose: 0, callbacks: [new tfjs.BroadcastWeightsCallback(), new tf.CustomCallback({ onEpochEnd: () => densities.push(dgc.currentDensity) })] });
    const m3 = mlp(6);
    m3.compile({ optimizer: new tfjs.DistributedOptimizer(tf.train.adamax(0.01)), loss: 'categoricalCrossentropy' });
    await m3.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, callbacks: [new tfjs.BroadcastWeightsCallback()] });
    const m4 = mlp(7);
    await tfjs.broadcastWeights(m4);
    const opt = new tfjs.DistributedOptimizer(tf.train.sgd(0.1), { compression: new dtrain.compress.OneBit() });
    const vars = m4.trainableWeights.map((w) => w.read());
    const loss = () => tf.losses.softmaxCrossEntropy(y, m4.apply(x));
    opt.minimize(loss, false, vars);
    opt.minimize(loss, false, vars.slice(0, 2));
    opt.minimize(loss, false, vars);
    result({ rank, counts, densities, adamax: digest(m3.getWeights()), onebit: digest(m4.getWeights()) });
  },

  // Rank 1 leaves one variable out of its step: both ranks get the error naming it.
  async divergent() {
    const rank = dtrain.rank();
    const model = mlp(1);
    await tfjs.broadcastWeights(model);
    const opt = new tfjs.DistributedOptimizer(tf.train.sgd(0.1));
    const [x, y] = problem(8);
    const vars = model.trainableWeights.map((w) => w.read());
    const loss = () => tf.losses.softmaxCrossEntropy(y, model.apply(x));
    opt.minimize(loss, false, vars);
    try {
      opt.minimize(loss, false, rank === 1 ? vars.slice(1) : vars);
      result({ rank, ok: true });
    } catch (err) {
      result({ rank, error: errorOf(err) });
    }
  },

  // Rank 1 builds a wider hidden layer: the first step fails on every rank, naming it.
  async mismatch() {
    const rank = dtrain.rank();
    const model = mlp(1, rank === 1 ? 33 : 32);
    const opt = new tfjs.DistributedOptimizer(tf.train.sgd(0.1));
    const [x, y] = problem(8);
    try {
      opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x)));
      result({ rank, ok: true });
    } catch (err) {
      result({ rank, error: errorOf(err) });
    }
    try {
      await tfjs.broadcastWeights(model);
      result({ rank, broadcast: 'ok' });
    } catch (err) {
      result({ rank, broadcast: errorOf(err) });
    }
  },

  // Bad arguments, in a job of one.
  async misuse() {
    const errors = {};
    const attempt = (name, f) => {
      try {
        f();
        errors[name] = null;
      } catch (err) {
        errors[name] = errorOf(err);
      }
    };
    const inner = tf.train.sgd(0.1);
    attempt('notOptimizer', () => new tfjs.DistributedOptimizer({ step() {} }));
    attempt('twice', () => new tfjs.DistributedOptimizer(new tfjs.DistributedOptimizer(inner)));
    attempt('badOption', () => new tfjs.DistributedOptimizer(inner, { fusion: 1 }));
    attempt('badOp', () => new tfjs.DistributedOptimizer(inner, { op: 'max' }));
    attempt('dgcMomentum', () => new tfjs.DistributedOptimizer(tf.train.momentum(0.1, 0.9), { compression: 'dgc' }));
    const opt = new tfjs.DistributedOptimizer(inner);
    const v = tf.variable(tf.zeros([3], 'int32'), true, 'counts');
    attempt('int32', () => opt.applyGradients({ counts: tf.ones([3], 'int32') }));
    attempt('shardRows', () => tfjs.shard([tf.zeros([4, 2]), tf.zeros([5])], 0, 2));
    attempt('shardRank', () => tfjs.shard(tf.zeros([4, 2]), 2, 2));
    attempt('shardType', () => tfjs.shard([new Float32Array(4)], 0, 1));
    attempt('shardSize', () => tfjs.shard(tf.data.generator(function* () {}), 0, 2));
    v.dispose();
    result({ errors, instance: opt instanceof tf.Optimizer, className: opt.getClassName() });
  },
};

async function main() {
  await tf.setBackend('cpu');
  tf.enableProdMode();
  await dtrain.init();
  await scenarios[scenario]();
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
