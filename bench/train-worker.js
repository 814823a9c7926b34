// Worker of `dtrain bench train`: trains the reference MLP (784-512-256-10, SGD lr 0.05 momentum
// 0.9, as the PyTorch DDP peer) for --steps timed steps after --warmup steps, and prints one JSON
// line from rank 0: samples/s over all ranks between two barriers, step time, communication
// wait. Usage: dtrain run -np N bench/train-worker.js --batch B [--steps S] [--warmup W]
//   [--fusion-threshold BYTES] [--algorithm A] [--no-overlap] [--background true|false]
'use strict';
const { parseArgs } = require('node:util');
const dtrain = require('..');

const { nn, optim, data } = dtrain;

async function main() {
  const { values } = parseArgs({
    options: {
      batch: { type: 'string', default: '128' },
      steps: { type: 'string', default: '300' },
      warmup: { type: 'string', default: '30' },
      'fusion-threshold': { type: 'string' },
      algorithm: { type: 'string' },
      'no-overlap': { type: 'boolean', default: false },
      background: { type: 'string' },
    },
  });
  const batch = Number(values.batch);
  const steps = Number(values.steps);
  const warmup = Number(values.warmup);
  await dtrain.init();
  const set = data.loadFashionMnist();
  const model = new nn.Sequential(
    new nn.Linear(784, 512, { seed: 1 }),
    new nn.ReLU(),
    new nn.Linear(512, 256, { seed: 2 }),
    new nn.ReLU(),
    new nn.Linear(256, 10, { seed: 3 }),
  );
  const opt = new dtrain.DistributedOptimizer(new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 }), {
    fusionThreshold: values['fusion-threshold'] === undefined ? undefined : Number(values['fusion-threshold']),
    algorithm: values.algorithm,
    background: values.background === undefined ? undefined : values.background === 'true',
  });
  const sampler = new data.DistributedSampler(set.train.count, { rank: dtrain.rank(), size: dtrain.size(), seed: 1 });
  const loader = new data.BatchLoader(set.train, batch, { dropLast: true });
  const onGrad = values['no-overlap'] ? undefined : (p) => opt.gradReady(p);
  let epoch = 0;
  let indices = sampler.indices();
  let b = 0;
  const step = async () => {
    if (b >= loader.batchesFor(indices.length)) {
      sampler.setEpoch(++epoch);
      indices = sampler.indices();
      b = 0;
    }
    const batchData = loader.fill(indices, b++);
    model.lossAndGrad(batchData.x, batchData.y, batch, { onGrad });
    await opt.step();
  };
  for (let i = 0; i < warmup; i++) await step();
  await dtrain.barrier();
  const wait0 = opt.stats.totalWaitMs;
  const bytes0 = opt.comm.bytesSent;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await step();
  await dtrain.barrier();
  const ms = performance.now() - t0;
  if (dtrain.rank() === 0) {
    console.log(
      JSON.stringify({
        impl: 'dtrain',
        np: dtrain.size(),
        batch_per_worker: batch,
        steps,
        samples_per_s: +((steps * batch * dtrain.size() * 1000) / ms).toFixed(1),
        step_ms: +(ms / steps).toFixed(3),
        comm_wait_ms: +((opt.stats.totalWaitMs - wait0) / steps).toFixed(3),
        bytes_sent_per_step: Math.round((opt.comm.bytesSent - bytes0) / steps),
        buckets: opt.buckets.length,
        fusion_threshold: opt.fusionThreshold,
        overlap: !values['no-overlap'],
        background: opt.background,
        isa: dtrain.kernels.info().isa,
      }),
    );
  }
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
