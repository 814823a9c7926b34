// The accuracy experiment of docs/training.md: the README's main job (examples/fashion-mnist.js,
// its defaults, on NP workers) for several seeds; writes every epoch's metrics as JSON lines and
// a plot of test accuracy per epoch. Usage:
//   node bench/accuracy.js [--np 2] [--seeds 0,1,2] [--out docs/data/train-accuracy.jsonl] [--plot docs/train-accuracy.svg] [example flags...]
//   node bench/accuracy.js --from docs/data/train-accuracy.jsonl   (redraws the plot only)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { lineChartSvg } = require('../dist/cli/svg-lines');

const args = process.argv.slice(2);
const take = (flag, dflt) => {
  const i = args.indexOf(flag);
  if (i < 0) return dflt;
  const [v] = args.splice(i, 2).slice(1);
  return v;
};
const np = take('--np', '2');
const seeds = take('--seeds', '0,1,2').split(',').map(Number);
const out = take('--out', path.join(__dirname, '..', 'docs', 'data', 'train-accuracy.jsonl'));
const plot = take('--plot', path.join(__dirname, '..', 'docs', 'train-accuracy.svg'));
const cli = path.join(__dirname, '..', 'bin', 'dtrain.js');
const example = path.join(__dirname, '..', 'examples', 'fashion-mnist.js');

const from = take('--from', undefined);
const rows = from ? fs.readFileSync(from, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
const finals = [];
if (from) {
  seeds.length = 0;
  for (const r of rows) if (!seeds.includes(r.seed)) seeds.push(r.seed);
  for (const s of seeds) finals.push(rows.filter((r) => r.seed === s).pop().test_acc);
}
for (const seed of from ? [] : seeds) {
  const r = spawnSync(process.execPath, [cli, 'run', '-np', np, example, '--seed', String(seed), '--json', '--no-progress', ...args], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(r.stdout + r.stderr);
    process.exit(1);
  }
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('[0] {')).map((l) => JSON.parse(l.slice(4)));
  for (const m of lines.filter((l) => 'epoch' in l)) rows.push({ seed, np: Number(np), ...m });
  const summary = lines[lines.length - 1];
  finals.push(summary.test_acc);
  console.log(JSON.stringify({ seed, ...summary }));
}
const mean = finals.reduce((a, b) => a + b, 0) / finals.length;
const sd = Math.sqrt(finals.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, finals.length - 1));
console.log(JSON.stringify({ kind: 'accuracy', np: Number(np), seeds, test_acc: finals, mean: +mean.toFixed(4), sd: +sd.toFixed(4), min: Math.min(...finals), max: Math.max(...finals) }));
if (!from) {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
fs.writeFileSync(
  plot,
  lineChartSvg({
    title: `Fashion-MNIST test accuracy, ${np} workers (examples/fashion-mnist.js defaults)`,
    subtitle: `MLP 784-512-256-10, SGD momentum 0.9, lr 0.1 cosine, batch 128/worker; final ${mean.toFixed(4)} +/- ${sd.toFixed(4)}, ${seeds.length} seeds`,
    xLabel: 'epoch',
    yLabel: 'test accuracy',
    series: seeds.map((s) => ({ name: `seed ${s}`, points: rows.filter((r) => r.seed === s).map((r) => [r.epoch, r.test_acc]) })),
    hlines: [{ y: 0.89, label: 'goal 0.89' }],
    yRange: [0.8, 0.9],
  }),
);
console.log(from ? `wrote ${plot}` : `wrote ${out} and ${plot}`);
