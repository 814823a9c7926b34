'use strict';
// amp.LossScaler against hand-computed GradScaler sequences, nn.Sequential's half-precision
// storage against a float64 reference, and each compressor's encode/decode in one process.
const { expect } = require('chai');
const dtrain = require('..');
const { amp, compress, kernels } = dtrain;
const { mlp, dataset } = require('./mlp');

// A communicator of `size` ranks where every other rank sends `others(msg)` (default: the same).
function fakeComm(size, others = (m) => m) {
  return {
    size,
    rank: 0,
    allgatherSync(m) {
      const out = new Int32Array(m.length * size);
      out.set(m);
      for (let r = 1; r < size; r++) out.set(others(m, r), r * m.length);
      return out;
    },
    async allgather(m) {
      return this.allgatherSync(m);
    },
  };
}

const bucket = (data, offsets = [0], extra = {}) => ({ index: 0, data, names: offsets.map((_, i) => `t${i}`), offsets, lossScale: 1, skippable: false, ...extra });

function randn(n, seed) {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 1) / 2 ** 32;
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

// float16 rounding computed independently (numpy's rule) in float64: round to nearest even at
// 11 significant bits, subnormals below 2^-14, inf above 65504.
function toHalf64(x) {
  if (!Number.isFinite(x)) return x;
  const a = Math.abs(x);
  if (a >= 65520) return x > 0 ? Infinity : -Infinity;
  const e = a < 2 ** -14 ? -14 : Math.floor(Math.log2(a));
  const ulp = 2 ** (e - 10);
  let q = a / ulp;
  const f = Math.floor(q);
  q = q - f > 0.5 || (q - f === 0.5 && f % 2 === 1) ? f + 1 : f;
  return Math.sign(x) * q * ulp;
}

describe('amp.LossScaler', function () {
  it('has GradScaler defaults: 65536, x2 after 2000 clean steps, x0.5 on overflow', function () {
    const s = new amp.LossScaler();
    expect(s.scale).to.equal(65536);
    for (let i = 0; i < 1999; i++) s.update(false);
    expect(s.scale).to.equal(65536);
    expect(s.update(false)).to.equal(131072);
    expect(s.growthTracker).to.equal(0);
    expect(s.update(true)).to.equal(65536);
  });

  it('backs off and restarts the count on inf; grows only after growthInterval clean steps in a row', function () {
    const s = new amp.LossScaler({ initScale: 8, growthFactor: 4, backoffFactor: 0.25, growthInterval: 3, minScale: 0.01 });
    const seq = [false, false, true, false, false, false, false, true, true, false, false, false].map((inf) => s.update(inf));
    // by hand: 8 8 | inf -> 2 (count 0) | 2 2 -> 8 (3rd clean) | 8 | inf -> 2 | inf -> 0.5 | 0.5 0.5 -> 2
    expect(seq).to.deep.equal([8, 8, 2, 2, 2, 8, 8, 2, 0.5, 0.5, 0.5, 2]);
    expect(s.skipped).to.equal(3);
    expect(s.updates).to.equal(12);
  });

  it('never backs off below minScale, and an overflow at minScale is ERR_DTRAIN_NONFINITE naming the update', function () {
    const s = new amp.LossScaler({ initScale: 3, minScale: 1 });
    expect(s.update(true)).to.equal(1.5);
    expect(s.update(true)).to.equal(1);
    expect(() => s.update(true)).to.throw(dtrain.DtrainError, /overflowed at update 3 with the loss scale already at minScale \(1\)/).with.property('code', 'ERR_DTRAIN_NONFINITE');
  });

  it('keeps the scale when growing would overflow float32, as GradScaler', function () {
    const s = new amp.LossScaler({ initScale: 2 ** 127, growthInterval: 1 });
    expect(s.update(false)).to.equal(2 ** 127);
    expect(s.growthTracker).to.equal(0);
  });

  it('stateDict / loadStateDict round-trip; factors must match; bad options are errors', function () {
    const a = new amp.LossScaler({ initScale: 1024, growthInterval: 5 });
    a.update(true);
    a.update(false);
    const b = new amp.LossScaler({ initScale: 4, growthInterval: 5 });
    b.loadStateDict(a.stateDict());
    expect(b.stateDict()).to.deep.equal(a.stateDict());
    expect(() => new amp.LossScaler({ growthInterval: 7 }).loadStateDict(a.stateDict())).to.throw(RangeError, /growthInterval 5; this scaler has 7/);
    expect(() => new amp.LossScaler({ initScal: 2 })).to.throw(TypeError, /unknown option 'initScal'/);
    expect(() => new amp.LossScaler({ backoffFactor: 1 })).to.throw(RangeError, /backoffFactor must be a number in \(0, 1\)/);
    expect(() => new amp.LossScaler({ growthFactor: 1 })).to.throw(RangeError, /growthFactor/);
    expect(() => new amp.LossScaler({ initScale: 0.5, minScale: 1 })).to.throw(RangeError, /below minScale/);
    expect(() => new amp.LossScaler({ minScale: 4 }).loadStateDict({ ...a.stateDict(), minScale: 4, growthInterval: 2000, scale: 0.5 })).to.throw(RangeError, /below this scaler's minScale/);
  });
});

describe('nn.Sequential precision', function () {
  it('fp16: logits are the float64 forward with every stored value rounded to float16 (products in float32)', function () {
    const model = mlp([12, 9, 5], 4);
    model.precision = 'fp16';
    const ds = dataset(7, 12, 5, 3);
    const out = model.forward(ds.x, 7).slice();
    const [w0, b0, w1, b1] = model.parameters().map((p) => Array.from(p.data, toHalf64));
    const x = Array.from(ds.x, toHalf64);
    const layer = (inp, w, b, nin, nout, relu) =>
      Array.from({ length: 7 * nout }, (_, k) => {
        const i = Math.floor(k / nout);
        const j = k % nout;
        let s = b[j];
        for (let t = 0; t < nin; t++) s += inp[i * nin + t] * w[j * nin + t];
        return toHalf64(relu ? Math.max(0, s) : s);
      });
    const want = layer(layer(x, w0, b0, 12, 9, true), w1, b1, 9, 5, false);
    // Products accumulate in float32 in the kernel, float64 here: at most one half ulp apart.
    out.forEach((v, i) => expect(Math.abs(v - want[i])).to.be.at.most(Math.abs(want[i]) * 2 ** -10 + 1e-7));
    out.forEach((v) => expect(toHalf64(v)).to.equal(v)); // every logit is a float16 value
  });

  it('fp16: gradients are float16 values; a large loss scale overflows to inf (what the LossScaler catches); fp32 and bf16 do not', function () {
    const ds = dataset(16, 12, 5, 3);
    for (const [precision, overflows] of [['fp32', false], ['bf16', false], ['fp16', true]]) {
      const model = mlp([12, 9, 5], 4);
      model.precision = precision;
      model.lossAndGrad(ds.x, ds.y, 16, { lossScale: 1e7 });
      const g = model.parameters().map((p) => p.grad);
      expect(g.some((a) => a.some((v) => !Number.isFinite(v))), precision).to.equal(overflows);
      model.lossAndGrad(ds.x, ds.y, 16, { lossScale: 1024 });
      for (const a of model.parameters().map((p) => p.grad)) {
        expect(a.every(Number.isFinite), precision).to.equal(true);
        if (precision === 'fp16') a.forEach((v) => expect(toHalf64(v)).to.equal(v));
      }
    }
  });

  it('fp16 with accumulated passes: each pass is rounded to float16, their sum is float32', function () {
    const ds = dataset(16, 12, 5, 8);
    const model = mlp([12, 9, 5], 4);
    model.precision = 'fp16';
    const half = (i) => [ds.x.subarray(i * 8 * 12, (i + 1) * 8 * 12), ds.y.subarray(i * 8, (i + 1) * 8)];
    const grads = () => model.parameters().map((p) => p.grad.slice());
    model.lossAndGrad(...half(0), 8, { lossScale: 64 });
    const a = grads();
    model.lossAndGrad(...half(1), 8, { lossScale: 64 });
    const b = grads();
    model.lossAndGrad(...half(0), 8, { lossScale: 64 });
    model.lossAndGrad(...half(1), 8, { lossScale: 64, accumulate: true });
    grads().forEach((g, t) => g.forEach((v, i) => expect(v).to.equal(Math.fround(a[t][i] + b[t][i]))));
  });

  it('rejects an unknown precision', function () {
    expect(() => (mlp([3, 2]).precision = 'fp8')).to.throw(RangeError, /precision must be one of fp32, fp16, bf16, got "fp8"/);
  });
});

describe('compressors (one process)', function () {
  it('by name: none, fp16, dgc, qsgd, terngrad, onebit; an unknown name or a non-compressor is an error', function () {
    expect(compress.compressorNames()).to.deep.equal(['none', 'fp16', 'dgc', 'qsgd', 'terngrad', 'onebit']);
    expect(() => compress.makeCompressor('topk')).to.throw(RangeError, /compression must be one of none, fp16, dgc, qsgd, terngrad, onebit/);
    expect(() => compress.makeCompressor('toString')).to.throw(RangeError);
    expect(() => compress.makeCompressor({ reduce() {} })).to.throw(TypeError, /name, reduce\(bucket, comm, algorithm\), reduceSync/);
  });

  it('bad settings: density outside (0, 1], levels < 1, chunk not a multiple of 8, unknown options', function () {
    expect(() => new compress.DGC({ density: 0 })).to.throw(RangeError, /density must be in \(0, 1\]/);
    expect(() => new compress.DGC({ density: 1.5 })).to.throw(RangeError, /density/);
    expect(() => new compress.DGC({ warmup: [0.5, 2] })).to.throw(RangeError, /warmup\[1\] must be a density/);
    expect(() => new compress.QSGD({ levels: 0 })).to.throw(RangeError, /levels must be an integer from 1/);
    expect(() => new compress.QSGD({ chunk: 100 })).to.throw(RangeError, /chunk must be a multiple of 8/);
    expect(() => new compress.TernGrad({ chunks: 8 })).to.throw(TypeError, /unknown option 'chunks'/);
    expect(() => new compress.OneBit({ errorFeedback: 1 })).to.throw(TypeError, /errorFeedback must be a boolean/);
  });

  it('QSGD and TernGrad are unbiased: the mean of many decodes is within a few standard errors of the input (errors from the formats\' variance, in float64)', function () {
    const n = 2048;
    const x = randn(n, 5);
    const levels = 3;
    // Per element: the two values it can decode to are k u and (k + 1) u; p = P(upper).
    const unitOf = (name, i) => {
      const c = x.subarray(Math.floor(i / 512) * 512, Math.floor(i / 512) * 512 + 512);
      if (name === 'qsgd') return Math.sqrt(c.reduce((s, v) => s + v * v, 0)) / levels;
      return c.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    };
    for (const [name, make] of [['qsgd', (seed) => new compress.QSGD({ levels, seed })], ['terngrad', (seed) => new compress.TernGrad({ seed })]]) {
      const trials = 400;
      const mean = new Float64Array(n);
      for (let t = 0; t < trials; t++) {
        const b = bucket(x.slice());
        make(t + 1).reduceSync(b, fakeComm(1));
        b.data.forEach((v, i) => (mean[i] += v / trials));
      }
      let worst = 0;
      for (let i = 0; i < n; i++) {
        const u = unitOf(name, i);
        const r = Math.abs(x[i]) / u;
        const p = r - Math.floor(r);
        const se = u * Math.sqrt((p * (1 - p)) / trials) + u / trials; // + one draw's worth for discreteness
        worst = Math.max(worst, Math.abs(mean[i] - x[i]) / se);
      }
      expect(worst, name).to.be.below(5);
    }
  });

  it('QSGD with many levels is close to exact; its chunks have their own norms', function () {
    const x = randn(1000, 2);
    x.subarray(512).forEach((_, i, a) => (a[i] *= 1000)); // a second chunk 1000x larger
    const b = bucket(x.slice());
    new compress.QSGD({ levels: 1 << 16, seed: 3 }).reduceSync(b, fakeComm(1));
    b.data.forEach((v, i) => expect(v).to.be.closeTo(x[i], Math.abs(x[i]) * 1e-3 + (i < 512 ? 1e-3 : 1)));
  });

  it('1-bit with error feedback conserves the gradient: what was sent over all steps plus the residual equals what went in', function () {
    const n = 3000;
    const c = new compress.OneBit();
    const sumIn = new Float64Array(n);
    const sumOut = new Float64Array(n);
    for (let t = 0; t < 40; t++) {
      const g = randn(n, 100 + t).map((v, i) => (i < 1000 ? 0 : v * 0.01 + 0.002));
      g.forEach((v, i) => (sumIn[i] += v));
      const b = bucket(g.slice(), [0, 2000]);
      c.reduceSync(b, fakeComm(2));
      b.data.forEach((v, i) => (sumOut[i] += v));
    }
    const [r0, r1] = c.stateDict().buckets.tensors[0];
    for (let i = 0; i < n; i++) expect(sumIn[i] - sumOut[i]).to.be.closeTo(i < 2000 ? r0[i] : r1[i - 2000], 1e-5);
    // Without feedback there is no residual, and the error is not carried.
    const plain = new compress.OneBit({ errorFeedback: false });
    expect(plain.stateDict()).to.equal(undefined);
  });

  it('1-bit decodes to ±(mean |x| of each 512-element chunk) with the sign of x', function () {
    const x = randn(1024, 9);
    x.subarray(512).forEach((_, i, a) => (a[i] *= 10));
    const b = bucket(x.slice());
    new compress.OneBit({ errorFeedback: false }).reduceSync(b, fakeComm(3));
    for (const [lo, hi] of [[0, 512], [512, 1024]]) {
      let m = 0;
      for (let i = lo; i < hi; i++) m += Math.abs(x[i]) / 512;
      for (let i = lo; i < hi; i++) expect(b.data[i]).to.be.closeTo(x[i] < 0 ? -m : m, m * 1e-5);
    }
  });

  it('DGC: warm-up densities per epoch, at most ceil(n d) pairs, momentum factor masking, averaged over ranks', function () {
    const n = 10000;
    const c = new compress.DGC({ seed: 1 });
    expect(c.warmup).to.deep.equal([0.25, 0.0625, 0.015625, 0.004]);
    const seen = [];
    for (let e = 0; e < 6; e++) {
      c.setEpoch(e);
      seen.push(c.currentDensity);
    }
    expect(seen).to.deep.equal([0.25, 0.0625, 0.015625, 0.004, 0.001, 0.001]);
    c.setEpoch(4);
    const g = randn(n, 4);
    const b = bucket(g.slice());
    // Two ranks with the same gradient: the average is what one sends.
    c.reduceSync(b, fakeComm(2));
    const sent = [...b.data.keys()].filter((i) => b.data[i] !== 0);
    // At most ceil(10000 * fround(0.001)) = 11 (the density is float32 natively), at least 0.8 of 10.
    expect(sent.length).to.be.within(8, 11);
    const [u, v] = c.stateDict().buckets.tensors[0];
    for (const i of sent) {
      expect(b.data[i]).to.equal(g[i]); // first step: u = g, v = u
      expect(u[i]).to.equal(0); // masked where sent
      expect(v[i]).to.equal(0);
    }
    // Unsent elements keep accumulating: v = v + (m u + g).
    const i0 = [...g.keys()].find((i) => b.data[i] === 0);
    expect(v[i0]).to.equal(g[i0]);
    expect(u[i0]).to.equal(g[i0]);
  });

  it('DGC local clipping scales each worker gradient to clipNorm / sqrt(N) before accumulation', function () {
    const g = randn(4000, 8);
    const c = new compress.DGC({ warmup: [], density: 1, clipNorm: 2, seed: 1 });
    const b = bucket(g.slice());
    c.reduceSync(b, fakeComm(4));
    let norm = 0;
    b.data.forEach((v) => (norm += v * v));
    expect(Math.sqrt(norm)).to.be.closeTo(2 / Math.sqrt(4), 1e-4);
  });

  it('a poisoned message from another rank, or a locally non-finite bucket, gives NaN everywhere; the poisoned rank sends no code', async function () {
    for (const make of [() => new compress.QSGD(), () => new compress.TernGrad(), () => new compress.OneBit(), () => new compress.DGC({ warmup: [] })]) {
      const b = bucket(randn(100, 1));
      make().reduceSync(b, fakeComm(2, (m) => Int32Array.from(m, (w, i) => (i === 0 ? 1 : w))));
      expect(b.data.every(Number.isNaN), make().name).to.equal(true);
      const own = bucket(randn(100, 2));
      own.data[17] = Infinity;
      let sent;
      make().reduceSync(own, { ...fakeComm(2), allgatherSync: (m) => ((sent = m.slice()), fakeComm(2).allgatherSync(m)) });
      expect(own.data.every(Number.isNaN), make().name).to.equal(true);
      expect(sent[0]).to.equal(1);
      expect(sent.subarray(1).every((w) => w === 0), 'no code after the flag').to.equal(true);
    }
  });

  it('the fp16 cast divides before rounding: a value the sum could not hold in float16 survives pre-division', function () {
    expect(kernels.castToHalf(Float32Array.of(70000), { scale: 0.5 })[0]).to.equal(kernels.castToHalf(Float32Array.of(35000))[0]);
  });

  it('DGC clipping is in unscaled units: the same gradient clips the same at loss scale 1 and 65536', function () {
    const g = randn(4000, 8);
    const norms = [1, 65536].map((scale) => {
      const c = new compress.DGC({ warmup: [], density: 1, clipNorm: 2, seed: 1 });
      const b = bucket(g.map((v) => v * scale), [0], { lossScale: scale });
      c.reduceSync(b, fakeComm(4));
      let n = 0;
      b.data.forEach((v) => (n += v * v));
      return Math.sqrt(n) / scale;
    });
    expect(norms[0]).to.be.closeTo(1, 1e-4);
    expect(norms[1]).to.be.closeTo(1, 1e-4);
  });

  it('compressor state follows the loss scale: halving the scale halves the accumulated values', function () {
    const c = new compress.DGC({ warmup: [], density: 0.001, seed: 2 });
    const g = randn(5000, 3);
    c.reduceSync(bucket(g.slice(), [0], { lossScale: 1024 }), fakeComm(2));
    const v1 = c.stateDict().buckets.tensors[0][1].slice();
    c.reduceSync(bucket(new Float32Array(5000), [0], { lossScale: 512 }), fakeComm(2));
    const v2 = c.stateDict().buckets.tensors[0][1];
    // A zero gradient: v = v/2 + 0.9 u/2 where unsent; check one unsent element.
    const i = [...v2.keys()].find((k) => v2[k] !== 0);
    const u1 = g[i]; // u after step 1 (unsent)
    expect(v2[i]).to.be.closeTo(v1[i] / 2 + (0.9 * u1) / 2, 1e-5);
  });
});
