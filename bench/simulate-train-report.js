// The scale experiment of docs/experiments.md: runs each scenario's `dtrain simulate --train`
// command (which also draws the plots), keeps every JSON line in
// docs/data/train-scaling-sim.jsonl, and prints the section's tables in Markdown, so no number
// in them is typed by hand. Usage:
//   node bench/simulate-train-report.js                      (runs the commands; --measure-codec times this machine)
//   node bench/simulate-train-report.js --from-data          (tables from the recorded lines only)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const DATA = path.join(ROOT, 'docs', 'data', 'train-scaling-sim.jsonl');
const RUN = 'docs/data/fashion-mnist-np2-epoch1.jsonl';
const NPS = '1,2,8,32,128,512,2048';
const COMPRESSIONS = 'none,fp16,dgc,dgc:0.0001,dgc:0.00001,qsgd,terngrad,onebit';
// ResNet-50-like: 2.5e7 float32 parameters (100 MB of gradients) in 161 tensors, 100 ms of
// compute per step.
const RESNET = ['--compute-ms', '100', '--grad-bytes', '100000000', '--tensors', '161'];

const SCENARIOS = [
  { id: 'mlp', title: 'reference MLP, measured compute', args: ['--from', RUN, '--network', '10gbe', '--np', NPS, '--compression', COMPRESSIONS, '--plot', 'docs/train-scaling-sim.svg'] },
  { id: 'mlp-codec', title: 'reference MLP, + codec timed here', args: ['--from', RUN, '--network', '10gbe', '--np', '2,2048', '--compression', COMPRESSIONS, '--measure-codec'] },
  { id: 'resnet', title: 'ResNet-50-like', args: [...RESNET, '--network', '10gbe', '--np', NPS, '--compression', COMPRESSIONS, '--plot', 'docs/train-scaling-sim-resnet50.svg'] },
  { id: 'resnet-overlap', title: 'ResNet-50-like, overlap 0.5', args: [...RESNET, '--network', '10gbe', '--overlap', '0.5', '--np', '2048', '--compression', COMPRESSIONS] },
  { id: 'resnet-100gbe', title: 'ResNet-50-like, 100 Gb/s', args: [...RESNET, '--network', '100gbe', '--np', '2048', '--compression', COMPRESSIONS] },
];
const command = (s) => `dtrain simulate --train ${s.args.join(' ')}`;

let rows;
if (process.argv.includes('--from-data')) {
  rows = fs.readFileSync(DATA, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
} else {
  rows = [];
  for (const s of SCENARIOS) {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'dtrain.js'), 'simulate', '--train', ...s.args, '--json'], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${command(s)} exited ${r.status}: ${r.stderr}`);
    for (const l of r.stdout.trim().split('\n')) rows.push({ scenario: s.id, command: command(s), ...JSON.parse(l) });
  }
  fs.writeFileSync(DATA, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

const pct = (e) => `${(e * 100).toFixed(1)}%`;
const at2048 = (id) => rows.filter((r) => r.scenario === id && r.np === 2048);
const out = [];

// The answer, one row per command.
out.push('| scenario (exact command) | compute per step | best at 2,048 ranks | above 90% at 2,048 ranks |', '| --- | ---: | --- | --- |');
for (const s of SCENARIOS) {
  const here = at2048(s.id);
  const best = here.reduce((a, b) => (b.efficiency > a.efficiency ? b : a));
  const above = here.filter((r) => r.efficiency > 0.9).map((r) => `${r.compression} over ${r.algo} (${pct(r.efficiency)})`);
  out.push(`| ${s.title}: \`${command(s)}\` | ${+best.compute_ms.toFixed(3)} ms | ${best.compression} over ${best.algo}: ${pct(best.efficiency)} | ${above.length ? above.join(', ') : 'none'} |`);
}
out.push('');

// Efficiency at 2,048 ranks, every algorithm x compression, one column per scenario.
const keys = [];
for (const r of rows.filter((x) => x.np === 2048)) {
  const k = `${r.compression}|${r.algo}`;
  if (!keys.includes(k)) keys.push(k);
}
out.push(`| compression | by | algorithm | bytes per rank (MLP / ResNet-like) | ${SCENARIOS.map((s) => s.title).join(' | ')} |`);
out.push(`| --- | --- | --- | ---: | ${SCENARIOS.map(() => '---:').join(' | ')} |`);
const kb = (b) => (b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : `${(b / 1e3).toFixed(2)} kB`);
for (const k of keys) {
  const [compression, algo] = k.split('|');
  const cell = (id) => at2048(id).find((r) => r.compression === compression && r.algo === algo);
  const first = cell('mlp') ?? cell('resnet');
  const bytes = `${kb(cell('mlp').bytes_per_rank)} / ${kb(cell('resnet').bytes_per_rank)}`;
  out.push(
    `| ${compression} | ${first.collective === 'allreduce' ? 'all-reduce' : 'all-gather'} | ${algo} | ${bytes} | ${SCENARIOS.map((s) => {
      const c = cell(s.id);
      if (!c) return '-';
      const bold = c.efficiency > 0.9 ? `**${pct(c.efficiency)}**` : pct(c.efficiency);
      return `${bold} (${c.step_ms.toFixed(c.step_ms >= 100 ? 0 : 1)} ms)`;
    }).join(' | ')} |`,
  );
}
out.push('');

// The codec cost timed here, per compression (MLP size): encode once, decode per block.
const codec = rows.filter((r) => r.scenario === 'mlp-codec' && r.np === 2 && r.algo === 'ring');
out.push('| compression | encode per step | decode, one block | decode at 2,048 ranks |', '| --- | ---: | ---: | ---: |');
for (const r of codec) {
  if (r.compression === 'none') continue;
  const big = at2048('mlp-codec').find((x) => x.compression === r.compression && x.algo === 'ring');
  const perBlock = r.compression === 'fp16' ? r.decode_ms : r.decode_ms / 2;
  out.push(`| ${r.compression} | ${r.encode_ms.toFixed(3)} ms | ${perBlock.toFixed(4)} ms | ${big.decode_ms.toFixed(2)} ms |`);
}
process.stdout.write(`${out.join('\n')}\n`);
