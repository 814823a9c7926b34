#!/usr/bin/env node
// The survey's recipe measured on Fashion-MNIST (docs/experiments.md): runs each recipe's
// command for each seed through the launcher, appends every summary to a JSON-lines file, and
// prints the table (mean ± standard deviation over seeds, against the baseline of its group).
//   node bench/experiments.js [--only name,name] [--seeds 0,1,2] [--out FILE] [--table-only]
//   node bench/experiments.js --table-only --plot FILE.svg   test accuracy against bytes per step
//   node bench/experiments.js --speed [--rounds 3]   step time of each compressor against dense,
//     shm and tcp, rounds interleaved (DGC at its final density: no warm-up)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.join(__dirname, '..');
const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    seeds: { type: 'string', default: '0,1,2' },
    out: { type: 'string', default: path.join(ROOT, 'docs', 'data', 'experiments.jsonl') },
    'table-only': { type: 'boolean', default: false },
    speed: { type: 'boolean', default: false },
    plot: { type: 'string' },
    rounds: { type: 'string', default: '3' },
  },
});

const E = '15';
const LB = '30'; // large-batch group: 8,192 samples a step leaves 8 steps an epoch
// [name, group, the baseline it is compared with, flags]
const RECIPES = [
  ['fp32', 'precision', 'fp32', ['--epochs', E]],
  ['mixed+fp16', 'precision', 'fp32', ['--epochs', E, '--precision', 'mixed', '--compression', 'fp16']],
  ['bf16', 'precision', 'fp32', ['--epochs', E, '--precision', 'bf16']],
  ['dgc', 'compression', 'fp32', ['--epochs', E, '--compression', 'dgc']],
  ['qsgd', 'compression', 'fp32', ['--epochs', E, '--compression', 'qsgd']],
  ['terngrad', 'compression', 'fp32', ['--epochs', E, '--compression', 'terngrad']],
  ['onebit', 'compression', 'fp32', ['--epochs', E, '--compression', 'onebit']],
  ['onebit-no-ef', 'compression', 'fp32', ['--epochs', E, '--compression', 'onebit', '--no-error-feedback']],
  // 1-bit with error feedback needs a smaller step than dense SGD (see docs/experiments.md).
  ['onebit-lr0.03', 'compression', 'fp32', ['--epochs', E, '--compression', 'onebit', '--lr', '0.03']],
  ['onebit-no-ef-lr0.03', 'compression', 'fp32', ['--epochs', E, '--compression', 'onebit', '--no-error-feedback', '--lr', '0.03']],
  ['fp32-lr0.03', 'compression', 'fp32', ['--epochs', E, '--lr', '0.03']],
  ['dgc-30-epochs', 'compression', 'batch256', ['--epochs', LB, '--compression', 'dgc']],
  ['batch256', 'large-batch', 'batch256', ['--epochs', LB]],
  ['lars8192', 'large-batch', 'batch256', ['--epochs', LB, '--batch-per-worker', '4096', '--optimizer', 'lars', '--weight-decay', '0', '--warmup-epochs', '2', '--schedule', 'poly', '--lr', '40']],
  ['sgd8192', 'large-batch', 'batch256', ['--epochs', LB, '--batch-per-worker', '4096', '--warmup-epochs', '2', '--schedule', 'poly']],
  // The sweeps behind the rows above, one seed each.
  ['lars8192-linear-rule-lr320', 'sweep', 'batch256', ['--epochs', LB, '--batch-per-worker', '4096', '--optimizer', 'lars', '--weight-decay', '0', '--warmup-epochs', '2', '--schedule', 'poly', '--lr', '320'], [0]],
  ['lars8192-default-lr', 'sweep', 'batch256', ['--epochs', LB, '--batch-per-worker', '4096', '--optimizer', 'lars', '--weight-decay', '0', '--warmup-epochs', '2', '--schedule', 'poly'], [0]],
  ['lars8192-biases-excluded', 'sweep', 'batch256', ['--epochs', LB, '--batch-per-worker', '4096', '--optimizer', 'lars', '--lars-exclude', '1d', '--weight-decay', '0', '--warmup-epochs', '2', '--schedule', 'poly', '--lr', '40'], [0]],
  ['lars8192-lr20', 'sweep', 'batch256', ['--epochs', LB, '--batch-per-worker', '4096', '--optimizer', 'lars', '--weight-decay', '0', '--warmup-epochs', '2', '--schedule', 'poly', '--lr', '20'], [0]],
  ['lars8192-lr60', 'sweep', 'batch256', ['--epochs', LB, '--batch-per-worker', '4096', '--optimizer', 'lars', '--weight-decay', '0', '--warmup-epochs', '2', '--schedule', 'poly', '--lr', '60'], [0]],
  ['lars8192-warmup5', 'sweep', 'batch256', ['--epochs', LB, '--batch-per-worker', '4096', '--optimizer', 'lars', '--weight-decay', '0', '--warmup-epochs', '5', '--schedule', 'poly', '--lr', '40'], [0]],
  ['lars8192-wd5e-4', 'sweep', 'batch256', ['--epochs', LB, '--batch-per-worker', '4096', '--optimizer', 'lars', '--warmup-epochs', '2', '--schedule', 'poly', '--lr', '40'], [0]],
  ['sgd8192-warmup5', 'sweep', 'batch256', ['--epochs', LB, '--batch-per-worker', '4096', '--warmup-epochs', '5', '--schedule', 'poly'], [0]],
  ['sgd8192-lr1', 'sweep', 'batch256', ['--epochs', LB, '--batch-per-worker', '4096', '--warmup-epochs', '2', '--schedule', 'poly', '--lr', '1'], [0]],
  ['onebit-scale-per-tensor', 'sweep', 'fp32', ['--epochs', E, '--compression', 'onebit', '--onebit-chunk', '1073741824'], [0]],
  ['lr-decay', 'batch-growth', 'lr-decay', ['--epochs', E, '--schedule', 'step', '--decay-epochs', '8,12', '--decay-factor', '5']],
  ['batch-growth', 'batch-growth', 'lr-decay', ['--epochs', E, '--schedule', 'step', '--decay-epochs', '8,12', '--decay-factor', '5', '--batch-schedule']],
];

const command = (flags, seed) => ['npx', 'dtrain', 'run', '-np', '2', 'examples/fashion-mnist.js', ...flags, '--seed', String(seed)];

function runOne(name, flags, seed) {
  const argv = [...command(flags, seed), '--json', '--no-progress'];
  const r = spawnSync(argv[0], argv.slice(1), { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !last.startsWith('[0] {')) throw new Error(`${name} seed ${seed} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  return JSON.parse(last.slice(4));
}

function stats(xs) {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1)) : 0;
  return { m, sd };
}

function table(lines) {
  const by = new Map();
  for (const l of lines) by.set(l.name, [...(by.get(l.name) ?? []), l]);
  const rows = [
    '| group | recipe | command (S = seed) | test accuracy (seeds) | vs baseline (points) | baseline | bytes sent / step | fewer than baseline | updates | skipped |',
    '| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const [name, group, baseline, flags] of RECIPES) {
    const runs = by.get(name);
    if (!runs) continue;
    const base = by.get(baseline);
    const acc = stats(runs.map((r) => r.summary.test_acc));
    const bytes = stats(runs.map((r) => r.summary.bytes_sent_per_step)).m;
    const dAcc = base ? acc.m - stats(base.map((r) => r.summary.test_acc)).m : NaN;
    const bBytes = base ? stats(base.map((r) => r.summary.bytes_sent_per_step)).m : NaN;
    rows.push(
      `| ${group} | ${name} | \`${command(flags, 'S').join(' ')}\` | ${acc.m.toFixed(4)} ± ${acc.sd.toFixed(4)} (${runs.length}) | ${name === baseline ? '' : (dAcc * 100).toFixed(2)} | ${baseline} | ${Math.round(bytes).toLocaleString('en-US')} | ${name === baseline ? '' : `${(bBytes / bytes).toFixed(1)}x`} | ${Math.round(stats(runs.map((r) => r.summary.updates)).m)} | ${stats(runs.map((r) => r.summary.skipped_steps)).m.toFixed(1)} |`,
    );
  }
  return rows.join('\n');
}

// Step time per compressor, against dense, on shared memory and TCP over loopback: two epochs
// each, the second measured, every compressor once per round so the machine's slow and fast
// periods fall on all alike; the median step over rounds.
function speed() {
  // [label, flags]: DGC at its final density, and in its first warm-up epoch (25% density);
  // mixed precision (emulated fp16 storage) with fp16 on the wire.
  const comps = [
    ['none', []], ['fp16', ['--compression', 'fp16']], ['mixed+fp16', ['--precision', 'mixed', '--compression', 'fp16']],
    ['dgc', ['--compression', 'dgc', '--dgc-warmup', '']], ['dgc-warmup-25%', ['--compression', 'dgc', '--dgc-warmup', '0.25,0.25']],
    ['qsgd', ['--compression', 'qsgd']], ['terngrad', ['--compression', 'terngrad']], ['onebit', ['--compression', 'onebit']],
  ];
  const rows = [];
  for (const transport of ['shm', 'tcp']) {
    const steps = new Map();
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const c of comps) {
        const argv = ['npx', 'dtrain', 'run', '-np', '2', 'examples/fashion-mnist.js', '--epochs', '2', ...c[1], '--json', '--no-progress'];
        const r = spawnSync(argv[0], argv.slice(1), { cwd: ROOT, encoding: 'utf8', env: { ...process.env, DTRAIN_TRANSPORT: transport } });
        const epochs = r.stdout.split('\n').filter((l) => l.startsWith('[0] {"epoch"')).map((l) => JSON.parse(l.slice(4)));
        if (r.status !== 0 || epochs.length !== 2) throw new Error(`${c[0]} over ${transport} failed:\n${r.stderr.slice(-2000)}`);
        steps.set(c[0], [...(steps.get(c[0]) ?? []), epochs[1]]);
      }
    }
    const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const base = median(steps.get('none').map((m) => m.step_ms));
    for (const [c, ms] of steps) {
      const step = median(ms.map((m) => m.step_ms));
      const line = { transport, compression: c, step_ms: step, vs_dense: step / base, bytes_sent_per_step: ms[0].bytes_sent_per_step, rounds: ms.length };
      rows.push(line);
      fs.appendFileSync(path.join(ROOT, 'docs', 'data', 'compression-speed.jsonl'), `${JSON.stringify(line)}\n`);
    }
  }
  console.log('| transport | compression | step (ms, median) | vs dense | bytes sent / step |\n| --- | --- | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.transport} | ${r.compression} | ${r.step_ms.toFixed(2)} | ${r.vs_dense.toFixed(2)}x | ${Math.round(r.bytes_sent_per_step).toLocaleString('en-US')} |`);
}

if (values.speed) {
  speed();
  process.exit(0);
}

const only = values.only ? new Set(values.only.split(',')) : null;
const seeds = values.seeds.split(',').map(Number);
if (!values['table-only']) {
  for (const [name, group, , flags, own] of RECIPES) {
    if (only && !only.has(name)) continue;
    for (const seed of own ?? seeds) {
      const t0 = Date.now();
      const summary = runOne(name, flags, seed);
      fs.appendFileSync(values.out, `${JSON.stringify({ name, group, seed, command: command(flags, seed).join(' '), summary })}\n`);
      console.error(`${name} seed ${seed}: test_acc ${summary.test_acc}, ${Math.round(summary.bytes_sent_per_step)} B/step (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    }
  }
}
function plot(lines, file) {
  const { lineChartSvg } = require('../dist/cli/svg-lines');
  const shown = [
    ['fp32', '#000000'], ['mixed+fp16', '#1f77b4'], ['bf16', '#17becf'], ['dgc', '#d62728'], ['qsgd', '#2ca02c'],
    ['terngrad', '#9467bd'], ['onebit', '#ff7f0e'], ['onebit-no-ef', '#8c564b'],
  ];
  const floor = 0.85;
  let hidden = 0;
  const series = shown
    .map(([name, color]) => {
      const all = lines.filter((l) => l.name === name).map((l) => [l.summary.bytes_sent_per_step, l.summary.test_acc]);
      hidden += all.filter((p) => p[1] < floor).length;
      return { name, color, points: all.filter((p) => p[1] >= floor).sort((a, b) => a[0] - b[0] || a[1] - b[1]) };
    })
    .filter((s) => s.points.length > 0);
  const svg = lineChartSvg({
    title: 'Test accuracy against bytes sent per step (MLP, 2 workers, 15 epochs)',
    subtitle: `one point per seed; bytes measured by the transport (log scale)${hidden ? `; ${hidden} diverged run(s) below ${floor} not drawn` : ''}`,
    xLabel: 'bytes sent per step by one rank',
    yLabel: 'test accuracy',
    series,
    xLog: true,
    yRange: [floor, 0.9],
  });
  fs.writeFileSync(file, svg);
}

const lines = fs.existsSync(values.out) ? fs.readFileSync(values.out, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
console.log(table(lines));
if (values.plot) plot(lines, values.plot);
