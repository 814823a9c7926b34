#!/usr/bin/env node
// Parameter-server throughput on one host (docs/async.md): every worker pushPulls one key of
// each size as fast as it can, async mode, plain SGD on the servers; then the same bytes
// all-reduced among the workers, side by side in the same job. Worker 0 prints one JSON line per
// size: pushes+pulls per second per server, the servers' busy share, and the per-call medians.
//   npx dtrain run -np 4 --servers 2 bench/ps-throughput.js [--sizes 4096,262144,2143272] [--seconds 3]
'use strict';
const { parseArgs } = require('node:util');
const dtrain = require('..');

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '4096,262144,2143272' },
    seconds: { type: 'string', default: '3' },
  },
});

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

async function main() {
  await dtrain.init();
  const rank = dtrain.rank();
  const sizes = values.sizes.split(',').map(Number);
  const seconds = Number(values.seconds);
  // Every size is a key of its own, registered together; each phase uses one.
  const params = sizes.map((b, i) => ({ name: `k${i}`, data: new Float32Array(Math.max(1, Math.round(b / 4))), grad: new Float32Array(Math.max(1, Math.round(b / 4))) }));
  await dtrain.ps.init(params, { mode: 'async', optimizer: { type: 'sgd', lr: 1e-9 } });
  const out = [];
  for (let i = 0; i < sizes.length; i++) {
    const p = params[i];
    const psTimes = [];
    await dtrain.barrier();
    const s0 = await dtrain.ps.stats();
    const t0 = performance.now();
    // Every worker for the same duration: in async mode none waits for another.
    while (performance.now() - t0 < seconds * 1000) {
      const t = performance.now();
      await dtrain.ps.push(p.name, p.grad);
      await dtrain.ps.pull(p.name, p.data);
      psTimes.push(performance.now() - t);
    }
    const psMs = performance.now() - t0;
    const s1 = await dtrain.ps.stats();
    await dtrain.barrier();
    const arTimes = [];
    // The same count on every rank (a collective).
    for (let k = 0; k < 50; k++) {
      const t = performance.now();
      await dtrain.allreduce(p.grad, { op: 'avg' });
      arTimes.push(performance.now() - t);
    }
    // Totals over all workers for the rate: the servers' counters.
    const ops = s1.reduce((a, s, j) => a + s.pushes + s.pulls - s0[j].pushes - s0[j].pulls, 0);
    const busy = s1.reduce((a, s, j) => a + s.busy_s - s0[j].busy_s, 0);
    out.push({
      bytes: p.data.length * 4,
      workers: dtrain.size(),
      servers: dtrain.ps.numServers(),
      push_pulls_per_s_per_server: ops / s1.length / (psMs / 1000),
      server_busy_share: busy / s1.length / (psMs / 1000),
      push_pull_p50_ms: median(psTimes),
      allreduce_p50_ms: median(arTimes),
    });
  }
  if (rank === 0) for (const o of out) console.log(JSON.stringify(o));
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
