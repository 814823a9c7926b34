'use strict';
// Small all-reduces by `direct`, whose data travels with the call's descriptor (the eager
// path), against the same algorithm run as a schedule (a grouped all-reduce takes that path):
// the same bits on every rank, exact where exactness is defined, and a mismatch with an eager
// call leaves every stream in step (argv[2]: compare | mismatch | probe).
const dtrain = require('../..');
const { report, hashBytes, rng } = require('./report');

const k = () => dtrain.kernels;

// Values with the edge cases min and max must order the same everywhere: +0 and -0, NaN.
function fill(buf, dtype, rank, n, op) {
  const g = rng(1000 + rank * 7 + n);
  const f = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = g();
    if (dtype === 'int32') f[i] = Math.floor(u * 2001) - 1000;
    else if (op === 'prod') f[i] = 0.5 + u;
    else f[i] = u * 200 - 100;
    if (dtype !== 'int32' && (op === 'min' || op === 'max')) {
      if (i % 7 === 0) f[i] = (rank + i) % 2 ? 0 : -0;
      if (i % 11 === 0 && rank === 1) f[i] = NaN;
    }
  }
  if (dtype === 'float16') buf.set(k().castToHalf(Float32Array.from(f)));
  else if (dtype === 'bfloat16') buf.set(k().castToBFloat16(Float32Array.from(f)));
  else buf.set(f);
  return f;
}

const CTORS = { float32: Float32Array, float64: Float64Array, float16: Uint16Array, bfloat16: Uint16Array, int32: Int32Array };

async function sameOnEveryRank(arr) {
  const all = await dtrain.allgather(Int32Array.of(hashBytes(arr)));
  return all.every((h) => h === all[0]);
}

async function compare(rank, p) {
  let cases = 0;
  const problems = [];
  for (const dtype of Object.keys(CTORS)) {
    const es = CTORS[dtype].BYTES_PER_ELEMENT;
    for (const op of ['sum', 'avg', 'min', 'max', 'prod']) {
      if (dtype === 'int32' && op === 'prod') continue;
      // The longest eager vector per message is 64 KiB.
      for (const n of [1, 3, 1000, 65536 / es]) {
        const a = new CTORS[dtype](n);
        const inputs = fill(a, dtype, rank, n, op);
        const b = a.slice();
        const c = a.slice();
        const opts = { op, ...(es === 2 ? { dtype } : {}) };
        await dtrain.allreduce(a, { ...opts, algorithm: 'direct' });
        await dtrain.groupedAllreduce([b], { ...opts, algorithm: 'direct' });
        await dtrain.allreduce(c, opts); // auto: eager only when (p - 1) n bytes <= DTRAIN_EAGER_BYTES
        const what = `${dtype} ${op} n=${n}`;
        if (hashBytes(a) !== hashBytes(b)) problems.push(`${what}: eager and schedule differ`);
        if (!(await sameOnEveryRank(a))) problems.push(`${what}: ranks differ`);
        if (!(await sameOnEveryRank(c))) problems.push(`${what}: ranks differ under auto`);
        if (dtype === 'int32') {
          // Exact: against the sums of every rank's inputs, regenerated from their seeds.
          for (let i = 0; i < n; i++) {
            let e = op === 'min' ? Infinity : op === 'max' ? -Infinity : 0;
            for (let r = 0; r < p; r++) {
              const v = fill(new Int32Array(n), 'int32', r, n, op)[i];
              e = op === 'min' ? Math.min(e, v) : op === 'max' ? Math.max(e, v) : e + v;
            }
            if (op === 'avg') e = Math.trunc(e / p);
            if (a[i] !== e) {
              problems.push(`${what}: [${i}] = ${a[i]}, expected ${e}`);
              break;
            }
            if (i > 50) break;
          }
        }
        void inputs;
        cases++;
      }
    }
  }
  return { cases, problems };
}

// Each rank's error code, or 'ok'.
async function outcome(fn) {
  try {
    await fn();
    return { code: 'ok' };
  } catch (err) {
    return { code: err.code, ranks: err.ranks, message: err.message };
  }
}

async function mismatch(rank, p) {
  // An eager all-reduce on rank 0 against a barrier elsewhere.
  const first = await outcome(() => (rank === 0 ? dtrain.allreduce(new Float32Array(8).fill(1)) : dtrain.barrier()));
  // An all-reduce too long to be eager on rank 1 against eager ones elsewhere.
  const second = await outcome(() => dtrain.allreduce(new Float32Array(rank === 1 ? 40000 : 8).fill(1)));
  // Eager calls of different lengths.
  const third = await outcome(() => dtrain.allreduce(new Float32Array(rank === p - 1 ? 9 : 8).fill(1)));
  // Every stream is still in step: eager and scheduled calls come out right.
  const small = await dtrain.allreduce(Float32Array.of(rank + 1, 2));
  const large = await dtrain.allreduce(new Float32Array(40000).fill(rank + 1));
  return { first, second, third, after: [small[0], small[1], large[0], large[39999]] };
}

async function main() {
  await dtrain.init();
  const rank = dtrain.rank();
  const p = dtrain.size();
  const mode = process.argv[2] ?? 'compare';
  if (mode === 'compare') report({ rank, ...(await compare(rank, p)) });
  else if (mode === 'mismatch') report({ rank, ...(await mismatch(rank, p)) });
  else {
    // probe: one auto call below the limit, one above it, one grouped.
    await dtrain.allreduce(new Float32Array(16));
    await dtrain.allreduce(new Float32Array(8192));
    await dtrain.groupedAllreduce([new Float32Array(16)], { algorithm: 'direct' });
    report({ rank });
  }
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
