'use strict';
// Every collective, every dtype and op, many lengths, checked against values computed in JS;
// every rank's result must also be bitwise identical to every other rank's.
const dtrain = require('../..');
const { report, hashBytes, rng } = require('./report');

const TYPES = { float32: Float32Array, float64: Float64Array, int32: Int32Array };
const OPS = ['sum', 'avg', 'min', 'max'];

// Small integers: every partial sum is exact in every dtype, so the expected value is exact.
const value = (r, i) => ((r + 1) * 7 + i * 13) % 101 - 50;

function cast(type, x) {
  if (type === 'float32') return Math.fround(x);
  if (type === 'int32') return x | 0;
  return x;
}

function expected(type, op, np, i) {
  let acc = value(0, i);
  for (let r = 1; r < np; r++) {
    const v = value(r, i);
    if (op === 'sum' || op === 'avg') acc += v;
    else if (op === 'min') acc = Math.min(acc, v);
    else acc = Math.max(acc, v);
  }
  if (op === 'avg') {
    if (type === 'int32') return Math.trunc(acc / np);
    return cast(type, cast(type, acc) / np);
  }
  return cast(type, acc);
}

async function sameOnEveryRank(arr, what) {
  const all = await dtrain.allgather(Int32Array.of(hashBytes(arr)));
  if (!all.every((h) => h === all[0])) throw new Error(`${what}: ranks disagree bitwise (${all})`);
}

async function main() {
  await dtrain.init();
  const rank = dtrain.rank();
  const np = dtrain.size();
  let cases = 0;
  const lengths = [...new Set([0, 1, 7, Math.max(np - 1, 0), np + 1, 1000, (1 << 20) + 3])];

  for (const [type, Ctor] of Object.entries(TYPES)) {
    for (const op of OPS) {
      for (const n of lengths) {
        const buf = new Ctor(n);
        for (let i = 0; i < n; i++) buf[i] = value(rank, i);
        const out = await dtrain.allreduce(buf, { op });
        if (out !== buf) throw new Error('allreduce must resolve to the buffer it was given');
        for (let i = 0; i < n; i++) {
          const e = expected(type, op, np, i);
          if (buf[i] !== e) {
            throw new Error(`allreduce ${type} ${op} n=${n}: [${i}] = ${buf[i]}, expected ${e}`);
          }
        }
        await sameOnEveryRank(buf, `allreduce ${type} ${op} n=${n}`);
        cases++;
      }
    }
  }

  // Random floats: sums depend on order, so the check is closeness plus bitwise agreement.
  for (const [type, Ctor] of [['float32', Float32Array], ['float64', Float64Array]]) {
    const n = 100003;
    const mine = new Ctor(n);
    const exact = new Float64Array(n);
    for (let r = 0; r < np; r++) {
      const next = rng(1000 + r);
      for (let i = 0; i < n; i++) {
        const v = cast(type, next() * 2 - 1);
        exact[i] += v;
        if (r === rank) mine[i] = v;
      }
    }
    await dtrain.allreduce(mine);
    const tol = type === 'float32' ? 1e-5 : 1e-12;
    for (let i = 0; i < n; i++) {
      if (Math.abs(mine[i] - exact[i]) > tol * np) {
        throw new Error(`random ${type} sum [${i}] = ${mine[i]}, expected about ${exact[i]}`);
      }
    }
    await sameOnEveryRank(mine, `random ${type} sum`);
    cases++;
  }

  // The blocking variant, interleaved with async calls, keeps call order.
  {
    const a = new Float32Array(33).fill(rank + 1);
    const p = dtrain.allreduce(a);
    const b = dtrain.allreduceSync(new Float64Array(5).fill(1), { op: 'sum' });
    await p;
    if (a[0] !== (np * (np + 1)) / 2 || b[4] !== np) throw new Error('allreduceSync result wrong');
    cases++;
  }

  // float16 and bfloat16 (Uint16Array bits), with the library's own casts (checked against numpy
  // in test/50.kernels) as the reference for the expected bits. Values |v| <= 20 keep every
  // partial sum (|sum| <= 120 at np 6) exact in both formats, so order does not matter.
  const { kernels } = dtrain;
  for (const dtype of ['float16', 'bfloat16']) {
    const castTo = dtype === 'float16' ? kernels.castToHalf : kernels.castToBFloat16;
    const castFrom = dtype === 'float16' ? kernels.castFromHalf : kernels.castFromBFloat16;
    const toBits = (x) => castTo(Float32Array.of(x))[0];
    const fromBits = (h) => castFrom(Uint16Array.of(h)).out[0];
    const halfValue = (r, i) => (((r + 1) * 7 + i * 13) % 41) - 20;
    // avg divides each input by np before summing: multiples of 60 (= lcm 1..6) up to 120 keep
    // every quotient and partial sum an exact integer in both formats.
    const avgValue = (r, i) => 60 * ((((r + 1) * 7 + i * 13) % 5) - 2);
    for (const op of OPS) {
      const val = op === 'avg' ? avgValue : halfValue;
      for (const n of lengths) {
        const buf = castTo(Float32Array.from({ length: n }, (_, i) => val(rank, i)));
        const want = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          let acc = op === 'avg' ? val(0, i) / np : val(0, i);
          for (let r = 1; r < np; r++) {
            const v = val(r, i);
            acc = op === 'min' ? Math.min(acc, v) : op === 'max' ? Math.max(acc, v) : op === 'avg' ? acc + v / np : acc + v;
          }
          want[i] = acc;
        }
        const e = castTo(want);
        const out = await dtrain.allreduce(buf, { op, dtype });
        if (out !== buf) throw new Error('allreduce must resolve to the buffer it was given');
        for (let i = 0; i < n; i++) {
          if (buf[i] !== e[i]) {
            throw new Error(`allreduce ${dtype} ${op} n=${n}: [${i}] = ${fromBits(buf[i])}, expected ${want[i]}`);
          }
        }
        await sameOnEveryRank(buf, `allreduce ${dtype} ${op} n=${n}`);
        cases++;
      }
    }
    if (dtype === 'float16') {
      // 40000 and 60000 on alternate ranks: their sum overflows float16 (max 65504), their mean
      // does not, and avg must return the mean.
      const big = castTo(Float32Array.of(rank % 2 ? 60000 : 40000, -(rank % 2 ? 60000 : 40000)));
      await dtrain.allreduce(big, { op: 'avg', dtype });
      const got = castFrom(big).out;
      const mean = np === 1 ? 40000 : (40000 * Math.ceil(np / 2) + 60000 * Math.floor(np / 2)) / np;
      if (!(Math.abs(got[0] - mean) <= mean * 2 ** -8 && got[1] === -got[0])) {
        throw new Error(`float16 avg of large values: ${got[0]}, ${got[1]}, expected about ${mean}`);
      }
      cases++;
    }
    // Random values: every addition rounds, so the result depends on the order; it must still
    // be the same on every rank and close to the float64 sum of the rounded inputs.
    const n = 65537;
    let mine;
    const exact = new Float64Array(n);
    for (let r = 0; r < np; r++) {
      const next = rng(2000 + r);
      const h = castTo(Float32Array.from({ length: n }, () => next() * 2 - 1));
      const back = castFrom(h).out;
      for (let i = 0; i < n; i++) exact[i] += back[i];
      if (r === rank) mine = h;
    }
    await dtrain.allreduce(mine, { dtype });
    const got = castFrom(mine).out;
    const rel = dtype === 'float16' ? 2 ** -10 : 2 ** -7;
    for (let i = 0; i < n; i++) {
      if (Math.abs(got[i] - exact[i]) > rel * np * Math.max(1, Math.abs(exact[i]))) {
        throw new Error(`random ${dtype} sum [${i}] = ${got[i]}, expected about ${exact[i]}`);
      }
    }
    await sameOnEveryRank(mine, `random ${dtype} sum`);
    // reduceScatter, broadcast and allgather on the same kind of buffer.
    const full = new Uint16Array(np * 3 + 1);
    for (let i = 0; i < full.length; i++) full[i] = toBits(halfValue(rank, i));
    const part = await dtrain.reduceScatter(full, { dtype });
    const q = Math.floor(full.length / np);
    const rem = full.length % np;
    const start = rank * q + Math.min(rank, rem);
    for (let k = 0; k < part.length; k++) {
      let acc = 0;
      for (let r = 0; r < np; r++) acc += halfValue(r, start + k);
      if (part[k] !== toBits(acc)) throw new Error(`reduceScatter ${dtype} [${k}] = ${fromBits(part[k])}`);
    }
    const b = Uint16Array.from({ length: 9 }, (_, i) => (rank === np - 1 ? toBits(i - 4) : 0));
    dtrain.broadcastSync(b, np - 1, { dtype });
    const g = await dtrain.allgather(Uint16Array.of(toBits(rank)), { dtype });
    if (b[8] !== toBits(4) || g.length !== np || g[np - 1] !== toBits(np - 1)) {
      throw new Error(`broadcast/allgather ${dtype} wrong`);
    }
    cases += 3;
  }
  {
    // Bits are only copied, so a Uint16Array needs no dtype here.
    const g = dtrain.allgatherSync(Uint16Array.of(rank + 1000));
    if (g[np - 1] !== np - 1 + 1000) throw new Error('allgather of a plain Uint16Array wrong');
  }

  // Broadcast from every root.
  for (let root = 0; root < np; root++) {
    for (const [type, Ctor] of Object.entries(TYPES)) {
      for (const n of [0, 1, 1000, 300007]) {
        const buf = new Ctor(n);
        for (let i = 0; i < n; i++) buf[i] = rank === root ? value(root, i) : -999;
        const out = await dtrain.broadcast(buf, root);
        if (out !== buf) throw new Error('broadcast must resolve to its buffer');
        for (let i = 0; i < n; i++) {
          if (buf[i] !== cast(type, value(root, i))) {
            throw new Error(`broadcast ${type} root=${root} n=${n}: [${i}] = ${buf[i]}`);
          }
        }
        cases++;
      }
    }
  }
  {
    const b = new Int32Array(10).fill(rank === np - 1 ? 42 : 0);
    dtrain.broadcastSync(b, np - 1);
    if (b[9] !== 42) throw new Error('broadcastSync result wrong');
  }

  // All-gather: every rank's block, in rank order.
  for (const [type, Ctor] of Object.entries(TYPES)) {
    for (const n of [0, 1, 7, 100003]) {
      const buf = new Ctor(n);
      for (let i = 0; i < n; i++) buf[i] = value(rank, i);
      const out = await dtrain.allgather(buf);
      if (!(out instanceof Ctor) || out.length !== n * np) {
        throw new Error(`allgather ${type} n=${n}: got ${out.constructor.name}(${out.length})`);
      }
      for (let r = 0; r < np; r++) {
        for (let i = 0; i < n; i++) {
          if (out[r * n + i] !== cast(type, value(r, i))) {
            throw new Error(`allgather ${type} n=${n}: block ${r} [${i}] = ${out[r * n + i]}`);
          }
        }
      }
      cases++;
    }
  }
  {
    const g = dtrain.allgatherSync(Float64Array.of(rank));
    if (g.length !== np || g[np - 1] !== np - 1) throw new Error('allgatherSync result wrong');
  }

  // Barrier: nobody leaves before the last one has arrived.
  for (let round = 0; round < 3; round++) {
    await new Promise((r) => setTimeout(r, ((rank + round) % np) * 30));
    const entered = Date.now();
    await dtrain.barrier();
    const left = Date.now();
    const enters = await dtrain.allgather(Float64Array.of(entered));
    if (left < Math.max(...enters)) throw new Error(`left barrier at ${left} before a rank entered`);
    cases++;
  }
  dtrain.barrierSync();

  report({ ok: true, cases, np, localRank: dtrain.localRank(), localSize: dtrain.localSize() });
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
