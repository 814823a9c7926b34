'use strict';
// The DistributedOptimizer and the Trainer in real multi-process jobs through the launcher.
const { expect } = require('chai');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { runJob, describeJob } = require('./helpers');

// A Buffer's bytes as float32 (small Buffers live at an offset in a shared pool).
function float32(buf) {
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
}

function job(np, opts, extra = {}) {
  return runJob({ np, script: 'train.js', args: [JSON.stringify(opts)], timeoutMs: 120000, ...extra });
}

describe('training: DistributedOptimizer and Trainer', function () {
  let dir;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-train-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const [np, algorithm, background] of [
    [2, undefined, true],
    [2, undefined, false],
    [3, 'recursive-doubling', true],
    [4, 'halving-doubling', false],
  ]) {
    it(`np=${np}${algorithm ? ` ${algorithm}` : ''}, reduced on the ${background ? 'engine' : 'calling'} thread: fused buckets, one bucket per tensor, overlap on and off all equal per-tensor all-reduce bitwise`, async function () {
      const r = await job(np, { mode: 'fusion', algorithm, background });
      expect(r.code, describeJob(r)).to.equal(0);
      expect(r.results).to.have.length(np);
      const [first] = r.results;
      expect(first.buckets[0]).to.equal(1);
      expect(first.buckets[1]).to.equal(6);
      expect(first.buckets[2]).to.be.within(2, 5);
      for (const res of r.results) {
        for (const key of ['fused', 'perTensor', 'overlapped', 'plain']) expect(res[key], `rank ${res.worker} ${key}`).to.deep.equal(res.manual);
        expect(res.manual, `rank ${res.worker} vs rank 0`).to.deep.equal(first.manual);
      }
    });
  }

  it('np=3 ring: fusion changes only the summation order of an element (chunk position), within float32 rounding', async function () {
    const r = await job(3, { mode: 'fusion', algorithm: 'ring' });
    expect(r.code, describeJob(r)).to.equal(0);
    const floats = (b64s) => b64s.map((s) => float32(Buffer.from(s, 'base64')));
    for (const res of r.results) {
      const want = floats(res.manual);
      expect(res.perTensor).to.deep.equal(res.manual);
      floats(res.fused).forEach((g, t) => g.forEach((v, i) => expect(v).to.be.closeTo(want[t][i], 1e-6 * (1e-3 + Math.abs(want[t][i])))));
      expect(res.fused).to.deep.equal(r.results[0].fused); // every rank still bitwise identical
    }
  });

  it('2 workers x batch 32 give the same parameters after 50 steps as 1 worker x batch 64', async function () {
    const two = path.join(dir, 'two.bin');
    const one = path.join(dir, 'one.bin');
    const r2 = await job(2, { mode: 'equivalence', globalBatch: 64, out: two });
    expect(r2.code, describeJob(r2)).to.equal(0);
    expect(r2.results[0].digest).to.deep.equal(r2.results[1].digest); // ranks bitwise identical
    const r1 = await job(1, { mode: 'equivalence', globalBatch: 64, out: one });
    expect(r1.code, describeJob(r1)).to.equal(0);
    const a = float32(fs.readFileSync(two));
    const b = float32(fs.readFileSync(one));
    expect(a.length).to.equal(b.length);
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) {
      worst = Math.max(worst, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(b[i]));
    }
    // Only float32 reassociation differs (two half-batch means averaged vs one mean).
    expect(worst, `max |diff| ${worst}`).to.be.below(2e-6 * scale); // measured: 2.4e-7 of the largest
    expect(worst).to.be.above(0); // it is a real comparison of two different computations
  });

  it('broadcastParameters and broadcastOptimizerState copy root 1 to every rank', async function () {
    const r = await job(3, { mode: 'broadcast', root: 1 });
    expect(r.code, describeJob(r)).to.equal(0);
    const root = r.results.find((x) => x.worker === 1);
    expect(r.results.find((x) => x.worker === 0).before.params).to.not.deep.equal(root.before.params);
    for (const x of r.results) {
      expect(x.after.params).to.deep.equal(root.before.params);
      expect(x.after.state).to.equal(root.before.state);
      expect(x.lr).to.be.closeTo(0.2, 1e-12);
    }
  });

  it('ranks with different models get the same error naming the first differing parameter, then carry on', async function () {
    const r = await job(2, { mode: 'mismatch', variant: 'width' });
    expect(r.code, describeJob(r)).to.equal(0);
    const errs = r.results.filter((x) => x.message);
    expect(errs).to.have.length(2);
    for (const e of errs) {
      expect(e.code).to.equal('ERR_DTRAIN_MISMATCH');
      expect(e.message).to.equal(errs[0].message);
      expect(e.message).to.match(/differ at parameter #0: rank 0 has '0\.weight' \(200 elements\); rank 1 has '0\.weight' \(240 elements\)/);
    }
    expect(r.results.filter((x) => 'after' in x).map((x) => x.after)).to.deep.equal([1, 1]);
    const r3 = await job(3, { mode: 'mismatch', variant: 'extra' });
    expect(r3.code, describeJob(r3)).to.equal(0);
    const e3 = r3.results.filter((x) => x.message);
    expect(e3).to.have.length(3);
    expect(e3[0].message).to.match(/#4: ranks 0, 1 have no parameter; rank 2 has '4\.weight' \(16 elements\) \(parameter counts per rank: 4, 4, 6\)/);
    expect(e3[0].ranks).to.deep.equal([2]);
  });

  it('trains 2 workers on the committed slice: loss falls, ranks stay bitwise identical, the summary has every field', async function () {
    const r = await job(2, { mode: 'trainer', epochs: 3 });
    expect(r.code, describeJob(r)).to.equal(0);
    const [a, b] = r.results;
    expect(a.digest).to.deep.equal(b.digest);
    const losses = a.metrics.map((m) => m.train_loss);
    expect(losses[2]).to.be.below(losses[0]);
    expect(a.summary).to.have.all.keys('np', 'epochs', 'steps', 'updates', 'skipped_steps', 'loss_scale', 'precision', 'compression', 'batch_per_worker', 'test_acc', 'train_loss', 'samples_per_s', 'step_ms', 'comm_wait_ms', 'bytes_sent_per_step');
    expect(a.summary.np).to.equal(2);
    expect(a.summary.steps).to.equal(60); // 1000 samples per rank / 50 per batch x 3 epochs
    expect(a.summary.test_acc).to.be.above(0.6);
    // float32 gradients of the whole model, once per step (ring all-reduce at np=2 sends n bytes).
    const params = 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10;
    expect(a.summary.bytes_sent_per_step).to.be.within(params * 4, params * 4 + 4096);
    expect(a.metrics.map((m) => m.test_acc)).to.deep.equal(b.metrics.map((m) => m.test_acc));
  });

  it('resume from a checkpoint at an epoch end continues bitwise as if never stopped', async function () {
    const straight = await job(2, { mode: 'trainer', epochs: 3 });
    expect(straight.code, describeJob(straight)).to.equal(0);
    const ck = path.join(dir, 'ck-epoch');
    const first = await job(2, { mode: 'trainer', epochs: 1, checkpointDir: ck });
    expect(first.code, describeJob(first)).to.equal(0);
    const resumed = await job(2, { mode: 'trainer', epochs: 3, checkpointDir: ck, resume: true });
    expect(resumed.code, describeJob(resumed)).to.equal(0);
    expect(resumed.results[0].digest).to.deep.equal(straight.results[0].digest);
    expect(resumed.results[0].metrics.map((m) => m.epoch)).to.deep.equal([2, 3]);
    expect(resumed.results[0].summary.steps).to.equal(60);
  });

  it('a worker killed mid-epoch fails the job naming its rank; --resume finishes with the same parameters', async function () {
    const straight = await job(2, { mode: 'trainer', epochs: 2, checkpointEverySteps: 7 });
    const ck = path.join(dir, 'ck-kill');
    const killed = await job(2, { mode: 'trainer', epochs: 2, checkpointDir: ck, checkpointEverySteps: 7, dieAtStep: 31, dieRank: 1 });
    expect(killed.code, describeJob(killed)).to.not.equal(0);
    expect(killed.stderr).to.match(/rank 1 (was killed|exited).*SIGKILL/);
    expect(killed.stdout + killed.stderr).to.match(/ERR_DTRAIN_PEER_LOST|rank 1/);
    const survivor = killed.results.find((x) => x.worker === 0);
    if (survivor) expect(survivor.error).to.match(/rank 1/);
    const resumed = await job(2, { mode: 'trainer', epochs: 2, checkpointDir: ck, checkpointEverySteps: 7, resume: true });
    expect(resumed.code, describeJob(resumed)).to.equal(0);
    expect(resumed.results[0].digest).to.deep.equal(straight.results[0].digest);
  });

  it('with the all-reduces on the engine thread, a killed worker still fails the survivors naming it', async function () {
    const killed = await job(2, { mode: 'trainer', epochs: 1, dieAtStep: 5, dieRank: 0, background: true });
    expect(killed.code).to.not.equal(0);
    const survivor = killed.results.find((x) => x.worker === 1);
    expect(survivor, describeJob(killed)).to.not.equal(undefined);
    expect(survivor.code).to.equal('ERR_DTRAIN_PEER_LOST');
    expect(survivor.error).to.match(/rank 0/);
  });

  it('a corrupt, truncated or mismatched checkpoint is a clear error and nothing is loaded', async function () {
    const ck = path.join(dir, 'ck-bad');
    const ok = await job(1, { mode: 'trainer', epochs: 1, checkpointDir: ck });
    expect(ok.code, describeJob(ok)).to.equal(0);
    const file = path.join(ck, 'checkpoint.dtc');
    const good = fs.readFileSync(file);
    fs.writeFileSync(file, good.subarray(0, good.length - 100));
    let r = await job(1, { mode: 'trainer', epochs: 2, checkpointDir: ck, resume: true });
    expect(r.results[0].error).to.match(/checkpoint\.dtc: truncated or padded/);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 50] ^= 0xff;
    fs.writeFileSync(file, flipped);
    r = await job(1, { mode: 'trainer', epochs: 2, checkpointDir: ck, resume: true });
    expect(r.results[0].error).to.match(/corrupt \(checksum mismatch\)/);
    fs.writeFileSync(file, good);
    r = await job(1, { mode: 'trainer', epochs: 2, checkpointDir: ck, resume: true, optimizer: 'lars' });
    expect(r.results[0].error).to.match(/optimizer state: .*SGD optimizer's, not LARS's.*nothing was changed/);
  });

  it('a diverging loss stops every rank at the same step with an error naming epoch and step', async function () {
    const r = await job(2, { mode: 'trainer', epochs: 1, lr: 1e30 });
    expect(r.code).to.not.equal(0);
    const errs = r.results.map((x) => x.error);
    expect(errs).to.have.length(2);
    expect(errs[0]).to.equal(errs[1]);
    expect(errs[0]).to.match(/inf or NaN at epoch 1, step \d+ of 20/);
    expect(r.results[0].code).to.equal('ERR_DTRAIN_NONFINITE');
  });

  it('backwardPassesPerStep 2 averages two local batches per all-reduce', async function () {
    const r = await job(2, { mode: 'trainer', epochs: 1, passes: 2, batch: 25 });
    expect(r.code, describeJob(r)).to.equal(0);
    expect(r.results[0].summary.steps).to.equal(20); // 40 batches of 25 per rank, 2 per step
    expect(r.results[0].digest).to.deep.equal(r.results[1].digest);
  });
});
