// All-reduces a few sizes between the workers and prints timings (rank 0).
// Run: npx dtrain run -np 2 examples/allreduce.js [--iters N]
'use strict';
const dtrain = require('..');

async function main() {
  const comm = await dtrain.init();
  const rank = dtrain.rank();
  const size = dtrain.size();
  const itersArg = process.argv.indexOf('--iters');
  const scale = itersArg > 0 ? Number(process.argv[itersArg + 1]) : 1;
  const sizes = [4 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20];
  if (rank === 0) {
    console.log(`all-reduce (sum, float32) on ${size} worker(s), transport ${comm.transport}`);
  }
  for (const bytes of sizes) {
    const n = bytes / 4;
    const buf = new Float32Array(n);
    const iters = Math.max(1, Math.round((bytes <= 1 << 20 ? 200 : bytes <= 16 << 20 ? 20 : 5) * scale));
    // Warm up (first touch of pages, connection buffers).
    for (let i = 0; i < 2; i++) await dtrain.allreduce(buf.fill(rank + 1));
    await dtrain.barrier();
    let total = 0;
    for (let i = 0; i < iters; i++) {
      buf.fill(rank + 1);
      const t0 = process.hrtime.bigint();
      await dtrain.allreduce(buf);
      total += Number(process.hrtime.bigint() - t0);
    }
    const expect = (size * (size + 1)) / 2;
    if (buf[0] !== expect || buf[n - 1] !== expect) {
      throw new Error(`wrong result: got ${buf[0]}, expected ${expect}`);
    }
    const sec = total / iters / 1e9;
    const busbw = (bytes / sec / 1e9) * (2 * (size - 1)) / size;
    if (rank === 0) {
      console.log(JSON.stringify({ bytes, np: size, time_us: +(sec * 1e6).toFixed(1), busbw_GBs: +busbw.toFixed(3) }));
    }
  }
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
