// The report's drawings of the features (lib/report-types.ts): the PCA map as inline SVG and the
// nearest-neighbour grid as a table of data: URI thumbnails. Plain markup and CSS only, so that the
// page needs no script and no file beside it.
import { esc } from './html';
import type { EmbeddingMap, NeighbourGrid } from './report-types';

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
/** Most legend entries; the rest are counted in one line, so a 1000-class map keeps its size. */
const LEGEND_MAX = 24;
const WRONG = '#d62728';

/** Colour of the i-th class: the ten of the charts, then hues a golden angle apart. */
export function classColor(i: number): string {
  return i < PALETTE.length ? PALETTE[i] : `hsl(${((i - PALETTE.length) * 137.508) % 360 | 0},55%,45%)`;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Pixels per unit and the centre: the same scale on both axes, since unequal ones would stretch
 * distances, which are what the map is for. */
function fit(xs: number[], ys: number[], w: number, h: number) {
  const lo = (v: number[]) => v.reduce((a, b) => Math.min(a, b), Infinity), hi = (v: number[]) => v.reduce((a, b) => Math.max(a, b), -Infinity);
  const x0 = lo(xs), x1 = hi(xs), y0 = lo(ys), y1 = hi(ys);
  const sx = x1 > x0 ? w / (x1 - x0) : Infinity, sy = y1 > y0 ? h / (y1 - y0) : Infinity;
  const s = Number.isFinite(Math.min(sx, sy)) ? Math.min(sx, sy) : 1;
  return { s, cx: Number.isFinite(x0) ? (x0 + x1) / 2 : 0, cy: Number.isFinite(y0) ? (y0 + y1) / 2 : 0 };
}

export function mapSvg(m: EmbeddingMap): string {
  const W = 760, H = 470, L = 40, T = 36, PW = 500, PH = 390, R = 5;
  const { s, cx, cy } = fit(m.x, m.y, PW - 2 * R, PH - 2 * R);
  const colorOf = new Map(m.classes.map((c, i) => [c.label, classColor(i)]));
  const parts = [`<svg class="chart map" viewBox="0 0 ${W} ${H}" role="img" aria-label="2-D map of the ${esc(m.split)} features" ` +
    `data-points="${m.x.length}" data-classes="${m.classes.length}">`];
  parts.push(`<text x="${L}" y="22" class="ctitle">${esc(m.split)} features, first two principal components</text>`);
  parts.push(`<rect x="${L}" y="${T}" width="${PW}" height="${PH}" fill="none" class="frame"/>`);
  const px = (x: number) => (L + PW / 2 + (x - cx) * s).toFixed(1), py = (y: number) => (T + PH / 2 - (y - cy) * s).toFixed(1);
  m.x.forEach((x, i) => {
    const label = m.labels?.[i];
    const fill = label !== undefined ? colorOf.get(label) : PALETTE[0];
    parts.push(`<circle class="pt" cx="${px(x)}" cy="${py(m.y[i])}" r="2.2" fill="${fill}"${label !== undefined ? ` data-label="${label}"` : ''}/>`);
  });
  parts.push(`<text x="${L + PW / 2}" y="${T + PH + 22}" text-anchor="middle" class="label">PC1 (${pct(m.explained[0])} of the variance)</text>`);
  parts.push(`<text transform="translate(${L - 12} ${T + PH / 2}) rotate(-90)" text-anchor="middle" class="label">PC2 (${pct(m.explained[1])})</text>`);
  const lx = L + PW + 24;
  const shown = m.classes.length > LEGEND_MAX ? m.classes.slice(0, LEGEND_MAX - 1) : m.classes;
  shown.forEach((c, i) => {
    const y = T + 8 + i * 16;
    parts.push(`<g class="lg" data-label="${c.label}"><circle cx="${lx + 5}" cy="${y}" r="5" fill="${colorOf.get(c.label)}"/>` +
      `<text x="${lx + 16}" y="${y + 4}" class="legend">${esc(c.name)} (${c.count})</text></g>`);
  });
  if (shown.length < m.classes.length)
    parts.push(`<text x="${lx}" y="${T + 12 + shown.length * 16}" class="legend">… and ${m.classes.length - shown.length} more classes</text>`);
  if (!m.labels) parts.push(`<text x="${lx}" y="${T + 12}" class="legend">no labels</text>`);
  parts.push('</svg>');
  return parts.join('');
}

export function mapCaption(m: EmbeddingMap): string {
  const drawn = m.x.length;
  const sample = drawn < m.size ? `${drawn} of them drawn, ${m.labels ? 'each class its share' : 'at random'}, seed ${m.seed}` : 'all drawn';
  return `PCA of the encoder's features of the ${m.split} split (${m.size} images, all in the fit; ${sample}), in the form the kNN ` +
    `compares them (${m.form}, with the bank's statistics) and scaled to unit length, as the cosine sees them. ` +
    `PC1 explains ${pct(m.explained[0])} of the variance, PC2 ${pct(m.explained[1])} (${pct(m.explained[0] + m.explained[1])} together)` +
    `${m.converged ? '' : '; the PCA stopped before converging, so the axes are approximate'}.${m.note ? ` Note: ${m.note}.` : ''}`;
}

/** Displayed size of a thumbnail: its longer side `box` CSS pixels, drawn with visible pixels. */
function img(t: { uri: string; width: number; height: number }, alt: string, box = 56): string {
  const z = box / Math.max(t.width, t.height);
  return `<img src="${t.uri}" width="${Math.round(t.width * z)}" height="${Math.round(t.height * z)}" alt="${esc(alt)}"/>`;
}

export function neighbourGridHtml(g: NeighbourGrid): string {
  const rows = g.rows.map((q) => {
    const who = q.className !== undefined ? q.className : 'no label';
    const cells = q.neighbours.map((n) => {
      const cls = n.wrong === true ? 'nn-cell wrong' : n.wrong === false ? 'nn-cell right' : 'nn-cell';
      const name = n.className ?? 'no label';
      return `<td class="${cls}"${n.label !== undefined ? ` data-label="${n.label}"` : ''} data-row="${n.row}" ` +
        `title="bank #${n.row}: ${esc(name)}, cosine ${n.similarity.toFixed(3)}${n.wrong ? ' (another class)' : ''}">` +
        `${img(n.image, `bank image #${n.row}, ${name}`)}<div class="nn-cap">${n.similarity.toFixed(3)}<br>${esc(name)}</div></td>`;
    });
    return `<tr class="nn-row"${q.label !== undefined ? ` data-label="${q.label}"` : ''} data-row="${q.row}">` +
      `<th class="nn-query">${img(q.image, `${g.split} image #${q.row}, ${who}`)}<div class="nn-cap">#${q.row}<br><b>${esc(who)}</b></div></th>${cells.join('')}</tr>`;
  });
  return `<div class="scroll-x"><table class="nn" data-k="${g.k}"><thead><tr><th>${esc(g.split)} image</th>` +
    `<th colspan="${g.k}">its ${g.k} nearest in the kNN bank, most similar first (cosine similarity, class)</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table></div>`;
}

export function neighbourCaption(g: NeighbourGrid): string {
  const cells = g.rows.reduce((a, r) => a + r.neighbours.length, 0);
  const wrong = g.rows.reduce((a, r) => a + r.neighbours.filter((n) => n.wrong === true).length, 0);
  return `${g.rows.length} images of the ${g.split} split (${g.size} images; one class after another, seed ${g.seed}), each followed by its ` +
    `${g.k} nearest among the ${g.bankSize} images of the kNN bank by cosine similarity of the features in the kNN's form (${g.form}, ` +
    `bank statistics). ` + (g.note ? `Note: ${g.note}.` : `A red border marks a neighbour of another class than the query's: ${wrong} of ${cells} here.`);
}

/** CSS of the map and the grid, for the report's style sheet. */
export const REPORT_MAP_CSS = `.chart.map{max-width:860px;display:block}.map .frame{stroke:#ccc}.map .pt{fill-opacity:.75}
.scroll-x{overflow-x:auto}table.nn td,table.nn th{padding:3px;text-align:center;vertical-align:top;font-weight:normal}
table.nn img{image-rendering:pixelated;border:3px solid #ddd;display:block;margin:0 auto}
table.nn th.nn-query img{border-color:#444}table.nn td.wrong img{border-color:${WRONG}}table.nn td.wrong .nn-cap{color:${WRONG}}
.nn-cap{font-size:11px;line-height:1.25;color:#555;max-width:76px;overflow-wrap:anywhere}`;
