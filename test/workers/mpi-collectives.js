'use strict';
// Every collective the mpi algorithm runs (all-reduce, broadcast, all-gather, reduce-scatter),
// on every dtype, with each of dtrain's algorithms and `mpi`, checked exactly against the
// expected values (small integers, so every dtype and summation order is exact) and reported
// as one hash per case, so a test can compare the same cases under mpirun and dtrain run.
const dtrain = require('../..');
const { report, hashBytes } = require('./report');

// float16 and bfloat16 bits of small integers (exact in both).
function toHalfBits(v) {
  if (v === 0) return 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const e = Math.floor(Math.log2(a));
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}
function toBf16Bits(v) {
  const f = new Float32Array([v]);
  return new Uint32Array(f.buffer)[0] >>> 16;
}

const DTYPES = [
  ['float32', (n) => new Float32Array(n), (v) => v],
  ['float64', (n) => new Float64Array(n), (v) => v],
  ['int32', (n) => new Int32Array(n), (v) => v],
  ['int64', (n) => new BigInt64Array(n), (v) => BigInt(v)],
  ['uint8', (n) => new Uint8Array(n), (v) => v],
  ['int8', (n) => new Int8Array(n), (v) => v],
  ['float16', (n) => new Uint16Array(n), toHalfBits],
  ['bfloat16', (n) => new Uint16Array(n), toBf16Bits],
];
// Which collectives each algorithm implements, from the registry (others run with auto).
const { loadBinding } = require('../../dist/native');
const ENTRIES = Object.fromEntries(loadBinding().registry.algorithms.map((a) => [a.name, a]));
const algorithmFor = (algorithm, collective, p) => {
  const a = ENTRIES[algorithm];
  const pow2 = (p & (p - 1)) === 0;
  return a && a.collectives.includes(collective) && (pow2 || !a.powerOfTwoOnly.includes(collective)) ? algorithm : undefined;
};
const value = (dtype, r, i) => (dtype === 'uint8' ? (r * 3 + i) % 7 : ((r * 3 + i) % 9) - 4);

async function main() {
  const algorithms = process.argv.slice(2);
  await dtrain.init();
  const rank = dtrain.rank();
  const p = dtrain.size();
  const results = {};
  let checked = 0;
  const fill = (dtype, make, conv, n, r) => {
    const a = make(n);
    for (let i = 0; i < n; i++) a[i] = conv(value(dtype, r, i));
    return a;
  };
  const expectEqual = (what, got, want) => {
    const g = Buffer.from(got.buffer, got.byteOffset, got.byteLength);
    const w = Buffer.from(want.buffer, want.byteOffset, want.byteLength);
    if (!g.equals(w)) throw new Error(`${what}: wrong result on rank ${rank}`);
    checked++;
    results[what] = hashBytes(got);
  };
  for (const algorithm of algorithms) {
    for (const [dtype, make, conv] of DTYPES) {
      const opts = { algorithm, ...(dtype.endsWith('16') ? { dtype } : {}) };
      for (const n of [1, p + 1, 1000, 20001]) {
        for (const op of ['sum', 'max', 'min']) {
          const buf = fill(dtype, make, conv, n, rank);
          await dtrain.allreduce(buf, { ...opts, op });
          const want = make(n);
          for (let i = 0; i < n; i++) {
            let e = op === 'sum' ? 0 : value(dtype, 0, i);
            for (let r = 0; r < p; r++) {
              const v = value(dtype, r, i);
              e = op === 'sum' ? e + v : op === 'max' ? Math.max(e, v) : Math.min(e, v);
            }
            want[i] = conv(dtype === 'int8' ? ((e + 128) & 255) - 128 : dtype === 'uint8' ? e & 255 : e);
          }
          expectEqual(`allreduce ${algorithm} ${dtype} ${op} n=${n}`, buf, want);
        }
        const b = rank === 1 % p ? fill(dtype, make, conv, n, 7) : make(n);
        await dtrain.broadcast(b, 1 % p, { dtype: opts.dtype });
        expectEqual(`broadcast ${algorithm} ${dtype} n=${n}`, b, fill(dtype, make, conv, n, 7));
        const mine = fill(dtype, make, conv, n, rank);
        const all = await dtrain.allgather(mine, { algorithm: algorithmFor(algorithm, 'allgather', p), dtype: opts.dtype });
        const wantAll = make(n * p);
        for (let r = 0; r < p; r++) wantAll.set(fill(dtype, make, conv, n, r), r * n);
        expectEqual(`allgather ${algorithm} ${dtype} n=${n}`, all, wantAll);
      }
      if (dtype === 'float32' || dtype === 'int32') {
        const n = 1001;
        const buf = fill(dtype, make, conv, n, rank);
        const chunk = await dtrain.reduceScatter(buf, { algorithm: algorithmFor(algorithm, 'reduceScatter', p), op: 'sum' });
        const want = make(chunk.length);
        // Rank r's chunk: the first n % p chunks one element longer (the documented split).
        const offset = rank * Math.floor(n / p) + Math.min(rank, n % p);
        for (let i = 0; i < chunk.length; i++) {
          let e = 0;
          for (let r = 0; r < p; r++) e += value(dtype, r, offset + i);
          want[i] = e;
        }
        expectEqual(`reduceScatter ${algorithm} ${dtype}`, chunk, want);
      }
    }
    // An average is the sum divided by the ranks, the same whichever library summed.
    const avg = fill('float64', (n) => new Float64Array(n), (v) => v, 999, rank);
    await dtrain.allreduce(avg, { algorithm, op: 'avg' });
    const wantAvg = new Float64Array(999);
    for (let i = 0; i < 999; i++) for (let r = 0; r < p; r++) wantAvg[i] += value('float64', r, i) / p;
    for (let i = 0; i < 999; i++) if (Math.abs(avg[i] - wantAvg[i]) > 1e-12) throw new Error(`avg ${algorithm}: wrong`);
    checked++;
  }
  // One digest per algorithm (over its cases in order): mpirun interleaves long output lines.
  const digests = {};
  for (const algorithm of algorithms) {
    const hs = Object.entries(results).filter(([k]) => k.split(' ')[1] === algorithm).map(([, h]) => h);
    digests[algorithm] = hashBytes(Int32Array.from(hs));
  }
  report({ rank, size: p, transport: dtrain.getCommunicator().transport, checked, digests });
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
