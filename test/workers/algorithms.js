'use strict';
// Every all-reduce algorithm through the public API (`allreduce(buf, { algorithm })`), plus
// reduce-scatter and all-gather variants: exact integer sums, bitwise agreement across ranks.
const dtrain = require('../..');
const { report, hashBytes, rng } = require('./report');

const ALGORITHMS = [
  'auto',
  'ring',
  'halving-doubling',
  'binary-blocks',
  'recursive-doubling',
  'direct',
  'hierarchical',
  'hierarchical:binary-blocks',
  'hierarchical:recursive-doubling',
];
const value = (r, i) => ((r + 3) * 11 + i * 17) % 89 - 44;

async function sameOnEveryRank(arr, what) {
  const all = await dtrain.allgather(Int32Array.of(hashBytes(arr)));
  if (!all.every((h) => h === all[0])) throw new Error(`${what}: ranks disagree bitwise`);
}

async function main() {
  await dtrain.init();
  const rank = dtrain.rank();
  const p = dtrain.size();
  const pick = rng(4242); // same sequence on every rank
  const lengths = [0, 1, Math.max(0, p - 1), p, p + 1, 1 + Math.floor(pick() * 1e5), 1 + Math.floor(pick() * 1e5)];
  let cases = 0;
  for (const algorithm of ALGORITHMS) {
    for (const n of lengths) {
      for (const [Ctor, op] of [[Float32Array, 'sum'], [Int32Array, 'max'], [Float64Array, 'avg']]) {
        const buf = new Ctor(n);
        for (let i = 0; i < n; i++) buf[i] = value(rank, i);
        await dtrain.allreduce(buf, { algorithm, op });
        for (let i = 0; i < n; i++) {
          let e = op === 'max' ? -Infinity : 0;
          for (let r = 0; r < p; r++) e = op === 'max' ? Math.max(e, value(r, i)) : e + value(r, i);
          if (op === 'avg') e /= p;
          if (buf[i] !== e) throw new Error(`${algorithm} ${op} n=${n}: [${i}] = ${buf[i]}, expected ${e}`);
        }
        cases++;
      }
    }
    const noise = rng(77 + rank);
    const f = new Float32Array(54321).map(() => noise() * 2 - 1);
    await dtrain.allreduce(f, { algorithm });
    await sameOnEveryRank(f, `${algorithm} random floats`);
    cases++;
    // Half precision rounds at every addition: the ranks must still agree bit for bit, and the
    // result must be close to the float64 sum of every rank's inputs (regenerated from their
    // seeds, after the float32 draws above).
    const others = Array.from({ length: p }, (_, r) => {
      const g = rng(77 + r);
      for (let i = 0; i < f.length; i++) g();
      return g;
    });
    for (const dtype of ['float16', 'bfloat16']) {
      const k = dtrain.kernels;
      const castTo = dtype === 'float16' ? k.castToHalf : k.castToBFloat16;
      const castFrom = dtype === 'float16' ? k.castFromHalf : k.castFromBFloat16;
      const n = 20011;
      const exact = new Float64Array(n);
      let h;
      for (let r = 0; r < p; r++) {
        const bits = castTo(Float32Array.from({ length: n }, () => others[r]() * 2 - 1));
        const back = castFrom(bits).out;
        for (let i = 0; i < n; i++) exact[i] += back[i];
        if (r === rank) h = bits;
      }
      await dtrain.allreduce(h, { algorithm, dtype });
      await sameOnEveryRank(h, `${algorithm} random ${dtype}`);
      const got = castFrom(h).out;
      const tol = (dtype === 'float16' ? 2 ** -10 : 2 ** -7) * p;
      for (let i = 0; i < n; i++) {
        if (!(Math.abs(got[i] - exact[i]) <= tol * Math.max(1, Math.abs(exact[i])))) {
          throw new Error(`${algorithm} random ${dtype} [${i}] = ${got[i]}, expected about ${exact[i]}`);
        }
      }
      cases++;
    }
  }

  // Reduce-scatter: this rank's chunk of the sum; the input is untouched.
  for (const algorithm of ['ring', ...((p & (p - 1)) === 0 ? ['halving-doubling'] : [])]) {
    for (const n of [0, 1, p + 1, 10007]) {
      const buf = new Int32Array(n).map((_, i) => value(rank, i));
      const copy = buf.slice();
      const mine = await dtrain.reduceScatter(buf, { algorithm });
      const q = Math.floor(n / p), rem = n % p;
      const start = rank * q + Math.min(rank, rem);
      const len = q + (rank < rem ? 1 : 0);
      if (mine.length !== len) throw new Error(`reduceScatter ${algorithm} n=${n}: length ${mine.length}, expected ${len}`);
      for (let i = 0; i < len; i++) {
        let e = 0;
        for (let r = 0; r < p; r++) e += value(r, start + i);
        if (mine[i] !== e) throw new Error(`reduceScatter ${algorithm} n=${n}: [${i}] = ${mine[i]}, expected ${e}`);
      }
      if (hashBytes(copy) !== hashBytes(buf)) throw new Error('reduceScatter changed its input');
      cases++;
    }
  }

  // All-gather by recursive doubling.
  for (const n of [0, 1, 7, 3001]) {
    const buf = new Float64Array(n).map((_, i) => value(rank, i));
    const out = await dtrain.allgather(buf, { algorithm: 'recursive-doubling' });
    for (let r = 0; r < p; r++)
      for (let i = 0; i < n; i++)
        if (out[r * n + i] !== value(r, i)) throw new Error(`allgather rd n=${n}: block ${r} [${i}]`);
    cases++;
  }
  report({ ok: true, cases, np: p });
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
