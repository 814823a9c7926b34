'use strict';
// The reference model: names, initialisation, forward against float64, loss and every gradient
// against torch autograd, the onGrad order, accumulation, and bad input.
const { expect } = require('chai');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { nn } = require('..');
const { loadBinding } = require('../dist/native');
const { torchPython } = require('./torch');
const { mlp, dataset } = require('./mlp');

function randomInputs(batch, features, classes, seed) {
  const { x, y } = dataset(batch, features, classes, seed);
  return { x, y };
}

// Forward in float64, straight from the definition.
function forward64(model, x, batch) {
  let a = Array.from(x);
  let width = model.inFeatures;
  const layers = model.layers;
  for (let li = 0; li < layers.length; li++) {
    const l = layers[li];
    if (l instanceof nn.ReLU) {
      a = a.map((v) => Math.max(0, v));
      continue;
    }
    const out = new Array(batch * l.outFeatures);
    for (let i = 0; i < batch; i++) {
      for (let j = 0; j < l.outFeatures; j++) {
        let s = l.bias ? l.bias.data[j] : 0;
        for (let k = 0; k < width; k++) s += a[i * width + k] * l.weight.data[j * width + k];
        out[i * l.outFeatures + j] = s;
      }
    }
    a = out;
    width = l.outFeatures;
  }
  return a;
}

// Loss and gradients of a Linear/ReLU sequence in float64, by the chain rule written out
// directly (independent of the native code): [loss, Map(param -> Float64Array gradient)].
function lossAndGrad64(layers, x, y, batch) {
  const flat = (ls) => ls.flatMap((l) => (l instanceof nn.Sequential ? flat(l.layers) : [l]));
  const seq = flat(layers);
  const acts = [Float64Array.from(x)];
  let width = seq.find((l) => l instanceof nn.Linear).inFeatures;
  const widths = [width];
  for (const l of seq) {
    const a = acts[acts.length - 1];
    if (l instanceof nn.ReLU) {
      acts.push(a.map((v) => Math.max(0, v)));
    } else {
      const out = new Float64Array(batch * l.outFeatures);
      for (let i = 0; i < batch; i++) {
        for (let j = 0; j < l.outFeatures; j++) {
          let s = l.bias ? l.bias.data[j] : 0;
          for (let k = 0; k < width; k++) s += a[i * width + k] * l.weight.data[j * width + k];
          out[i * l.outFeatures + j] = s;
        }
      }
      acts.push(out);
      width = l.outFeatures;
    }
    widths.push(width);
  }
  const z = acts[acts.length - 1];
  const classes = width;
  let loss = 0;
  let g = new Float64Array(batch * classes);
  for (let i = 0; i < batch; i++) {
    let mx = -Infinity;
    for (let j = 0; j < classes; j++) mx = Math.max(mx, z[i * classes + j]);
    let sum = 0;
    for (let j = 0; j < classes; j++) sum += Math.exp(z[i * classes + j] - mx);
    loss += Math.log(sum) + mx - z[i * classes + y[i]];
    for (let j = 0; j < classes; j++) g[i * classes + j] = (Math.exp(z[i * classes + j] - mx) / sum - (j === y[i] ? 1 : 0)) / batch;
  }
  const grads = new Map();
  for (let li = seq.length - 1; li >= 0; li--) {
    const l = seq[li];
    const a = acts[li];
    if (l instanceof nn.ReLU) {
      g = g.map((v, i) => (acts[li + 1][i] > 0 ? v : 0));
      continue;
    }
    const inW = widths[li];
    const dw = new Float64Array(l.outFeatures * inW);
    const db = new Float64Array(l.outFeatures);
    const dx = new Float64Array(batch * inW);
    for (let i = 0; i < batch; i++) {
      for (let j = 0; j < l.outFeatures; j++) {
        const gij = g[i * l.outFeatures + j];
        db[j] += gij;
        for (let k = 0; k < inW; k++) {
          dw[j * inW + k] += gij * a[i * inW + k];
          dx[i * inW + k] += gij * l.weight.data[j * inW + k];
        }
      }
    }
    grads.set(l.weight, dw);
    if (l.bias) grads.set(l.bias, db);
    g = dx;
  }
  return [loss / batch, grads];
}

describe('nn: the reference model', function () {
  it('loss and gradients match a float64 chain rule for every arrangement of Linear and ReLU', function () {
    const L = (i, o, seed, bias = true) => new nn.Linear(i, o, { seed, bias });
    const R = () => new nn.ReLU();
    const models = {
      'L R L': () => [L(13, 9, 1), R(), L(9, 4, 2)],
      'L R L R (ends in ReLU)': () => [L(13, 9, 1), R(), L(9, 4, 2), R()],
      'L R': () => [L(13, 4, 3), R()],
      'L R R L (two ReLUs)': () => [L(13, 9, 4), R(), R(), L(9, 4, 5)],
      'L L (no ReLU), no bias': () => [L(13, 9, 6, false), L(9, 4, 7)],
      'nested': () => [new nn.Sequential(L(13, 9, 8), R()), L(9, 4, 9), R()],
    };
    const batch = 7;
    const { x, y } = randomInputs(batch, 13, 4, 21);
    for (const [name, make] of Object.entries(models)) {
      const layers = make();
      const model = new nn.Sequential(...layers);
      const [want, grads] = lossAndGrad64(layers, x, y, batch);
      const got = model.lossAndGrad(x, y, batch);
      expect(got, `${name}: loss`).to.be.closeTo(want, 1e-6 * Math.abs(want));
      for (const p of model.parameters()) {
        const g64 = grads.get(p);
        const scale = Math.max(1e-12, ...Array.from(g64, Math.abs));
        p.grad.forEach((v, i) => expect(Math.abs(v - g64[i]) / scale, `${name}: ${p.name}[${i}]`).to.be.below(1e-5));
      }
    }
  });

  it('a layer belongs to one Sequential: reusing it (which would rename its parameters) is an error', function () {
    const l = new nn.Linear(3, 2);
    new nn.Sequential(l);
    expect(() => new nn.Sequential(new nn.ReLU(), l)).to.throw(TypeError, /already part of a Sequential/);
    const m = new nn.Linear(3, 3);
    expect(() => new nn.Sequential(m, new nn.ReLU(), m)).to.throw(TypeError, /already part of a Sequential/);
    const relu = new nn.ReLU();
    expect(() => new nn.Sequential(new nn.Linear(3, 3), relu, new nn.Linear(3, 3), relu)).to.not.throw();
  });

  it('names parameters as torch state_dict and initialises U(-1/sqrt(in), 1/sqrt(in))', function () {
    const model = mlp([784, 512, 256, 10]);
    const params = model.parameters();
    expect(params.map((p) => p.name)).to.deep.equal(['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias']);
    expect(params.map((p) => p.shape)).to.deep.equal([[512, 784], [512], [256, 512], [256], [10, 256], [10]]);
    const w = params[0].data;
    const bound = 1 / Math.sqrt(784);
    let max = 0;
    let sum = 0;
    let sq = 0;
    for (const v of w) {
      max = Math.max(max, Math.abs(v));
      sum += v;
      sq += v * v;
    }
    expect(max).to.be.at.most(bound);
    expect(Math.abs(sum / w.length)).to.be.below(bound * 0.01);
    expect(sq / w.length / (bound * bound / 3)).to.be.within(0.98, 1.02); // variance of U(-b, b)
    // Seeds make it reproducible; different seeds differ.
    expect(new nn.Linear(4, 3, { seed: 7 }).weight.data).to.deep.equal(new nn.Linear(4, 3, { seed: 7 }).weight.data);
    expect(new nn.Linear(4, 3, { seed: 7 }).weight.data).to.not.deep.equal(new nn.Linear(4, 3, { seed: 8 }).weight.data);
    expect(new nn.Linear(4, 3, { bias: false }).parameters()).to.have.length(1);
  });

  it('forward matches a float64 computation (odd sizes, every instruction-set level of the GEMM)', function () {
    const model = mlp([37, 29, 13, 5], 3);
    const batch = 19;
    const { x } = randomInputs(batch, 37, 5, 9);
    const want = forward64(model, x, batch);
    const got = model.forward(x, batch);
    expect(got.length).to.equal(batch * 5);
    for (let i = 0; i < want.length; i++) expect(got[i]).to.be.closeTo(want[i], 1e-5 * (1 + Math.abs(want[i])));
    // The binding's GEMM at each level on a transposed product with every epilogue.
    const native = loadBinding();
    const m = 23;
    const n = 41;
    const k = 67;
    const a = new Float32Array(k * m).map((_, i) => Math.sin(i));
    const b = new Float32Array(n * k).map((_, i) => Math.cos(i));
    const bias = new Float32Array(n).map((_, i) => i / n - 0.5);
    for (const isa of native.kernels.info().supported) {
      const c = new Float32Array(m * n);
      native.nn.gemm({ m, n, k, a, lda: m, transA: true, b, ldb: k, transB: true, c, ldc: n, bias, relu: true, isa });
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = bias[j];
          for (let p = 0; p < k; p++) s += a[p * m + i] * b[j * k + p];
          expect(c[i * n + j], `${isa} C[${i},${j}]`).to.be.closeTo(Math.max(0, s), 1e-4);
        }
      }
    }
  });

  it('calls onGrad once per parameter, last layer first, bias before weight; accumulate adds', function () {
    const model = mlp([20, 16, 8, 4], 5);
    const { x, y } = randomInputs(6, 20, 4, 1);
    const order = [];
    model.lossAndGrad(x, y, 6, { onGrad: (p) => order.push(p.name) });
    expect(order).to.deep.equal(['4.bias', '4.weight', '2.bias', '2.weight', '0.bias', '0.weight']);
    const once = model.parameters().map((p) => p.grad.slice());
    model.lossAndGrad(x, y, 6, { accumulate: true });
    model.parameters().forEach((p, i) => {
      for (let j = 0; j < p.grad.length; j++) expect(p.grad[j]).to.be.closeTo(2 * once[i][j], 1e-6);
    });
    // Without accumulate the gradients are overwritten.
    model.lossAndGrad(x, y, 6);
    model.parameters().forEach((p, i) => expect(p.grad).to.deep.equal(once[i]));
  });

  it('loss and every gradient match torch autograd (784-512-256-10, batch 32)', function () {
    const python = torchPython();
    if (!python) this.skip(); // torchPython.why says what to install
    const sizes = [784, 512, 256, 10];
    const model = mlp(sizes, 11);
    const batch = 32;
    const { x, y } = randomInputs(batch, 784, 10, 4);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-torch-'));
    const parts = [];
    for (const p of model.parameters()) parts.push(p.data);
    parts.push(x, Float32Array.from(y));
    fs.writeFileSync(path.join(dir, 'in.bin'), Buffer.concat(parts.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))));
    const spec = { sizes, batch, input: path.join(dir, 'in.bin'), output: path.join(dir, 'out.bin') };
    fs.writeFileSync(path.join(dir, 'spec.json'), JSON.stringify(spec));
    const r = spawnSync(python, [path.join(__dirname, 'peers', 'torch_mlp_grads.py'), path.join(dir, 'spec.json')], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    const out = fs.readFileSync(spec.output);
    const losses = new Float64Array(out.buffer.slice(out.byteOffset, out.byteOffset + 16));
    const total = model.parameters().reduce((s, p) => s + p.data.length, 0);
    const g32 = new Float32Array(out.buffer.slice(out.byteOffset + 16, out.byteOffset + 16 + total * 4));
    const g64 = new Float64Array(out.buffer.slice(out.byteOffset + 16 + total * 4));
    const loss = model.lossAndGrad(x, y, batch);
    expect(loss).to.be.closeTo(losses[1], 1e-6 * losses[1]);
    expect(loss).to.be.closeTo(losses[0], 1e-6 * losses[0]);
    let at = 0;
    for (const p of model.parameters()) {
      let scale = 0;
      let worst64 = 0;
      let worst32 = 0;
      for (let i = 0; i < p.grad.length; i++) scale = Math.max(scale, Math.abs(g64[at + i]));
      for (let i = 0; i < p.grad.length; i++) {
        worst64 = Math.max(worst64, Math.abs(p.grad[i] - g64[at + i]));
        worst32 = Math.max(worst32, Math.abs(p.grad[i] - g32[at + i]));
      }
      // float32 reassociation over sums of up to 784 products: well under 1e-5 of the largest.
      expect(worst64 / scale, `${p.name} vs torch float64`).to.be.below(1e-5);
      expect(worst32 / scale, `${p.name} vs torch float32`).to.be.below(1e-5);
      at += p.grad.length;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rejects bad input with a RangeError or TypeError naming it, before any native work', function () {
    const model = mlp([8, 6, 3], 2);
    const { x, y } = randomInputs(4, 8, 3, 3);
    for (const p of model.parameters()) p.grad.fill(7);
    const untouched = () => model.parameters().forEach((p) => expect(p.grad.every((v) => v === 7)).to.equal(true));
    const bad = (fn, type, re) => {
      expect(fn).to.throw(type, re);
      untouched();
    };
    bad(() => model.lossAndGrad(x, Int32Array.of(0, 1, 3, 2), 4), RangeError, /labels\[2\] is 3.*\[0, 3\)/);
    bad(() => model.lossAndGrad(x, Int32Array.of(0, -1, 2, 2), 4), RangeError, /labels\[1\] is -1/);
    const nan = x.slice();
    nan[13] = NaN;
    bad(() => model.lossAndGrad(nan, y, 4), RangeError, /x holds NaN or infinity \(row 1\)/);
    bad(() => model.lossAndGrad(x, y, 0), RangeError, /batch must be a positive integer, got 0/);
    bad(() => model.lossAndGrad(x, y, 3), RangeError, /x has 32 elements; batch 3 x 8 features needs 24/);
    bad(() => model.lossAndGrad(x, y.subarray(0, 3), 4), RangeError, /labels has 3 elements; the batch is 4/);
    bad(() => model.lossAndGrad(x, Float32Array.from(y), 4), TypeError, /labels must be an Int32Array or a Uint8Array/);
    bad(() => model.lossAndGrad(Array.from(x), y, 4), TypeError, /x must be a Float32Array/);
    bad(() => model.lossAndGrad(x, y, 4, { onGrd: () => {} }), TypeError, /unknown option 'onGrd'/);
    expect(() => new nn.Sequential(new nn.Linear(4, 3), new nn.Linear(5, 2))).to.throw(RangeError, /takes 5 features but the layer before gives 3/);
    expect(() => new nn.Linear(0, 3)).to.throw(RangeError, /inFeatures/);
    expect(() => new nn.Linear(3, 3, { baias: false })).to.throw(TypeError, /unknown option 'baias'/);
    // Uint8Array labels work as well.
    expect(model.lossAndGrad(x, Uint8Array.from(y), 4)).to.be.a('number');
  });
});
