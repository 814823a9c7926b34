// The training loop of examples/fashion-mnist.js with parameter servers (--mode ps-sync,
// ps-async, ssp): each worker trains on its shard, pushes its gradients and pulls the values the
// servers hold, one pushPull per step. Worker 0 evaluates (alone: in async modes no other worker
// waits for it) and prints the summary.
'use strict';
const dtrain = require('..');

const { data, optim, ps } = dtrain;

/** Rows [0, rows) of the test set, as counts of correct predictions. */
function accuracy(model, test, rows, evalBatch = 1000) {
  const n = Math.min(rows ?? test.count, test.count);
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  const loader = new data.BatchLoader(test, evalBatch);
  let correct = 0;
  for (const b of loader.epoch(idx)) correct += model.countCorrect(b.x, b.y, b.size);
  return correct / n;
}

/**
 * Trains `model` with the servers. `o` is the example's options: mode, staleness, stalenessLr,
 * epochs, batch, lr, momentum, weightDecay, optimizer, compression, seed, evalEvery,
 * evalSamples, json; `say` prints on worker 0.
 */
async function trainWithServers({ o, model, set, compression, say }) {
  const rank = dtrain.rank();
  const workers = dtrain.size();
  const params = model.parameters();
  const mode = { 'ps-sync': 'sync', 'ps-async': 'async', ssp: 'ssp' }[o.mode];
  const optimizer =
    o.optimizer === 'lars'
      ? { type: 'lars', lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay ?? 5e-4 }
      : { type: 'sgd', lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay ?? 0 };
  await ps.init(params, {
    mode,
    staleness: mode === 'ssp' ? o.staleness : undefined,
    staleLr: o.stalenessLr,
    optimizer,
    compression,
  });
  const sampler = new data.DistributedSampler(set.train.count, { rank, size: workers, shuffle: true, seed: o.seed });
  const loader = new data.BatchLoader(set.train, o.batch);
  const stepsPerEpoch = loader.batchesFor(sampler.numSamples);
  const total = o.epochs * stepsPerEpoch;
  const schedule =
    o.schedule === 'constant' ? optim.schedules.constant(o.lr) : optim.schedules.cosine({ lr: o.lr, totalSteps: total });
  say(
    `${workers} worker(s) and ${ps.numServers()} parameter server(s), mode ${mode}` +
      `${mode === 'ssp' ? ` (staleness ${o.staleness})` : ''}, batch ${o.batch} per push, ${o.optimizer} lr ${+o.lr.toPrecision(4)} on the servers`,
  );
  const t0 = performance.now();
  const evals = [];
  let step = 0;
  let lossSum = 0;
  let stalenessSum = 0;
  let trainLoss = NaN;
  let epochAcc = null;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    sampler.setEpoch(epoch);
    const indices = sampler.indices();
    lossSum = 0;
    for (let s = 0; s < stepsPerEpoch; s++) {
      const b = loader.fill(indices, s);
      lossSum += model.lossAndGrad(b.x, b.y, b.size);
      const r = await ps.pushPull(params, { lr: schedule(step) });
      stalenessSum += r.staleness;
      step++;
      if (rank === 0 && o.evalEvery > 0 && step % o.evalEvery === 0) {
        const point = { step, epoch: epoch + 1, test_acc: accuracy(model, set.test, o.evalSamples), wall_s: (performance.now() - t0) / 1000 };
        evals.push(point);
        if (o.json) console.log(JSON.stringify({ eval: point }));
      }
    }
    trainLoss = lossSum / stepsPerEpoch;
    if (rank === 0) {
      epochAcc = accuracy(model, set.test);
      say(`epoch ${epoch + 1}/${o.epochs}: loss ${trainLoss.toFixed(4)} (worker 0), test accuracy ${epochAcc.toFixed(4)} (worker 0's copy), ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  }
  const trainS = (performance.now() - t0) / 1000;
  const client = ps.getClient();
  const myWaitMs = client.waitMs;
  // Waits for every worker to finish, then takes the final values and the servers' figures.
  const stats = await ps.close(params);
  const wallS = (performance.now() - t0) / 1000;
  const finalAcc = rank === 0 ? accuracy(model, set.test) : null;
  const pushes = stats.reduce((a, s) => a + s.pushes, 0);
  const summary = {
    np: workers,
    epochs: o.epochs,
    steps: step,
    updates: stats[0].updates,
    skipped_steps: 0,
    precision: 'fp32',
    compression: typeof compression === 'string' ? compression : compression.name,
    batch_per_worker: o.batch,
    test_acc: finalAcc,
    train_loss: trainLoss,
    samples_per_s: (stats[0].clocks.reduce((a, c) => a + c, 0) * o.batch) / wallS,
    step_ms: (trainS * 1000) / step,
    comm_wait_ms: myWaitMs / step,
    mode: o.mode,
    servers: ps.numServers(),
    staleness: mode === 'ssp' ? o.staleness : mode === 'sync' ? 0 : null,
    wall_s: wallS,
    mean_staleness: stats.reduce((a, s) => a + s.mean_staleness * s.pushes, 0) / Math.max(1, pushes),
    max_staleness: Math.max(...stats.map((s) => s.max_staleness)),
    max_lead: Math.max(...stats.map((s) => s.max_lead)),
    worker_mean_staleness: stalenessSum / step,
    server_busy_share: stats.reduce((a, s) => a + s.busy_s, 0) / stats.reduce((a, s) => a + Math.max(s.active_s, 1e-9), 0),
    pushes_per_s_per_server: pushes / stats.length / wallS,
    dropped_workers: [...new Set(stats.flatMap((s) => s.dropped.map((d) => d.worker)))],
    clocks: stats[0].clocks,
    evals,
    last_epoch_test_acc_worker0: epochAcc,
  };
  return summary;
}

module.exports = { trainWithServers, accuracy };
