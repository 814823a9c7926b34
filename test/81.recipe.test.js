'use strict';
// Mixed precision and gradient compression in real multi-process jobs through the launcher:
// agreed skips on overflow, measured bytes against the formats, mismatched settings.
const { expect } = require('chai');
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
});
