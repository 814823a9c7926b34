'use strict';
// Worker of `dtrain bench allreduce`: times all-reduce of float32 sums for sizes from
// --min-bytes to --max-bytes (x4 steps, as the MPI peer benchmark does) and prints, on rank 0,
// one JSON line per size: time is the slowest rank's mean, busbw = algbw * 2(p-1)/p.
const dtrain = require('..');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
}

async function main() {
  await dtrain.init();
  const minBytes = Number(arg('--min-bytes', 4096));
  const maxBytes = Number(arg('--max-bytes', 64 << 20));
  const mode = arg('--mode', 'async');
  const algorithm = arg('--algorithm', undefined);
  const rank = dtrain.rank();
  const p = dtrain.size();
  const buf = new Float32Array(maxBytes / 4);
  const opts = algorithm ? { algorithm } : {};
  const once = mode === 'sync' ? (b) => dtrain.allreduceSync(b, opts) : (b) => dtrain.allreduce(b, opts);
  for (let bytes = minBytes; bytes <= maxBytes; bytes *= 4) {
    const n = bytes / 4;
    const view = buf.subarray(0, n);
    // Same iteration counts as the MPI peer (shared/peers/mpi_allreduce.c).
    const iters = bytes < 1 << 20 ? 200 : bytes < 16 << 20 ? 30 : 8;
    view.fill(rank + 1);
    for (let i = 0; i < 3; i++) await once(view);
    await dtrain.barrier();
    // The mean (as the peers report it) and the median, which a shared machine's occasional
    // multi-millisecond preemption does not move.
    const each = new Float64Array(iters);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) {
      const s = process.hrtime.bigint();
      await once(view);
      each[i] = Number(process.hrtime.bigint() - s) / 1e9;
    }
    const t = Number(process.hrtime.bigint() - t0) / 1e9 / iters;
    const p50 = each.sort()[iters >> 1];
    const [tmax, p50max] = await dtrain.allreduce(Float64Array.of(t, p50), { op: 'max' });
    view.fill(rank + 1);
    await once(view);
    const ok = view[0] === (p * (p + 1)) / 2 && view[n - 1] === (p * (p + 1)) / 2;
    if (rank === 0) {
      const algbw = bytes / tmax / 1e9;
      console.log(
        JSON.stringify({
          impl: 'dtrain',
          transport: process.env.DTRAIN_TRANSPORT || 'shm',
          mode,
          np: p,
          bytes,
          time_us: +(tmax * 1e6).toFixed(1),
          p50_us: +(p50max * 1e6).toFixed(1),
          algbw_GBs: +algbw.toFixed(3),
          busbw_GBs: +((algbw * 2 * (p - 1)) / p).toFixed(3),
          ok,
        }),
      );
    }
  }
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
