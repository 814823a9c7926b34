'use strict';
// Worker for test/81.recipe: mixed precision and compression in real multi-process jobs.
// Mode and options come as JSON in argv[2]; results are printed as "RESULT {json}" lines.
const dtrain = require('../..');

const { optim, amp, compress } = dtrain;
const { mlp, dataset } = require('../mlp');
const opts = JSON.parse(process.argv[2] || '{}');

function result(obj) {
  console.log(`RESULT ${JSON.stringify(obj)}`);
}

const digest = (arrays) => arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64'));

function compressor(name) {
  if (name === 'dgc') return new compress.DGC({ warmup: [], density: 0.01, seed: 1 });
  if (name === 'qsgd') return new compress.QSGD({ seed: 1 });
  if (name === 'terngrad') return new compress.TernGrad({ seed: 1 });
  return name;
}

async function overflow() {
  // Rank `bad` puts an inf in one gradient at step 2; every rank must skip that step and back off.
  const model = mlp([20, 16, 4], 3);
  const params = model.parameters();
  const name = opts.compression ?? 'none';
  const sgd = new optim.SGD(params, { lr: 0.05, momentum: name === 'dgc' ? 0 : 0.9 });
  const scaler = new amp.LossScaler({ initScale: 1024, growthInterval: 2 });
  const dopt = new dtrain.DistributedOptimizer(sgd, { lossScaler: scaler, compression: compressor(name), fusionThreshold: 256 });
  // The compressor's own state (DGC's u and v, 1-bit's residuals) must not absorb the inf either.
  const cstate = () => {
    const s = dopt.compressor.stateDict?.();
    return s ? digest(s.buckets.tensors.flat()) : [];
  };
  const ds = dataset(64, 20, 4, 7 + dtrain.rank());
  const steps = [];
  for (let s = 0; s < 4; s++) {
    const before = { params: digest(params.map((p) => p.data)), state: digest(sgd.stateBuffers()), c: cstate() };
    model.lossAndGrad(ds.x.subarray(s * 16 * 20, (s + 1) * 16 * 20), ds.y.subarray(s * 16, (s + 1) * 16), 16, { lossScale: scaler.scale });
    if (s === 1 && dtrain.rank() === opts.bad) params[opts.param ?? 0].grad[3] = opts.nan ? NaN : Infinity;
    const scaleUsed = scaler.scale;
    const applied = await dopt.step();
    const after = { params: digest(params.map((p) => p.data)), state: digest(sgd.stateBuffers()), c: cstate() };
    steps.push({ applied, scaleUsed, scaleAfter: scaler.scale, unchanged: JSON.stringify(before) === JSON.stringify(after), params: after.params });
  }
  result({ worker: dtrain.rank(), steps, skipped: dopt.skippedSteps, scalerSkipped: scaler.skipped, optimizerSteps: sgd.steps });
}

async function minScale() {
  const model = mlp([8, 4], 1);
  const sgd = new optim.SGD(model.parameters(), { lr: 0.1 });
  const scaler = new amp.LossScaler({ initScale: 4, minScale: 1 });
  const dopt = new dtrain.DistributedOptimizer(sgd, { lossScaler: scaler });
  const ds = dataset(8, 8, 4, 1);
  const events = [];
  try {
    for (let s = 0; s < 10; s++) {
      model.lossAndGrad(ds.x, ds.y, 8, { lossScale: scaler.scale });
      if (dtrain.rank() === 0) model.parameters()[0].grad[0] = Infinity;
      events.push({ applied: await dopt.step(), scale: scaler.scale });
    }
    result({ worker: dtrain.rank(), events, error: null });
  } catch (err) {
    result({ worker: dtrain.rank(), events, error: { message: err.message, code: err.code } });
  }
}

async function bytes() {
  // Bytes this rank's transport sends per step, for each compressor, against the format's size.
  const model = mlp([300, 200, 10], 2);
  const params = model.parameters();
  const name = opts.compression;
  const sgd = new optim.SGD(params, { lr: 0.01, momentum: name === 'dgc' ? 0 : 0.9 });
  const dopt = new dtrain.DistributedOptimizer(sgd, { compression: compressor(name), fusionThreshold: opts.fusionThreshold ?? 1 << 20, background: false });
  const ds = dataset(32, 300, 10, 5 + dtrain.rank());
  const comm = dtrain.getCommunicator();
  const perStep = [];
  for (let s = 0; s < 4; s++) {
    const b0 = comm.bytesSent;
    model.lossAndGrad(ds.x, ds.y, 32, { onGrad: (p) => dopt.gradReady(p) });
    await dopt.step();
    perStep.push(comm.bytesSent - b0);
  }
  result({ worker: dtrain.rank(), perStep, buckets: dopt.buckets.map((b) => ({ n: b.data.length, tensors: b.offsets.length, lengths: b.params.map((p) => p.data.length) })) });
}

async function mismatch() {
  const model = mlp([6, 3], 1);
  const sgd = new optim.SGD(model.parameters(), { lr: 0.1 });
  const byRank = opts.byRank[dtrain.rank()];
  try {
    new dtrain.DistributedOptimizer(sgd, { compression: byRank === 'qsgd7' ? new compress.QSGD({ levels: 7 }) : byRank });
    result({ worker: dtrain.rank(), error: null });
  } catch (err) {
    result({ worker: dtrain.rank(), error: { message: err.message, code: err.code, ranks: err.ranks } });
  }
}

async function background() {
  // The same steps with buckets reduced on the engine thread (launched by gradReady during
  // backward) and on the calling thread: the same parameters, bit for bit.
  const name = opts.compression;
  const run = async (bg) => {
    const model = mlp([40, 30, 20, 4], 6);
    const params = model.parameters();
    const sgd = new optim.SGD(params, { lr: 0.05, momentum: name === 'dgc' ? 0 : 0.9 });
    const scaler = opts.mixed ? new amp.LossScaler({ initScale: 2 ** 20, growthInterval: 2 }) : undefined;
    if (opts.mixed) model.precision = 'fp16';
    const dopt = new dtrain.DistributedOptimizer(sgd, { compression: compressor(name), fusionThreshold: 2000, background: bg, lossScaler: scaler });
    const ds = dataset(64, 40, 4, 11 + dtrain.rank());
    const applied = [];
    for (let s = 0; s < 6; s++) {
      const at = (s % 4) * 16;
      model.lossAndGrad(ds.x.subarray(at * 40, (at + 16) * 40), ds.y.subarray(at, at + 16), 16, { onGrad: (p) => dopt.gradReady(p), lossScale: scaler ? scaler.scale : 1 });
      applied.push(await dopt.step());
    }
    return { digest: digest(params.map((p) => p.data)), applied, buckets: dopt.buckets.length };
  };
  const bg = await run(true);
  const fg = await run(false);
  result({ worker: dtrain.rank(), bg, fg });
}

(async () => {
  await dtrain.init();
  await { overflow, minScale, bytes, mismatch, background }[opts.mode]();
  await dtrain.shutdown();
})().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
