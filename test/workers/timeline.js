'use strict';
// Timeline scenarios for test/84.timeline.test.js.
const dtrain = require('../..');

const scenario = process.argv[2];
(async () => {
  if (scenario === 'alone' || scenario === 'code') {
    // The file named in code: a job of one converts its own; under a launcher, parts remain.
    await dtrain.init({ timeline: process.argv[3] });
    await dtrain.allreduce(new Float32Array(1000));
    if (process.argv[4] === 'kill') {
      // Past a drain, then gone without the exit handler that converts the file.
      await new Promise((r) => setTimeout(r, 300));
      process.kill(process.pid, 'SIGKILL');
    }
    await dtrain.shutdown();
    return;
  }
  await dtrain.init();
  const n = Number(process.argv[3] ?? 200);
  const buf = new Float32Array(256);
  for (let i = 0; i < n; i++) await dtrain.allreduce(buf);
  await dtrain.broadcast(new Float32Array(64 << 10), 0);
  if (scenario === 'killed') {
    // Long enough for a drain (every 100 ms), then gone without any exit handler.
    await new Promise((r) => setTimeout(r, 300));
    if (dtrain.rank() === 1) process.kill(process.pid, 'SIGKILL');
    await dtrain.barrier({ timeout: 5 }).catch(() => undefined);
    process.exit(1);
  }
  await dtrain.shutdown();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
