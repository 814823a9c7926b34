'use strict';
// TensorFlow.js through dtrain/tfjs: 2 workers against 1 process with the same backend and
// per-worker batch, in interleaved rounds of examples/tfjs-fashion-mnist.js; as the bound the
// machine sets, the same number of independent processes of one running at once (no
// communication: what sharing the cores costs by itself); and the same model through dtrain's
// own Trainer (examples/fashion-mnist.js) for comparison. docs/tfjs.md quotes it.
//   node bench/tfjs-scaling.js [--backends wasm,cpu] [--rounds 3] [--train-samples N] [--np 2] [--plot FILE.svg]
// Prints one JSON line per run and one summary line per backend (medians over the rounds);
// --plot draws the medians as a bar chart.
const { execFileSync, spawn } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');
const { parseArgs } = require('node:util');

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'dtrain.js');
const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'wasm,cpu' },
    rounds: { type: 'string', default: '3' },
    'train-samples': { type: 'string', default: '16000' },
    'batch-per-worker': { type: 'string', default: '64' },
    np: { type: 'string', default: '2' },
    'no-trainer': { type: 'boolean', default: false },
    plot: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const np = Number(values.np);

function run(script, n, args) {
  const out = execFileSync(process.execPath, [CLI, 'run', '-np', String(n), path.join(ROOT, 'examples', script), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out.trim().split('\n').pop().replace(/^\[0\] /, ''));
}

// `n` jobs of one started together with plain node; resolves to their results.
function concurrent(n, args) {
  const one = () =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'examples', 'tfjs-fashion-mnist.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`exit ${code}`))));
    });
  return Promise.all(Array.from({ length: n }, one));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function main() {
  const batch = values['batch-per-worker'];
  const summaries = [];
  for (const backend of values.backends.split(',')) {
    // The cpu backend is about 3x slower than wasm: a third of the samples keeps rounds short.
    const samples = String(backend === 'cpu' ? Math.round(Number(values['train-samples']) / 3) : Number(values['train-samples']));
    const runs = { 1: [], [np]: [] };
    const bound = [];
    const args = ['--backend', backend, '--epochs', '1', '--batch-per-worker', batch, '--train-samples', samples, '--test-samples', '1000'];
    for (let r = 0; r < rounds; r++) {
      for (const n of [1, np]) {
        const s = run('tfjs-fashion-mnist.js', n, args);
        console.log(JSON.stringify({ round: r, ...s }));
        runs[n].push(s);
      }
      const solo = await concurrent(np, args);
      const total = solo.reduce((a, s) => a + s.samples_per_s, 0);
      console.log(JSON.stringify({ round: r, impl: `${np} independent jobs of one at once`, backend, samples_per_s: solo.map((s) => s.samples_per_s), total }));
      bound.push(total);
    }
    const one = median(runs[1].map((s) => s.samples_per_s));
    const many = median(runs[np].map((s) => s.samples_per_s));
    summaries.push({ backend, one, many, bound: median(bound) });
    console.log(
      JSON.stringify({
        summary: `tfjs-${backend}`,
        np,
        batch_per_worker: Number(batch),
        train_samples: Number(samples),
        samples_per_s_np1: one,
        [`samples_per_s_np${np}`]: many,
        speedup: +(many / one).toFixed(3),
        independent_samples_per_s: median(bound),
        independent_speedup: +(median(bound) / one).toFixed(3),
        of_independent: +(many / median(bound)).toFixed(3),
        comm_share: median(runs[np].map((s) => s.comm_share)),
        comm_ms_per_step: median(runs[np].map((s) => s.comm_ms_per_step)),
        step_ms_np1: median(runs[1].map((s) => s.step_ms)),
        [`step_ms_np${np}`]: median(runs[np].map((s) => s.step_ms)),
      }),
    );
  }

  if (!values['no-trainer']) {
    // dtrain's own model and Trainer on the same MLP, batch and worker count (a full epoch).
    const t = [];
    for (let r = 0; r < rounds; r++) {
      const s = run('fashion-mnist.js', np, ['--epochs', '1', '--batch-per-worker', batch, '--no-progress']);
      console.log(JSON.stringify({ round: r, impl: 'dtrain-trainer', np: s.np, samples_per_s: Math.round(s.samples_per_s), step_ms: +s.step_ms.toFixed(2), test_acc: s.test_acc }));
      t.push(s.samples_per_s);
    }
    console.log(JSON.stringify({ summary: 'dtrain-trainer', np, batch_per_worker: Number(batch), samples_per_s: Math.round(median(t)) }));
  }
  if (values.plot) {
    const { barChartSvg } = require('../dist/cli/svg-bars');
    const svg = barChartSvg({
      title: `TensorFlow.js model.fit through dtrain/tfjs: ${np} workers on ${require('node:os').availableParallelism()} cores`,
      subtitle: `reference MLP on Fashion-MNIST, batch ${batch} per worker; medians of ${rounds} interleaved rounds`,
      yLabel: 'training samples/s (all workers)',
      groups: summaries.map((s) => `tfjs-${s.backend}`),
      series: [
        { name: '1 process', values: summaries.map((s) => s.one) },
        { name: `${np} workers, dtrain/tfjs`, values: summaries.map((s) => s.many) },
        { name: `${np} uncoupled processes (the bound)`, values: summaries.map((s) => s.bound) },
      ],
    });
    fs.writeFileSync(values.plot, svg);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

