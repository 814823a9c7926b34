'use strict';
// A small async all-reduce whose peer stalls after joining the call (rank 1 runs with
// DTRAIN_TEST_STALL_MS): the caller's event loop must keep turning while it waits, and the
// result must still be right. Rank 0 joins late, so the peer's descriptor is already there and
// the call reaches its data phase on the JS thread. 32 KiB: above DTRAIN_EAGER_BYTES, whose
// calls bring their data with the descriptor and do not wait in a data phase.
const dtrain = require('../..');
const { report } = require('./report');

async function main() {
  if (Number(process.env.DTRAIN_RANK) === 1) process.env.DTRAIN_TEST_STALL_MS = process.argv[2] || '1500';
  await dtrain.init();
  const rank = dtrain.rank();
  await dtrain.barrier();
  if (rank === 0) await new Promise((r) => setTimeout(r, 200));
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  const t0 = Date.now();
  const buf = await dtrain.allreduce(new Float32Array(8192).fill(rank + 1));
  const ms = Date.now() - t0;
  clearInterval(timer);
  report({ rank, ticks, ms, value: buf[0], last: buf[8191] });
  // The communicator stays usable (rank 1 stalls in this call too).
  const again = await dtrain.allreduce(Float64Array.of(1));
  report({ rank, after: again[0] });
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
