'use strict';
// Worker of `dtrain bench allreduce`: times all-reduce of float32 (or --dtype float16 /
// bfloat16, as Uint16Array bits) sums for sizes from
// --min-bytes to --max-bytes (x4 steps, as the MPI peer benchmark does) and prints, on rank 0,
// one JSON line per size: time is the slowest rank's mean, busbw = algbw * 2(p-1)/p.
const dtrain = require('..');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
}

async function main() {
  const comm = await dtrain.init();
  const minBytes = Number(arg('--min-bytes', 4096));
  const maxBytes = Number(arg('--max-bytes', 64 << 20));
  const mode = arg('--mode', 'async');
  const algorithm = arg('--algorithm', undefined);
  const rank = dtrain.rank();
  const p = dtrain.size();
  const dtype = arg('--dtype', 'float32');
  const half = dtype === 'float16' || dtype === 'bfloat16';
  const es = half ? 2 : 4;
  // --shared: arrays in shared memory (dtrain.alloc), which same-host peers reduce from in place.
  const shared = process.argv.includes('--shared');
  // A buffer per size, as a program has: one of the largest size from the start would weigh on
  // V8's heuristics (external memory makes it collect garbage sooner, and the Promise path
  // allocates), slowing the small sizes for nothing.
  const bufferOf = (n) =>
    shared ? dtrain.alloc(n, half ? 'float16' : 'float32') : half ? new Uint16Array(n) : new Float32Array(n);
  // The value x as buf holds it: float32, or the half format's bits.
  const cast = dtype === 'bfloat16' ? dtrain.kernels.castToBFloat16 : dtrain.kernels.castToHalf;
  const held = (x) => (half ? cast(Float32Array.of(x))[0] : x);
  const opts = algorithm || half ? { ...(algorithm ? { algorithm } : {}), ...(half ? { dtype } : {}) } : undefined;
  const once = mode === 'sync' ? (b) => dtrain.allreduceSync(b, opts) : (b) => dtrain.allreduce(b, opts);
  for (let bytes = minBytes; bytes <= maxBytes; bytes *= 4) {
    const n = bytes / es;
    const view = bufferOf(n);
    // Same iteration counts as the MPI peer benchmark (`--mpi`), so the two compare.
    const iters = bytes < 64 << 10 ? 2000 : bytes < 1 << 20 ? 200 : bytes < 16 << 20 ? 30 : 8;
    view.fill(held(rank + 1));
    // Below 1 MiB, as many warm-up calls as timed ones (MPI's peer makes 3), and five times as
    // many for the first size: V8 compiles the loop's code on a background thread during the
    // first few thousand calls, which shares the worker's core, and ranks that slept in the
    // barrier wake up in them.
    const warm = bytes < 1 << 20 ? iters * (bytes === minBytes ? 5 : 1) : 3;
    // Warmed up in the loop the mean is taken from (V8 optimizes the loop itself). The mean,
    // as the peers report it: a loop of calls and nothing else (sync calls are not awaited,
    // MPI's are not timed one by one). Then the median, from a second loop that times each
    // call: a shared machine's occasional multi-millisecond preemption does not move it.
    await dtrain.barrier();
    let t0 = 0n;
    if (mode === 'sync') {
      for (let i = 0; i < warm; i++) dtrain.allreduceSync(view, opts);
      t0 = process.hrtime.bigint();
      for (let i = 0; i < iters; i++) dtrain.allreduceSync(view, opts);
    } else {
      for (let i = 0; i < warm; i++) await dtrain.allreduce(view, opts);
      t0 = process.hrtime.bigint();
      for (let i = 0; i < iters; i++) await dtrain.allreduce(view, opts);
    }
    const t = Number(process.hrtime.bigint() - t0) / 1e9 / iters;
    await dtrain.barrier();
    const each = new Float64Array(iters);
    for (let i = 0; i < iters; i++) {
      const s = process.hrtime.bigint();
      await once(view);
      each[i] = Number(process.hrtime.bigint() - s) / 1e9;
    }
    const p50 = each.sort()[iters >> 1];
    const [tmax, p50max] = await dtrain.allreduce(Float64Array.of(t, p50), { op: 'max' });
    view.fill(held(rank + 1));
    await once(view);
    const sum = held((p * (p + 1)) / 2);
    const ok = view[0] === sum && view[n - 1] === sum;
    if (rank === 0) {
      const algbw = bytes / tmax / 1e9;
      console.log(
        JSON.stringify({
          impl: 'dtrain',
          transport: comm.transport,
          mode,
          dtype,
          ...(shared ? { shared } : {}),
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
