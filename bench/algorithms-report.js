'use strict';
// Regenerates the predicted-time table and plot of docs/algorithms.md from the simulator
// (the engine's own schedules), so the numbers are never copied by hand.
// Run: node bench/algorithms-report.js   (after `npm run build`)
const fs = require('node:fs');
const path = require('node:path');
const { loadBinding } = require('../dist/native');

const MODEL = { alpha: 5e-6, beta: 1e-10, gamma: 5e-11 }; // 5 us, 10 GB/s links, 20 GB/s reduce
const ALGOS = ['ring', 'halving-doubling', 'binary-blocks', 'recursive-doubling', 'hierarchical'];
const RANKS_PER_HOST = 8;
const sim = loadBinding().simulate;

function predict(algorithm, np, bytes) {
  const hosts = algorithm === 'hierarchical' ? Math.max(1, Math.ceil(np / RANKS_PER_HOST)) : undefined;
  return sim({ algorithm, np, bytes, hosts, ...MODEL });
}

function fmt(s) {
  if (s < 1e-3) return `${(s * 1e6).toFixed(1)} us`;
  if (s < 1) return `${(s * 1e3).toFixed(2)} ms`;
  return `${s.toFixed(2)} s`;
}

function table() {
  const sizes = [['4 KiB', 4096], ['1 MiB', 1 << 20], ['100 MiB', 100 << 20]];
  const lines = [];
  lines.push(`| p | size | ${ALGOS.join(' | ')} | fastest |`);
  lines.push(`| ---: | ---: | ${ALGOS.map(() => '---:').join(' | ')} | --- |`);
  for (const np of [8, 600, 1024, 2048]) {
    for (const [label, bytes] of sizes) {
      const results = ALGOS.map((a) => predict(a, np, bytes));
      const best = results.reduce((b, r) => (r.predicted_s < b.predicted_s ? r : b));
      const cells = results.map((r) => `${fmt(r.predicted_s)}${r.idle_ranks ? ` (${r.idle_ranks} idle)` : ''}`);
      lines.push(`| ${np} | ${label} | ${cells.join(' | ')} | ${best.algo} |`);
    }
  }
  return lines.join('\n');
}

function plot(bytes) {
  const ps = [2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 600, 768, 1024, 1536, 2048];
  const series = ALGOS.map((a) => ({ algo: a, points: ps.map((p) => [p, predict(a, p, bytes).predicted_s]) }));
  const W = 760, H = 460, L = 70, R = 190, T = 30, B = 50;
  const lx = (p) => L + ((Math.log2(p) - 1) / (Math.log2(2048) - 1)) * (W - L - R);
  const all = series.flatMap((s) => s.points.map(([, t]) => t));
  const lo = Math.floor(Math.log10(Math.min(...all))), hi = Math.ceil(Math.log10(Math.max(...all)));
  const ly = (t) => T + (1 - (Math.log10(t) - lo) / (hi - lo)) * (H - T - B);
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${L}" y="18" font-size="14">Predicted all-reduce time of ${bytes >> 20} MiB against p (alpha 5 us, beta 0.1 ns/B, gamma 0.05 ns/B)</text>`);
  for (let e = lo; e <= hi; e++) {
    const y = ly(10 ** e);
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${L - 8}" y="${y + 4}" text-anchor="end">${fmt(10 ** e)}</text>`);
  }
  for (const p of [2, 8, 32, 128, 512, 2048]) {
    const x = lx(p);
    out.push(`<line x1="${x}" x2="${x}" y1="${T}" y2="${H - B}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${H - B + 16}" text-anchor="middle">${p}</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">ranks p (log scale)</text>`);
  series.forEach((s, i) => {
    const d = s.points.map(([p, t], j) => `${j ? 'L' : 'M'}${lx(p).toFixed(1)},${ly(t).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${colors[i]}" stroke-width="2"/>`);
    for (const [p, t] of s.points) out.push(`<circle cx="${lx(p).toFixed(1)}" cy="${ly(t).toFixed(1)}" r="2.5" fill="${colors[i]}"/>`);
    out.push(`<line x1="${W - R + 15}" x2="${W - R + 40}" y1="${T + 20 + i * 20}" y2="${T + 20 + i * 20}" stroke="${colors[i]}" stroke-width="2"/>`);
    out.push(`<text x="${W - R + 46}" y="${T + 24 + i * 20}">${s.algo}${s.algo === 'hierarchical' ? ` (${RANKS_PER_HOST}/host)` : ''}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

const doc = path.join(__dirname, '..', 'docs', 'algorithms.md');
const text = fs.readFileSync(doc, 'utf8');
const marker = /<!-- table:begin -->[\s\S]*<!-- table:end -->/;
if (!marker.test(text)) throw new Error('docs/algorithms.md lacks the table markers');
fs.writeFileSync(doc, text.replace(marker, `<!-- table:begin -->\n${table()}\n<!-- table:end -->`));
fs.writeFileSync(path.join(__dirname, '..', 'docs', 'algorithms-1MiB.svg'), `${plot(1 << 20)}\n`);
console.log('wrote docs/algorithms.md table and docs/algorithms-1MiB.svg');
