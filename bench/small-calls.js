'use strict';
// Small all-reduces in tight loops, for the eager path and the Promise path
// (docs/performance.md): per size, the best of three loops of `allreduceSync` and of awaited
// `allreduce`; with --windows, eight consecutive windows of 2000 awaited calls each (a machine's
// slow periods show as whole slow windows, a tail of hand-offs as calls over 50 us).
//   npx dtrain run -np 2 bench/small-calls.js [--sizes 8,4096,16384,65536] [--windows]
const dtrain = require('..');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
}

async function windows(bytes) {
  const a = new Float32Array(bytes / 4).fill(1);
  for (let i = 0; i < 10000; i++) await dtrain.allreduce(a);
  const out = [];
  for (let w = 0; w < 8; w++) {
    let slow = 0;
    let slowUs = 0;
    const t0 = process.hrtime.bigint();
    let prev = t0;
    for (let i = 0; i < 2000; i++) {
      await dtrain.allreduce(a);
      const now = process.hrtime.bigint();
      const us = Number(now - prev) / 1e3;
      if (us > 50) {
        slow++;
        slowUs += us;
      }
      prev = now;
    }
    out.push({ mean_us: +(Number(prev - t0) / 2000 / 1e3).toFixed(1), over_50us: slow, their_us_per_call: +(slowUs / 2000).toFixed(1) });
  }
  return out;
}

async function main() {
  await dtrain.init();
  const sizes = arg('--sizes', '8,4096,16384,65536').split(',').map(Number);
  for (const bytes of sizes) {
    if (process.argv.includes('--windows')) {
      const w = await windows(bytes);
      console.log(JSON.stringify({ rank: dtrain.rank(), bytes, windows: w }));
      continue;
    }
    const a = new Float32Array(bytes / 4).fill(1);
    const n = bytes <= 4096 ? 20000 : 2000;
    for (let i = 0; i < 2000; i++) dtrain.allreduceSync(a);
    await dtrain.barrier();
    let sync = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) dtrain.allreduceSync(a);
      sync = Math.min(sync, Number(process.hrtime.bigint() - t0) / n / 1e3);
    }
    let async = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await dtrain.allreduce(a);
      async = Math.min(async, Number(process.hrtime.bigint() - t0) / n / 1e3);
    }
    if (dtrain.rank() === 0) console.log(JSON.stringify({ bytes, sync_us: +sync.toFixed(2), async_us: +async.toFixed(2) }));
  }
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
