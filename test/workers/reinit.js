'use strict';
// shutdown() then init() again in one process gives a working communicator, and the process
// exits cleanly afterwards (the first communicator is finalized while Node tears down).
const dtrain = require('../..');
const { report } = require('./report');

async function main() {
  const sums = [];
  for (let round = 0; round < 3; round++) {
    await dtrain.init();
    sums.push((await dtrain.allreduce(Float64Array.of(dtrain.rank() + round)))[0]);
    await dtrain.shutdown();
  }
  let closedCode = null;
  let closedErrorCode = null;
  try {
    dtrain.rank();
  } catch (err) {
    closedCode = err.message;
    closedErrorCode = err.code;
  }
  report({ sums, closedCode, closedErrorCode });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
