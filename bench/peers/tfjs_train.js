'use strict';
// Peer of `dtrain bench train`: TensorFlow.js training the reference MLP (784-512-256-10, ReLU,
// softmax cross-entropy, SGD lr 0.05 momentum 0.9) on Fashion-MNIST in one process, on the
// batches dtrain's worker (bench/train-worker.js) draws: the same loader, sampler and seed.
// WARMUP untimed steps, then STEPS timed steps; prints one JSON line.
//
// Usage: node tfjs_train.js BATCH [STEPS] [WARMUP] [BACKEND]
//   BACKEND: cpu (default; @tensorflow/tfjs's pure-JS kernels), wasm (needs
//   @tensorflow/tfjs-backend-wasm) or any backend that registers itself when required.
// tfjs is not a dependency of dtrain: it is required from the current folder, else from beside
// the package (`npm install @tensorflow/tfjs` in the app). Without it the script says so on
// stderr and exits with code 3.
const path = require('node:path');
const dtrain = require('../..');

function requireFromApp(name) {
  const file = require.resolve(name, { paths: [process.cwd(), __dirname] });
  return require(file);
}

async function main() {
  const [batch = 128, steps = 300, warmup = 30] = process.argv.slice(2, 5).map(Number);
  const backend = process.argv[5] ?? 'cpu';
  if (![batch, steps, warmup].every((n) => Number.isInteger(n) && n >= 0) || batch < 1) {
    throw new RangeError(`usage: node ${path.basename(__filename)} BATCH [STEPS] [WARMUP] [cpu|wasm]`);
  }
  let tf;
  try {
    tf = requireFromApp('@tensorflow/tfjs');
    if (backend === 'wasm') requireFromApp('@tensorflow/tfjs-backend-wasm');
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err;
    process.stderr.write(`tfjs_train.js: ${err.message.split('\n')[0]}; npm install @tensorflow/tfjs (and @tensorflow/tfjs-backend-wasm for wasm)\n`);
    process.exit(3);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} did not initialise`);
  await tf.ready();

  const { data } = dtrain;
  const set = data.loadFashionMnist();
  const sampler = new data.DistributedSampler(set.train.count, { rank: 0, size: 1, seed: 1 });
  const loader = new data.BatchLoader(set.train, batch, { dropLast: true });
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: 512, activation: 'relu' }),
      tf.layers.dense({ units: 256, activation: 'relu' }),
      tf.layers.dense({ units: 10 }),
    ],
  });
  const optimizer = tf.train.momentum(0.05, 0.9);

  let epoch = 0;
  let indices = sampler.indices();
  let b = 0;
  const step = () => {
    if (b >= loader.batchesFor(indices.length)) {
      sampler.setEpoch(++epoch);
      indices = sampler.indices();
      b = 0;
    }
    const { x, y } = loader.fill(indices, b++);
    tf.tidy(() => {
      const xs = tf.tensor2d(x, [batch, 784]);
      const ys = tf.oneHot(tf.tensor1d(Int32Array.from(y), 'int32'), 10);
      // returnCost false: nothing is read back, as dtrain's step reads nothing back either.
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs)), false);
    });
  };
  for (let i = 0; i < warmup; i++) step();
  // Wait for the warm-up's kernels (an asynchronous backend queues them).
  await model.getWeights()[0].data();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  await model.getWeights()[0].data();
  const ms = performance.now() - t0;
  console.log(
    JSON.stringify({
      impl: `tfjs-${backend}`,
      np: 1,
      batch_per_worker: batch,
      steps,
      samples_per_s: +((steps * batch * 1000) / ms).toFixed(1),
      step_ms: +(ms / steps).toFixed(3),
      tfjs: tf.version.tfjs,
    }),
  );
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
