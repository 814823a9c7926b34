'use strict';
// Rank 1 all-reduces a longer buffer than the others: every rank reports the error it got.
const dtrain = require('../..');
const { report } = require('./report');

async function main() {
  await dtrain.init();
  const rank = dtrain.rank();
  try {
    await dtrain.allreduce(new Float32Array(rank === 1 ? 9 : 8));
    report({ me: rank, error: null });
  } catch (err) {
    report({ me: rank, isDtrainError: err instanceof dtrain.DtrainError, name: err.name, code: err.code, ranks: err.ranks, rank: err.rank });
  }
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
