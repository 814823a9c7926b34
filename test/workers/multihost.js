'use strict';
// Workers placed on several hosts (network namespaces in the test): where each rank is, the
// transport, a hierarchical all-reduce grouped by host, and a worker lost on the second host.
const dtrain = require('../..');
const { report } = require('./report');

async function main() {
  const mode = process.argv[2];
  await dtrain.init();
  const rank = dtrain.rank();
  const p = dtrain.size();
  if (mode === 'kill') {
    const buf = new Float32Array(1 << 14);
    for (let i = 0; ; i++) {
      if (rank === p - 1 && i === 50) process.kill(process.pid, 'SIGKILL');
      try {
        await dtrain.allreduce(buf);
      } catch (err) {
        report({ rank, code: err.code, lost: err.rank, message: err.message });
        process.exit(3);
      }
    }
  }
  const sums = {};
  for (const algorithm of ['hierarchical', 'ring', 'auto']) {
    const buf = Float64Array.from({ length: 1000 }, (_, i) => rank * 1000 + i);
    await dtrain.allreduce(buf, { algorithm });
    let ok = true;
    for (let i = 0; i < 1000; i++) if (buf[i] !== (p * (p - 1) * 1000) / 2 + p * i) ok = false;
    sums[algorithm] = ok;
  }
  report({
    rank,
    size: p,
    host: process.env.DTRAIN_HOST,
    localRank: dtrain.localRank(),
    localSize: dtrain.localSize(),
    transport: dtrain.getCommunicator().transport,
    candidates: dtrain.getCommunicator().autoCandidates,
    sums,
  });
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
