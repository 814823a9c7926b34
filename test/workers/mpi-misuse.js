'use strict';
// algorithm 'mpi' in a dtrain run job: every rank gets the same error, and the job goes on.
const dtrain = require('../..');
const { report } = require('./report');

async function main() {
  await dtrain.init();
  let error = null;
  try {
    await dtrain.allreduce(new Float32Array(8), { algorithm: 'mpi' });
  } catch (err) {
    error = err.message;
  }
  const after = (await dtrain.allreduce(Float32Array.of(dtrain.rank() + 1), { algorithm: 'ring' }))[0];
  report({ error, after });
  await dtrain.shutdown();
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
