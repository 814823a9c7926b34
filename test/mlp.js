'use strict';
// Small models and deterministic data for the training tests.
const { nn } = require('..');

/** Linear layers of these sizes with a ReLU between each, seeded. */
function mlp(sizes, seed = 1) {
  const layers = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push(new nn.Linear(sizes[i], sizes[i + 1], { seed: seed + i }));
    if (i + 2 < sizes.length) layers.push(new nn.ReLU());
  }
  return new nn.Sequential(...layers);
}

/** `count` rows of uniform [0, 1) features and labels in [0, classes), from a seed. */
function dataset(count, features, classes, seed) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return {
    x: Float32Array.from({ length: count * features }, next),
    y: Int32Array.from({ length: count }, () => Math.floor(next() * classes)),
    count,
    features,
    classes,
  };
}

module.exports = { mlp, dataset };
