'use strict';
// All-reduces of arrays from dtrain.alloc (shared memory), which the ranks reduce from each
// other's memory: exact integer-valued results against each rank's regenerated inputs, the
// same bits on every rank for random floats (close to the float64 sum), views at an offset,
// calls where only some ranks pass shared arrays, and a loop that a killed peer ends
// (argv[2]: check | kill).
const dtrain = require('../..');
const { report, hashBytes, rng } = require('./report');

const N = 600011; // above the 1 MiB from which shared arrays are read in place, in half precision too
const value = (r, i) => ((r + 3) * 13 + i * 7) % 101 - 50;

async function sameOnEveryRank(arr) {
  const all = await dtrain.allgather(Int32Array.of(hashBytes(arr)));
  return all.every((h) => h === all[0]);
}

async function check(rank, p) {
  const problems = [];
  let cases = 0;
  const expect = (got, want, what) => {
    if (got !== want && !(Number.isNaN(got) && Number.isNaN(want))) problems.push(`${what}: got ${got}, expected ${want}`);
  };
  for (const [dtype, op] of [
    ['float32', 'sum'],
    ['float32', 'avg'],
    ['float64', 'max'],
    ['int32', 'min'],
    ['int32', 'sum'],
    ['float32', 'prod'],
    ['float16', 'sum'],
    ['bfloat16', 'max'],
  ]) {
    const half = dtype === 'float16' || dtype === 'bfloat16';
    const a = dtrain.alloc(N, dtype);
    const cast = dtype === 'float16' ? dtrain.kernels.castToHalf : dtrain.kernels.castToBFloat16;
    const v = (r, i) => (op === 'prod' ? 1 + ((r + i) % 2) : value(r, i));
    const f = Float32Array.from({ length: N }, (_, i) => v(rank, i));
    if (half) a.set(cast(f));
    else a.set(f);
    await dtrain.allreduce(a, { op, ...(half ? { dtype } : {}) });
    const back = half ? (dtype === 'float16' ? dtrain.kernels.castFromHalf(a) : dtrain.kernels.castFromBFloat16(a)).out : a;
    for (const i of [0, 1, 2, 1000, N >> 1, N - 2, N - 1]) {
      let e = op === 'min' ? Infinity : op === 'max' ? -Infinity : op === 'prod' ? 1 : 0;
      for (let r = 0; r < p; r++) {
        const x = v(r, i);
        e = op === 'min' ? Math.min(e, x) : op === 'max' ? Math.max(e, x) : op === 'prod' ? e * x : e + x;
      }
      if (op === 'avg') e = Math.fround(e / p);
      expect(back[i], e, `${dtype} ${op} [${i}]`);
    }
    if (!(await sameOnEveryRank(a))) problems.push(`${dtype} ${op}: ranks differ`);
    cases++;
  }
  // Random floats: every rank the same bits, close to the float64 sum.
  const g = rng(99 + rank);
  const a = dtrain.alloc(N);
  for (let i = 0; i < N; i++) a[i] = g() * 2 - 1;
  await dtrain.allreduce(a);
  if (!(await sameOnEveryRank(a))) problems.push('random floats: ranks differ');
  const gens = Array.from({ length: p }, (_, r) => rng(99 + r));
  for (let i = 0; i < 1000; i++) {
    let e = 0;
    for (const gen of gens) e += gen() * 2 - 1;
    if (Math.abs(a[i] - e) > 1e-5) {
      problems.push(`random floats [${i}]: ${a[i]} against ${e}`);
      break;
    }
  }
  cases++;
  // A view at an offset inside a larger shared array; what lies around it is untouched.
  const big = dtrain.alloc(N + 100).fill(-7);
  const view = big.subarray(37, 37 + N);
  for (let i = 0; i < N; i++) view[i] = value(rank, i);
  await dtrain.allreduce(view);
  let e = 0;
  for (let r = 0; r < p; r++) e += value(r, 12345);
  expect(view[12345], e, 'view');
  expect(big[36], -7, 'before the view');
  expect(big[37 + N], -7, 'after the view');
  cases++;
  // Only rank 0 passes a shared array: the call goes through the transport, rightly.
  const mixed = rank === 0 ? dtrain.alloc(N) : new Float32Array(N);
  mixed.fill(rank + 1);
  await dtrain.allreduce(mixed);
  expect(mixed[N - 1], (p * (p + 1)) / 2, 'mixed');
  cases++;
  return { cases, problems };
}

async function kill(rank, p) {
  const a = dtrain.alloc(4 << 20);
  if (rank === p - 1) setTimeout(() => process.kill(process.pid, 'SIGKILL'), 300);
  const t0 = Date.now();
  try {
    for (;;) await dtrain.allreduce(a);
  } catch (err) {
    return { code: err.code, ranks: err.ranks, ms: Date.now() - t0 - 300 };
  }
}

async function main() {
  await dtrain.init();
  const rank = dtrain.rank();
  const p = dtrain.size();
  const mode = process.argv[2] ?? 'check';
  report({ rank, ...(mode === 'kill' ? await kill(rank, p) : await check(rank, p)) });
  if (mode !== 'kill') await dtrain.shutdown();
  else process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
