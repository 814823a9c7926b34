'use strict';
// What a worker costs while it waits: rank 0 enters a barrier that the others join only after
// SECONDS, with the Promise and then the blocking call, and reports the CPU time it used over
// that wait as a share of one core. Run: dtrain run -np 2 [--transport shm|tcp] bench/idle-barrier.js [SECONDS]
// Prints one JSON line per mode from rank 0.
const dtrain = require('..');

async function main() {
  const seconds = Number(process.argv[2] ?? 5);
  if (!(seconds > 0)) throw new RangeError(`usage: dtrain run -np N bench/idle-barrier.js [SECONDS > 0], got ${process.argv[2]}`);
  await dtrain.init();
  const rank = dtrain.rank();
  await dtrain.barrier();
  for (const mode of ['async', 'sync']) {
    if (rank !== 0) await new Promise((r) => setTimeout(r, seconds * 1000));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (mode === 'sync') dtrain.barrierSync();
    else await dtrain.barrier();
    const used = process.cpuUsage(cpu0);
    const ms = performance.now() - t0;
    const cpuMs = (used.user + used.system) / 1000;
    if (rank === 0) {
      console.log(JSON.stringify({ bench: 'idle-barrier', np: dtrain.size(), mode, waited_ms: Math.round(ms), cpu_ms: +cpuMs.toFixed(1), core_share: +(cpuMs / ms).toFixed(4) }));
    }
  }
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
