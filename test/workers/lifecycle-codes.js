'use strict';
// The module functions before init(), after shutdown() and after init() again: reports, for
// each, the error it gave ({ name, code, isDtrainError, message }) or null when it worked.
// Run without the launcher (a job of one), in a process of its own so that nothing else has
// called init() first.
const dtrain = require('../..');
const { report } = require('./report');

const buf = () => new Float32Array(4);
const CALLS = {
  rank: () => dtrain.rank(),
  size: () => dtrain.size(),
  localRank: () => dtrain.localRank(),
  localSize: () => dtrain.localSize(),
  allreduce: () => dtrain.allreduce(buf()),
  allreduceSync: () => dtrain.allreduceSync(buf()),
  broadcast: () => dtrain.broadcast(buf(), 0),
  broadcastSync: () => dtrain.broadcastSync(buf(), 0),
  allgather: () => dtrain.allgather(buf()),
  allgatherSync: () => dtrain.allgatherSync(buf()),
  reduceScatter: () => dtrain.reduceScatter(buf()),
  reduceScatterSync: () => dtrain.reduceScatterSync(buf()),
  barrier: () => dtrain.barrier(),
  barrierSync: () => dtrain.barrierSync(),
  getCommunicator: () => dtrain.getCommunicator(),
  DistributedOptimizer: () => {
    const p = { name: 'w', data: new Float32Array(2), grad: new Float32Array(2) };
    return new dtrain.DistributedOptimizer(new dtrain.optim.SGD([p], { lr: 0.1 }));
  },
};

async function outcome(call) {
  try {
    await call();
    return null;
  } catch (err) {
    return { name: err.name, code: err.code, isDtrainError: err instanceof dtrain.DtrainError, message: err.message };
  }
}

async function all() {
  const out = {};
  for (const [name, call] of Object.entries(CALLS)) out[name] = await outcome(call);
  return out;
}

async function main() {
  const before = await all();
  await dtrain.init();
  await dtrain.shutdown();
  const closed = await all();
  await dtrain.init();
  const again = await all();
  await dtrain.shutdown();
  report({ before, closed, again });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
