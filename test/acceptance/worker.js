'use strict';
// Acceptance worker for dtrain. Launched by run.js through `dtrain run`.
// Usage: node worker.js <scenario> [victimRank]
// Emits one line per result: "@@" + JSON. The runner aggregates across ranks.
// Written against the public API only (package root exports).

const crypto = require('crypto');
const { performance } = require('perf_hooks');
const d = require('../..');

const scenario = process.argv[2] || 'main';
const victimArg = process.argv[3] !== undefined ? Number(process.argv[3]) : undefined;

function emit(obj) {
  process.stdout.write('@@' + JSON.stringify(obj) + '\n');
}
function check(name, ok, detail) {
  emit({ kind: 'check', name, ok: !!ok, detail: detail === undefined ? '' : String(detail) });
}
function hash(name, arr) {
  const h = crypto.createHash('sha1');
  h.update(Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength));
  emit({ kind: 'hash', name, hash: h.digest('hex') });
}
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function errInfo(e) {
  if (!e) return String(e);
  return `${e.constructor && e.constructor.name} code=${e.code} rank=${e.rank} ranks=${JSON.stringify(e.ranks)} msg=${JSON.stringify(e.message)}`;
}

// Deterministic, exactly-summable values (small integers plus multiples of 1/8 for floats).
function valF(rank, i) {
  return (((i * 7 + rank * 13) % 201) - 100) + ((rank + i) % 8) / 8;
}
function valI(rank, i) {
  return ((i * 31 + rank * 17) % 2001) - 1000;
}
function fill(Ctor, rank, n) {
  const a = new Ctor(n);
  const f = Ctor === Int32Array ? valI : valF;
  for (let i = 0; i < n; i++) a[i] = f(rank, i);
  return a;
}
function expected(Ctor, op, size, n) {
  const out = new Ctor(n);
  const f = Ctor === Int32Array ? valI : valF;
  for (let i = 0; i < n; i++) {
    let s = 0, mn = Infinity, mx = -Infinity;
    for (let r = 0; r < size; r++) {
      const v = f(r, i);
      s += v; if (v < mn) mn = v; if (v > mx) mx = v;
    }
    let e;
    if (op === 'sum') e = s;
    else if (op === 'min') e = mn;
    else if (op === 'max') e = mx;
    else if (op === 'avg') {
      if (Ctor === Int32Array) e = Math.trunc(s / size);
      else if (Ctor === Float32Array) e = Math.fround(Math.fround(s) / size);
      else e = s / size;
    }
    out[i] = e;
  }
  return out;
}
function compare(got, exp) {
  if (got.length !== exp.length) return `length ${got.length} != ${exp.length}`;
  let bad = 0, first = -1;
  for (let i = 0; i < exp.length; i++) {
    if (!Object.is(got[i], exp[i]) && !(got[i] === exp[i])) { if (first < 0) first = i; bad++; }
  }
  if (bad) return `${bad} mismatches, first at [${first}]: got ${got[first]} expected ${exp[first]}`;
  return null;
}

// Mulberry32 PRNG for non-exact random float data.
function rng(seed) {
  return function () {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function expectReject(name, fn, accept, nameRe) {
  let p;
  try {
    p = fn();
  } catch (e) {
    check(name, false, `threw synchronously instead of rejecting: ${errInfo(e)}`);
    return;
  }
  if (!p || typeof p.then !== 'function') { check(name, false, `did not return a promise: ${p}`); return; }
  try {
    await p;
    check(name, false, 'resolved, expected rejection');
  } catch (e) {
    const okType = accept.some((C) => e instanceof C);
    const okName = nameRe ? nameRe.test(e.message) : true;
    check(name, okType && okName, `${errInfo(e)}${okName ? '' : ` (message does not match ${nameRe})`}`);
  }
}
function expectThrow(name, fn, accept, nameRe) {
  try {
    fn();
    check(name, false, 'did not throw');
  } catch (e) {
    const okType = accept.some((C) => e instanceof C);
    const okName = nameRe ? nameRe.test(e.message) : true;
    check(name, okType && okName, `${errInfo(e)}${okName ? '' : ` (message does not match ${nameRe})`}`);
  }
}

const TYPES = { f32: Float32Array, f64: Float64Array, i32: Int32Array };

async function mainScenario() {
  await d.init();
  const R = d.rank(), S = d.size();
  check('env.rank_size', R === Number(process.env.DTRAIN_RANK || 0) && S === Number(process.env.DTRAIN_SIZE || 1),
    `rank=${R} size=${S} env=${process.env.DTRAIN_RANK}/${process.env.DTRAIN_SIZE}`);
  check('env.local', d.localSize() === S && d.localRank() === R, `localRank=${d.localRank()} localSize=${d.localSize()}`);

  // ---- bad arguments (local validation, identical on all ranks) ----
  const f4 = new Float32Array(4);
  await expectReject('badarg.allreduce_string', () => d.allreduce('x'), [TypeError]);
  await expectReject('badarg.allreduce_plain_array', () => d.allreduce([1, 2, 3]), [TypeError]);
  await expectReject('badarg.allreduce_uint8clamped', () => d.allreduce(new Uint8ClampedArray(4)), [TypeError]);
  await expectReject('badarg.allreduce_null', () => d.allreduce(null), [TypeError]);
  await expectReject('badarg.allreduce_op', () => d.allreduce(f4, { op: 'bogus' }), [TypeError, RangeError], /op/);
  await expectReject('badarg.allreduce_timeout', () => d.allreduce(f4, { timeout: -1 }), [TypeError, RangeError], /timeout/);
  await expectReject('badarg.allreduce_timeout_type', () => d.allreduce(f4, { timeout: 'soon' }), [TypeError, RangeError], /timeout/);
  await expectReject('badarg.allreduce_algorithm', () => d.allreduce(f4, { algorithm: 'bogus' }), [TypeError, RangeError], /algorithm/);
  await expectReject('badarg.broadcast_root_range', () => d.broadcast(f4, S), [RangeError, TypeError], /root/);
  await expectReject('badarg.broadcast_root_type', () => d.broadcast(f4, 'zero'), [TypeError, RangeError], /root/);
  await expectReject('badarg.allgather_type', () => d.allgather({ length: 3 }), [TypeError]);
  expectThrow('badarg.allreduceSync_string', () => d.allreduceSync('x'), [TypeError]);
  expectThrow('badarg.broadcastSync_root', () => d.broadcastSync(f4, -1), [RangeError, TypeError], /root/);
  expectThrow('badarg.allgatherSync_type', () => d.allgatherSync(42), [TypeError]);
  // The communicator must still be usable after local argument errors.
  {
    const a = new Float32Array([R + 1, 2]);
    try {
      await d.allreduce(a, { op: 'sum', timeout: 20 });
      check('badarg.comm_still_usable', a[0] === (S * (S + 1)) / 2 && a[1] === 2 * S, `got ${Array.from(a)}`);
    } catch (e) { check('badarg.comm_still_usable', false, errInfo(e)); }
  }

  // ---- allreduce: every dtype x op x awkward length ----
  const lengths = [0, 1, 2, 3, 5, 7, 13, 101, 1009, 65537];
  for (const [tn, C] of Object.entries(TYPES)) {
    for (const op of ['sum', 'avg', 'min', 'max']) {
      const fails = [];
      for (const n of lengths) {
        const buf = fill(C, R, n);
        try {
          const res = await d.allreduce(buf, { op });
          if (res !== buf) fails.push(`n=${n}: resolved to a different object`);
          const m = compare(buf, expected(C, op, S, n));
          if (m) fails.push(`n=${n}: ${m}`);
          hash(`allreduce.${tn}.${op}.${n}`, buf);
        } catch (e) { fails.push(`n=${n}: ${errInfo(e)}`); }
      }
      check(`allreduce.${tn}.${op}`, fails.length === 0, fails.join('; '));
    }
  }
  // Large buffers.
  const big = [['f32', 'sum', 3000017], ['f32', 'avg', 2000003], ['f64', 'sum', 1000003], ['i32', 'sum', 2000003], ['i32', 'max', 1000003]];
  for (const [tn, op, n] of big) {
    const C = TYPES[tn];
    const buf = fill(C, R, n);
    const t0 = now();
    try {
      const res = await d.allreduce(buf, { op });
      const dt = now() - t0;
      const m = compare(buf, expected(C, op, S, n));
      check(`allreduce.large.${tn}.${op}.${n}`, res === buf && !m, (m || '') + ` (${dt.toFixed(0)} ms)`);
      hash(`allreduce.large.${tn}.${op}.${n}`, buf);
    } catch (e) { check(`allreduce.large.${tn}.${op}.${n}`, false, errInfo(e)); }
  }
  // Random (non-exact) floats: close to the double-precision sum, and bitwise identical across ranks.
  for (const [tn, C, tol] of [['f32', Float32Array, 1e-5], ['f64', Float64Array, 1e-12]]) {
    const n = 100003;
    const bufs = [];
    for (let r = 0; r < S; r++) { const g = rng(1234 + r); const a = new C(n); for (let i = 0; i < n; i++) a[i] = g() * 2 - 1; bufs.push(a); }
    const buf = C.from(bufs[R]);
    try {
      await d.allreduce(buf, { op: 'sum' });
      let maxErr = 0;
      for (let i = 0; i < n; i++) { let s = 0; for (let r = 0; r < S; r++) s += bufs[r][i]; maxErr = Math.max(maxErr, Math.abs(buf[i] - s)); }
      check(`allreduce.random.${tn}.sum`, maxErr <= tol, `maxAbsErr=${maxErr}`);
      hash(`allreduce.random.${tn}.sum`, buf);
    } catch (e) { check(`allreduce.random.${tn}.sum`, false, errInfo(e)); }
  }
  // Explicit algorithms.
  for (const algorithm of ['auto', 'ring']) {
    const n = 4099;
    const buf = fill(Float32Array, R, n);
    try {
      await d.allreduce(buf, { op: 'sum', algorithm, timeout: 20 });
      const m = compare(buf, expected(Float32Array, 'sum', S, n));
      check(`allreduce.algorithm.${algorithm}`, !m, m || '');
    } catch (e) { check(`allreduce.algorithm.${algorithm}`, false, errInfo(e)); }
  }
  // Default op (sum) when opts omitted.
  {
    const buf = fill(Int32Array, R, 17);
    try { await d.allreduce(buf); const m = compare(buf, expected(Int32Array, 'sum', S, 17)); check('allreduce.default_op_sum', !m, m || ''); }
    catch (e) { check('allreduce.default_op_sum', false, errInfo(e)); }
  }
  // int32 avg truncates toward zero: sum = -(2*S - 1)... choose per-rank values so sum is negative and not divisible.
  {
    const buf = new Int32Array([R === 0 ? -(S + 1) : 0, R === 0 ? S + 1 : 0, -1, 1]);
    try {
      await d.allreduce(buf, { op: 'avg' });
      const exp = [Math.trunc(-(S + 1) / S), Math.trunc((S + 1) / S), -1, 1];
      check('allreduce.i32.avg_trunc_toward_zero', Array.from(buf).join() === exp.join(), `got ${Array.from(buf)} expected ${exp}`);
    } catch (e) { check('allreduce.i32.avg_trunc_toward_zero', false, errInfo(e)); }
  }
  // Subarray views: only the view is reduced; neighbours untouched.
  for (const [tn, C, off] of [['f32', Float32Array, 4], ['f64', Float64Array, 8], ['i32', Int32Array, 12]]) {
    const n = 1021;
    const el = C.BYTES_PER_ELEMENT;
    const pre = off / el;
    const outer = new C(pre + n + 3);
    const SENT = tn === 'i32' ? -777 : 12345.5;
    outer.fill(SENT);
    const view = new C(outer.buffer, off, n);
    const src = fill(C, R, n);
    view.set(src);
    try {
      const res = await d.allreduce(view, { op: 'sum' });
      const m = compare(view, expected(C, 'sum', S, n));
      let neigh = true;
      for (let i = 0; i < pre; i++) if (outer[i] !== SENT) neigh = false;
      for (let i = pre + n; i < outer.length; i++) if (outer[i] !== SENT) neigh = false;
      check(`allreduce.subarray.${tn}`, res === view && !m && neigh, `${m || ''} sameObj=${res === view} neighboursUntouched=${neigh}`);
    } catch (e) { check(`allreduce.subarray.${tn}`, false, errInfo(e)); }
  }

  // ---- many concurrent un-awaited allreduces ----
  {
    const specs = [];
    const ops = ['sum', 'avg', 'min', 'max'];
    const tns = Object.keys(TYPES);
    const lens = [0, 1, 3, 17, 1000, 65537, 7, 250001];
    for (let k = 0; k < 32; k++) specs.push({ tn: tns[k % 3], op: ops[(k * 5) % 4], n: lens[k % lens.length] });
    const order = [];
    const bufs = specs.map((s) => fill(TYPES[s.tn], R, s.n));
    const promises = specs.map((s, k) => d.allreduce(bufs[k], { op: s.op }).then((res) => { order.push(k); return res; }));
    try {
      const results = await Promise.all(promises);
      const fails = [];
      specs.forEach((s, k) => {
        if (results[k] !== bufs[k]) fails.push(`#${k} not same object`);
        const m = compare(bufs[k], expected(TYPES[s.tn], s.op, S, s.n));
        if (m) fails.push(`#${k} ${s.tn} ${s.op} n=${s.n}: ${m}`);
      });
      check('concurrent.allreduce.values', fails.length === 0, fails.join('; '));
      const inOrder = order.every((v, i) => v === i);
      check('concurrent.allreduce.resolve_order', inOrder, `order=${order.join(',')}`);
      bufs.forEach((b, k) => hash(`concurrent.${k}`, b));
    } catch (e) { check('concurrent.allreduce.values', false, errInfo(e)); }
  }
  // extra: mixed concurrent collectives, issued back to back without awaiting
  {
    const a = fill(Float64Array, R, 999);
    const b = new Int32Array(50).fill(R * 10);
    const c = new Float32Array([R, R + 0.5]);
    try {
      const [ra, rb, rc] = await Promise.all([d.allreduce(a, { op: 'max' }), d.broadcast(b, S - 1), d.allgather(c), d.barrier()]);
      const fails = [];
      const m = compare(ra, expected(Float64Array, 'max', S, 999)); if (m) fails.push('allreduce ' + m);
      if (!rb.every((v) => v === (S - 1) * 10)) fails.push('broadcast wrong');
      const ec = []; for (let r = 0; r < S; r++) ec.push(r, r + 0.5);
      if (Array.from(rc).join() !== ec.join()) fails.push(`allgather got ${Array.from(rc)}`);
      check('concurrent.mixed_collectives', fails.length === 0, fails.join('; '));
    } catch (e) { check('concurrent.mixed_collectives', false, errInfo(e)); }
  }

  // ---- broadcast from every root ----
  for (let root = 0; root < S; root++) {
    const fails = [];
    for (const [tn, C] of Object.entries(TYPES)) {
      for (const n of [0, 1, 5, 4097, 1000003]) {
        const buf = new C(n);
        for (let i = 0; i < n; i++) buf[i] = R * 1000 + (i % 977);
        try {
          const res = await d.broadcast(buf, root);
          if (res !== buf) fails.push(`${tn} n=${n} not same object`);
          let bad = -1;
          for (let i = 0; i < n; i++) if (buf[i] !== root * 1000 + (i % 977)) { bad = i; break; }
          if (bad >= 0) fails.push(`${tn} n=${n} [${bad}]=${buf[bad]}`);
        } catch (e) { fails.push(`${tn} n=${n}: ${errInfo(e)}`); }
      }
    }
    check(`broadcast.root${root}`, fails.length === 0, fails.join('; '));
  }
  {
    const buf = new Float32Array([R + 7]);
    try { await d.broadcast(buf); check('broadcast.default_root0', buf[0] === 7, `got ${buf[0]}`); }
    catch (e) { check('broadcast.default_root0', false, errInfo(e)); }
  }

  // ---- allgather ----
  {
    const fails = [];
    for (const [tn, C] of Object.entries(TYPES)) {
      for (const n of [0, 1, 3, 100003]) {
        const buf = new C(n);
        for (let i = 0; i < n; i++) buf[i] = R * 100000 + i;
        const copy = C.from(buf);
        try {
          const res = await d.allgather(buf);
          if (res === buf) fails.push(`${tn} n=${n} returned input object`);
          if (!(res instanceof C)) fails.push(`${tn} n=${n} result type ${res && res.constructor.name}`);
          if (res.length !== S * n) fails.push(`${tn} n=${n} length ${res.length}`);
          let bad = -1;
          for (let r = 0; r < S && bad < 0; r++) for (let i = 0; i < n; i++) if (res[r * n + i] !== r * 100000 + i) { bad = r * n + i; break; }
          if (bad >= 0) fails.push(`${tn} n=${n} [${bad}]=${res[bad]}`);
          if (compare(buf, copy)) fails.push(`${tn} n=${n} input modified`);
        } catch (e) { fails.push(`${tn} n=${n}: ${errInfo(e)}`); }
      }
    }
    check('allgather.order_values', fails.length === 0, fails.join('; '));
  }
  {
    // allgather of a subarray view
    const outer = new Int32Array(10).fill(-1);
    const view = new Int32Array(outer.buffer, 8, 3);
    view.set([R, R + 1, R + 2]);
    try {
      const res = await d.allgather(view);
      const exp = []; for (let r = 0; r < S; r++) exp.push(r, r + 1, r + 2);
      check('allgather.subarray', Array.from(res).join() === exp.join() && outer[0] === -1 && outer[5] === -1, `got ${Array.from(res)}`);
    } catch (e) { check('allgather.subarray', false, errInfo(e)); }
  }

  // ---- barrier semantics: rank r arrives r*150 ms late; nobody leaves before the last arrives ----
  {
    await d.barrier();
    await sleep(R * 150);
    const enter = now();
    try {
      const res = await d.barrier();
      const leave = now();
      emit({ kind: 'barrier', enter, leave });
      check('barrier.resolves_undefined', res === undefined, `resolved to ${res}`);
    } catch (e) { check('barrier.resolves_undefined', false, errInfo(e)); }
  }

  // ---- Sync variants ----
  {
    const n = 1013;
    const buf = fill(Float32Array, R, n);
    try {
      const res = d.allreduceSync(buf, { op: 'sum' });
      const m = compare(buf, expected(Float32Array, 'sum', S, n));
      check('sync.allreduceSync', res === buf && !m, `${m || ''} sameObj=${res === buf}`);
    } catch (e) { check('sync.allreduceSync', false, errInfo(e)); }
    for (const op of ['avg', 'min', 'max']) {
      const b = fill(Int32Array, R, 31);
      try {
        d.allreduceSync(b, { op });
        const m = compare(b, expected(Int32Array, op, S, 31));
        check(`sync.allreduceSync.i32.${op}`, !m, m || '');
      } catch (e) { check(`sync.allreduceSync.i32.${op}`, false, errInfo(e)); }
    }
    const big = fill(Float64Array, R, 500009);
    try {
      d.allreduceSync(big, { op: 'max' });
      const m = compare(big, expected(Float64Array, 'max', S, 500009));
      check('sync.allreduceSync.large', !m, m || '');
    } catch (e) { check('sync.allreduceSync.large', false, errInfo(e)); }
    const bb = new Float64Array(9).fill(R);
    try {
      const res = d.broadcastSync(bb, S - 1);
      check('sync.broadcastSync', res === bb && bb.every((v) => v === S - 1), `got ${Array.from(bb)}`);
    } catch (e) { check('sync.broadcastSync', false, errInfo(e)); }
    const gb = new Int32Array([R, -R]);
    try {
      const res = d.allgatherSync(gb);
      const exp = []; for (let r = 0; r < S; r++) exp.push(r, -r);
      check('sync.allgatherSync', res instanceof Int32Array && res !== gb && Array.from(res).join() === exp.join(), `got ${Array.from(res)}`);
    } catch (e) { check('sync.allgatherSync', false, errInfo(e)); }
    await sleep(R * 100);
    const enter = now();
    try {
      const res = d.barrierSync();
      const leave = now();
      emit({ kind: 'barrierSync', enter, leave });
      check('sync.barrierSync_returns', res === undefined, `returned ${res}`);
    } catch (e) { check('sync.barrierSync_returns', false, errInfo(e)); }
  }

  // ---- init() twice returns the same communicator; shutdown() then init() again ----
  try {
    const c1 = await d.init();
    const c2 = await d.init();
    check('init.idempotent_same_comm', c1 === c2, '');
    await d.shutdown();
    const c3 = await d.init();
    check('reinit.new_comm', c3 !== c1 && d.rank() === R && d.size() === S, `new=${c3 !== c1} rank=${d.rank()} size=${d.size()}`);
    const buf = fill(Float64Array, R, 333);
    await d.allreduce(buf, { op: 'min', timeout: 20 });
    const m = compare(buf, expected(Float64Array, 'min', S, 333));
    check('reinit.allreduce', !m, m || '');
    const g = await d.allgather(new Int32Array([R]));
    check('reinit.allgather', Array.from(g).join() === Array.from({ length: S }, (_, i) => i).join(), `got ${Array.from(g)}`);
    await d.shutdown();
    check('reinit.shutdown', true, '');
  } catch (e) {
    check('reinit.error', false, errInfo(e));
  }
}

async function mismatchScenario(kind) {
  await d.init();
  const R = d.rank(), S = d.size();
  const odd = R === S - 1;
  const n = 1000;
  const t0 = now();
  let p;
  if (kind === 'len') p = d.allreduce(new Float32Array(odd ? n + 1 : n), { op: 'sum', timeout: 20 });
  else if (kind === 'coll') p = odd ? d.broadcast(new Float32Array(n), 0, { timeout: 20 }) : d.allreduce(new Float32Array(n), { op: 'sum', timeout: 20 });
  else if (kind === 'dtype') p = d.allreduce(odd ? new Int32Array(n) : new Float32Array(n), { op: 'sum', timeout: 20 });
  else if (kind === 'op') p = d.allreduce(new Float32Array(n), { op: odd ? 'max' : 'sum', timeout: 20 });
  try {
    await p;
    check(`mismatch.${kind}`, false, `resolved (no error) after ${(now() - t0).toFixed(0)} ms`);
  } catch (e) {
    const dt = now() - t0;
    check(`mismatch.${kind}`, e.code === 'ERR_DTRAIN_MISMATCH' && dt < 10000, `${errInfo(e)} after ${dt.toFixed(0)} ms`);
  }
  process.exit(0);
}

async function lostScenario(how, victim) {
  await d.init();
  const R = d.rank(), S = d.size();
  await d.allreduce(new Float32Array(8), { op: 'sum', timeout: 20 });
  await d.barrier({ timeout: 20 });
  const n = 4000000;
  if (R === victim) {
    if (how === 'exit') {
      await sleep(200);
      process.exit(3);
    } else {
      // SIGKILL ourselves in the middle of the second big allreduce.
      const buf = new Float32Array(n).fill(1);
      await d.allreduce(buf, { op: 'sum', timeout: 20 });
      const p = d.allreduce(buf, { op: 'sum', timeout: 20 });
      setTimeout(() => process.kill(process.pid, 'SIGKILL'), 1);
      await p.catch(() => {});
      process.kill(process.pid, 'SIGKILL');
    }
    return;
  }
  const t0 = now();
  let err = null, failedAt = -1;
  const buf = new Float32Array(how === 'exit' ? 1000 : n).fill(1);
  for (let k = 0; k < 6 && !err; k++) {
    try { await d.allreduce(buf, { op: 'sum', timeout: 20 }); } catch (e) { err = e; failedAt = k; }
  }
  const dt = now() - t0;
  if (!err) { check(`lost.${how}`, false, `no error after 6 allreduces (${dt.toFixed(0)} ms)`); process.exit(0); }
  check(`lost.${how}.code`, err.code === 'ERR_DTRAIN_PEER_LOST', `${errInfo(err)} (on big allreduce #${failedAt})`);
  check(`lost.${how}.rank`, err.rank === victim, `err.rank=${err.rank} victim=${victim}`);
  check(`lost.${how}.fast`, dt < 5000, `${dt.toFixed(0)} ms (timeout 20 s)`);
  // Afterwards the communicator is unusable.
  try {
    await d.allreduce(new Float32Array(4), { op: 'sum', timeout: 5 });
    check(`lost.${how}.then_broken`, false, 'next allreduce resolved');
  } catch (e) {
    check(`lost.${how}.then_broken`, e.code === 'ERR_DTRAIN_BROKEN', errInfo(e));
  }
  try {
    d.barrierSync({ timeout: 5 });
    check(`lost.${how}.then_broken_sync`, false, 'barrierSync returned');
  } catch (e) {
    check(`lost.${how}.then_broken_sync`, e.code === 'ERR_DTRAIN_BROKEN', errInfo(e));
  }
  process.exit(0);
}

async function timeoutScenario(perCall) {
  await d.init();
  const R = d.rank(), S = d.size();
  await d.barrier({ timeout: 20 });
  if (R === S - 1) { await sleep(4000); process.exit(0); }
  const t0 = now();
  try {
    await d.allreduce(new Float64Array(10), perCall ? { op: 'sum', timeout: 1 } : { op: 'sum' });
    check('timeout', false, 'resolved');
  } catch (e) {
    const dt = now() - t0;
    const want = perCall ? 1000 : 2000;
    check(perCall ? 'timeout.per_call' : 'timeout.env_default',
      e.code === 'ERR_DTRAIN_TIMEOUT' && Array.isArray(e.ranks) && e.ranks.includes(S - 1) && dt >= want * 0.9 && dt < want + 2500,
      `${errInfo(e)} after ${dt.toFixed(0)} ms (expected ~${want} ms)`);
  }
  process.exit(0);
}

// Minimal: two communicators in one process, one after the other, then a normal exit.
async function reinitScenario() {
  for (let round = 0; round < 2; round++) {
    await d.init();
    const buf = new Int32Array([d.rank() + 1]);
    await d.allreduce(buf, { op: 'sum', timeout: 20 });
    check(`reinit_exit.round${round}`, buf[0] === (d.size() * (d.size() + 1)) / 2, `got ${buf[0]}`);
    await d.shutdown();
  }
}

(async () => {
  if (scenario === 'reinit') await reinitScenario();
  else if (scenario === 'main') await mainScenario();
  else if (scenario.startsWith('mismatch-')) await mismatchScenario(scenario.slice(9));
  else if (scenario === 'lost-exit') await lostScenario('exit', victimArg);
  else if (scenario === 'lost-kill') await lostScenario('kill', victimArg);
  else if (scenario === 'timeout-call') await timeoutScenario(true);
  else if (scenario === 'timeout-env') await timeoutScenario(false);
  else throw new Error('unknown scenario ' + scenario);
  emit({ kind: 'done' });
})().catch((e) => {
  check('worker.uncaught', false, errInfo(e) + ' ' + (e && e.stack));
  process.exit(1);
});
