'use strict';
// What a Horovod or DDP user can get wrong, and options the main tests do not exercise: every
// case fails on every rank with an error that says what to do, or works as documented.
const { expect } = require('chai');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { runJob, describeJob } = require('./helpers');
const train = require('../dist/train');

function job(np, opts, extra = {}) {
  return runJob({ np, script: 'train.js', args: [JSON.stringify(opts)], timeoutMs: 120000, ...extra });
}

describe('training: misuse and options', function () {
  let dir;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-misuse-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('gradReady twice in a step, and a DistributedOptimizer inside another, are errors', async function () {
    const r = await job(2, { mode: 'misuse' });
    expect(r.code, describeJob(r)).to.equal(0);
    for (const x of r.results) {
      expect(x.twice).to.match(/'2.bias' was reported 2 times since the last step\(\), with backwardPassesPerStep 1/);
      expect(x.nested).to.match(/already a DistributedOptimizer/);
    }
  });

  it("op 'sum' is size x the mean; k passes of batch b average like one pass of batch kb; DTRAIN_FUSION_THRESHOLD sets the buckets", async function () {
    const r = await job(2, { mode: 'reduceOptions' }, { env: { DTRAIN_FUSION_THRESHOLD: '0' } });
    expect(r.code, describeJob(r)).to.equal(0);
    const [x] = r.results;
    expect(x.buckets).to.equal(4); // one per tensor
    expect(x.sumScale).to.equal(2);
    expect(x.twoScale).to.equal(0.5);
    x.avg.forEach((g, t) =>
      g.forEach((v, i) => {
        expect(x.sum[t][i]).to.be.closeTo(2 * v, 1e-6 * (1e-3 + Math.abs(v)));
        expect(x.two[t][i]).to.be.closeTo(v, 1e-5 * (1e-3 + Math.abs(v)));
      }),
    );
  });

  it('ranks that disagree on the batch size fail at the start, every rank naming the setting', async function () {
    const r = await job(2, { mode: 'trainer', epochs: 1, batch: 50, rankBatch: 40 });
    expect(r.code).to.not.equal(0);
    expect(r.results.map((x) => x.code)).to.deep.equal(['ERR_DTRAIN_MISMATCH', 'ERR_DTRAIN_MISMATCH']);
    for (const x of r.results) expect(x.error).to.match(/disagree on batchPerWorker: rank 0 has 50, rank 1 has 40/);
  });

  it('an epoch without a step is refused; dropLast drops the short batch', async function () {
    const none = await job(2, { mode: 'trainer', epochs: 1, batch: 1500, dropLast: true });
    expect(none.code).to.not.equal(0);
    expect(none.stderr).to.match(/an epoch would have no step: each of 2 worker\(s\) gets 1000 of the 2000 samples, 0 batch\(es\) of 1500 \(dropLast\)/);
    const drop = await job(2, { mode: 'trainer', epochs: 1, batch: 300, dropLast: true });
    expect(drop.code, describeJob(drop)).to.equal(0);
    expect(drop.results[0].summary.steps).to.equal(3); // 1000 per rank: 3 full batches of 300
  });

  it('resume refuses a checkpoint saved with another batch size, on every rank', async function () {
    const ck = path.join(dir, 'ck-batch');
    const first = await job(2, { mode: 'trainer', epochs: 2, checkpointDir: ck, checkpointEverySteps: 3, dieAtStep: 5, dieRank: 1 });
    expect(first.code).to.not.equal(0);
    const r = await job(2, { mode: 'trainer', epochs: 2, checkpointDir: ck, resume: true, batch: 40 });
    expect(r.code).to.not.equal(0);
    expect(r.results).to.have.length(2);
    for (const x of r.results) expect(x.error).to.match(/saved with batchPerWorker 50; this run has 40 .*nothing was changed/);
  });

  it("a compressor's per-rank state is saved beside the checkpoint and restored on each rank", async function () {
    const ck = path.join(dir, 'ck-comp');
    const straight = await job(2, { mode: 'trainer', epochs: 2, statefulCompression: true });
    expect(straight.code, describeJob(straight)).to.equal(0);
    const killed = await job(2, { mode: 'trainer', epochs: 2, checkpointDir: ck, checkpointEverySteps: 4, dieAtStep: 14, dieRank: 0, statefulCompression: true });
    expect(killed.code).to.not.equal(0);
    expect(fs.readdirSync(ck).sort()).to.include.members(['checkpoint.dtc', 'compressor-rank0.dtc', 'compressor-rank1.dtc']);
    const resumed = await job(2, { mode: 'trainer', epochs: 2, checkpointDir: ck, checkpointEverySteps: 4, resume: true, statefulCompression: true });
    expect(resumed.code, describeJob(resumed)).to.equal(0);
    for (const x of resumed.results) {
      const same = straight.results.find((y) => y.worker === x.worker);
      expect(x.digest).to.deep.equal(same.digest);
      expect(x.compressor.count).to.equal(same.compressor.count); // 2 buckets x 40 steps
      expect(x.compressor.tag).to.deep.equal({ 0: x.worker * 1000 });
    }
  });

  it('metricsFile gets a JSON line per epoch; a model without countCorrect is evaluated through forward', async function () {
    const file = path.join(dir, 'metrics.jsonl');
    const r = await job(2, { mode: 'trainer', epochs: 2, metricsFile: file, noCountCorrect: true });
    expect(r.code, describeJob(r)).to.equal(0);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.epoch)).to.deep.equal([1, 2]);
    expect(lines[1].test_acc).to.equal(r.results[0].summary.test_acc);
    expect(lines[1].test_acc).to.be.above(0.5);
  });

  it('checkpoints hold every typed array as its own type, and refuse others', function () {
    const state = {
      f: Float32Array.of(1.5, -2),
      d: Float64Array.of(0.1),
      i: Int32Array.of(-7, 8),
      u: Uint32Array.of(4294967295),
      h: Uint16Array.of(65535),
      b: Uint8Array.of(1, 2, 3),
      n: { list: [Int16Array.of(-3)], x: 1, bad: NaN },
    };
    const back = train.deserializeCheckpoint(train.serializeCheckpoint(state));
    expect(back).to.deep.equal(state);
    for (const k of ['f', 'd', 'i', 'u', 'h', 'b']) expect(back[k].constructor).to.equal(state[k].constructor);
    expect(() => train.serializeCheckpoint({ v: new DataView(new ArrayBuffer(4)) })).to.throw(TypeError, /cannot hold a DataView/);
  });
});
