#!/usr/bin/env node
// Synchronous against asynchronous SGD on Fashion-MNIST (docs/async.md): all-reduce sync, sync
// through parameter servers, async, and SSP with s = 2 and 8, with and without a straggler (one
// worker 3x slower), 3 seeds each. Appends every summary to a JSON-lines file, then prints the
// table and draws accuracy against wall time.
//   node bench/async.js [--seeds 0,1,2] [--epochs 5] [--np 4] [--servers 2] [--only name,..] [--out FILE]
//   node bench/async.js --table-only [--plot PREFIX]     (PREFIX-clean.svg, PREFIX-straggler.svg, PREFIX-straggler-6x.svg)
//   node bench/async.js --slow-factor 6 --scenarios 'straggler 6x' --only allreduce,ps-async
//   node bench/async.js --kill [--seeds ..]   ps-async with one worker (seeded pick) SIGKILLed at a
//                                             seeded moment between 2 and 6 s: the others finish
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.join(__dirname, '..');
const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    epochs: { type: 'string', default: '5' },
    np: { type: 'string', default: '4' },
    servers: { type: 'string', default: '2' },
    only: { type: 'string' },
    out: { type: 'string', default: path.join(ROOT, 'docs', 'data', 'async.jsonl') },
    'table-only': { type: 'boolean', default: false },
    plot: { type: 'string' },
    target: { type: 'string', default: '0.85' },
    kill: { type: 'boolean', default: false },
    'slow-factor': { type: 'string', default: '3' },
    scenarios: { type: 'string' },
  },
});

// [name, example flags]; every run evaluates 2,000 test images every 20 steps for the curves.
const MODES = [
  ['allreduce', ['--mode', 'allreduce']],
  ['ps-sync', ['--mode', 'ps-sync']],
  ['ps-async', ['--mode', 'ps-async']],
  ['ssp s=2', ['--mode', 'ssp', '--staleness', '2']],
  ['ssp s=8', ['--mode', 'ssp', '--staleness', '8']],
];
const factor = values['slow-factor'];
const straggler = (f) => [f === '3' ? 'straggler' : `straggler ${f}x`, ['--slow-rank', String(Number(values.np) - 1), '--slow-factor', f]];
const SCENARIOS = [['clean', []], straggler(factor)].filter(([name]) => !values.scenarios || values.scenarios.split(',').includes(name));
// Rows of the table: every straggler factor the data holds, and bench/async.js --kill's runs.
const TABLE_SCENARIOS = [['clean', []], straggler('3'), straggler('6'), ['killed', []]];
const target = Number(values.target);

function runOne(mode, flags, scenario, sflags, seed) {
  const np = values.np;
  const launcher = mode === 'allreduce' ? ['-np', np] : ['-np', np, '--servers', values.servers];
  const args = [
    path.join(ROOT, 'bin', 'dtrain.js'), 'run', ...launcher, path.join(ROOT, 'examples', 'fashion-mnist.js'),
    ...flags, ...sflags, '--epochs', values.epochs, '--seed', String(seed), '--eval-every', '20', '--eval-samples', '2000', '--no-progress',
  ];
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
  const last = r.stdout.trim().split('\n').filter((l) => l.startsWith('[0] {"np"')).pop();
  if (r.status !== 0 || !last) throw new Error(`${mode} ${scenario} seed ${seed} failed (exit ${r.status}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  const s = JSON.parse(last.slice(4));
  return { name: mode, scenario, seed, command: `npx dtrain run ${launcher.join(' ')} examples/fashion-mnist.js ${[...flags, ...sflags].join(' ')} --epochs ${values.epochs} --seed ${seed} --eval-every 20 --eval-samples 2000`, run_s: (Date.now() - t0) / 1000, ...s };
}

// The same run as ps-async clean, with one worker killed by SIGKILL partway.
function runKilled(seed) {
  const np = Number(values.np);
  // A seeded choice, so a rerun kills the same worker at the same moment.
  const u = (k) => (((Math.imul(seed + 1, 2654435761) ^ Math.imul(k, 40503)) >>> 0) % 1000) / 1000;
  const victim = 1 + Math.floor(u(1) * (np - 1));
  const atS = 2 + 4 * u(2);
  const flags = ['--mode', 'ps-async', '--epochs', values.epochs, '--seed', String(seed), '--eval-every', '20', '--eval-samples', '2000', '--no-progress'];
  const example = path.join(ROOT, 'examples', 'fashion-mnist.js');
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'dtrain.js'), 'run', '-np', String(np), '--servers', values.servers, example, ...flags], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let started = 0;
    const timer = setInterval(() => {
      // From the moment training starts (rank 0's first line about the servers).
      if (!started && /parameter server\(s\), mode/.test(stdout)) started = Date.now();
      if (!started || Date.now() - started < atS * 1000) return;
      clearInterval(timer);
      const pids = spawnSync('pgrep', ['-f', `${example} --mode ps-async`], { encoding: 'utf8' }).stdout.trim().split('\n').map(Number);
      const rankOf = (pid) => /(?:^|\0)DTRAIN_RANK=(\d+)/.exec(fs.readFileSync(`/proc/${pid}/environ`, 'latin1'))?.[1];
      const pid = pids.find((p) => rankOf(p) === String(victim));
      if (pid) process.kill(pid, 'SIGKILL');
    }, 10);
    child.on('close', (code) => {
      clearInterval(timer);
      const last = stdout.trim().split('\n').filter((l) => l.startsWith('[0] {"np"')).pop();
      if (code !== 0 || !last) return reject(new Error(`kill run seed ${seed} failed (exit ${code}):\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
      const s = JSON.parse(last.slice(4));
      resolve({ name: 'ps-async', scenario: 'killed', seed, killed_rank: victim, killed_at_s: atS, launcher: stderr.split('\n').filter((l) => l.startsWith('dtrain:')), ...s });
    });
  });
}

function timeTo(run) {
  const hit = (run.evals ?? []).find((e) => e.test_acc >= target);
  return hit ? hit.wall_s : null;
}

const stats = (xs) => {
  const v = xs.filter((x) => x !== null && Number.isFinite(x));
  if (v.length === 0) return { mean: null, sd: null, n: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, v.length - 1));
  return { mean, sd, n: v.length };
};
const fmt = (s, d = 3) => (s.mean === null ? 'never' : `${s.mean.toFixed(d)} ± ${s.sd.toFixed(d)}`);

function table(runs) {
  const lines = [
    `| scenario | mode | test acc (${values.epochs} epochs) | wall s | time to ${target} (s) | updates | mean staleness | server busy share |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [scenario] of TABLE_SCENARIOS) {
    for (const [mode] of MODES) {
      const rs = runs.filter((r) => r.name === mode && r.scenario === scenario);
      if (rs.length === 0) continue;
      const hits = rs.map(timeTo);
      const reached = hits.filter((h) => h !== null).length;
      lines.push(
        `| ${scenario} | ${mode} | ${fmt(stats(rs.map((r) => r.test_acc)), 4)} | ${fmt(stats(rs.map((r) => r.wall_s)), 1)} | ` +
          `${fmt(stats(hits), 1)}${reached < rs.length ? ` (${reached}/${rs.length} reached)` : ''} | ${Math.round(stats(rs.map((r) => r.updates)).mean)} | ` +
          `${mode === 'allreduce' ? '0' : stats(rs.map((r) => r.mean_staleness)).mean.toFixed(2)} | ` +
          `${mode === 'allreduce' ? '-' : stats(rs.map((r) => r.server_busy_share)).mean.toFixed(3)} |`,
      );
    }
  }
  return lines.join('\n');
}

function plot(runs, prefix) {
  const { lineChartSvg } = require(path.join(ROOT, 'dist', 'cli', 'svg-lines.js'));
  const colors = ['#1f77b4', '#7f7f7f', '#d62728', '#2ca02c', '#9467bd'];
  for (const [scenario] of TABLE_SCENARIOS.slice(0, 3)) {
    const series = [];
    MODES.forEach(([mode], i) => {
      const rs = runs.filter((r) => r.name === mode && r.scenario === scenario);
      // One seed per mode (the first): with every seed the curves cross too often to read.
      const r = rs.sort((a, b) => a.seed - b.seed)[0];
      if (r) series.push({ name: `${mode} (seed ${r.seed})`, points: (r.evals ?? []).map((e) => [Number(e.wall_s.toFixed(2)), e.test_acc]).filter(([, y]) => y >= 0.7), color: colors[i] });
    });
    if (series.length === 0) continue;
    const maxX = Math.max(...series.flatMap((x) => x.points.map((p) => p[0])));
    const step = maxX > 60 ? 10 : maxX > 20 ? 5 : 1;
    const svg = lineChartSvg({
      title: `Test accuracy against wall time, ${values.np} workers${scenario.startsWith('straggler') ? `, one ${scenario === 'straggler' ? 3 : scenario.split(' ')[1].replace('x', '')}x slower` : ''}`,
      subtitle: `Fashion-MNIST MLP, batch 128 per worker, 2,000 test images every 20 steps; ${values.servers} servers for the ps modes`,
      xLabel: 'wall time (s)',
      yLabel: 'test accuracy',
      series,
      hlines: [{ y: target, label: String(target) }],
      // The first evaluations (below 0.7) would squeeze the part where the modes differ.
      yRange: [0.7, 0.9],
      xTicks: Array.from({ length: Math.floor(maxX / step) + 1 }, (_, i) => i * step),
      dots: false,
    });
    fs.writeFileSync(`${prefix}-${scenario.replace(/ /g, '-')}.svg`, svg);
  }
}

function load() {
  if (!fs.existsSync(values.out)) return [];
  return fs.readFileSync(values.out, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

async function killRuns() {
  for (const seed of values.seeds.split(',').map(Number)) {
    const r = await runKilled(seed);
    fs.appendFileSync(values.out, `${JSON.stringify(r)}\n`);
    console.error(`killed worker ${r.killed_rank} at ${r.killed_at_s.toFixed(1)} s, seed ${seed}: acc ${r.test_acc}, dropped ${JSON.stringify(r.dropped_workers)}, clocks ${r.clocks}`);
  }
}

if (values.kill) {
  killRuns().then(() => console.log(table(load())));
} else if (!values['table-only']) {
  const only = values.only ? values.only.split(',') : null;
  const seeds = values.seeds.split(',').map(Number);
  // Seeds outermost, so a noisy period of the machine spreads over every mode.
  for (const seed of seeds) {
    for (const [scenario, sflags] of SCENARIOS) {
      for (const [mode, flags] of MODES) {
        if (only && !only.includes(mode)) continue;
        const r = runOne(mode, flags, scenario, sflags, seed);
        fs.appendFileSync(values.out, `${JSON.stringify(r)}\n`);
        console.error(`${scenario} ${mode} seed ${seed}: acc ${r.test_acc} wall ${r.wall_s.toFixed(1)} s, to ${target}: ${timeTo(r) ?? 'never'}`);
      }
    }
  }
}
if (!values.kill) {
  const runs = load();
  console.log(table(runs));
  if (values.plot) plot(runs, values.plot);
}
