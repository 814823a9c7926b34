'use strict';
// Worker of `dtrain bench allreduce --calibrate`: measures the alpha-beta-gamma model of the
// transport in use and (rank 0) writes it where `auto` and `dtrain simulate --transport` read
// it: $DTRAIN_CALIBRATION, else ~/.dtrain/calibration.json (other transports' entries kept).
const fs = require('node:fs');
const path = require('node:path');
const dtrain = require('..');
const { loadBinding } = require('../dist/native');
const { calibrationFile } = require('../dist/comm/config');

function mean(fn, iters) {
  for (let i = 0; i < Math.min(iters, 50); i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e9 / iters;
}

async function main() {
  const comm = await dtrain.init();
  const p = dtrain.size();
  const transport = comm.transport;
  const slowest = (x) => dtrain.allreduceSync(Float64Array.of(x), { op: 'max' })[0];

  // gamma: this core's float32 sum, out of cache.
  const gamma = slowest(loadBinding().measureReduce(64 << 20));
  // alpha: a barrier is one message to and from every peer, concurrently. The median, so the
  // odd preemption on a shared machine does not count as latency.
  const each = new Float64Array(3000);
  for (let i = 0; i < 100; i++) dtrain.barrierSync();
  for (let i = 0; i < each.length; i++) {
    const t0 = process.hrtime.bigint();
    dtrain.barrierSync();
    each[i] = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  const alpha = slowest(each.sort()[each.length >> 1]);
  // beta: a large ring all-reduce, less its latency and reduction terms. The engine adds one
  // descriptor exchange (one alpha) before every collective.
  const n = 64 << 20;
  const buf = new Float32Array(n / 4);
  const t = slowest(mean(() => dtrain.allreduceSync(buf, { algorithm: 'ring' }), 8));
  const f = (p - 1) / p;
  const beta = Math.max((t - (2 * (p - 1) + 1) * alpha - n * f * gamma) / (2 * n * f), 1e-13);

  if (dtrain.rank() === 0) {
    const file = calibrationFile();
    let all = {};
    try {
      all = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      // first calibration
    }
    all[transport] = { alpha, beta, gamma, np: p, measured: new Date().toISOString() };
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
    console.log(JSON.stringify({ calibrated: transport, np: p, alpha, beta, gamma, file }));
  }
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
