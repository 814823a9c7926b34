/**
 * A grouped bar chart as a standalone SVG (no dependencies), for the benchmarks' --plot: one
 * group per x label, one bar per series, optional per-group reference marks (a bound), and the
 * value over each bar.
 */
export interface BarChart {
  title: string;
  subtitle?: string;
  yLabel: string;
  groups: string[];
  series: { name: string; values: (number | null)[] }[];
  /** A horizontal mark across each group (e.g. a bound), with its legend name. */
  marks?: { name: string; values: (number | null)[] };
}

import { esc, svgOpen } from './svg-lines';

const COLORS = ['#1f77b4', '#6baed6', '#d62728', '#ff9896', '#2ca02c', '#98df8a', '#9467bd'];

function niceMax(v: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function short(v: number): string {
  if (v === 0) return '0';
  return v >= 10000 ? `${(v / 1000).toFixed(v >= 100000 ? 0 : 1)}k` : v >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

export function barChartSvg(c: BarChart): string {
  const W = 860;
  const H = 460;
  const left = 80;
  const right = 20;
  const top = c.subtitle ? 70 : 50;
  const bottom = 90;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const all = [...c.series.flatMap((s) => s.values), ...(c.marks?.values ?? [])].filter((v): v is number => v !== null && Number.isFinite(v));
  const ymax = niceMax(Math.max(1e-9, ...all) * 1.08);
  const y = (v: number) => top + plotH - (v / ymax) * plotH;
  const groupW = plotW / c.groups.length;
  const barW = Math.min(40, (groupW * 0.8) / c.series.length);
  const out: string[] = [];
  out.push(...svgOpen(W, H, c.title, c.subtitle));
  for (let i = 0; i <= 5; i++) {
    const v = (ymax * i) / 5;
    out.push(`<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${short(v)}</text>`);
  }
  out.push(`<text transform="translate(18 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`);
  c.groups.forEach((g, gi) => {
    const x0 = left + gi * groupW + (groupW - barW * c.series.length) / 2;
    c.series.forEach((s, si) => {
      const v = s.values[gi];
      if (v === null || !Number.isFinite(v)) return;
      const x = x0 + si * barW;
      out.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(top + plotH - y(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(`${s.name}, ${g}: ${v}`)}</title></rect>`);
      out.push(`<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="10">${short(v)}</text>`);
    });
    const m = c.marks?.values[gi];
    if (m !== null && m !== undefined && Number.isFinite(m)) {
      out.push(`<line x1="${(x0 - 4).toFixed(1)}" x2="${(x0 + barW * c.series.length + 2).toFixed(1)}" y1="${y(m).toFixed(1)}" y2="${y(m).toFixed(1)}" stroke="black" stroke-dasharray="5 3" stroke-width="1.5"/>`);
    }
    out.push(`<text x="${(left + gi * groupW + groupW / 2).toFixed(1)}" y="${top + plotH + 18}" text-anchor="middle">${esc(g)}</text>`);
  });
  out.push(`<line x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="black"/>`);
  const legend = [...c.series.map((s, i) => ({ name: s.name, color: COLORS[i % COLORS.length], dash: false }))];
  if (c.marks) legend.push({ name: c.marks.name, color: 'black', dash: true });
  legend.forEach((l, i) => {
    const col = i % 3;
    const row = Math.floor(i / 3);
    const lx = left + col * 260;
    const ly = H - bottom + 42 + row * 18;
    out.push(
      l.dash
        ? `<line x1="${lx}" x2="${lx + 14}" y1="${ly - 4}" y2="${ly - 4}" stroke="black" stroke-dasharray="5 3" stroke-width="1.5"/>`
        : `<rect x="${lx}" y="${ly - 10}" width="14" height="10" fill="${l.color}"/>`,
    );
    out.push(`<text x="${lx + 20}" y="${ly}">${esc(l.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
