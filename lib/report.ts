// The training report: one self-contained HTML page (inline CSS and SVG, images as data URIs, no
// external URL) with the loss curves, the kNN accuracy per epoch, a map of the scored split's
// features and their nearest neighbours, the configuration, a grid of augmented samples and
// timings. Written atomically to DIR/report.html.
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from './fsutil';
import { esc } from './html';
import { mapCaption, mapSvg, neighbourCaption, neighbourGridHtml, REPORT_MAP_CSS } from './report-map-html';
import type { ReportViews } from './report-types';
import { checkInt, describe } from './validate';

export interface HistoryEntry {
  epoch: number;
  loss?: number;
  nceLoss?: number;
  ddmLoss?: number;
  knnAccuracy?: number;
  /** Instance-discrimination accuracy of the head (own key is the top logit). */
  accuracy?: number;
  lr?: number;
  /** Wall-clock seconds of this epoch. */
  seconds?: number;
  imagesPerSecond?: number;
  [key: string]: unknown;
}

export interface ReportInput {
  title?: string;
  config: Record<string, unknown>;
  history: HistoryEntry[];
  /** A PNG of augmented samples: a file path, base64 text, a data: URI or the bytes. */
  samplesPng?: string | Uint8Array;
  /** Caption under the samples heading (how the grid is laid out). */
  samplesCaption?: string;
  /** Extra timings in seconds (e.g. { total: 812, dataLoading: 3.1 }). */
  timing?: Record<string, number>;
  /** Extra results shown as a table (e.g. { 'linear probe': 0.83, 'raw-pixel kNN': 0.79 }). */
  results?: Record<string, number | string>;
  /** Reference accuracies drawn as dashed lines on the accuracy chart (e.g. the best pixel
   * baseline on the monitored split, same bank, k and t), named in the legend. */
  baselines?: { name: string; accuracy: number }[];
  /** The split the per-epoch kNN accuracy was measured on (default 'test'), and its images. */
  knnSplit?: string;
  knnSplitSize?: number;
  /** The map of the scored split's features and its nearest-neighbour grid (lib/report-map.ts),
   * or why there are none ({ note }). */
  embeddings?: ReportViews | { note: string };
  /** Generated-at stamp (default: now). */
  date?: Date;
}

function fmt(v: unknown): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : String(Number(v.toPrecision(5)));
  }
  if (Array.isArray(v)) return v.map(fmt).join(', ');
  if (v && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) { const pad = Math.abs(lo) * 0.1 || 1; lo -= pad; hi += pad; }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  const first = Math.floor(lo / step + 1e-9), last = Math.ceil(hi / step - 1e-9);
  for (let i = first; i <= last; i++) out.push(Number((i * step).toPrecision(12)));
  if (out.length < 2) out.push(out[0] + step);
  return out;
}

interface Series { name: string; color: string; points: [number, number][]; dashed?: boolean }

/** An SVG line chart with axes, ticks, grid and legend. */
export function lineChart(title: string, series: Series[], xLabel: string, yLabel: string, percent = false): string {
  const W = 560, H = 300, L = 62, R = 16, T = 48, B = 46;
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pts.length === 0)
    return `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}"><text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="muted">${esc(title)}: no data</text></svg>`;
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const xt = niceTicks(Math.min(...xs), Math.max(...xs), 6), yt = niceTicks(Math.min(...ys), Math.max(...ys), 5);
  const x0 = xt[0], x1 = xt[xt.length - 1], y0 = yt[0], y1 = yt[yt.length - 1];
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const parts: string[] = [];
  parts.push(`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">`);
  parts.push(`<text x="${L}" y="20" class="ctitle">${esc(title)}</text>`);
  for (const t of yt) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${L - 6}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end" class="tick">${esc(percent ? `${fmt(Number((t * 100).toPrecision(6)))}%` : fmt(t))}</text>`);
  }
  for (const t of xt) {
    parts.push(`<line x1="${px(t).toFixed(1)}" x2="${px(t).toFixed(1)}" y1="${H - B}" y2="${H - B + 4}" class="axis"/>`);
    parts.push(`<text x="${px(t).toFixed(1)}" y="${H - B + 17}" text-anchor="middle" class="tick">${esc(fmt(t))}</text>`);
  }
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" class="axis"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" class="axis"/>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle" class="label">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle" class="label">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (p.length === 0) return;
    const d = p.map(([x, y], j) => `${j ? 'L' : 'M'}${px(x).toFixed(1)} ${py(y).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    if (p.length <= 60 && !s.dashed) for (const [x, y] of p) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.6" fill="${s.color}"><title>${esc(s.name)} @ ${esc(fmt(x))}: ${esc(fmt(y))}</title></circle>`);
    const lx = W - R - 130 * ((series.length - i - 1) % 3 + 1), ly = 34 - 14 * Math.floor((series.length - i - 1) / 3);
    parts.push(`<rect x="${lx}" y="${ly}" width="12" height="3" fill="${s.color}"/><text x="${lx + 18}" y="${ly + 5}" class="legend">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

function pngDataUri(src: string | Uint8Array): string {
  let bytes: Buffer;
  if (typeof src !== 'string' && !(src instanceof Uint8Array))
    throw new TypeError(`input.samplesPng: expected a PNG file path, base64 text, a data: URI or bytes but got ${describe(src)}`);
  if (typeof src !== 'string') bytes = Buffer.from(src);
  else if (src.startsWith('data:image/png;base64,')) bytes = Buffer.from(src.slice(22), 'base64');
  else if (fs.existsSync(src)) bytes = fs.readFileSync(src);
  else if (/^[A-Za-z0-9+/=\s]+$/.test(src) && src.length > 16) bytes = Buffer.from(src, 'base64');
  else throw new RangeError(`input.samplesPng: expected a PNG file path, base64 text or a data: URI but got ${JSON.stringify(src.slice(0, 60))} (no such file)`);
  if (bytes.length < 8 || bytes.readUInt32BE(0) !== 0x89504e47)
    throw new RangeError('input.samplesPng: the data is not a PNG (bad signature)');
  return `data:image/png;base64,${bytes.toString('base64')}`;
}

function table(rows: [string, unknown][], cls = 'kv'): string {
  return `<table class="${cls}"><tbody>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(fmt(v))}</td></tr>`).join('')}</tbody></table>`;
}

function seconds(s: number): string {
  if (!Number.isFinite(s)) return String(s);
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60), r = s - 60 * m;
  return m < 60 ? `${m} min ${r.toFixed(0)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function featuresSection(e: ReportInput['embeddings']): string {
  if (e === undefined) return '';
  if (typeof e !== 'object' || e === null) throw new TypeError('input.embeddings: expected { map, grid } (reportViews) or { note }');
  if ('note' in e && typeof e.note === 'string') return `<section id="features"><h2>Features</h2><p class="muted">${esc(e.note)}</p></section>`;
  const v = e as ReportViews;
  if (typeof v.map !== 'object' || v.map === null || typeof v.grid !== 'object' || v.grid === null)
    throw new TypeError('input.embeddings: expected { map, grid } (reportViews) or { note }');
  return `<section id="features"><h2>Features: ${esc(v.map.split)} split</h2><p class="muted">${esc(mapCaption(v.map))}</p>${mapSvg(v.map)}` +
    `<h2>Nearest neighbours</h2><p class="muted">${esc(neighbourCaption(v.grid))}</p>${neighbourGridHtml(v.grid)}</section>`;
}

/** The report page as a string. */
/** The fields of a report input, each of the type the page prints it as. */
function checkReportInput(input: ReportInput): void {
  if (typeof input !== 'object' || input === null) throw new TypeError(`input: expected { config, history, ... } but got ${describe(input)}`);
  const { config, history } = input;
  if (config !== undefined && (typeof config !== 'object' || config === null || Array.isArray(config)))
    throw new TypeError(`input.config: expected an object but got ${describe(config)}`);
  if (history !== undefined && !Array.isArray(history)) throw new TypeError(`input.history: expected an array of { epoch, loss, ... } but got ${describe(history)}`);
  (history ?? []).forEach((h, i) => {
    if (typeof h !== 'object' || h === null || typeof h.epoch !== 'number' || !Number.isFinite(h.epoch))
      throw new TypeError(`input.history[${i}]: expected { epoch: number, ... } but got ${describe(h)}`);
  });
  for (const k of ['title', 'samplesCaption', 'knnSplit'] as const)
    if (input[k] !== undefined && typeof input[k] !== 'string') throw new TypeError(`input.${k}: expected a string but got ${describe(input[k])}`);
  if (input.knnSplitSize !== undefined) checkInt('input.knnSplitSize', input.knnSplitSize, 0);
  for (const k of ['timing', 'results'] as const) {
    const o = input[k];
    if (o === undefined) continue;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new TypeError(`input.${k}: expected an object but got ${describe(o)}`);
    for (const [key, v] of Object.entries(o))
      if (typeof v !== 'number' && (k === 'timing' || typeof v !== 'string'))
        throw new TypeError(`input.${k}.${key}: expected a number${k === 'results' ? ' or a string' : ''} but got ${describe(v)}`);
  }
  if (input.baselines !== undefined && !Array.isArray(input.baselines))
    throw new TypeError(`input.baselines: expected an array of { name, accuracy } but got ${describe(input.baselines)}`);
  (input.baselines ?? []).forEach((b, i) => {
    if (typeof b?.name !== 'string' || typeof b.accuracy !== 'number' || !Number.isFinite(b.accuracy))
      throw new TypeError(`input.baselines[${i}]: expected { name: string, accuracy: finite number } but got ${describe(b)}`);
  });
  if (input.date !== undefined && (!(input.date instanceof Date) || Number.isNaN(input.date.getTime())))
    throw new TypeError(`input.date: expected a valid Date but got ${describe(input.date)}`);
}

export function renderReport(input: ReportInput): string {
  checkReportInput(input);
  const { config = {}, history = [] } = input;
  const title = input.title ?? 'CLSA training report';
  const col = (k: keyof HistoryEntry) => history.filter((h) => typeof h[k] === 'number').map((h) => [h.epoch, h[k] as number] as [number, number]);
  const losses = lineChart('Training loss', [
    { name: 'total', color: '#1f77b4', points: col('loss') },
    { name: 'NCE', color: '#ff7f0e', points: col('nceLoss') },
    { name: 'DDM', color: '#2ca02c', points: col('ddmLoss') },
  ], 'epoch', 'loss');
  const epochs = history.map((h) => h.epoch);
  const span = epochs.length ? [Math.min(...epochs), Math.max(...epochs)] : [0, 1];
  const baselineColors = ['#7f7f7f', '#bcbd22', '#17becf'];
  // Every kNN figure names its split and size: a best-of-epochs on the test split is a choice made
  // on the test split, and the page should say which it is.
  const split = `${input.knnSplit ?? 'test'}${input.knnSplitSize !== undefined ? `, ${input.knnSplitSize} images` : ''}`;
  const acc = lineChart('Accuracy', [
    { name: `kNN (${split})`, color: '#d62728', points: col('knnAccuracy') },
    { name: 'instance (train)', color: '#9467bd', points: col('accuracy') },
    ...(input.baselines ?? []).map((b, i) => ({ name: b.name, color: baselineColors[i % 3], dashed: true,
      points: [[span[0], b.accuracy], [span[1], b.accuracy]] as [number, number][] })),
  ], 'epoch', 'accuracy', true);
  const last = history[history.length - 1];
  const knn = col('knnAccuracy');
  const best = knn.length ? knn.reduce((a, b) => (b[1] > a[1] ? b : a)) : undefined;
  const epochSecs = history.map((h) => h.seconds).filter((s): s is number => typeof s === 'number');
  const total = input.timing?.total ?? (epochSecs.length ? epochSecs.reduce((a, b) => a + b, 0) : undefined);
  const cards: [string, string][] = [
    ['epochs', String(history.length)],
    ['final loss', last && typeof last.loss === 'number' ? fmt(last.loss) : '–'],
    [`final kNN accuracy (${split})`, knn.length ? `${(knn[knn.length - 1][1] * 100).toFixed(2)}%` : '–'],
    [`best kNN accuracy (${split})`, best ? `${(best[1] * 100).toFixed(2)}% (epoch ${best[0]})` : '–'],
    ['training time', total !== undefined ? seconds(total) : '–'],
  ];
  const timingRows: [string, unknown][] = [];
  if (epochSecs.length) {
    timingRows.push(['mean epoch', seconds(epochSecs.reduce((a, b) => a + b, 0) / epochSecs.length)]);
    timingRows.push(['fastest epoch', seconds(Math.min(...epochSecs))]);
  }
  const ips = history.map((h) => h.imagesPerSecond).filter((s): s is number => typeof s === 'number');
  if (ips.length) timingRows.push(['images / s (mean)', (ips.reduce((a, b) => a + b, 0) / ips.length).toFixed(1)]);
  for (const [k, v] of Object.entries(input.timing ?? {})) timingRows.push([k, typeof v === 'number' ? seconds(v) : v]);
  const keys = ['epoch', ...Array.from(new Set(history.flatMap((h) => Object.keys(h)))).filter((k) => k !== 'epoch')];
  const historyTable = `<table class="hist"><thead><tr>${keys.map((k) => `<th>${esc(k)}</th>`).join('')}</tr></thead><tbody>${
    history.map((h) => `<tr>${keys.map((k) => `<td>${esc(h[k] === undefined ? '' : fmt(h[k]))}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  const samples = input.samplesPng !== undefined
    ? `<section><h2>Augmented samples</h2><p class="muted">${esc(input.samplesCaption ?? 'Augmented views as the training step sees them.')}</p><img class="samples" alt="grid of augmented samples" src="${pngDataUri(input.samplesPng)}"/></section>`
    : '';
  const date = (input.date ?? new Date()).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;background:#fafafa;margin:0}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
.muted{color:#777}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#fff;border:1px solid #e3e3e3;border-radius:8px;padding:10px 14px;min-width:150px}
.card .v{font-size:20px;font-weight:600}.card .k{color:#777;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
.chart{background:#fff;border:1px solid #e3e3e3;border-radius:8px;width:100%;height:auto}
.chart .grid{stroke:#eee}.chart .axis{stroke:#999}.chart .tick{font-size:11px;fill:#666}.chart .label{font-size:12px;fill:#444}
.chart .ctitle{font-size:14px;font-weight:600;fill:#222}.chart .legend{font-size:12px;fill:#333}
table{border-collapse:collapse;background:#fff}th,td{border:1px solid #e3e3e3;padding:4px 10px;text-align:left;vertical-align:top}
table.kv th{background:#f3f3f3;font-weight:500;white-space:nowrap}table.hist td{text-align:right;font-variant-numeric:tabular-nums}
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:16px;align-items:start}
.samples{image-rendering:pixelated;max-width:100%;border:1px solid #e3e3e3;background:#fff}
.scroll{max-height:420px;overflow:auto}
${REPORT_MAP_CSS}
</style>
</head>
<body><main>
<h1>${esc(title)}</h1>
<div class="muted">Generated ${esc(date)} by clsa</div>
<div class="cards">${cards.map(([k, v]) => `<div class="card"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div></div>`).join('')}</div>
<section><h2>Curves</h2><div class="charts">${losses}${acc}</div></section>
${featuresSection(input.embeddings)}
${samples}
<section class="two"><div><h2>Configuration</h2>${table(Object.entries(config))}</div>
<div>${input.results ? `<h2>Results</h2>${table(Object.entries(input.results))}` : ''}${timingRows.length ? `<h2>Timing</h2>${table(timingRows)}` : ''}</div></section>
<section><h2>History</h2><div class="scroll">${historyTable}</div></section>
</main></body>
</html>
`;
}

/** Writes DIR/report.html atomically and returns its path. */
export async function writeReport(dir: string, input: ReportInput): Promise<string> {
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`dir: expected a directory path but got ${describe(dir)}`);
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new RangeError(`dir: expected a directory but ${dir} is a file`);
  const html = renderReport(input);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'report.html');
  await writeFileAtomic(file, html);
  return file;
}
