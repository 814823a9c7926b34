'use strict';
// Grouped all-reduce against its two alternatives, side by side in one job: one allreduce per
// array, and the copy into one fused buffer that tensor fusion otherwise needs (copy in, one
// all-reduce, copy out). Run: dtrain run -np 2 bench/grouped-allreduce.js [arrays] [elements]
// Prints one JSON line per way from rank 0: seconds per round (median of 15) and the ratio.
const dtrain = require('..');

async function main() {
  await dtrain.init();
  const arrays = Number(process.argv[2] ?? 200);
  const n = Number(process.argv[3] ?? 1000);
  const bufs = Array.from({ length: arrays }, () => new Float32Array(n).fill(1));
  const fused = new Float32Array(arrays * n);
  const ways = {
    separate: async () => {
      await Promise.all(bufs.map((b) => dtrain.allreduce(b)));
    },
    fusedCopy: async () => {
      bufs.forEach((b, i) => fused.set(b, i * n));
      await dtrain.allreduce(fused);
      bufs.forEach((b, i) => b.set(fused.subarray(i * n, (i + 1) * n)));
    },
    grouped: async () => {
      await dtrain.groupedAllreduce(bufs);
    },
  };
  const times = {};
  for (const [name, fn] of Object.entries(ways)) times[name] = [];
  for (let round = 0; round < 17; round++) {
    for (const [name, fn] of Object.entries(ways)) {
      await dtrain.barrier();
      const t0 = process.hrtime.bigint();
      await fn();
      if (round >= 2) times[name].push(Number(process.hrtime.bigint() - t0) / 1e9);
      for (const b of bufs) b.fill(1);
    }
  }
  if (dtrain.rank() === 0) {
    const med = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
    const base = med(times.grouped);
    for (const [name, xs] of Object.entries(times)) {
      const s = med(xs);
      console.log(JSON.stringify({ way: name, np: dtrain.size(), arrays, elements: n, seconds: s, vs_grouped: s / base }));
    }
  }
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
