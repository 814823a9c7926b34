#!/usr/bin/env node
// The survey's recipe measured on Fashion-MNIST (docs/experiments.md): runs each recipe's
// command for each seed through the launcher, appends every summary to a JSON-lines file, and
// prints the table (mean ± standard deviation over seeds, against the baseline of its group).
//   node bench/experiments.js [--only name,name] [--seeds 0,1,2] [--out FILE] [--table-only]
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
  ['batch256', 'large-batch', 'batch256', ['--epochs', LB]],
  ['lars8192', 'large-batch', 'batch256', ['--epochs', LB, '--batch-per-worker', '4096', '--optimizer', 'lars', '--weight-decay', '0', '--warmup-epochs', '2', '--schedule', 'poly', '--lr', '20']],
  ['sgd8192', 'large-batch', 'batch256', ['--epochs', LB, '--batch-per-worker', '4096', '--warmup-epochs', '2', '--schedule', 'poly']],
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
  const rows = ['| group | recipe | command (seed S = ' + values.seeds + ') | test accuracy | vs baseline (points) | bytes sent / step | vs baseline | updates | skipped | samples/s |', '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'];
  for (const [name, group, baseline, flags] of RECIPES) {
    const runs = by.get(name);
    if (!runs) continue;
    const base = by.get(baseline);
    const acc = stats(runs.map((r) => r.summary.test_acc));
    const bytes = stats(runs.map((r) => r.summary.bytes_sent_per_step)).m;
    const dAcc = base ? acc.m - stats(base.map((r) => r.summary.test_acc)).m : NaN;
    const bBytes = base ? stats(base.map((r) => r.summary.bytes_sent_per_step)).m : NaN;
    const sps = stats(runs.map((r) => r.summary.samples_per_s)).m;
    rows.push(
      `| ${group} | ${name} | \`${command(flags, 'S').join(' ')}\` | ${acc.m.toFixed(4)} ± ${acc.sd.toFixed(4)} (${runs.length}) | ${(dAcc * 100).toFixed(2)} | ${Math.round(bytes).toLocaleString('en-US')} | ${(bBytes / bytes).toFixed(1)}x fewer | ${runs[0].summary.updates} | ${stats(runs.map((r) => r.summary.skipped_steps)).m.toFixed(1)} | ${Math.round(sps).toLocaleString('en-US')} |`,
    );
  }
  return rows.join('\n');
}

const only = values.only ? new Set(values.only.split(',')) : null;
const seeds = values.seeds.split(',').map(Number);
if (!values['table-only']) {
  for (const [name, group, , flags] of RECIPES) {
    if (only && !only.has(name)) continue;
    for (const seed of seeds) {
      const t0 = Date.now();
      const summary = runOne(name, flags, seed);
      fs.appendFileSync(values.out, `${JSON.stringify({ name, group, seed, command: command(flags, seed).join(' '), summary })}\n`);
      console.error(`${name} seed ${seed}: test_acc ${summary.test_acc}, ${Math.round(summary.bytes_sent_per_step)} B/step (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    }
  }
}
const lines = fs.existsSync(values.out) ? fs.readFileSync(values.out, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
console.log(table(lines));
