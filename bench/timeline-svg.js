#!/usr/bin/env node
// Draws a window of a merged timeline (dtrain run --timeline FILE) as an SVG, for the docs: per
// rank its JS thread's training spans, its buckets' all-reduces, and its engine threads' calls,
// over a few steps. (Perfetto shows the whole file; this is a picture of a piece of it.)
//   node bench/timeline-svg.js TRACE.json OUT.svg [--from-step 100] [--steps 3]
'use strict';
const fs = require('node:fs');
const { parseArgs } = require('node:util');

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'from-step': { type: 'string', default: '100' }, steps: { type: 'string', default: '3' } },
});
const [input, output] = positionals;
if (!input || !output) {
  console.error('usage: timeline-svg.js TRACE.json OUT.svg [--from-step N] [--steps K]');
  process.exit(2);
}
const raw = JSON.parse(fs.readFileSync(input, 'utf8'));
// Async begin/end pairs (queued calls, buckets) as spans with a duration, like the others.
const open = new Map();
const ev = [];
for (const e of raw) {
  if (e.ph === 'b') open.set(`${e.pid}/${e.id}`, e);
  else if (e.ph === 'e') {
    const b = open.get(`${e.pid}/${e.id}`);
    if (b) ev.push({ ...b, ph: 'X', dur: e.ts - b.ts });
  } else ev.push(e);
}
const from = Number(values['from-step']);
const steps = Number(values.steps);

// The window: rank 0's forward+backward of step `from` to the end of step `from + steps - 1`.
const fb0 = ev.filter((e) => e.pid === 0 && e.name === 'forward + backward').sort((a, b) => a.ts - b.ts);
const st0 = ev.filter((e) => e.pid === 0 && e.name === 'wait for buckets + optimizer step').sort((a, b) => a.ts - b.ts);
if (fb0.length < from + steps) throw new Error(`${input} has ${fb0.length} steps; ask for fewer`);
const t0 = fb0[from].ts;
const t1 = st0[from + steps - 1].ts + st0[from + steps - 1].dur;
const pids = [...new Set(ev.filter((e) => e.ph === 'X').map((e) => e.pid))].sort((a, b) => a - b);

const lanes = [];
for (const pid of pids) {
  const mine = ev.filter((e) => e.pid === pid && e.ph === 'X' && e.ts + e.dur >= t0 && e.ts <= t1);
  lanes.push({ label: `rank ${pid}: JS thread`, spans: mine.filter((e) => e.cat === 'train' && e.tid === 1), colorOf: (e) => (e.name.startsWith('forward') ? '#1f77b4' : '#aec7e8') });
  lanes.push({ label: `rank ${pid}: buckets`, spans: mine.filter((e) => e.tid === 2), colorOf: (e) => (e.args && e.args.bucket === 0 ? '#d62728' : '#ff9896') });
  lanes.push({ label: `rank ${pid}: all-reduce calls`, spans: mine.filter((e) => e.cat === 'allreduce'), colorOf: () => '#2ca02c' });
}
const W = 980;
const left = 190;
const laneH = 26;
const top = 60;
const H = top + lanes.length * laneH + 60;
const X = (t) => left + ((t - t0) / (t1 - t0)) * (W - left - 20);
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
const o = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  `<rect width="${W}" height="${H}" fill="white"/>`,
  `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">Timeline of ${steps} training steps (from step ${from}), ${pids.length} workers</text>`,
  `<text x="${W / 2}" y="42" text-anchor="middle" font-size="11" fill="#555">blue: forward + backward; light blue: waiting for buckets + optimizer step; red: a bucket's all-reduce (bucket 0 dark); green: the all-reduce calls</text>`,
];
lanes.forEach((l, i) => {
  const y = top + i * laneH;
  o.push(`<text x="${left - 8}" y="${y + 16}" text-anchor="end">${esc(l.label)}</text>`);
  o.push(`<line x1="${left}" x2="${W - 20}" y1="${y + laneH - 2}" y2="${y + laneH - 2}" stroke="#eee"/>`);
  for (const e of l.spans) {
    const a = Math.max(X(e.ts), left);
    const b = Math.min(X(e.ts + e.dur), W - 20);
    if (b <= a) continue;
    o.push(`<rect x="${a.toFixed(1)}" y="${y + 4}" width="${Math.max(0.8, b - a).toFixed(1)}" height="${laneH - 10}" fill="${l.colorOf(e)}"><title>${esc(e.name)} ${e.dur.toFixed(0)} us</title></rect>`);
  }
});
// A time axis in milliseconds from the window's start.
const ms = (t1 - t0) / 1000;
const tick = ms > 40 ? 10 : ms > 15 ? 5 : 2;
const axisY = top + lanes.length * laneH + 14;
for (let m = 0; m <= ms; m += tick) {
  const x = X(t0 + m * 1000);
  o.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${top}" y2="${axisY - 10}" stroke="#ddd"/>`);
  o.push(`<text x="${x.toFixed(1)}" y="${axisY + 4}" text-anchor="middle">${m} ms</text>`);
}
o.push('</svg>');
fs.writeFileSync(output, `${o.join('\n')}\n`);
console.log(`wrote ${output}: ${lanes.reduce((a, l) => a + l.spans.length, 0)} spans over ${ms.toFixed(1)} ms`);
