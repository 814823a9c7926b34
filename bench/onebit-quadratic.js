#!/usr/bin/env node
// 1-bit compression (dtrain.compress.OneBit) with and without error feedback on a quadratic with
// heavy-tailed curvature (5% of coordinates 20x stiffer), SGD with momentum BETA at step
// LR x 0.1, one process: the loss after 2,000 steps for exact gradients, 1-bit with feedback
// (ef), without (noef), and both applied to a locally computed momentum (efm, noefm).
// docs/experiments.md ("1-bit and error feedback") quotes it.
//   LR=0.5 BETA=0 node bench/onebit-quadratic.js
'use strict';
const { compress } = require('..');
const fake = { size: 1, rank: 0, allgatherSync: (m) => m.slice() };
// f(w) = 0.5 * sum_i a_i (w_i - t_i)^2 with heavy-tailed curvatures a_i; gradient noise small.
const d = 1024;
let s = 7; const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const a = Float32Array.from({ length: d }, (_, i) => (i % 20 === 0 ? 1 : 0.05));
const t = Float32Array.from({ length: d }, () => rnd() - 0.5);
for (const mode of ['exact', 'ef', 'noef', 'efm', 'noefm']) {
  const c = mode.startsWith('ef') ? new compress.OneBit() : new compress.OneBit({ errorFeedback: false });
  const u = new Float32Array(d);
  const w = new Float32Array(d), m = new Float32Array(d);
  const lr = Number(process.env.LR ?? 0.5), beta = Number(process.env.BETA ?? 0.9);
  for (let step = 0; step < 2000; step++) {
    const g = Float32Array.from(w, (wi, i) => a[i] * (wi - t[i]) + (rnd() - 0.5) * 0.01);
    const b = { index: 0, data: g, names: ['w'], offsets: [0], lossScale: 1, skippable: false };
    if (mode.endsWith('m')) {
      for (let i = 0; i < d; i++) { u[i] = beta * u[i] + g[i]; b.data[i] = u[i]; }
      c.reduceSync(b, fake);
      for (let i = 0; i < d; i++) w[i] -= lr * 0.1 * b.data[i];
      continue;
    }
    if (mode !== 'exact') c.reduceSync(b, fake);
    for (let i = 0; i < d; i++) { m[i] = beta * m[i] + b.data[i]; w[i] -= lr * 0.1 * m[i]; }
  }
  let f = 0; for (let i = 0; i < d; i++) f += 0.5 * a[i] * (w[i] - t[i]) ** 2;
  console.log(mode, 'loss', f.toExponential(3));
}
