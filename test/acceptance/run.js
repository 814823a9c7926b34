#!/usr/bin/env node
'use strict';
// Multi-process acceptance check for dtrain, driven through the `dtrain run` CLI only.
//   node test/acceptance/run.js            # everything
//   node test/acceptance/run.js main       # only launches whose label contains "main"
//   ACCEPT_VERBOSE=1 node test/acceptance/run.js ...   # also print every launch's raw output
// Prints one PASS/FAIL line per check and a final "N passed, N failed"; exits 1 on any failure.

const { spawn } = require('child_process');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'dtrain.js');
const WORKER = path.join(__dirname, 'worker.js');
const filter = process.argv[2] || '';
const verbose = !!process.env.ACCEPT_VERBOSE;

let passed = 0, failed = 0;
function report(label, name, ok, detail) {
  if (ok) passed++; else failed++;
  const d = detail ? ` -- ${detail}` : '';
  console.log(`${ok ? 'PASS' : 'FAIL'} [${label}] ${name}${ok && !verbose ? '' : d}`);
}

function launch(args, env, hangMs) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, args, {
      cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    });
    let out = '', err = '', hung = false;
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { err += b; });
    const timer = setTimeout(() => {
      hung = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* already gone */ }
    }, hangMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err, hung, ms: Date.now() - t0 });
    });
  });
}

function parse(text, prefixed) {
  const recs = [];
  for (const line of text.split('\n')) {
    let rank = 0, rest = line;
    if (prefixed) {
      const m = /^\[(\d+)\] (.*)$/.exec(line);
      if (!m) continue;
      rank = Number(m[1]); rest = m[2];
    }
    if (!rest.startsWith('@@')) continue;
    try { recs.push({ rank, ...JSON.parse(rest.slice(2)) }); } catch (_) { /* partial line */ }
  }
  return recs;
}

function cmdline(args, env) {
  const e = Object.entries(env).map(([k, v]) => `${k}=${v} `).join('');
  return `cd ${ROOT} && ${e}node ${args.map((a) => (path.isAbsolute(a) ? path.relative(ROOT, a) : a)).join(' ')}`;
}

// expectedRanks: ranks that must report every check; expectNonzero: launcher should fail naming `victim`.
async function runLaunch({ label, np, transport, scenario, extra = [], env = {}, cliTimeout = 20, expectedRanks, expectNonzero = false, victim, hangMs = 60000, direct = false }) {
  if (filter && !label.includes(filter)) return;
  const args = direct
    ? [WORKER, scenario, ...extra]
    : [CLI, 'run', '-np', String(np), ...(transport ? ['--transport', transport] : []), ...(cliTimeout ? ['--timeout', String(cliTimeout)] : []), WORKER, scenario, ...extra];
  const res = await launch(args, env, hangMs);
  const cmd = cmdline(args, env);
  const recs = parse(res.out, !direct);
  const tail = () => `\n    reproduce: ${cmd}\n    exit=${res.code} signal=${res.signal} (${res.ms} ms)\n    stderr: ${res.err.trim().split('\n').slice(-6).join('\n            ')}`;
  if (verbose) console.log(`---- ${label}: ${cmd}\n${res.out}${res.err}`);

  if (res.hung) report(label, 'no_hang', false, `killed after ${hangMs} ms${tail()}`);

  // Per-check aggregation across ranks.
  const checks = new Map();
  for (const r of recs) {
    if (r.kind !== 'check') continue;
    if (!checks.has(r.name)) checks.set(r.name, new Map());
    checks.get(r.name).set(r.rank, r);
  }
  for (const [name, byRank] of checks) {
    const bad = [];
    for (const rk of expectedRanks) {
      const r = byRank.get(rk);
      if (!r) bad.push(`rank ${rk}: no result`);
      else if (!r.ok) bad.push(`rank ${rk}: ${r.detail}`);
    }
    for (const [rk, r] of byRank) if (!expectedRanks.includes(rk) && !r.ok) bad.push(`rank ${rk} (unexpected reporter): ${r.detail}`);
    const okDetail = [...byRank.values()].map((r) => `r${r.rank}: ${r.detail}`).join(' | ');
    report(label, name, bad.length === 0, bad.length ? bad.join('\n      ') + tail() : okDetail);
  }
  if (checks.size === 0) report(label, 'any_results', false, `no check output at all${tail()}`);

  // Results bitwise identical on every rank.
  const hashes = new Map();
  for (const r of recs) if (r.kind === 'hash') { if (!hashes.has(r.name)) hashes.set(r.name, new Map()); hashes.get(r.name).set(r.rank, r.hash); }
  if (hashes.size) {
    const diff = [];
    for (const [name, m] of hashes) {
      const vals = expectedRanks.map((rk) => m.get(rk));
      if (vals.some((v) => v === undefined) || new Set(vals).size !== 1) diff.push(`${name}: ${expectedRanks.map((rk) => `r${rk}=${(m.get(rk) || 'missing').slice(0, 8)}`).join(' ')}`);
    }
    report(label, `bitwise_identical_across_ranks (${hashes.size} results)`, diff.length === 0, diff.slice(0, 5).join('; ') + (diff.length ? tail() : ''));
  }

  // Barrier semantics: nobody leaves before the last rank has entered.
  for (const kind of ['barrier', 'barrierSync']) {
    const b = recs.filter((r) => r.kind === kind);
    if (!b.length) continue;
    const lastEnter = Math.max(...b.map((r) => r.enter));
    const firstLeave = Math.min(...b.map((r) => r.leave));
    const spread = lastEnter - Math.min(...b.map((r) => r.enter));
    const ok = b.length === expectedRanks.length && firstLeave + 2 >= lastEnter;
    report(label, `${kind}.no_early_exit`, ok, `ranks=${b.length} firstLeave-lastEnter=${(firstLeave - lastEnter).toFixed(1)} ms, arrival spread=${spread.toFixed(0)} ms`);
  }

  if (!direct || scenario === 'main') {
    const doneRanks = new Set(recs.filter((r) => r.kind === 'done').map((r) => r.rank));
    if (scenario === 'main') report(label, 'all_ranks_finished', expectedRanks.every((rk) => doneRanks.has(rk)), `done: ${[...doneRanks].sort().join(',')}${tail()}`);
  }

  // Launcher exit status.
  const all = res.out + res.err;
  if (expectNonzero) {
    const names = new RegExp(`rank ${victim}\\b`).test(res.err);
    report(label, 'launcher.nonzero_naming_rank', res.code !== 0 && res.code !== null && names, `exit=${res.code} stderr=${JSON.stringify(res.err.trim().split('\n').filter((l) => !l.startsWith('[')).join(' / '))}${res.code !== 0 && names ? '' : tail()}`);
  } else {
    report(label, direct ? 'process.exit_0' : 'launcher.exit_0', res.code === 0, `exit=${res.code}${res.code === 0 ? '' : tail()}`);
  }
  void all;
}

(async () => {
  const t0 = Date.now();
  const range = (n) => Array.from({ length: n }, (_, i) => i);
  const runs = [];
  // Functional checks: np 1..4 on both transports.
  for (const transport of ['shm', 'tcp']) {
    for (const np of [1, 2, 3, 4]) runs.push({ label: `${transport} np=${np} main`, np, transport, scenario: 'main', expectedRanks: range(np), hangMs: 90000 });
  }
  // shutdown() + init() in one process, then a normal exit (isolated from the big scenario).
  for (const transport of ['shm', 'tcp']) runs.push({ label: `${transport} np=2 reinit`, np: 2, transport, scenario: 'reinit', expectedRanks: range(2), hangMs: 40000 });
  runs.push({ label: 'nolauncher reinit', direct: true, scenario: 'reinit', expectedRanks: [0], hangMs: 40000 });
  // Without a launcher: a job of size 1.
  runs.push({ label: 'nolauncher main', direct: true, scenario: 'main', expectedRanks: [0] });
  for (const transport of ['shm', 'tcp']) {
    // Length mismatch: every rank must get ERR_DTRAIN_MISMATCH.
    for (const np of [2, 3, 4]) runs.push({ label: `${transport} np=${np} mismatch-len`, np, transport, scenario: 'mismatch-len', expectedRanks: range(np), hangMs: 40000 });
    runs.push({ label: `${transport} np=3 mismatch-coll`, np: 3, transport, scenario: 'mismatch-coll', expectedRanks: range(3), hangMs: 40000 });
    // Extras beyond the brief: dtype / op disagreement.
    runs.push({ label: `${transport} np=2 extra mismatch-dtype`, np: 2, transport, scenario: 'mismatch-dtype', expectedRanks: range(2), hangMs: 40000 });
    runs.push({ label: `${transport} np=2 extra mismatch-op`, np: 2, transport, scenario: 'mismatch-op', expectedRanks: range(2), hangMs: 40000 });
    // Lost peers.
    for (const np of [2, 3, 4]) runs.push({ label: `${transport} np=${np} lost-exit(victim 1)`, np, transport, scenario: 'lost-exit', extra: ['1'], expectedRanks: range(np).filter((r) => r !== 1), expectNonzero: true, victim: 1, hangMs: 40000 });
    for (const [np, victim] of [[2, 1], [3, 0], [4, 3]]) runs.push({ label: `${transport} np=${np} lost-kill(victim ${victim})`, np, transport, scenario: 'lost-kill', extra: [String(victim)], expectedRanks: range(np).filter((r) => r !== victim), expectNonzero: true, victim, hangMs: 40000 });
    // Timeouts (extra): per-call timeout, and the default from --timeout.
    runs.push({ label: `${transport} np=3 timeout-call`, np: 3, transport, scenario: 'timeout-call', expectedRanks: [0, 1], hangMs: 40000 });
  }
  runs.push({ label: 'tcp np=2 timeout-env(--timeout 2)', np: 2, transport: 'tcp', scenario: 'timeout-env', cliTimeout: 2, expectedRanks: [0], hangMs: 40000 });
  runs.push({ label: 'shm np=2 timeout-env(DTRAIN_TIMEOUT=2)', np: 2, transport: 'shm', scenario: 'timeout-env', cliTimeout: 0, env: { DTRAIN_TIMEOUT: '2' }, expectedRanks: [0], hangMs: 40000 });

  for (const r of runs) await runLaunch(r);
  console.log(`${passed} passed, ${failed} failed  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  process.exit(failed ? 1 : 0);
})();
