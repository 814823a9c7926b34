'use strict';
// Mixed precision and gradient compression in real multi-process jobs through the launcher:
// agreed skips on overflow, measured bytes against the formats, mismatched settings.
const { expect } = require('chai');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { runJob, describeJob } = require('./helpers');

function job(np, opts) {
  return runJob({ np, script: 'recipe.js', args: [JSON.stringify(opts)], timeoutMs: 120000 });
}

const planeBytes = (n) => Math.ceil(n / 8);
const words = (bytes) => Math.ceil(bytes / 4);

// The packed message of one bucket in 32-bit words, from each format's definition (not the code).
const FORMAT_WORDS = {
  qsgd: (b) => 1 + Math.ceil(b.n / 512) + words((1 + 4) * planeBytes(b.n)), // s = 15: sign + 4 level planes
  terngrad: (b) => 1 + Math.ceil(b.n / 512) + words(2 * planeBytes(b.n)),
  onebit: (b) => 1 + b.lengths.reduce((w, n) => w + Math.ceil(n / 512) + words(planeBytes(n)), 0),
  dgc: (b) => 2 + 2 * Math.ceil(b.n * Math.fround(0.01)),
};

describe('mixed precision and compression in the loop', function () {
  for (const compression of ['none', 'fp16', 'dgc', 'qsgd', 'terngrad', 'onebit']) {
    it(`np=3 ${compression}: an inf on rank 1 skips the step on every rank, changes no parameter or momentum, backs the scale off; the scale then grows after growthInterval clean steps`, async function () {
      const r = await job(3, { mode: 'overflow', bad: 1, compression });
      expect(r.code, describeJob(r)).to.equal(0);
      expect(r.results).to.have.length(3);
      for (const res of r.results) {
        expect(res.steps.map((s) => s.applied), `rank ${res.worker}`).to.deep.equal([true, false, true, true]);
        expect(res.steps[1].unchanged, `rank ${res.worker}: the skipped step changed something`).to.equal(true);
        expect(res.steps[0].unchanged).to.equal(false);
        // 1024 -> overflow -> 512; two clean steps (growthInterval 2) -> 1024.
        expect(res.steps.map((s) => s.scaleAfter)).to.deep.equal([1024, 512, 512, 1024]);
        expect(res.skipped).to.equal(1);
        expect(res.scalerSkipped).to.equal(1);
        expect(res.optimizerSteps).to.equal(3);
        expect(res.steps[3].params, `rank ${res.worker} vs rank 0`).to.deep.equal(r.results[0].steps[3].params);
      }
    });
  }

  it('np=2: a NaN (not only inf) on rank 0 in the last tensor is skipped everywhere too (qsgd)', async function () {
    const r = await job(2, { mode: 'overflow', bad: 0, nan: true, param: 3, compression: 'qsgd' });
    expect(r.code, describeJob(r)).to.equal(0);
    for (const res of r.results) expect(res.steps.map((s) => s.applied)).to.deep.equal([true, false, true, true]);
  });

  it('np=2: an overflow at minScale is an error naming the update, on every rank, not an endless run of skipped steps', async function () {
    const r = await job(2, { mode: 'minScale' });
    expect(r.code, describeJob(r)).to.equal(0);
    for (const res of r.results) {
      // 4 -> 2 -> 1, then the overflow at 1 is the error.
      expect(res.events).to.deep.equal([
        { applied: false, scale: 2 },
        { applied: false, scale: 1 },
      ]);
      expect(res.error.code).to.equal('ERR_DTRAIN_NONFINITE');
      expect(res.error.message).to.match(/overflowed at update 3 with the loss scale already at minScale \(1\)/);
    }
  });

  for (const np of [2, 3]) {
    for (const compression of ['none', 'fp16', 'qsgd', 'terngrad', 'onebit', 'dgc']) {
      it(`np=${np} ${compression}: bytes the transport sent per step match the format`, async function () {
        const r = await job(np, { mode: 'bytes', compression, fusionThreshold: 100000 });
        expect(r.code, describeJob(r)).to.equal(0);
        const { buckets } = r.results[0];
        expect(buckets.length).to.be.above(1);
        const total = buckets.reduce((s, b) => s + b.n, 0);
        for (const res of r.results) {
          const measured = res.perStep[3];
          let want;
          if (compression === 'none' || compression === 'fp16') {
            // A ring all-reduce sends 2 (P-1)/P of the array per rank (the algorithm auto picks
            // may differ, so allow the halving-doubling/recursive-doubling volumes too).
            const elem = compression === 'none' ? 4 : 2;
            want = buckets.reduce((s, b) => s + (2 * (np - 1) * b.n * elem) / np, 0);
            expect(measured, `rank ${res.worker}`).to.be.within(want * 0.97, Math.max(want * 1.03, total * elem * Math.log2(np) * 1.05 + 4096));
          } else {
            // An all-gather: each rank's message reaches the others once (ring: (P-1) forwards).
            want = buckets.reduce((s, b) => s + 4 * FORMAT_WORDS[compression](b) * (np - 1), 0);
            expect(measured, `rank ${res.worker}: ${measured} bytes, the format needs ${want}`).to.be.within(want, want * 1.02 + 512);
          }
        }
        if (compression === 'none') return;
        // Fewer bytes than float32 whatever the exchange.
        const dense = (2 * (np - 1) * total * 4) / np;
        expect(r.results[0].perStep[3]).to.be.below(dense * (np === 2 ? 0.55 : 0.9));
      });
    }
  }

  it('np=3: ranks configured with different compressors get one error naming the ranks, before any step', async function () {
    const r = await job(3, { mode: 'mismatch', byRank: ['qsgd', 'qsgd7', 'qsgd'] });
    expect(r.code, describeJob(r)).to.equal(0);
    for (const res of r.results) {
      expect(res.error.code).to.equal('ERR_DTRAIN_MISMATCH');
      expect(res.error.ranks).to.deep.equal([1]);
      expect(res.error.message).to.include("ranks 0, 2 have 'compression qsgd levels=15 chunk=512");
      expect(res.error.message).to.include("rank 1 has 'compression qsgd levels=7 chunk=512");
    }
  });

  for (const compression of ['fp16', 'dgc', 'qsgd', 'onebit']) {
    it(`np=2 ${compression} with mixed precision: buckets reduced on the engine thread during backward give the same parameters as on the calling thread`, async function () {
      const r = await job(2, { mode: 'background', compression, mixed: true });
      expect(r.code, describeJob(r)).to.equal(0);
      for (const res of r.results) {
        expect(res.bg.buckets).to.be.above(1);
        expect(res.bg.applied).to.deep.equal(res.fg.applied);
        expect(res.bg.applied, 'the first step at 2^20 overflows').to.include(false);
        expect(res.bg.digest).to.deep.equal(res.fg.digest);
      }
    });
  }

  for (const compression of ['dgc', 'onebit']) {
    it(`np=2 mixed precision + ${compression}: a run killed mid-epoch resumes from its checkpoint bitwise as if never stopped (parameters, loss scale, skipped steps, compressor state)`, async function () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-recipe-'));
      try {
        const base = { mode: 'trainer', epochs: 2, mixed: true, compression };
        const train = (o) => runJob({ np: 2, script: 'train.js', args: [JSON.stringify({ ...base, ...o })], timeoutMs: 120000 });
        const straight = await train({});
        expect(straight.code, describeJob(straight)).to.equal(0);
        const s0 = straight.results[0].summary;
        expect(s0.skipped_steps, 'the scale 2^22 must overflow at least once').to.be.above(0);
        expect(s0.precision).to.equal('mixed');
        const ck = path.join(dir, 'ck');
        const killed = await train({ checkpointDir: ck, checkpointEverySteps: 7, dieAtStep: 25, dieRank: 1 });
        expect(killed.code).to.not.equal(0);
        const resumed = await train({ checkpointDir: ck, checkpointEverySteps: 7, resume: true });
        expect(resumed.code, describeJob(resumed)).to.equal(0);
        for (const r of [0, 1]) {
          const a = straight.results.find((x) => x.worker === r);
          const b = resumed.results.find((x) => x.worker === r);
          expect(b.digest, `rank ${r} parameters`).to.deep.equal(a.digest);
        }
        const s1 = resumed.results[0].summary;
        expect({ scale: s1.loss_scale, skipped: s1.skipped_steps, updates: s1.updates }).to.deep.equal({ scale: s0.loss_scale, skipped: s0.skipped_steps, updates: s0.updates });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
