'use strict';
// Runs in the toy package (test/60.registries.test.js): all-reduces with the toy algorithm over
// whatever transport the job has (the toy one there), and reports what it saw.
const dtrain = require(process.argv[2]);
const { report } = require('./report');

async function main() {
  const comm = await dtrain.init();
  const rank = dtrain.rank();
  const p = dtrain.size();
  const sums = [];
  for (const n of [0, 1, 1000, 5000]) {
    const buf = await dtrain.allreduce(new Int32Array(n).map((_, i) => rank * 1000 + i), { algorithm: 'toy-gather' });
    let ok = true;
    for (let i = 0; i < n; i++) ok &&= buf[i] === (1000 * p * (p - 1)) / 2 + p * i;
    sums.push(ok);
  }
  // Every other collective runs over the toy transport too.
  const all = await dtrain.allgather(Float64Array.of(rank));
  const fromRoot = await dtrain.broadcast(Float32Array.of(rank + 5), 1);
  const auto = await dtrain.allreduce(Float32Array.of(1), { algorithm: 'auto' });
  report({
    rank,
    transport: comm.transport,
    candidates: comm.autoCandidates,
    sums,
    gathered: Array.from(all),
    broadcast: fromRoot[0],
    auto: auto[0],
  });
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
