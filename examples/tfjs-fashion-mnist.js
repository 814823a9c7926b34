// Trains the reference MLP (784-512-256-10, ReLU) on Fashion-MNIST as a TensorFlow.js
// tf.sequential model with model.fit, data-parallel through dtrain/tfjs (docs/tfjs.md).
//   npx dtrain run -np 2 examples/tfjs-fashion-mnist.js [--backend cpu|wasm] [--epochs N] ...
//   node examples/tfjs-fashion-mnist.js          (a job of one)
// Needs @tensorflow/tfjs (and @tensorflow/tfjs-backend-wasm for --backend wasm) in the app.
// The last line rank 0 prints is one JSON object: {np, backend, epochs, test_acc,
// samples_per_s, batch_per_worker, global_batch, lr, train_loss, train_samples, step_ms,
// comm_ms_per_step, comm_share}.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const dtrain = require('dtrain');

const USAGE = `usage: tfjs-fashion-mnist.js [--backend cpu|wasm] [--epochs N] [--batch-per-worker B]
  [--lr LR] [--momentum M] [--train-samples N] [--test-samples N] [--no-shuffle] [--seed S]
  [--fusion-threshold BYTES] [--compression none|fp16|dgc|qsgd|terngrad|onebit] [--save DIR]`;

function options() {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'cpu' },
      epochs: { type: 'string', default: '2' },
      'batch-per-worker': { type: 'string', default: '64' },
      lr: { type: 'string' },
      momentum: { type: 'string', default: '0.9' },
      'train-samples': { type: 'string' },
      'test-samples': { type: 'string' },
      'no-shuffle': { type: 'boolean', default: false },
      seed: { type: 'string', default: '0' },
      'fusion-threshold': { type: 'string' },
      compression: { type: 'string', default: 'none' },
      save: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name, min) => {
    if (values[name] === undefined) return undefined;
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < min) throw new RangeError(`--${name} must be an integer >= ${min}, got '${values[name]}'\n${USAGE}`);
    return v;
  };
  const num = (name) => {
    if (values[name] === undefined) return undefined;
    const v = Number(values[name]);
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`--${name} must be a number >= 0, got '${values[name]}'\n${USAGE}`);
    return v;
  };
  if (!['cpu', 'wasm'].includes(values.backend)) throw new RangeError(`--backend must be cpu or wasm, got '${values.backend}'\n${USAGE}`);
  if (!dtrain.compress.compressorNames().includes(values.compression)) {
    throw new RangeError(`--compression must be one of ${dtrain.compress.compressorNames().join(', ')}, got '${values.compression}'\n${USAGE}`);
  }
  return {
    backend: values.backend,
    epochs: int('epochs', 1),
    batch: int('batch-per-worker', 1),
    lr: num('lr'),
    momentum: num('momentum'),
    trainSamples: int('train-samples', 1),
    testSamples: int('test-samples', 1),
    shuffle: !values['no-shuffle'],
    seed: int('seed', 0),
    fusionThreshold: int('fusion-threshold', 0),
    compression: values.compression,
    save: values.save,
  };
}

// tfjs is the application's, not a dependency of dtrain: say what to install when it is missing.
function loadTf(backend) {
  try {
    const tfjs = require('dtrain/tfjs');
    const tf = require('@tensorflow/tfjs');
    if (backend === 'wasm') require('@tensorflow/tfjs-backend-wasm');
    return { tf, tfjs };
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err;
    console.error(`tfjs-fashion-mnist.js: ${err.message.split('\n')[0]}`);
    console.error('install it beside the application: npm install @tensorflow/tfjs @tensorflow/tfjs-backend-wasm');
    process.exit(3);
  }
}

// The data set as float32 tensors in [0, 1] and one-hot labels (the first `limit` rows).
function tensorsOf(tf, set, limit) {
  const n = Math.min(limit ?? set.count, set.count);
  const x = new Float32Array(n * set.features);
  const scale = set.scale ?? 1;
  for (let i = 0; i < x.length; i++) x[i] = set.x[i] * scale;
  const labels = tf.tensor1d(Int32Array.from(set.y.subarray(0, n)), 'int32');
  const y = tf.oneHot(labels, set.classes).toFloat();
  labels.dispose();
  return [tf.tensor2d(x, [n, set.features]), y];
}

// model.save to a folder in tfjs's own format (model.json and weights.bin), which the pure-JS
// tfjs has no file:// handler for.
function folderSaver(tf, dir) {
  return tf.io.withSaveHandler(async (artifacts) => {
    fs.mkdirSync(dir, { recursive: true });
    const data = artifacts.weightData;
    const parts = Array.isArray(data) ? data : [data];
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(parts.map((b) => Buffer.from(b))));
    const json = {
      modelTopology: artifacts.modelTopology,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
      trainingConfig: artifacts.trainingConfig,
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
    };
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  });
}

async function main() {
  const o = options();
  const { tf, tfjs } = loadTf(o.backend);
  // Production mode: no debug checks, and no banner suggesting tfjs-node on every rank.
  tf.enableProdMode();
  if (!(await tf.setBackend(o.backend))) throw new Error(`tfjs backend ${o.backend} did not initialise`);
  await tf.ready();
  await dtrain.init();
  const rank = dtrain.rank();
  const size = dtrain.size();
  const say = (line) => rank === 0 && console.log(line);

  const set = dtrain.data.loadFashionMnist();
  say(
    set.slice
      ? `Fashion-MNIST not found in ${set.searched.join(', ')}; training on the ${set.train.count}-image slice shipped with dtrain`
      : `Fashion-MNIST from ${set.dir}: ${set.train.count} training and ${set.test.count} test images`,
  );
  const globalBatch = o.batch * size;
  // The linear scaling rule (Goyal et al. 2017), as examples/fashion-mnist.js: 0.1 per 256.
  const lr = o.lr ?? dtrain.optim.schedules.linearScaling({ baseLr: 0.1, batchSize: globalBatch, referenceBatch: 256 });

  // Every rank takes its shard: the same seeded order everywhere, the same row count on each.
  const [trainX, trainY] = tensorsOf(tf, set.train, o.trainSamples);
  const [x, y] = tfjs.shard([trainX, trainY], rank, size, { shuffle: o.shuffle, seed: o.seed });
  tf.dispose([trainX, trainY]);

  // Seeded initializers, so a job of one and a job of two start from the same weights (the
  // broadcast callback makes the ranks agree in any case).
  const init = (k) => tf.initializers.glorotUniform({ seed: o.seed * 3 + k });
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: 512, activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.dense({ units: 256, activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(3) }),
    ],
  });
  const inner = o.momentum > 0 ? tf.train.momentum(lr, o.momentum) : tf.train.sgd(lr);
  const optimizer = new tfjs.DistributedOptimizer(inner, { fusionThreshold: o.fusionThreshold, compression: o.compression });
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  say(
    `${size} worker(s), tfjs ${tf.version.tfjs} on ${tf.getBackend()}, batch ${o.batch} per worker (${globalBatch} in all), ` +
      `${o.momentum > 0 ? `momentum ${o.momentum}` : 'sgd'} lr ${+lr.toPrecision(4)}, ${x.shape[0]} samples per worker`,
  );

  let trainLoss = NaN;
  const t0 = performance.now();
  let epochStart = t0;
  await model.fit(x, y, {
    batchSize: o.batch,
    epochs: o.epochs,
    shuffle: o.shuffle,
    verbose: 0,
    callbacks: [
      new tfjs.BroadcastWeightsCallback(0),
      new tfjs.MetricAverageCallback(),
      new tfjs.ProgressBarCallback(),
      new tf.CustomCallback({
        onEpochEnd: (epoch, logs) => {
          trainLoss = logs.loss;
          const s = (performance.now() - epochStart) / 1000;
          epochStart = performance.now();
          say(`epoch ${epoch + 1}/${o.epochs}: loss ${logs.loss.toFixed(4)} accuracy ${logs.acc.toFixed(4)} (all workers) in ${s.toFixed(1)} s`);
        },
      }),
    ],
  });
  const trainMs = performance.now() - t0;
  const steps = optimizer.stats.steps;
  tf.dispose([x, y]);

  // Test accuracy on the test set (or its first --test-samples), each rank scoring its share and the counts summed.
  const [testX, testY] = tensorsOf(tf, set.test, o.testSamples);
  const [tx, ty] = tfjs.shard([testX, testY], rank, size, { shuffle: false });
  const correct = tf.tidy(() => model.predict(tx).argMax(1).equal(ty.argMax(1)).sum().dataSync()[0]);
  const counts = Float64Array.of(correct, tx.shape[0]);
  await dtrain.allreduce(counts, { op: 'sum' });
  tf.dispose([testX, testY, tx, ty]);

  if (o.save && rank === 0) await model.save(folderSaver(tf, o.save), { includeOptimizer: true });
  const samples = Math.floor((o.trainSamples ?? set.train.count) / size) * size;
  say(
    JSON.stringify({
      np: size,
      backend: o.backend,
      epochs: o.epochs,
      test_acc: +(counts[0] / counts[1]).toFixed(4),
      samples_per_s: Math.round((samples * o.epochs * 1000) / trainMs),
      batch_per_worker: o.batch,
      global_batch: globalBatch,
      lr: +lr.toPrecision(4),
      train_loss: +trainLoss.toFixed(4),
      train_samples: samples,
      step_ms: +(trainMs / steps).toFixed(2),
      comm_ms_per_step: +(optimizer.stats.totalWaitMs / steps).toFixed(3),
      comm_share: +(optimizer.stats.totalWaitMs / trainMs).toFixed(4),
    }),
  );
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
