'use strict';
// The collectives added for Horovod and DDP users, each checked against values computed here in
// JS, for every dtype and op where it applies, in Promise and Sync forms, with every rank's
// result compared bitwise to every other's (hashes all-gathered):
// reduce (every root), gather, scatter, all-to-all (equal and variable splits), send/recv,
// grouped all-reduce, prod and the new dtypes in allreduce, integer wrap-around and exact
// integer averages, broadcastObject/allgatherObject, SharedArrayBuffer arrays, groups used
// concurrently with the world, and join() with uneven batches (argv: the batches each rank is
// short of, e.g. "0,1,5").
const dtrain = require('../..');
const { report, hashBytes } = require('./report');

const INT_TYPES = { int32: Int32Array, uint8: Uint8Array, int8: Int8Array, int64: BigInt64Array };
const TYPES = { float32: Float32Array, float64: Float64Array, ...INT_TYPES, float16: Uint16Array, bfloat16: Uint16Array };
const OPS = ['sum', 'avg', 'min', 'max', 'prod'];

// Values whose sums and products are exact in every type for up to 6 ranks (uint8: no negatives).
function value(type, op, r, i) {
  if (op === 'prod') return type === 'uint8' ? (r + i) % 3 : ((r + i) % 3) - 1;
  const v = ((r + 1) * 7 + i * 13) % 21;
  return type === 'uint8' ? v : v - 10;
}

const isHalf = (t) => t === 'float16' || t === 'bfloat16';

/** A typed array of `type` holding JS numbers `xs`. */
function make(type, xs) {
  if (type === 'int64') return BigInt64Array.from(xs, (x) => BigInt(x));
  if (isHalf(type)) {
    const f = Float32Array.from(xs);
    return type === 'float16' ? dtrain.kernels.castToHalf(f) : dtrain.kernels.castToBFloat16(f);
  }
  return TYPES[type].from(xs);
}

/** The array's values as JS numbers. */
function numbers(type, a) {
  if (type === 'int64') return Array.from(a, Number);
  if (isHalf(type)) {
    const r = type === 'float16' ? dtrain.kernels.castFromHalf(a) : dtrain.kernels.castFromBFloat16(a);
    return Array.from(r.values ?? r.out ?? r);
  }
  return Array.from(a);
}

function expected(type, op, np, i, ranks = [...Array(np).keys()]) {
  const vs = ranks.map((r) => value(type, op, r, i));
  let acc;
  if (op === 'min') acc = Math.min(...vs);
  else if (op === 'max') acc = Math.max(...vs);
  else if (op === 'prod') acc = vs.reduce((a, b) => a * b, 1);
  else acc = vs.reduce((a, b) => a + b, 0);
  if (op !== 'avg') return acc;
  if (type in INT_TYPES) return Math.trunc(acc / ranks.length);
  if (type === 'float32') return Math.fround(acc / ranks.length);
  return acc / ranks.length;
}

function near(type, got, want) {
  // Half averages divide each rank's value first and round every partial sum.
  if (isHalf(type)) return Math.abs(got - want) <= Math.abs(want) * (type === 'float16' ? 4e-3 : 3e-2) + 2e-2;
  return got === want;
}

async function sameOnEveryRank(arr, what) {
  const all = await dtrain.allgather(Int32Array.of(arr ? hashBytes(arr) : 0));
  if (!all.every((h) => h === all[0])) throw new Error(`${what}: ranks disagree bitwise (${all})`);
}

function check(type, got, want, what) {
  const g = numbers(type, got);
  if (g.length !== want.length) throw new Error(`${what}: length ${g.length}, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (!near(type, g[i], want[i])) throw new Error(`${what}: [${i}] = ${g[i]}, expected ${want[i]}`);
  }
}

async function reductions(rank, np) {
  let cases = 0;
  for (const type of Object.keys(TYPES)) {
    for (const op of OPS) {
      if (op === 'avg' && type === 'int64') continue; // refused: checked below
      const dtype = isHalf(type) ? { dtype: type } : {};
      for (const n of [0, 1, np + 2, 1000]) {
        const want = Array.from({ length: n }, (_, i) => expected(type, op, np, i));
        const mine = () => make(type, Array.from({ length: n }, (_, i) => value(type, op, rank, i)));
        // allreduce with the new ops and types, Promise and Sync
        const a = await dtrain.allreduce(mine(), { op, ...dtype });
        check(type, a, want, `allreduce ${type} ${op} n=${n}`);
        check(type, dtrain.allreduceSync(mine(), { op, ...dtype }), want, `allreduceSync ${type} ${op} n=${n}`);
        await sameOnEveryRank(a, `allreduce ${type} ${op}`);
        // reduce onto every root: in place on the root, unchanged elsewhere
        for (let root = 0; root < np; root++) {
          const b = mine();
          const before = b.slice();
          const sync = (root + n) % 2 === 1;
          const out = sync ? dtrain.reduceSync(b, root, { op, ...dtype }) : await dtrain.reduce(b, root, { op, ...dtype });
          if (out !== b) throw new Error('reduce must resolve to its buffer');
          if (rank === root) check(type, b, want, `reduce ${type} ${op} n=${n} root=${root}`);
          else check(type, b, numbers(type, before), `reduce leaves rank ${rank}'s buf (root ${root})`);
          cases++;
        }
        // grouped: the same vector cut in three arrays
        const whole = mine();
        const cut = [Math.floor(n / 3), Math.floor((2 * n) / 3)];
        const parts = [whole.slice(0, cut[0]), whole.slice(cut[0], cut[1]), whole.slice(cut[1])];
        const res = await dtrain.groupedAllreduce(parts, { op, ...dtype });
        if (res !== parts) throw new Error('groupedAllreduce must resolve to its array of arrays');
        const joined = parts.flatMap((p) => numbers(type, p));
        for (let i = 0; i < n; i++) {
          if (!near(type, joined[i], want[i])) throw new Error(`groupedAllreduce ${type} ${op} n=${n}: [${i}] = ${joined[i]}, expected ${want[i]}`);
        }
        await sameOnEveryRank(make(type === 'int64' ? 'float64' : 'float64', joined), `grouped ${type} ${op}`);
        cases += 2;
      }
    }
  }
  return cases;
}

async function copies(rank, np) {
  let cases = 0;
  for (const type of Object.keys(TYPES)) {
    const dtype = isHalf(type) ? { dtype: type } : {};
    const v = (r, i) => ((r * 5 + i * 3) % 17) - (type === 'uint8' ? 0 : 8);
    for (const n of [0, 1, 5, 333]) {
      for (let root = 0; root < np; root++) {
        const sync = (root + n) % 2 === 0;
        // gather
        const mine = make(type, Array.from({ length: n }, (_, i) => v(rank, i)));
        const g = sync ? dtrain.gatherSync(mine, root, dtype) : await dtrain.gather(mine, root, dtype);
        const all = Array.from({ length: n * np }, (_, k) => v(Math.floor(k / n), k % n));
        if (rank === root) check(type, g, all, `gather ${type} n=${n} root=${root}`);
        else if (g !== null) throw new Error('gather resolves to null off the root');
        // scatter
        const recv = make(type, new Array(n).fill(0));
        const send = rank === root ? make(type, all) : undefined;
        const s = sync ? dtrain.scatterSync(recv, root, { send, ...dtype }) : await dtrain.scatter(recv, root, { send, ...dtype });
        if (s !== recv) throw new Error('scatter resolves to recv');
        check(type, recv, Array.from({ length: n }, (_, i) => v(rank, i)), `scatter ${type} n=${n} root=${root}`);
        cases += 2;
      }
      // all-to-all, equal chunks: chunk j of mine goes to rank j
      const chunk = (from, to) => Array.from({ length: n }, (_, k) => v(from + to * 3, k));
      const a2a = make(type, [...Array(np).keys()].flatMap((j) => chunk(rank, j)));
      const out = n % 2 ? dtrain.alltoallSync(a2a, dtype) : await dtrain.alltoall(a2a, dtype);
      check(type, out, [...Array(np).keys()].flatMap((j) => chunk(j, rank)), `alltoall ${type} n=${n}`);
      // variable splits, zero-length ones included; recvCounts given on odd ranks only
      const split = (from, to) => (from + 2 * to + n) % 4;
      const sendCounts = [...Array(np).keys()].map((j) => split(rank, j));
      const vchunk = (from, to) => Array.from({ length: 4 }, (_, k) => v(from * 2 + to, k + n));
      const body = [...Array(np).keys()].flatMap((j) => vchunk(rank, j).slice(0, split(rank, j)));
      const opts = { sendCounts, ...dtype };
      if (rank % 2) opts.recvCounts = [...Array(np).keys()].map((j) => split(j, rank));
      const vo = await dtrain.alltoall(make(type, body), opts);
      const want = [...Array(np).keys()].flatMap((j) => vchunk(j, rank).slice(0, split(j, rank)));
      check(type, vo, want, `alltoall variable ${type} n=${n}`);
      cases += 2;
    }
    // send/recv around the ring (even ranks send first), tags counting up
    if (np > 1) {
      const right = (rank + 1) % np;
      const left = (rank + np - 1) % np;
      for (let t = 0; t < 3; t++) {
        const out = make(type, Array.from({ length: 10 + t }, (_, i) => v(rank + t, i)));
        const inn = make(type, new Array(10 + t).fill(0));
        const sendIt = () => (t % 2 ? Promise.resolve(dtrain.sendSync(out, right, { tag: t, ...dtype })) : dtrain.send(out, right, { tag: t, ...dtype }));
        const recvIt = () => (t % 2 ? Promise.resolve(dtrain.recvSync(inn, left, { tag: t, ...dtype })) : dtrain.recv(inn, left, { tag: t, ...dtype }));
        if (rank % 2 === 0) {
          await sendIt();
          await recvIt();
        } else {
          await recvIt();
          await sendIt();
        }
        check(type, inn, Array.from({ length: 10 + t }, (_, i) => v(left + t, i)), `recv ${type} tag ${t}`);
        cases++;
      }
    }
  }
  return cases;
}

async function edges(rank, np) {
  const out = {};
  // int32 sums wrap around (documented); averages are exact.
  const wrapped = await dtrain.allreduce(Int32Array.of(2147483647));
  out.wrapped = wrapped[0];
  out.average = (await dtrain.allreduce(Int32Array.of(2147483647), { op: 'avg' }))[0];
  out.int8Average = dtrain.allreduceSync(Int8Array.of(127, -128), { op: 'avg' }).join(',');
  try {
    await dtrain.allreduce(new BigInt64Array(1), { op: 'avg' });
  } catch (err) {
    out.int64Avg = { name: err.constructor.name, message: err.message };
  }
  // SharedArrayBuffer-backed arrays, in every form.
  const sab = new Float32Array(new SharedArrayBuffer(16), 4, 2).fill(rank + 1);
  await dtrain.allreduce(sab);
  const sabSync = dtrain.allreduceSync(new Int32Array(new SharedArrayBuffer(8)).fill(1));
  const sabGather = await dtrain.allgather(new Float64Array(new SharedArrayBuffer(8)).fill(rank));
  const sabB = new Uint8Array(new SharedArrayBuffer(3)).fill(rank === 0 ? 9 : 0);
  await dtrain.broadcast(sabB, 0);
  out.sab = [sab[0], sabSync[0], Array.from(sabGather).join(','), sabB[2]];
  // Plain values.
  const value = rank === 0 ? { step: 7, name: 'x', weights: Float32Array.of(1, 2), tags: new Set(['a']), big: 10n ** 20n } : undefined;
  const got = await dtrain.broadcastObject(value, 0);
  out.object = [got.step, got.name, got.weights[1], got.tags.has('a'), String(got.big)];
  const synced = dtrain.broadcastObjectSync(rank === np - 1 ? [rank, 'last'] : null, np - 1);
  out.objectSync = synced.join(',');
  const everyone = await dtrain.allgatherObject({ rank, text: 'r'.repeat(rank * 100) });
  out.allObjects = everyone.map((o) => `${o.rank}:${o.text.length}`).join(',');
  out.allObjectsSync = dtrain.allgatherObjectSync(rank * 2).join(',');
  try {
    await dtrain.broadcastObject(rank === 0 ? { f() {} } : null, 0, { timeout: 3 });
  } catch (err) {
    out.badObject = { name: err.constructor.name, message: err.message, code: err.code };
  }
  return out;
}

/** Two groups (even and odd ranks) all-reducing while the world all-reduces too. */
async function groups(rank, np) {
  const evens = [...Array(np).keys()].filter((r) => r % 2 === 0);
  const odds = [...Array(np).keys()].filter((r) => r % 2 === 1);
  const even = await dtrain.newGroup(evens);
  const odd = await dtrain.newGroup(odds.length ? odds : [0]);
  const mine = rank % 2 === 0 ? even : odd;
  if ((rank % 2 === 0) !== (even !== null)) throw new Error('newGroup: members get the group, others null');
  const rounds = 20;
  const n = 50000;
  const world = async () => {
    let s = 0;
    for (let i = 0; i < rounds; i++) s += (await dtrain.allreduce(new Float64Array(n).fill(rank + i)))[n - 1];
    return s;
  };
  const inGroup = async () => {
    if (!mine) return null;
    let s = 0;
    for (let i = 0; i < rounds; i++) s += (await mine.allreduce(new Float64Array(n).fill(rank)))[0];
    return s;
  };
  const [w, g] = await Promise.all([world(), inGroup()]);
  const members = rank % 2 === 0 ? evens : odds;
  const info = {
    world: w,
    worldWant: [...Array(rounds).keys()].reduce((a, i) => a + (np * (np - 1)) / 2 + np * i, 0),
    group: g,
    groupWant: mine ? rounds * members.reduce((a, b) => a + b, 0) : null,
    groupRank: mine ? mine.rank : null,
    groupSize: mine ? mine.size : null,
    groupRankWant: members.indexOf(rank),
  };
  // Every module collective is a method of a group, too.
  if (mine) {
    const gg = await mine.gather(Int32Array.of(rank), 0);
    info.groupGather = gg ? Array.from(gg).join(',') : null;
    info.groupObjects = (await mine.allgatherObject(rank)).join(',');
  }
  // A group of one, and a mismatched group (rank 0 asks for another set).
  const solo = await dtrain.newGroup([np - 1]);
  if (solo) info.solo = (await solo.allreduce(Float32Array.of(5)))[0];
  try {
    await dtrain.newGroup(rank === 0 ? [0] : [...Array(np).keys()]);
    info.mismatch = null;
  } catch (err) {
    info.mismatch = { code: err.code, ranks: err.ranks, message: err.message };
  }
  if (even) await even.shutdown();
  if (odd) await odd.shutdown();
  return info;
}

/** join(): this rank runs `short` fewer steps than the longest; the average divides by contributors. */
async function joined(rank, np, shortBy) {
  const most = 6;
  const steps = most - shortBy[rank % shortBy.length];
  const seen = [];
  for (let s = 0; s < steps; s++) {
    const g = await dtrain.allreduce(Float32Array.of(rank + 1, 1), { op: 'avg' });
    const grouped = await dtrain.groupedAllreduce([Float64Array.of(1), Float64Array.of(rank)], { op: 'max' });
    await dtrain.barrier();
    seen.push([g[0], g[1], grouped[0][0], grouped[1][0]]);
  }
  const answered = await dtrain.join();
  // After everyone joined, collectives work as before.
  const after = (await dtrain.allreduce(Float32Array.of(1)))[0];
  return { steps, seen, answered, after };
}

async function main() {
  await dtrain.init();
  const rank = dtrain.rank();
  const np = dtrain.size();
  const mode = process.argv[2] ?? 'all';
  if (mode === 'join') {
    const shortBy = (process.argv[3] ?? '0').split(',').map(Number);
    report({ np, ...(await joined(rank, np, shortBy)) });
  } else {
    const cases = (await reductions(rank, np)) + (await copies(rank, np));
    report({ np, cases, edges: await edges(rank, np), groups: await groups(rank, np) });
  }
  await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
