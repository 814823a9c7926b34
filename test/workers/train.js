'use strict';
// Worker for test/63.train: the DistributedOptimizer and the Trainer in real multi-process jobs.
// Mode and options come as JSON in argv[2]; results are printed as "RESULT {json}" lines.
const fs = require('node:fs');
const dtrain = require('../..');

const { optim, data } = dtrain;
const { mlp, dataset } = require('../mlp');
const opts = JSON.parse(process.argv[2] || '{}');

function result(obj) {
  console.log(`RESULT ${JSON.stringify(obj)}`);
}

function rows(ds, start, n) {
  return { x: ds.x.subarray(start * ds.features, (start + n) * ds.features), y: ds.y.subarray(start, start + n) };
}

// An optimizer that records the gradients it is asked to apply.
function recorder(params) {
  const seen = [];
  return {
    params,
    lr: 0,
    seen,
    step() {
      seen.push(params.map((p) => Buffer.from(p.grad.buffer, p.grad.byteOffset, p.grad.byteLength).toString('base64')));
      return true;
    },
    zeroGrad() {},
    stateDict() {
      return { type: 'recorder', step: 0, hyper: {}, state: {} };
    },
    loadStateDict() {},
  };
}

function paramsDigest(params) {
  return params.map((p) => Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).toString('base64'));
}

async function averagedGradients(model, batch, { fusionThreshold, overlap, algorithm }) {
  const rec = recorder(model.parameters());
  const dopt = new dtrain.DistributedOptimizer(rec, { fusionThreshold, algorithm, background: opts.background });
  model.lossAndGrad(batch.x, batch.y, batch.y.length, overlap ? { onGrad: (p) => dopt.gradReady(p) } : {});
  await dopt.step();
  return { grads: rec.seen[0], buckets: dopt.buckets.length };
}

// A model with forward() but no countCorrect(): the Trainer's evaluation falls back to argmax.
function forwardOnly(model) {
  return { parameters: () => model.parameters(), lossAndGrad: (...a) => model.lossAndGrad(...a), forward: (x, b) => model.forward(x, b) };
}

// A compressor with per-rank state (how many buckets this rank reduced, and a rank-dependent
// Int32Array), to check it is saved and restored per rank.
class CountingCompressor {
  constructor() {
    this.name = 'counting';
    this.count = 0;
    this.tag = Int32Array.of(dtrain.rank() * 1000);
  }
  async reduce(bucket, comm) {
    this.count++;
    await comm.allreduce(bucket.data, { op: 'avg' });
  }
  reduceSync(bucket, comm) {
    this.count++;
    comm.allreduceSync(bucket.data, { op: 'avg' });
  }
  stateDict() {
    return { count: this.count, tag: this.tag };
  }
  loadStateDict(s) {
    this.count = s.count;
    this.tag = s.tag;
  }
}

const modes = {
  // Fusion and overlap give bitwise the same average as one all-reduce per tensor.
  async fusion() {
    const model = mlp([64, 48, 32, 10], 5);
    const ds = dataset(64, 64, 10, 7);
    const batch = rows(ds, dtrain.rank() * 16, 16);
    const algorithm = opts.algorithm;
    const fused = await averagedGradients(model, batch, { fusionThreshold: 1 << 30, overlap: false, algorithm });
    const perTensor = await averagedGradients(model, batch, { fusionThreshold: 0, overlap: false, algorithm });
    const overlapped = await averagedGradients(model, batch, { fusionThreshold: 4096, overlap: true, algorithm });
    const plain = await averagedGradients(model, batch, { fusionThreshold: 4096, overlap: false, algorithm });
    // The reference: the collectives' own all-reduce, one call per tensor.
    model.lossAndGrad(batch.x, batch.y, 16);
    const manual = [];
    for (const p of model.parameters()) {
      const g = p.grad.slice();
      await dtrain.allreduce(g, { op: 'avg', ...(algorithm ? { algorithm } : {}) });
      manual.push(Buffer.from(g.buffer).toString('base64'));
    }
    result({ fused: fused.grads, perTensor: perTensor.grads, overlapped: overlapped.grads, plain: plain.grads, manual, buckets: [fused.buckets, perTensor.buckets, overlapped.buckets] });
  },

  // 50 steps of SGD (momentum, weight decay): np workers x batch b on the same samples as one
  // worker with batch np * b.
  async equivalence() {
    const model = mlp([784, 64, 32, 10], 3);
    const ds = dataset(50 * 64, 784, 10, 11);
    const opt = new dtrain.DistributedOptimizer(new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-3 }));
    const global = opts.globalBatch;
    const b = global / dtrain.size();
    for (let step = 0; step < 50; step++) {
      const batch = rows(ds, step * global + dtrain.rank() * b, b);
      model.lossAndGrad(batch.x, batch.y, b, { onGrad: (p) => opt.gradReady(p) });
      await opt.step();
    }
    if (dtrain.rank() === 0) {
      const out = Buffer.concat(model.parameters().map((p) => Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength)));
      fs.writeFileSync(opts.out, out);
    }
    result({ digest: paramsDigest(model.parameters()) });
  },

  // Parameters and optimizer state that differ per rank become root's everywhere.
  async broadcast() {
    const model = mlp([12, 8, 3], 10 + dtrain.rank());
    const opt = new optim.SGD(model.parameters(), { lr: 0.1 * (dtrain.rank() + 1), momentum: 0.9 });
    for (const p of model.parameters()) p.grad.fill(dtrain.rank() + 1);
    opt.step();
    const before = { params: paramsDigest(model.parameters()), state: JSON.stringify(opt.stateDict(), (k, v) => (v instanceof Float32Array ? Array.from(v) : v)) };
    await dtrain.broadcastParameters(model, opts.root);
    await dtrain.broadcastOptimizerState(opt, opts.root);
    const after = { params: paramsDigest(model.parameters()), state: JSON.stringify(opt.stateDict(), (k, v) => (v instanceof Float32Array ? Array.from(v) : v)) };
    result({ before, after, lr: opt.lr });
  },

  // Ranks whose models differ: every rank gets the same error.
  async mismatch() {
    const sizes = opts.variant === 'width' && dtrain.rank() === 1 ? [20, 12, 4] : [20, 10, 4];
    let model = mlp(sizes, 1);
    if (opts.variant === 'extra' && dtrain.rank() === 2) model = mlp([20, 10, 4, 4], 1);
    try {
      new dtrain.DistributedOptimizer(new optim.SGD(model.parameters(), { lr: 0.1 }));
      result({ ok: true });
    } catch (err) {
      result({ message: err.message, code: err.code, ranks: err.ranks });
    }
    // The communicator is still usable afterwards.
    const x = Float32Array.of(dtrain.rank());
    await dtrain.allreduce(x);
    result({ after: x[0] });
  },

  // Misuse the DistributedOptimizer is expected to refuse.
  async misuse() {
    const model = mlp([20, 10, 4], 1);
    const ds = dataset(8, 20, 4, 3);
    const opt = new dtrain.DistributedOptimizer(new optim.SGD(model.parameters(), { lr: 0.1 }));
    const out = {};
    try {
      new dtrain.DistributedOptimizer(opt);
    } catch (err) {
      out.nested = err.message;
    }
    model.lossAndGrad(ds.x, ds.y, 8, { onGrad: (p) => opt.gradReady(p) });
    try {
      model.lossAndGrad(ds.x, ds.y, 8, { onGrad: (p) => opt.gradReady(p), accumulate: true });
    } catch (err) {
      out.twice = err.message;
    }
    await opt.step(); // the first pass's buckets were started: finish them on every rank
    result(out);
  },

  // op 'sum', DTRAIN_FUSION_THRESHOLD, and k passes of batch b against one pass of batch kb.
  async reduceOptions() {
    const ds = dataset(64, 30, 5, 9);
    const grads = async (options, passes) => {
      const model = mlp([30, 16, 5], 4);
      const rec = recorder(model.parameters());
      const dopt = new dtrain.DistributedOptimizer(rec, options);
      const b = 32 / passes;
      for (let k = 0; k < passes; k++) {
        const batch = rows(ds, dtrain.rank() * 32 + k * b, b);
        model.lossAndGrad(batch.x, batch.y, b, { onGrad: (p) => dopt.gradReady(p), accumulate: k > 0 });
      }
      let scale = 1;
      rec.step = (o) => {
        scale = o?.gradScale ?? 1;
        rec.seen.push(model.parameters().map((p) => Array.from(p.grad, (v) => v * scale)));
        return true;
      };
      await dopt.step();
      return { g: rec.seen[0], buckets: dopt.buckets.length, scale };
    };
    const avg = await grads({}, 1);
    const sum = await grads({ op: 'sum' }, 1);
    const two = await grads({ backwardPassesPerStep: 2 }, 2);
    result({ avg: avg.g, sum: sum.g, two: two.g, twoScale: two.scale, sumScale: sum.scale, buckets: avg.buckets });
  },

  // The Trainer on the committed slice, optionally checkpointing, resuming, dying or diverging.
  async trainer() {
    const set = data.loadFashionMnist({ sliceOnly: true });
    if (opts.rankBatch && dtrain.rank() === 1) opts.batch = opts.rankBatch;
    const model = opts.noCountCorrect ? forwardOnly(mlp([784, 128, 64, 10], 21)) : mlp([784, 128, 64, 10], 21);
    // Mixed precision with a scale that overflows and grows during the run, and real compressors.
    if (opts.mixed) model.precision = 'fp16';
    const lossScaler = opts.mixed ? new dtrain.amp.LossScaler({ initScale: 2 ** 22, growthInterval: 4 }) : undefined;
    const real = { dgc: () => new dtrain.compress.DGC({ seed: 3, warmup: [0.05] }), onebit: () => new dtrain.compress.OneBit() };
    const inner =
      opts.optimizer === 'lars'
        ? new optim.LARS(model.parameters(), { lr: opts.lr ?? 0.5 })
        : new optim.SGD(model.parameters(), { lr: opts.lr ?? 0.05, momentum: opts.compression === 'dgc' ? 0 : 0.9 });
    const opt = new dtrain.DistributedOptimizer(inner, {
      backwardPassesPerStep: opts.passes ?? 1,
      background: opts.background,
      compression: opts.statefulCompression ? new CountingCompressor() : opts.compression ? real[opts.compression]() : undefined,
      lossScaler,
    });
    const metrics = [];
    let steps = 0;
    if (opts.dieAtStep !== undefined && dtrain.rank() === opts.dieRank) {
      const step = opt.step.bind(opt);
      opt.step = async () => {
        if (++steps === opts.dieAtStep) process.kill(process.pid, 'SIGKILL');
        return step();
      };
    }
    const trainer = new dtrain.Trainer({
      model,
      optimizer: opt,
      data: { train: set.train, test: set.test },
      epochs: opts.epochs ?? 2,
      batchPerWorker: opts.batch ?? 50,
      seed: 4,
      checkpointDir: opts.checkpointDir,
      checkpointEverySteps: opts.checkpointEverySteps,
      resume: opts.resume,
      dropLast: opts.dropLast,
      metricsFile: opts.metricsFile,
      schedule: opts.warmup ? optim.schedules.warmup(opts.lr ?? 0.05, { steps: opts.warmup }) : undefined,
      onMetrics: (m) => metrics.push(m),
      log: () => {},
    });
    try {
      const summary = await trainer.fit();
      const compressor = opts.statefulCompression ? opt.compressor.stateDict() : undefined;
      result({ summary, metrics, digest: paramsDigest(model.parameters()), compressor });
    } catch (err) {
      result({ error: err.message, code: err.code });
      process.exitCode = 3;
    }
  },
};

async function main() {
  await dtrain.init();
  await modes[opts.mode]();
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});

