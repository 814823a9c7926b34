'use strict';
// TypedArrays over a SharedArrayBuffer (a worker_threads program's memory) work in every kernel
// and in the reference model, and give the same bits as arrays over an ordinary ArrayBuffer.
// Each array sits at a byte offset into its buffer, so the offset is checked too.
const { expect } = require('chai');
const dtrain = require('..');

const k = dtrain.kernels;

// A `C` holding `values`, 8 bytes into a buffer of the given kind (padding after it too).
function placed(C, values, shared) {
  const n = values.length;
  const bytes = 8 + (n + 2) * C.BYTES_PER_ELEMENT;
  const buf = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  const a = new C(buf, 8, n);
  a.set(values);
  return a;
}

function values(n, seed) {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648 - 0.5) * 4;
  });
}

const N = 37;

// Each case builds its inputs with `mk(C, values)` and returns what to compare: every array it
// wrote and every number it returned.
const CASES = {
  castToHalf: (mk) => [k.castToHalf(mk(Float32Array, values(N, 1)), { out: mk(Uint16Array, new Array(N).fill(0)) })],
  castToBFloat16: (mk) => [k.castToBFloat16(mk(Float32Array, values(N, 2)), { scale: 2, out: mk(Uint16Array, new Array(N).fill(0)) })],
  castFromHalf: (mk) => {
    const r = k.castFromHalf(mk(Uint16Array, values(N, 3).map((v) => (Math.abs(v) * 9000) & 0x7bff)), { out: mk(Float32Array, new Array(N).fill(0)) });
    return [r.out, r.nonFinite];
  },
  castFromBFloat16: (mk) => {
    const r = k.castFromBFloat16(mk(Uint16Array, values(N, 4).map((v) => (Math.abs(v) * 9000) & 0x7f7f)), { out: mk(Float32Array, new Array(N).fill(0)) });
    return [r.out, r.nonFinite];
  },
  reduce: (mk) => {
    const dst = mk(Float32Array, values(N, 5));
    return [k.reduce(dst, mk(Float32Array, values(N, 6)), { op: 'max' })];
  },
  'reduce (float16)': (mk) => {
    const dst = mk(Uint16Array, values(N, 7).map((v) => (Math.abs(v) * 4000) & 0x3fff));
    return [k.reduce(dst, mk(Uint16Array, values(N, 8).map((v) => (Math.abs(v) * 4000) & 0x3fff)), { dtype: 'float16' })];
  },
  sgdStep: (mk) => {
    const t = { weights: mk(Float32Array, values(N, 9)), grad: mk(Float32Array, values(N, 10)), state: mk(Float32Array, values(N, 11)), weights16: mk(Uint16Array, new Array(N).fill(0)) };
    const applied = k.sgdStep([t], { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
    return [t.weights, t.state, t.weights16, applied];
  },
  larsStep: (mk) => {
    const t = { weights: mk(Float32Array, values(N, 12)), grad: mk(Uint16Array, values(N, 13).map((v) => (Math.abs(v) * 4000) & 0x3fff)), state: mk(Float32Array, values(N, 14)) };
    const r = k.larsStep([t], { lr: 0.1, gradScale: 0.5 });
    return [t.weights, t.state, r.trust, r.applied];
  },
  topk: (mk) => {
    const r = k.topk(mk(Float32Array, values(N, 15)), 5);
    return [r.indices, r.values];
  },
  dgcStep: (mk) => {
    const state = { u: mk(Float32Array, values(N, 16)), v: mk(Float32Array, values(N, 17)) };
    const r = k.dgcStep(state, mk(Float32Array, values(N, 18)), { density: 0.2, seed: 7 });
    return [state.u, state.v, r.indices, r.values, r.threshold, r.rounds];
  },
  dgcDecode: (mk) => [k.dgcDecode(mk(Float32Array, values(N, 19)), [{ indices: mk(Uint32Array, [0, 5, 36]), values: mk(Float32Array, [1, 2, 3]) }])],
  'qsgdEncode, qsgdDecode': (mk) => {
    const q = k.qsgdEncode(mk(Float32Array, values(N, 20)), { levels: 15, seed: 3, out: mk(Uint8Array, new Array(k.qsgdCodeBytes(N, 15)).fill(0)) });
    const out = k.qsgdDecode({ ...q, code: mk(Uint8Array, Array.from(q.code)) }, { out: mk(Float32Array, values(N, 21)), accumulate: true });
    return [q.code, q.norm, out];
  },
  'ternGradEncode, ternGradDecode': (mk) => {
    const t = k.ternGradEncode(mk(Float32Array, values(N, 22)), { seed: 4, out: mk(Uint8Array, new Array(16).fill(0)) });
    return [t.code, t.scale, k.ternGradDecode(t, { out: mk(Float32Array, new Array(N).fill(0)) })];
  },
  'signEncode, signDecode': (mk) => {
    const residual = mk(Float32Array, values(N, 23));
    const s = k.signEncode(mk(Float32Array, values(N, 24)), residual, { out: mk(Uint8Array, new Array(8).fill(0)) });
    return [residual, s.code, s.scale, k.signDecode(s, { out: mk(Float32Array, new Array(N).fill(0)) })];
  },
};

function plain(results) {
  return results.map((r) => (ArrayBuffer.isView(r) ? { type: r.constructor.name, values: Array.from(r) } : r));
}

describe('TypedArrays over a SharedArrayBuffer', function () {
  for (const [name, run] of Object.entries(CASES)) {
    it(`kernels.${name}: works, with the bits of an ordinary array`, function () {
      const want = plain(run((C, v) => placed(C, v, false)));
      const got = plain(run((C, v) => placed(C, v, true)));
      expect(got).to.deep.equal(want);
    });
  }

  it('the reference model: forward and lossAndGrad on shared input, labels and parameters', function () {
    const runModel = (shared) => {
      const layers = [new dtrain.nn.Linear(6, 5, { seed: 1 }), new dtrain.nn.ReLU(), new dtrain.nn.Linear(5, 3, { seed: 2 })];
      // Shared storage for every parameter, swapped in before the Sequential takes the layers.
      for (const p of layers.flatMap((l) => l.parameters())) {
        p.data = placed(Float32Array, Array.from(p.data), shared);
        p.grad = placed(Float32Array, Array.from(p.grad), shared);
      }
      const model = new dtrain.nn.Sequential(...layers);
      expect(model.parameters()[0].data.buffer).to.be.an.instanceof(shared ? SharedArrayBuffer : ArrayBuffer);
      const x = placed(Float32Array, values(4 * 6, 30), shared);
      const y = placed(Int32Array, [0, 2, 1, 2], shared);
      const logits = Array.from(model.forward(x, 4));
      const loss = model.lossAndGrad(x, y, 4);
      return { logits, loss, grads: model.parameters().map((p) => Array.from(p.grad)) };
    };
    expect(runModel(true)).to.deep.equal(runModel(false));
  });
});
