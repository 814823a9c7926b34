/** A line chart as a standalone SVG, for experiment curves (accuracy per epoch, per seed). */
export interface LineChart {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  /** Each line; `color` and `dash` (an SVG stroke-dasharray) override the palette's. */
  series: { name: string; points: [number, number][]; color?: string; dash?: string }[];
  /** Horizontal reference lines (a goal), with labels. */
  hlines?: { y: number; label: string }[];
  yRange?: [number, number];
  /** A logarithmic x axis (ranks, sizes): every x must be > 0. */
  xLog?: boolean;
  /** The x values to label (default every distinct x of the data, right for a few points). */
  xTicks?: number[];
  /** Draw each point as a dot (default true; many-point curves read better without). */
  dots?: boolean;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

/** Text made safe for SVG. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The opening of a chart: the svg element, a white background, the title and subtitle. */
export function svgOpen(W: number, H: number, title: string, subtitle?: string): string[] {
  const o = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  if (subtitle) o.push(`<text x="${W / 2}" y="42" text-anchor="middle" font-size="11" fill="#555">${esc(subtitle)}</text>`);
  return o;
}

export function lineChartSvg(c: LineChart): string {
  // The legend sets the right margin and, for many series, the height.
  const right = Math.max(150, 40 + 6.5 * Math.max(0, ...c.series.map((s) => s.name.length)));
  const W = 610 + right;
  const top = c.subtitle ? 64 : 44;
  const bottom = 50;
  const H = Math.max(440, top + 20 + 20 * c.series.length + bottom);
  const left = 70;
  const pw = W - left - right;
  const ph = H - top - bottom;
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = [...c.series.flatMap((s) => s.points.map((p) => p[1])), ...(c.hlines ?? []).map((h) => h.y)];
  const tx = c.xLog ? Math.log10 : (x: number) => x;
  const [x0, x1] = [tx(Math.min(...xs)), tx(Math.max(...xs))];
  const [y0, y1] = c.yRange ?? [Math.min(...ys), Math.max(...ys)];
  const X = (x: number) => left + ((tx(x) - x0) / (x1 - x0 || 1)) * pw;
  const Y = (y: number) => top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  const o: string[] = [];
  o.push(...svgOpen(W, H, c.title, c.subtitle));
  for (let i = 0; i <= 5; i++) {
    const y = y0 + ((y1 - y0) * i) / 5;
    o.push(`<line x1="${left}" x2="${left + pw}" y1="${Y(y).toFixed(1)}" y2="${Y(y).toFixed(1)}" stroke="#e5e5e5"/>`);
    o.push(`<text x="${left - 6}" y="${(Y(y) + 4).toFixed(1)}" text-anchor="end">${y.toFixed(3)}</text>`);
  }
  for (const x of c.xTicks ?? [...new Set(xs)].sort((a, b) => a - b)) {
    o.push(`<text x="${X(x).toFixed(1)}" y="${top + ph + 16}" text-anchor="middle">${x}</text>`);
  }
  o.push(`<text x="${left + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  o.push(`<text transform="translate(16 ${top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`);
  o.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`);
  for (const h of c.hlines ?? []) {
    o.push(`<line x1="${left}" x2="${left + pw}" y1="${Y(h.y).toFixed(1)}" y2="${Y(h.y).toFixed(1)}" stroke="black" stroke-dasharray="6 4"/>`);
    o.push(`<text x="${left + 6}" y="${(Y(h.y) - 5).toFixed(1)}">${esc(h.label)}</text>`);
  }
  c.series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length];
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    const d = s.points.map((p, k) => `${k ? 'L' : 'M'}${X(p[0]).toFixed(1)} ${Y(p[1]).toFixed(1)}`).join(' ');
    o.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    if (c.dots !== false) for (const p of s.points) o.push(`<circle cx="${X(p[0]).toFixed(1)}" cy="${Y(p[1]).toFixed(1)}" r="2.5" fill="${color}"/>`);
    if (dash) {
      const ly = top + 11.5 + i * 20;
      o.push(`<line x1="${left + pw + 6}" x2="${left + pw + 26}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    } else {
      o.push(`<rect x="${left + pw + 10}" y="${top + 10 + i * 20}" width="14" height="3" fill="${color}"/>`);
    }
    o.push(`<text x="${left + pw + 30}" y="${top + 15 + i * 20}">${esc(s.name)}</text>`);
  });
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}
