'use strict';
// Optimizers against their formulas in float64 and against torch.optim; schedules at their
// boundaries and against torch's schedulers; state dicts.
const { expect } = require('chai');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { optim } = require('..');
const { torchPython } = require('./torch');

const { schedules } = optim;

function param(name, values, shape) {
  const data = Float32Array.from(values);
  return { name, data, grad: new Float32Array(data.length), shape: shape ?? [data.length] };
}

function wave(n, seed) {
  return Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.3) * (1 + (i % 3)));
}

// torch.optim.SGD's update in float64, from its documentation.
function sgdReference(w0, grads, { lr, momentum = 0, nesterov = false, weightDecay = 0 }) {
  const w = w0.slice();
  let buf = null;
  for (const g0 of grads) {
    const g = g0.map((v, i) => v + weightDecay * w[i]);
    let d = g;
    if (momentum !== 0) {
      buf = buf === null ? g.slice() : buf.map((b, i) => momentum * b + g[i]);
      d = nesterov ? g.map((v, i) => v + momentum * buf[i]) : buf;
    }
    for (let i = 0; i < w.length; i++) w[i] -= lr * d[i];
  }
  return w;
}

function runSgd(w0, grads, opts) {
  const p = param('w', w0);
  const opt = new optim.SGD([p], opts);
  for (const g of grads) {
    p.grad.set(g);
    expect(opt.step()).to.equal(true);
  }
  return Array.from(p.data);
}

function python(request, script) {
  const py = torchPython();
  const r = spawnSync(py, [path.join(__dirname, 'peers', script)], { input: JSON.stringify(request), encoding: 'utf8' });
  expect(r.status, r.stderr).to.equal(0);
  return JSON.parse(r.stdout);
}

const SGD_CASES = [
  { lr: 0.1 },
  { lr: 0.05, momentum: 0.9 },
  { lr: 0.05, momentum: 0.9, nesterov: true },
  { lr: 0.02, momentum: 0.8, weightDecay: 0.01 },
  { lr: 0.02, momentum: 0.9, nesterov: true, weightDecay: 5e-4 },
];

describe('optim', function () {
  describe('SGD', function () {
    it('follows torch.optim.SGD (momentum, Nesterov, weight decay) within float32 rounding', function () {
      const w0 = wave(37, 1);
      const grads = [2, 3, 4, 5, 6].map((s) => wave(37, s));
      for (const c of SGD_CASES) {
        const want = sgdReference(w0, grads, c);
        const got = runSgd(w0, grads, c);
        got.forEach((v, i) => expect(v, JSON.stringify(c)).to.be.closeTo(want[i], 1e-5 * (1 + Math.abs(want[i]))));
      }
    });

    it('agrees with torch.optim.SGD itself', function () {
      if (!torchPython()) this.skip();
      const w0 = wave(29, 3);
      const grads = [1, 2, 3, 4].map((s) => wave(29, s + 10));
      const answer = python(
        {
          sgd: SGD_CASES.map((c) => ({
            lr: c.lr,
            momentum: c.momentum ?? 0,
            nesterov: c.nesterov ?? false,
            weight_decay: c.weightDecay ?? 0,
            w: w0,
            grads,
          })),
        },
        'torch_optim_reference.py',
      );
      SGD_CASES.forEach((c, k) => {
        const got = runSgd(w0, grads, c);
        got.forEach((v, i) => expect(v, JSON.stringify(c)).to.be.closeTo(answer.sgd[k][i], 2e-6 * (1 + Math.abs(v))));
      });
    });

    it('skips a step with an inf/NaN gradient, changing nothing; gradScale multiplies the gradients', function () {
      const p = param('w', [1, 2, 3]);
      const opt = new optim.SGD([p], { lr: 0.5, momentum: 0.9 });
      p.grad.set([1, NaN, 1]);
      expect(opt.step()).to.equal(false);
      expect(Array.from(p.data)).to.deep.equal([1, 2, 3]);
      expect(opt.skipped).to.equal(1);
      p.grad.set([2, 2, 2]);
      expect(opt.step({ gradScale: 0.5 })).to.equal(true);
      expect(Array.from(p.data)).to.deep.equal([0.5, 1.5, 2.5]);
    });

    it('state dict round trip; loading a mismatched state fails and changes nothing', function () {
      const a = param('a', wave(5, 1));
      const opt = new optim.SGD([a, param('b', wave(3, 2))], { lr: 0.1, momentum: 0.9 });
      opt.params.forEach((p) => p.grad.set(wave(p.data.length, 4)));
      opt.step();
      const sd = opt.stateDict();
      expect(sd.type).to.equal('SGD');
      expect(sd.step).to.equal(1);
      expect(sd.hyper).to.deep.include({ lr: 0.1, momentum: 0.9, nesterov: false, weightDecay: 0 });
      const other = new optim.SGD([param('a', wave(5, 9)), param('b', wave(3, 9))], { lr: 0.3 });
      other.loadStateDict(sd);
      expect(other.lr).to.equal(0.1);
      expect(other.momentum).to.equal(0.9);
      expect(other.stateDict().state).to.deep.equal(sd.state);
      const wrong = new optim.SGD([param('a', wave(5, 9)), param('b', wave(4, 9))], { lr: 0.3 });
      expect(() => wrong.loadStateDict(sd)).to.throw(RangeError, /parameter 'b' has 4 elements; its saved momentum has 3/);
      expect(wrong.lr).to.equal(0.3);
      expect(wrong.stateDict().state.a.momentum.every((v) => v === 0)).to.equal(true);
      const lars = new optim.LARS([param('a', wave(5, 9)), param('b', wave(3, 9))], { lr: 0.3 });
      expect(() => lars.loadStateDict(sd)).to.throw(TypeError, /SGD optimizer's, not LARS's/);
    });

    it('rejects bad options and parameters, naming them', function () {
      const p = param('w', [1, 2]);
      expect(() => new optim.SGD([p], { lr: 0.1, momentm: 0.9 })).to.throw(TypeError, /unknown option 'momentm'/);
      expect(() => new optim.SGD([p], { lr: -1 })).to.throw(RangeError, /lr must be a finite number >= 0/);
      expect(() => new optim.SGD([p], { lr: 0.1, nesterov: true })).to.throw(RangeError, /nesterov needs momentum > 0/);
      expect(() => new optim.SGD([{ name: 'x', data: new Float32Array(3), grad: new Float32Array(2) }], { lr: 0.1 })).to.throw(
        TypeError,
        /parameter 'x': grad has 2 elements but data has 3/,
      );
      expect(() => new optim.SGD([p, param('w', [1])], { lr: 0.1 })).to.throw(TypeError, /two parameters are named 'w'/);
      const opt = new optim.SGD([p], { lr: 0.1 });
      expect(() => (opt.lr = NaN)).to.throw(RangeError);
      opt.momentum = NaN;
      expect(() => opt.step()).to.throw(RangeError, /momentum must be a finite number >= 0, got NaN/);
      opt.momentum = 0;
      expect(() => opt.step({ gradScale: 0 })).to.throw(RangeError, /gradScale must be > 0/);
      expect(() => opt.step({ gradScale: -1 })).to.throw(RangeError, /gradScale/);
      p.grad.fill(3);
      opt.zeroGrad();
      expect(Array.from(p.grad)).to.deep.equal([0, 0]);
    });
  });

  describe('LARS', function () {
    it('trust ratio eta*|w|/(|g|+wd*|w|), 1 for excluded (1-D by default) and zero-norm tensors; the update in float64', function () {
      const w = param('0.weight', wave(12, 1), [3, 4]);
      const b = param('0.bias', wave(3, 2), [3]);
      const z = param('1.weight', new Array(6).fill(0), [2, 3]); // zero weights: ratio 1
      const zg = param('2.weight', wave(4, 5), [2, 2]); // zero gradient: ratio 1
      const opts = { lr: 0.1, momentum: 0.9, weightDecay: 5e-4, eta: 0.001 };
      const opt = new optim.LARS([w, b, z, zg], opts);
      expect(opt.excluded).to.deep.equal([false, true, false, false]);
      w.grad.set(wave(12, 3));
      b.grad.set(wave(3, 4));
      z.grad.set(wave(6, 6));
      zg.grad.fill(0);
      const before = [w, b, z, zg].map((p) => Array.from(p.data));
      expect(opt.step()).to.equal(true);
      const norm = (a) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));
      const trust = [
        (opts.eta * norm(before[0])) / (norm(Array.from(w.grad)) + opts.weightDecay * norm(before[0])),
        1,
        1,
        1,
      ];
      trust.forEach((t, i) => expect(opt.trustRatios[i]).to.be.closeTo(t, 1e-6 * t));
      [w, b, z, zg].forEach((p, k) => {
        const wd = opt.excluded[k] ? 0 : opts.weightDecay;
        before[k].forEach((w0, i) => {
          const v = opts.lr * trust[k] * (p.grad[i] + wd * w0); // momentum buffer starts at 0
          expect(p.data[i]).to.be.closeTo(w0 - v, 1e-6 * (1 + Math.abs(w0)));
        });
      });
    });

    it('exclude takes a predicate, a RegExp or a name suffix', function () {
      const ps = () => [param('fc.weight', [1, 2], [1, 2]), param('fc.bias', [1], [1]), param('bn.scale', [1], [1])];
      expect(new optim.LARS(ps(), { lr: 1, exclude: /^bn\./g }).excluded).to.deep.equal([false, false, true]);
      expect(new optim.LARS(ps(), { lr: 1, exclude: 'weight' }).excluded).to.deep.equal([true, false, false]);
      expect(new optim.LARS(ps(), { lr: 1, exclude: (p) => p.name === 'fc.bias' }).excluded).to.deep.equal([false, true, false]);
      const noShape = [{ name: 'l.bias', data: new Float32Array(2), grad: new Float32Array(2) }];
      expect(new optim.LARS(noShape, { lr: 1 }).excluded).to.deep.equal([true]);
      expect(() => new optim.LARS(ps(), { lr: 1, exclude: 3 })).to.throw(TypeError, /exclude must be/);
    });
  });

  describe('schedules', function () {
    it('are exact at their boundaries', function () {
      const w = schedules.warmup(0.4, { steps: 10, startLr: 0.1 });
      expect([w(0), w(5), w(10), w(99)]).to.deep.equal([0.1, 0.25, 0.4, 0.4]);
      expect(schedules.linearScaling({ baseLr: 0.1, batchSize: 8192 })).to.be.closeTo(3.2, 1e-12);
      const g = schedules.goyal({ baseLr: 0.1, batchSize: 1024, warmupSteps: 4 });
      expect([g(0), g(2), g(4), g(50)]).to.deep.equal([0.1, 0.25, 0.4, 0.4]);
      const p = schedules.polynomial({ lr: 2, totalSteps: 100 });
      expect([p(0), p(50), p(100), p(150)]).to.deep.equal([2, 0.5, 0, 0]);
      const s = schedules.stepDecay({ lr: 1, stepSize: 30, gamma: 0.1 });
      expect([s(0), s(29), s(30), s(60)].map((v) => +v.toPrecision(12))).to.deep.equal([1, 1, 0.1, 0.01]);
      const ms = schedules.stepDecay({ lr: 1, milestones: [10, 5], gamma: 0.5 });
      expect([ms(4), ms(5), ms(9), ms(10)]).to.deep.equal([1, 0.5, 0.5, 0.25]);
      const c = schedules.cosine({ lr: 1, totalSteps: 10, minLr: 0.1 });
      expect(c(0)).to.equal(1);
      expect(c(5)).to.be.closeTo(0.55, 1e-12);
      expect(c(10)).to.be.closeTo(0.1, 1e-12);
      const o = schedules.oneCycle({ maxLr: 1, totalSteps: 100 });
      expect(o(0)).to.be.closeTo(0.04, 1e-12);
      expect(o(29)).to.be.closeTo(1, 1e-12);
      expect(o(99)).to.be.closeTo(0.04 / 1e4, 1e-15);
      expect(() => schedules.cosine({ lr: 1, totalSteps: 0 })).to.throw(RangeError, /totalSteps/);
      expect(() => c(-1)).to.throw(RangeError, /step/);
    });

    it("match torch's schedulers step by step", function () {
      if (!torchPython()) this.skip();
      const cases = [
        { kind: 'OneCycleLR', args: { max_lr: 0.5, total_steps: 40, pct_start: 0.25 }, ours: schedules.oneCycle({ maxLr: 0.5, totalSteps: 40, pctStart: 0.25 }) },
        { kind: 'CosineAnnealingLR', args: { lr: 0.3, T_max: 25, eta_min: 0.01 }, ours: schedules.cosine({ lr: 0.3, totalSteps: 25, minLr: 0.01 }) },
        { kind: 'StepLR', args: { lr: 0.3, step_size: 7, gamma: 0.5 }, ours: schedules.stepDecay({ lr: 0.3, stepSize: 7, gamma: 0.5 }) },
        { kind: 'MultiStepLR', args: { lr: 0.3, milestones: [5, 12], gamma: 0.2 }, ours: schedules.stepDecay({ lr: 0.3, milestones: [5, 12], gamma: 0.2 }) },
      ];
      const answer = python({ schedules: cases.map(({ kind, args }) => ({ kind, args: { ...args }, steps: 26 })) }, 'torch_optim_reference.py');
      cases.forEach((c, k) => {
        answer.schedules[k].forEach((lr, step) => expect(c.ours(step), `${c.kind} step ${step}`).to.be.closeTo(lr, 1e-9 * (1 + lr)));
      });
    });
  });
});
