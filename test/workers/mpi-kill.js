'use strict';
// Under mpirun: rank 1 kills itself mid-loop; the others report what they saw.
const dtrain = require('../..');

async function main() {
  await dtrain.init();
  const buf = new Float32Array(1 << 16);
  for (let i = 0; ; i++) {
    if (dtrain.rank() === 1 && i === 100) process.kill(process.pid, 'SIGKILL');
    try {
      await dtrain.allreduce(buf);
    } catch (err) {
      process.stderr.write(`rank ${dtrain.rank()}: ${err.code}: ${err.message}\n`);
      process.exit(3);
    }
  }
}
main();
