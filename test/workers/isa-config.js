'use strict';
// Run with DTRAIN_ISA set to a level the kernels cannot use: reports the error each path gives
// (a kernel, the reference model, init()) as { name, code, isRangeError, message }.
const dtrain = require('../..');
const { report } = require('./report');

async function outcome(call) {
  try {
    await call();
    return null;
  } catch (err) {
    return { name: err.name, code: err.code, isRangeError: err instanceof RangeError, message: err.message };
  }
}

async function main() {
  report({
    kernel: await outcome(() => dtrain.kernels.castToHalf(new Float32Array(4))),
    model: await outcome(() => new dtrain.nn.Sequential(new dtrain.nn.Linear(2, 2)).forward(new Float32Array(2), 1)),
    init: await outcome(() => dtrain.init()),
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
