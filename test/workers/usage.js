'use strict';
// The rough edges of the module API a new user meets: a second init() with other options, and
// what each rank sees of its host group (DTRAIN_LOCAL_SIZE), reported for the test to judge.
const dtrain = require('../..');
const { report } = require('./report');

async function attempt(fn) {
  try {
    await fn();
    return null;
  } catch (err) {
    return { name: err.constructor.name, code: err.code, message: err.message };
  }
}

async function main() {
  const comm = await dtrain.init();
  const same = (await dtrain.init({ transport: comm.settings.transport })) === comm;
  const otherTransport = await attempt(() => dtrain.init({ transport: comm.settings.transport === 'tcp' ? 'shm' : 'tcp' }));
  const unknownTransport = await attempt(() => dtrain.init({ transport: 'ib' }));
  const otherTimeout = await attempt(() => dtrain.init({ timeout: 7 }));
  const typo = await attempt(() => dtrain.init({ tiemout: 7 }));
  const x = await dtrain.allreduce(Float32Array.of(1));
  report({ same, otherTransport, unknownTransport, otherTimeout, typo, sum: x[0], localRank: dtrain.localRank(), localSize: dtrain.localSize() });
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
