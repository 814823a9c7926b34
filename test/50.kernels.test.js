'use strict';
// dtrain.kernels through the public API: results against independent JS references (computed
// here with Math.fround at every float32 step), argument errors, and every SIMD level forced
// with DTRAIN_ISA in a child process. The C++ tests (ctest test_kernels_*) cover the kernels
// exhaustively; these cover the binding and the TypeScript layer.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { expect } = require('chai');
const dtrain = require('..');

const k = dtrain.kernels;
const f = Math.fround;

// Deterministic pseudo-random numbers (xorshift32), roughly normal by summing uniforms.
function rng(seed) {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  return { u, normal: () => u() + u() + u() + u() - 2 };
}

function randomArray(n, seed, scale = 1) {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r.normal() * scale);
}

// float16 bits -> number, written from the format's definition.
function halfValue(h) {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

describe('dtrain.kernels', function () {
  it('names the SIMD level in use, also in `dtrain info`', function () {
    const info = k.info();
    expect(info.supported).to.include('scalar');
    expect(info.isa).to.equal(process.env.DTRAIN_ISA || info.best);
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'dtrain.js'), 'info'], { encoding: 'utf8' });
    expect(JSON.parse(r.stdout).kernels).to.deep.include({ isa: info.isa, best: info.best });
  });

  describe('casts', function () {
    it('castToHalf picks the nearest float16, ties to even, for random and special values', function () {
      const r = rng(7);
      const xs = [];
      for (let i = 0; i < 20000; i++) xs.push(r.normal() * 2 ** Math.floor(r.u() * 60 - 40));
      xs.push(0, -0, 65504, 65519.99, 65520, -65520, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 3 * 2 ** -26, 1e-10, Infinity, -Infinity);
      const x = Float32Array.from(xs);
      const h = k.castToHalf(x);
      for (let i = 0; i < x.length; i++) {
        const v = x[i];
        const got = halfValue(h[i]);
        if (Math.abs(v) >= 65520) {
          expect(got, `x=${v}`).to.equal(Math.sign(v) * Infinity);
          continue;
        }
        // Neighbours of the result: nothing representable is strictly closer to v.
        const err = Math.abs(got - v);
        for (const nb of [h[i] - 1, h[i] + 1]) {
          if (nb < 0 || (nb & 0x7c00) === 0x7c00 || ((nb ^ h[i]) & 0x8000) !== 0) continue;
          const e2 = Math.abs(halfValue(nb) - v);
          expect(err <= e2, `x=${v} -> ${got}, but ${halfValue(nb)} is closer`).to.equal(true);
          if (err === e2) expect(h[i] & 1, `tie at x=${v} not to even`).to.equal(0);
        }
      }
      const nan = k.castToHalf(new Float32Array([NaN]))[0];
      expect(nan & 0x7c00).to.equal(0x7c00);
      expect(nan & 0x3ff).to.not.equal(0);
    });

    it('every float16 survives castFromHalf then castToHalf, and nonFinite reports inf/NaN', function () {
      const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
      const { out, nonFinite } = k.castFromHalf(all);
      expect(nonFinite).to.equal(true);
      for (let i = 0; i < 65536; i += 1) {
        const v = halfValue(i);
        if (Number.isNaN(v)) expect(Number.isNaN(out[i])).to.equal(true);
        else expect(out[i], `half 0x${i.toString(16)}`).to.equal(v);
      }
      const back = k.castToHalf(out);
      for (let i = 0; i < 65536; i++) if (!Number.isNaN(out[i])) expect(back[i]).to.equal(i);
      const finite = Uint16Array.from({ length: 1001 }, (_, i) => i * 30);
      expect(k.castFromHalf(finite, { scale: 0.5 }).nonFinite).to.equal(false);
      finite[1000] = 0xfc00;
      expect(k.castFromHalf(finite, { scale: 0.5 }).nonFinite).to.equal(true);
    });

    it('scale is fused: castToHalf(x, {scale}) equals castToHalf of the float32 product', function () {
      const x = randomArray(1037, 3);
      const scaled = x.map((v) => f(v * 1024));
      expect(k.castToHalf(x, { scale: 1024 })).to.deep.equal(k.castToHalf(scaled));
      const h = k.castToHalf(scaled);
      const { out } = k.castFromHalf(h, { scale: 1 / 1024 });
      for (let i = 0; i < x.length; i++) expect(out[i]).to.equal(f(halfValue(h[i]) * f(1 / 1024)));
    });

    it('bfloat16: the top 16 bits rounded to nearest even, into out when given, unaligned views too', function () {
      const buf = new Float32Array(1001);
      buf.set(randomArray(1001, 4));
      const x = buf.subarray(1);
      const out = new Uint16Array(x.length);
      const res = k.castToBFloat16(x, { out });
      expect(res).to.equal(out);
      const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
      for (let i = 0; i < x.length; i++) {
        const b = bits[i];
        const want = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
        expect(out[i]).to.equal(want);
      }
      const { out: back, nonFinite } = k.castFromBFloat16(out);
      expect(nonFinite).to.equal(false);
      for (let i = 0; i < x.length; i++) expect(Math.abs(back[i] - x[i])).to.be.at.most(Math.abs(x[i]) * 2 ** -8);
    });

    it('rejects wrong arguments naming them', function () {
      expect(() => k.castToHalf(new Float64Array(2))).to.throw(TypeError, /src/);
      expect(() => k.castToHalf(new Float32Array(2), { out: new Uint16Array(3) })).to.throw(RangeError, /out/);
      expect(() => k.castToHalf(new Float32Array(2), { scale: NaN })).to.throw(RangeError, /scale/);
      expect(() => k.castFromHalf(new Float32Array(2))).to.throw(TypeError, /src/);
      expect(() => k.castFromBFloat16(new Uint16Array(2), { out: new Float64Array(2) })).to.throw(TypeError, /out/);
      expect(k.castToHalf(new Float32Array(0))).to.have.length(0);
    });
  });

  describe('reduce', function () {
    it('float16 sums in float32 and rounds once; float32 min keeps a NaN already in dst', function () {
      const a = k.castToHalf(randomArray(333, 5, 100));
      const b = k.castToHalf(randomArray(333, 6, 100));
      const want = k.castToHalf(Float32Array.from(a, (h, i) => f(halfValue(h) + halfValue(b[i]))));
      expect(k.reduce(a, b, { dtype: 'float16' })).to.deep.equal(want);
      const d = new Float32Array([1, NaN, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
      const s = new Float32Array([0, 0, NaN, 5, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20]);
      k.reduce(d, s, { op: 'min' });
      expect(Array.from(d.subarray(0, 5))).to.deep.equal([0, NaN, 3, 4, 4]);
      const i1 = new Int32Array([2147483647, -5]);
      k.reduce(i1, new Int32Array([1, 2]));
      expect(Array.from(i1)).to.deep.equal([-2147483648, -3]);
      expect(() => k.reduce(new Uint16Array(2), new Uint16Array(2))).to.throw(TypeError, /dtype/);
      expect(() => k.reduce(new Float32Array(2), new Float32Array(3))).to.throw(RangeError, /length/);
      expect(() => k.reduce(new Float32Array(2), new Float64Array(2))).to.throw(TypeError, /src/);
    });
  });

  describe('optimizers', function () {
    function sgdReference(w, g, m, o) {
      for (let i = 0; i < w.length; i++) {
        let gi = f(g[i] * f(o.gradScale));
        if (o.weightDecay) gi = f(gi + f(f(o.weightDecay) * w[i]));
        const b = f(f(f(o.momentum) * m[i]) + gi);
        m[i] = b;
        const d = o.nesterov ? f(gi + f(f(o.momentum) * b)) : b;
        w[i] = f(w[i] - f(f(o.lr) * d));
      }
    }

    it('sgdStep matches the formula bit for bit over several tensors, with float16 gradients and copy', function () {
      const o = { lr: 0.05, momentum: 0.9, weightDecay: 1e-4, gradScale: 1 / 256, nesterov: true };
      const sizes = [1, 100, 1023];
      const ts = sizes.map((n, j) => ({
        weights: randomArray(n, 10 + j),
        grad: k.castToHalf(randomArray(n, 20 + j, 256)),
        state: randomArray(n, 30 + j),
        weights16: new Uint16Array(n),
      }));
      const ref = ts.map((t) => ({ w: t.weights.slice(), m: t.state.slice(), g: k.castFromHalf(t.grad).out }));
      expect(k.sgdStep(ts, o)).to.equal(true);
      ts.forEach((t, j) => {
        sgdReference(ref[j].w, ref[j].g, ref[j].m, o);
        expect(t.weights).to.deep.equal(ref[j].w);
        expect(t.state).to.deep.equal(ref[j].m);
        expect(t.weights16).to.deep.equal(k.castToHalf(ref[j].w));
      });
      // An inf gradient: the noop flag, nothing changes.
      const before = ts.map((t) => t.weights.slice());
      ts[1].grad[50] = 0x7c00;
      expect(k.sgdStep(ts, o)).to.equal(false);
      ts.forEach((t, j) => expect(t.weights).to.deep.equal(before[j]));
      expect(() => k.sgdStep([{ weights: new Float32Array(2), grad: new Float32Array(3), state: new Float32Array(2) }], o)).to.throw(RangeError, /tensors\[0\]\.grad/);
      expect(() => k.sgdStep([{ weights: new Float32Array(2), grad: new Float32Array(2), state: new Float32Array(2) }], {})).to.throw(TypeError, /lr/);
    });

    it('larsStep uses trust ratio eta*|w|/(|g|+wd*|w|), 1 for excluded tensors and zero norms', function () {
      const o = { lr: 0.1, momentum: 0.9, weightDecay: 5e-4, eta: 0.001, gradScale: 0.5 };
      const ts = [
        { weights: randomArray(500, 1), grad: randomArray(500, 2), state: new Float32Array(500) },
        { weights: randomArray(40, 3), grad: randomArray(40, 4), state: new Float32Array(40), exclude: true },
        { weights: randomArray(40, 5), grad: new Float32Array(40), state: new Float32Array(40) },
      ];
      const w0 = ts.map((t) => t.weights.slice());
      const { applied, trust } = k.larsStep(ts, o);
      expect(applied).to.equal(true);
      const norm = (a, s = 1) => Math.sqrt(a.reduce((acc, v) => acc + v * v, 0)) * s;
      const want0 = (o.eta * norm(w0[0])) / (norm(ts[0].grad, o.gradScale) + o.weightDecay * norm(w0[0]));
      expect(trust[0]).to.be.closeTo(want0, want0 * 1e-5);
      expect(trust[1]).to.equal(1);
      expect(trust[2]).to.equal(1);
      for (let i = 0; i < 500; i++) {
        const g = ts[0].grad[i] * o.gradScale + o.weightDecay * w0[0][i];
        const v = o.lr * want0 * g;
        expect(ts[0].state[i]).to.be.closeTo(v, Math.abs(v) * 1e-4 + 1e-12);
        expect(ts[0].weights[i]).to.be.closeTo(w0[0][i] - v, 1e-6);
      }
      // Excluded: no weight decay in the update.
      expect(ts[1].state[0]).to.be.closeTo(o.lr * ts[1].grad[0] * o.gradScale, 1e-7);
    });
  });

  describe('sparsification', function () {
    it('topk returns the k largest magnitudes, indices ascending, ties to the lower index', function () {
      const x = randomArray(50000, 8);
      for (let i = 0; i < x.length; i += 97) x[i] = 3; // ties
      const kk = 120;
      const { indices, values } = k.topk(x, kk);
      const order = Array.from(x.keys()).sort((a, b) => Math.abs(x[b]) - Math.abs(x[a]) || a - b);
      const want = order.slice(0, kk).sort((a, b) => a - b);
      expect(Array.from(indices)).to.deep.equal(want);
      expect(Array.from(values)).to.deep.equal(want.map((i) => x[i]));
      expect(() => k.topk(x, x.length + 1)).to.throw(RangeError, /k/);
    });

    it('dgcStep sends the largest accumulated values and masks them; dgcDecode sums ranks', function () {
      const n = 200000;
      const ranks = [0, 1].map((r) => ({ u: new Float32Array(n), v: new Float32Array(n), g: randomArray(n, 40 + r) }));
      const dense = new Float32Array(n);
      const parts = ranks.map((s) => k.dgcStep(s, s.g, { density: 0.001, seed: 1 }));
      parts.forEach((p, r) => {
        expect(p.indices.length).to.be.within(160, 201); // ceil(n * float32(0.001)) = 201
        const s = ranks[r];
        // v is zero where sent; what was sent is at least as large as anything left.
        let minSent = Infinity;
        p.indices.forEach((i, j) => {
          expect(s.v[i]).to.equal(0);
          expect(s.u[i]).to.equal(0);
          expect(p.values[j]).to.equal(s.g[i]); // first step: v = u = g
          minSent = Math.min(minSent, Math.abs(p.values[j]));
        });
        const maxLeft = s.v.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        expect(maxLeft).to.be.at.most(minSent);
      });
      k.dgcDecode(dense, parts);
      const want = new Float32Array(n);
      parts.forEach((p) => p.indices.forEach((i, j) => (want[i] = f(want[i] + p.values[j]))));
      expect(dense).to.deep.equal(want);
      expect(() => k.dgcDecode(dense, [{ indices: new Uint32Array([n]), values: new Float32Array(1) }])).to.throw(RangeError, /range/);
      const half = k.dgcStep({ u: new Float32Array(1000), v: new Float32Array(1000) }, randomArray(1000, 9), { density: 0.01, half: true });
      expect(half.values).to.be.instanceOf(Uint16Array);
    });
  });

  describe('quantizers', function () {
    it('QSGD and TernGrad are unbiased: the mean of many draws approaches the input', function () {
      const x = randomArray(40, 11);
      const draws = 3000;
      const sumQ = new Float64Array(x.length);
      const sumT = new Float64Array(x.length);
      let norm = 0;
      let scale = 0;
      for (let d = 0; d < draws; d++) {
        const q = k.qsgdEncode(x, { levels: 4, seed: d });
        norm = q.norm;
        k.qsgdDecode(q, { length: x.length }).forEach((v, i) => (sumQ[i] += v));
        const t = k.ternGradEncode(x, { seed: d + 99991 });
        scale = t.scale;
        k.ternGradDecode(t, { length: x.length }).forEach((v, i) => (sumT[i] += v));
      }
      // 5 standard deviations of the mean; each draw's error is at most one level apart.
      const bq = (5 * (norm / 4)) / (2 * Math.sqrt(draws));
      const bt = (5 * scale) / (2 * Math.sqrt(draws));
      for (let i = 0; i < x.length; i++) {
        expect(Math.abs(sumQ[i] / draws - x[i]), `qsgd ${i}`).to.be.at.most(bq);
        expect(Math.abs(sumT[i] / draws - x[i]), `terngrad ${i}`).to.be.at.most(bt);
      }
      expect(k.qsgdEncode(x, { levels: 15 }).code.length).to.equal(k.qsgdCodeBytes(40, 15));
      expect(k.qsgdPlaneCount(15)).to.equal(4);
      expect(() => k.qsgdEncode(x, { levels: 0 })).to.throw(RangeError, /levels/);
    });

    it('1-bit with error feedback loses nothing over steps', function () {
      const n = 777;
      const residual = new Float32Array(n);
      const sent = new Float64Array(n);
      const given = new Float64Array(n);
      for (let step = 0; step < 30; step++) {
        const g = randomArray(n, 100 + step);
        const c = k.signEncode(g, residual);
        expect(c.code.length).to.equal(Math.ceil(n / 8));
        k.signDecode(c, { length: n }).forEach((v, i) => (sent[i] += v));
        g.forEach((v, i) => (given[i] += v));
      }
      for (let i = 0; i < n; i++) expect(sent[i] + residual[i]).to.be.closeTo(given[i], 1e-4);
      expect(() => k.signEncode(new Float32Array(3), new Float32Array(2))).to.throw(RangeError, /residual/);
    });
  });

  it('`dtrain bench kernels --json` prints the read and write probes, then a line per kernel and level with memcpy measured', function () {
    const r = spawnSync(
      process.execPath,
      [path.join(__dirname, '..', 'bin', 'dtrain.js'), 'bench', 'kernels', '--json', '--no-torch', '--bytes', '65536', '--min-time', '0.01', '--kernels', 'cast_f32_to_f16,topk'],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).to.equal(0);
    const all = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const probes = all.filter((l) => l.kernel.startsWith('probe_'));
    expect(probes.map((l) => l.kernel)).to.deep.equal(['probe_read', 'probe_write']);
    for (const p of probes) expect(p.isa).to.equal(k.info().best);
    const lines = all.filter((l) => !l.kernel.startsWith('probe_'));
    expect(lines).to.have.length(2 * k.info().supported.length);
    for (const l of all) {
      expect(l).to.include.keys('kernel', 'backend', 'isa', 'bytes', 'GBs', 'memcpy_GBs', 'ratio');
      expect(l.bytes).to.equal(65536);
      expect(l.GBs).to.be.above(0);
      expect(l.ratio).to.be.closeTo(l.GBs / l.memcpy_GBs, 0.01);
    }
  });

  describe('DTRAIN_ISA', function () {
    const script = `
      const k = require(${JSON.stringify(path.join(__dirname, '..'))}).kernels;
      const x = new Float32Array(4099).map((_, i) => Math.sin(i) * 1e5 * (i % 7 === 0 ? 1e-9 : 1));
      x[5] = NaN; x[6] = Infinity;
      const h = k.castToHalf(x, { scale: 0.5 });
      const top = k.topk(x.map(Math.abs).map((v) => (Number.isFinite(v) ? v : 0)), 50);
      const q = k.qsgdEncode(x.map((v) => (Number.isFinite(v) ? v : 0)), { levels: 7, seed: 3, norm: 1e6 });
      console.log(JSON.stringify({ isa: k.info().isa, h: Array.from(h), top: Array.from(top.indices), q: Array.from(q.code) }));`;
    const run = (isa) => spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, DTRAIN_ISA: isa } });

    it('forces each supported level, and every level gives the same bits', function () {
      const outs = k.info().supported.map((isa) => {
        const r = run(isa);
        expect(r.status, r.stderr).to.equal(0);
        const o = JSON.parse(r.stdout);
        expect(o.isa).to.equal(isa);
        return o;
      });
      for (const o of outs.slice(1)) {
        expect(o.h).to.deep.equal(outs[0].h);
        expect(o.top).to.deep.equal(outs[0].top);
        expect(o.q).to.deep.equal(outs[0].q);
      }
    });

    it('refuses a level the CPU lacks or an unknown name', function () {
      const r = run('sse9');
      expect(r.status).to.not.equal(0);
      expect(r.stderr).to.match(/DTRAIN_ISA=sse9/);
    });
  });
});
