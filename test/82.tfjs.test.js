'use strict';
// dtrain/tfjs: TensorFlow.js models trained data-parallel through real `dtrain run` jobs on the
// cpu backend. The equivalence reference is tfjs itself: one worker with twice the batch.
const { expect } = require('chai');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { runJob, describeJob, ROOT } = require('./helpers');

const EXAMPLE = path.join(ROOT, 'examples', 'tfjs-fashion-mnist.js');
const CLI = path.join(ROOT, 'bin', 'dtrain.js');

function tfjsInstalled() {
  try {
    require.resolve('@tensorflow/tfjs', { paths: [ROOT] });
    return true;
  } catch {
    return false;
  }
}

function byRank(job) {
  return [...job.results].sort((a, b) => a.rank - b.rank);
}

function example(np, args) {
  const out = execFileSync(process.execPath, [CLI, 'run', '-np', String(np), EXAMPLE, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180000 });
  const last = out.trim().split('\n').pop().replace(/^\[0\] /, '');
  return JSON.parse(last);
}

function floats(file) {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

describe('dtrain/tfjs (TensorFlow.js data-parallel)', function () {
  this.timeout(240000);
  let dir;

  before(function () {
    if (!tfjsInstalled()) {
      console.log('      skipped: @tensorflow/tfjs is not installed (npm install --save-dev @tensorflow/tfjs)');
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-tfjs-'));
  });

  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  it('without tfjs, require names the packages to install', () => {
    const { loadTfjs } = require('../dist/adapters/tfjs/load');
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-no-tfjs-'));
    try {
      expect(() => loadTfjs([empty])).to.throw(/@tensorflow\/tfjs-layers\) is not installed.*npm install @tensorflow\/tfjs/).with.property('code', 'MODULE_NOT_FOUND');
    } finally {
      fs.rmSync(empty, { recursive: true });
    }
  });

  // 2 workers with batch b and 1 worker with batch 2b see the same samples per step when the
  // shard is the interleaved one (shuffle off): their means agree up to float32 rounding.
  it('2 workers with batch 16 end with the weights of 1 worker with batch 32 (model and momentum slots)', () => {
    const common = ['--train-samples', '512', '--test-samples', '200', '--lr', '0.05', '--epochs', '1', '--no-shuffle'];
    const two = example(2, [...common, '--batch-per-worker', '16', '--save', path.join(dir, 'two')]);
    const one = example(1, [...common, '--batch-per-worker', '32', '--save', path.join(dir, 'one')]);
    expect(two).to.include({ np: 2, backend: 'cpu', epochs: 1, global_batch: 32 });
    expect(one).to.include({ np: 1, global_batch: 32 });
    const a = floats(path.join(dir, 'two', 'weights.bin'));
    const b = floats(path.join(dir, 'one', 'weights.bin'));
    // 535,818 weights and as many momentum slots, after 16 steps.
    expect(a.length).to.equal(2 * 535818 + 1);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    expect(worst).to.be.below(1e-5);
    expect(two.train_loss).to.be.closeTo(one.train_loss, 1e-4);
  });

  it('a model saved with includeOptimizer loads in plain tfjs, without dtrain', function () {
    const saved = path.join(dir, 'two');
    if (!fs.existsSync(path.join(saved, 'model.json'))) this.skip();
    const script = `
      const fs = require('fs'), path = require('path');
      const tf = require('@tensorflow/tfjs');
      tf.enableProdMode();
      const dir = ${JSON.stringify(saved)};
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
      const bin = fs.readFileSync(path.join(dir, 'weights.bin'));
      const artifacts = { modelTopology: json.modelTopology, trainingConfig: json.trainingConfig,
        weightSpecs: json.weightsManifest[0].weights, weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) };
      tf.loadLayersModel(tf.io.fromMemory(artifacts)).then(async (model) => {
        const w = await model.optimizer.getWeights();
        const out = model.predict(tf.zeros([2, 784]));
        console.log(JSON.stringify({ optimizer: model.optimizer.getClassName(), slots: w.length, iterations: model.optimizer.iterations,
          shape: out.shape, dtrainLoaded: Object.keys(require.cache).some((f) => f.startsWith(${JSON.stringify(path.join(ROOT, 'dist'))})) }));
      });`;
    const run = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
    expect(run.status, run.stderr).to.equal(0);
    const got = JSON.parse(run.stdout.trim().split('\n').pop());
    expect(got).to.deep.equal({ optimizer: 'Momentum', slots: 7, iterations: 16, shape: [2, 10], dtrainLoaded: false });
  });

  // wasm copies arrays into its heap, so the reduced gradients go in as views of the buckets
  // (the cpu backend above gets copies): the same equivalence must hold.
  it('on the wasm backend too: 2 workers with batch 16 match 1 worker with batch 32; an unknown backend is refused', function () {
    try {
      require.resolve('@tensorflow/tfjs-backend-wasm', { paths: [ROOT] });
    } catch {
      this.skip();
    }
    const common = ['--backend', 'wasm', '--train-samples', '512', '--test-samples', '200', '--lr', '0.05', '--epochs', '1', '--no-shuffle'];
    const two = example(2, [...common, '--batch-per-worker', '16', '--save', path.join(dir, 'wasm-two')]);
    example(1, [...common, '--batch-per-worker', '32', '--save', path.join(dir, 'wasm-one')]);
    expect(two).to.include({ np: 2, backend: 'wasm', epochs: 1, train_samples: 512, global_batch: 32 });
    expect(two.comm_share).to.be.within(0, 1);
    const a = floats(path.join(dir, 'wasm-two', 'weights.bin'));
    const b = floats(path.join(dir, 'wasm-one', 'weights.bin'));
    expect(a.length).to.equal(b.length);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    expect(worst).to.be.below(1e-5);
    const bad = spawnSync(process.execPath, [EXAMPLE, '--backend', 'gpu'], { cwd: ROOT, encoding: 'utf8' });
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.include('--backend must be cpu or wasm');
  });

  it('BroadcastWeightsCallback makes different initial weights equal; MetricAverageCallback gives every rank the global metrics', async () => {
    const job = await runJob({ np: 2, script: 'tfjs.js', args: ['broadcast'] });
    expect(job.code, describeJob(job)).to.equal(0);
    const [r0, r1] = byRank(job);
    expect(r0.before).to.not.equal(r1.before);
    expect(r1.atBegin).to.equal(r0.before);
    expect(r0.atBegin).to.equal(r0.before);
    expect(r1.after).to.equal(r0.after);
    expect(r1.after).to.not.equal(r0.atBegin);
    // The momentum slots (4 tensors and the step count) exist and were kept in step.
    expect(r0.optimizerWeights).to.equal(5);
    expect(r0.iterations).to.equal(12);
    expect(r1.iterations).to.equal(12);
    expect(r1.epochs).to.deep.equal(r0.epochs);
    expect(r0.history).to.deep.equal(r0.epochs.map((e) => e.loss));
    expect(r0.rows).to.equal(48);
  });

  it('fitDataset on a sharded tf.data.Dataset: disjoint rows, the same batches on every rank', async () => {
    const job = await runJob({ np: 2, script: 'tfjs.js', args: ['dataset'] });
    expect(job.code, describeJob(job)).to.equal(0);
    const [r0, r1] = byRank(job);
    expect(r0.rows).to.have.length(25);
    expect(r1.rows).to.have.length(25);
    expect([...r0.rows, ...r1.rows].sort((a, b) => a - b)).to.deep.equal([...Array(50).keys()]);
    expect(r0.batches).to.equal(7);
    expect(r1.batches).to.equal(7);
    expect(r1.after).to.equal(r0.after);
  });

  it('leaks no tensor over 100 minimize steps and 4 epochs of fit', async () => {
    const job = await runJob({ np: 2, script: 'tfjs.js', args: ['leak'] });
    expect(job.code, describeJob(job)).to.equal(0);
    for (const r of job.results) {
      expect(r.counts[1], 'after 100 steps').to.equal(r.counts[0]);
      expect(new Set(r.perEpoch).size, `per epoch ${r.perEpoch}`).to.equal(1);
      expect(r.buckets).to.equal(100 + 4 * 8);
    }
  });

  it('compressed gradients (fp16, qsgd, dgc) keep the ranks identical and the loss falling', async () => {
    const job = await runJob({ np: 2, script: 'tfjs.js', args: ['compression'] });
    expect(job.code, describeJob(job)).to.equal(0);
    const [r0, r1] = byRank(job);
    for (const name of ['fp16', 'qsgd', 'dgc']) {
      expect(r1.out[name].weights, name).to.equal(r0.out[name].weights);
      expect(r0.out[name].last, name).to.be.below(r0.out[name].first * 0.95);
    }
  });

  it('repeated fits leak on no rank; DGC follows its warm-up; Adamax trains; a changed variable set restarts 1-bit', async () => {
    const job = await runJob({ np: 2, script: 'tfjs.js', args: ['robust'] });
    expect(job.code, describeJob(job)).to.equal(0);
    const [r0, r1] = byRank(job);
    for (const r of [r0, r1]) {
      expect(new Set(r.counts).size, `rank ${r.rank} tensors after each fit: ${r.counts}`).to.equal(1);
      expect(r.densities).to.deep.equal([0.5, 0.25, 0.05]);
    }
    expect(r1.adamax).to.equal(r0.adamax);
    expect(r1.onebit).to.equal(r0.onebit);
    expect(job.stderr).to.include("the optimizer's state is not broadcast (Adamax.getWeights() failed");
  });

  it('a rank whose step leaves a variable out gets, with the others, the error naming it', async () => {
    const job = await runJob({ np: 2, script: 'tfjs.js', args: ['divergent'] });
    expect(job.code, describeJob(job)).to.equal(0);
    expect(job.results).to.have.length(2);
    for (const { error } of job.results) {
      expect(error.code).to.equal('ERR_DTRAIN_MISMATCH');
      expect(error.message).to.include("rank 0 has 'dense_Dense1/kernel' (640 elements); rank 1 has 'dense_Dense1/bias' (32 elements)");
    }
  });

  it('models that differ across ranks fail on every rank, naming the variable', async () => {
    const job = await runJob({ np: 2, script: 'tfjs.js', args: ['mismatch'] });
    expect(job.code, describeJob(job)).to.equal(0);
    const errors = job.results.filter((r) => r.error);
    const broadcasts = job.results.filter((r) => r.broadcast);
    expect(errors).to.have.length(2);
    expect(broadcasts).to.have.length(2);
    for (const { error } of errors) {
      expect(error.code).to.equal('ERR_DTRAIN_MISMATCH');
      expect(error.message).to.match(/rank 0 has 'dense_Dense1\/kernel' \(640 elements\); rank 1 has 'dense_Dense1\/kernel' \(660 elements\)/);
      expect(error.ranks).to.deep.equal([1]);
    }
    for (const { broadcast } of broadcasts) expect(broadcast.code).to.equal('ERR_DTRAIN_MISMATCH');
  });

  it('bad arguments are errors that say what to do', async () => {
    const job = await runJob({ np: 1, script: 'tfjs.js', args: ['misuse'] });
    expect(job.code, describeJob(job)).to.equal(0);
    const [{ errors, instance, className }] = job.results;
    expect(instance).to.equal(true);
    expect(className).to.equal('SGD');
    expect(errors.notOptimizer.message).to.match(/wrap a tf\.Optimizer/);
    expect(errors.twice.message).to.match(/already a DistributedOptimizer/);
    expect(errors.badOption.message).to.match(/unknown option 'fusion'/);
    expect(errors.badOp).to.include({ name: 'RangeError' });
    expect(errors.dgcMomentum.message).to.match(/wrap tf\.train\.sgd/);
    expect(errors.int32).to.include({ name: 'TypeError' });
    expect(errors.int32.message).to.match(/gradient of 'counts' is int32/);
    expect(errors.shardRows.message).to.match(/same first dimension/);
    expect(errors.shardRank.message).to.match(/rank must be an integer in \[0, 2\)/);
    expect(errors.shardType.message).to.match(/not a tf\.Tensor/);
    expect(errors.shardSize.message).to.match(/give bufferSize/);
  });
});
