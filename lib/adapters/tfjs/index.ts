/**
 * `require('dtrain/tfjs')`: data-parallel TensorFlow.js. Wrap the optimizer, broadcast the
 * initial weights, average the metrics and shard the data, and `model.fit` trains on every
 * worker of a `dtrain run` job (see docs/tfjs.md). Needs `@tensorflow/tfjs` (or tfjs-core and
 * tfjs-layers >= 4 with a backend) installed in the application.
 *
 * @example
 * ```js
 * const tf = require('@tensorflow/tfjs');
 * const dtrain = require('dtrain');
 * const { DistributedOptimizer, BroadcastWeightsCallback, MetricAverageCallback, shard } = require('dtrain/tfjs');
 * await dtrain.init();
 * model.compile({ optimizer: new DistributedOptimizer(tf.train.sgd(0.05)), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
 * const [x, y] = shard([xs, ys]);
 * await model.fit(x, y, { batchSize: 64, epochs: 5, callbacks: [new BroadcastWeightsCallback(0), new MetricAverageCallback()] });
 * ```
 */
export { DistributedOptimizer } from './optimizer';
export type { TfjsDistributedOptimizerOptions } from './optimizer';
export { BroadcastWeightsCallback, MetricAverageCallback, ProgressBarCallback } from './callbacks';
export type { CallbackOptions } from './callbacks';
export { broadcastWeights, broadcastOptimizerWeights } from './weights';
export type { BroadcastWeightsOptions } from './weights';
export { shard } from './shard';
export type { ShardOptions } from './shard';
export { loadTfjs, tfjsSearchPaths } from './load';
export type { Tfjs } from './load';
