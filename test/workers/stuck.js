'use strict';
// Rank 2 of 3 joins an all-reduce and then stops before its data phase (DTRAIN_TEST_STALL_MS):
// ranks 0 and 1 wait in the data phase, 0 for 2 and 1 for 0 (the ring's neighbours). The stall
// lines and the timeout must name rank 2 on both, as they agree through the store, not the
// neighbour each happens to wait on. argv: [stall ms] [async|sync]
const dtrain = require('../..');
const { report } = require('./report');

async function main() {
  const [stallMs = '8000', mode = 'async'] = process.argv.slice(2);
  if (Number(process.env.DTRAIN_RANK) === 2) process.env.DTRAIN_TEST_STALL_MS = stallMs;
  await dtrain.init();
  const rank = dtrain.rank();
  await dtrain.barrier();
  const t0 = Date.now();
  const buf = new Float32Array(65536).fill(1);
  try {
    if (mode === 'sync') dtrain.allreduceSync(buf);
    else await dtrain.allreduce(buf);
    report({ rank, ok: true });
  } catch (err) {
    report({ rank, code: err.code, ranks: err.ranks, message: err.message, ms: Date.now() - t0 });
  }
  // The communicator is broken now; nothing is left to shut down cleanly.
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
