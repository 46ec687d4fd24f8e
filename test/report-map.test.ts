// The report's map and neighbour grid without a browser: the neighbour selection against a brute
// force written in the test, the drawn points and queries, and the page for 1- and 3-channel
// images of odd sizes, with labels and without. Fresh seed per run, in the names.
import { FeatureMatrix } from '../lib/eval';
import { Rng } from '../lib/random';
import { renderReport } from '../lib/report';
import { mapSample, nearestInBank, reportViews, spreadQueries } from '../lib/report-map';
import { thumbnail } from '../lib/thumbnail';
import { bandImages, bruteOrder, bruteWrongCount, cosineRow, inFormF64, randomInitEncoder } from './helpers/report';

const seed = (Date.now() ^ (process.pid << 8)) >>> 0;
const count = (html: string, re: RegExp) => (html.match(re) ?? []).length;

describe(`report map and neighbours (seed ${seed})`, () => {
  test('nearestInBank gives the brute-force cosine neighbours in every form, ties to the smaller bank row', async () => {
    const rng = new Rng(seed);
    const d = 12, nb = 300, nq = 40, k = 9;
    const bank = Float32Array.from({ length: nb * d }, (_, i) => rng.normal() * (1 + (i % d)) + (i % d === 3 ? 5 : 0));
    // Exact twins in the bank: equal similarities, which the kernel breaks to the smaller row.
    for (const [a, b] of [[10, 200], [11, 12], [299, 0]]) bank.copyWithin(b * d, a * d, (a + 1) * d);
    const query = Float32Array.from({ length: nq * d }, () => rng.normal() * 3);
    query.set(bank.subarray(10 * d, 11 * d), 5 * d);   // a query equal to a twin
    const features = { bank: { data: bank, shape: [nb, d] }, query: { data: query, shape: [nq, d] } };
    const rows = [5, 0, 39, 17, 17];
    for (const form of ['raw', 'centred', 'standardised'] as const) {
      const got = await nearestInBank(features, rows, k, form);
      const f = inFormF64(bank, query, d, form);
      rows.forEach((r, i) => {
        const sims = cosineRow(f.bank, f.query, d, r), order = bruteOrder(sims);
        for (let j = 0; j < k; j++) {
          const g = got.index[i * k + j], ctx = `${form}, query ${r}, rank ${j}: got #${g}, brute force #${order[j]}`;
          // Where float32 and float64 order two near-equal rows differently, they must be equally similar.
          expect({ ctx, same: Math.abs(sims[g] - sims[order[j]]) <= 2e-6 }).toEqual({ ctx, same: true });
          expect({ ctx, sim: Math.abs(got.sim[i * k + j] - sims[g]) <= 2e-6 }).toEqual({ ctx, sim: true });
        }
        expect(new Set(got.index.subarray(i * k, (i + 1) * k)).size).toBe(k);
      });
      expect([got.index[0], got.index[1]]).toEqual([10, 200]);   // the twin of the query, smaller row first
    }
  });

  test('the drawn points: each class its share, no row twice, seeded; queries spread over the classes', () => {
    const n = 1000, labels = Int32Array.from({ length: n }, (_, i) => (i < 500 ? 0 : i < 800 ? 1 : i < 950 ? 2 : 3));
    const s = mapSample(labels, n, 200, seed);
    expect(s).toHaveLength(200);
    expect(new Set(s).size).toBe(200);
    const per = [0, 1, 2, 3].map((c) => s.filter((r) => labels[r] === c).length);
    expect(per).toEqual([100, 60, 30, 10]);
    expect(mapSample(labels, n, 200, seed)).toEqual(s);
    expect(mapSample(labels, n, 200, seed + 1)).not.toEqual(s);
    expect([...mapSample(undefined, 50, 2000, seed)].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const q = spreadQueries(labels, n, 8, seed);
    expect(q.map((r) => labels[r])).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    expect(new Set(q).size).toBe(8);
    const ten = Int32Array.from({ length: 100 }, (_, i) => 9 - (i % 10));
    expect(spreadQueries(ten, 100, 8, seed).map((r) => ten[r])).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(spreadQueries(Int32Array.of(2, 2, 1), 3, 8, seed).sort()).toEqual([0, 1, 2]);   // fewer rows than queries
    expect(spreadQueries(undefined, 30, 8, seed)).toHaveLength(8);
  });

  test.each([[1, 28, 28], [3, 20, 26], [3, 72, 50]] as const)('the page for %i-channel %ix%i images: map points and classes, grid rows, cells and marks', async (c, h, w) => {
    const rng = new Rng(seed ^ (c * 1000 + h));
    const names = ['T-shirt', 'trouser <b>', 'bag', 'boot', 'coat'];
    const bank = bandImages(rng, 90, h, w, c, 5, names), query = bandImages(rng, 37, h, w, c, 5, names);
    const encoder = randomInitEncoder(bank, 4, seed);
    try {
      const features = { bank: await encoder.embed(bank.images), query: await encoder.embed(query.images) };
      const views = await reportViews(bank, query, features, { split: 'test', points: 30, queries: 6, k: 5, seed });
      expect(views.map.x).toHaveLength(30);
      expect(views.map.classes.map((x) => x.count)).toEqual([6, 6, 6, 6, 6]);
      expect(views.grid.rows.map((r) => r.label)).toEqual([0, 1, 2, 3, 4, 0]);
      for (const r of views.grid.rows) for (const nb of r.neighbours) expect(nb.image.width).toBeLessThanOrEqual(48);
      const f = inFormF64(features.bank.data, features.query.data, encoder.featureDim, 'standardised');
      const wrong = bruteWrongCount(f.bank, f.query, encoder.featureDim, views.grid.rows.map((r) => r.row), 5, bank.labels!, query.labels!);
      const html = renderReport({ config: {}, history: [{ epoch: 1, loss: 1 }], embeddings: views });
      expect(count(html, /<circle class="pt"/g)).toBe(30);
      expect(count(html, /<g class="lg"/g)).toBe(5);
      expect(html).toContain('>trouser &lt;b&gt; (6)</text>');
      expect(html).toMatch(/PCA of the encoder&#39;s features of the test split \(37 images, all in the fit; 30 of them drawn, each class its share, seed \d+\)/);
      expect(html).toMatch(/PC1 explains \d+\.\d% of the variance, PC2 \d+\.\d% \(\d+\.\d% together\)/);
      expect(count(html, /<tr class="nn-row"/g)).toBe(6);
      expect(count(html, /<td class="nn-cell/g)).toBe(30);
      expect(count(html, /<td class="nn-cell wrong"/g)).toBe(wrong);
      expect(wrong).toBeGreaterThan(0);   // the mislabelled images see to it
      expect(html).toContain(`A red border marks a neighbour of another class than the query&#39;s: ${wrong} of 30 here.`);
      for (const m of html.matchAll(/(?:src|href)="([^"]*)"/g)) expect(m[1].startsWith('data:image/png;base64,')).toBe(true);
      expect(html.length).toBeLessThan(400000);
    } finally {
      encoder.dispose();
    }
  });

  test('without labels the map and the grid are drawn plain, and say why; bad input is named', async () => {
    const rng = new Rng(seed ^ 99);
    const bank = bandImages(rng, 40, 16, 16, 1, 4), labelled = bandImages(rng, 12, 16, 16, 1, 4);
    const query = { ...labelled, labels: undefined };
    const encoder = randomInitEncoder(bank, 4, seed);
    try {
      const features = { bank: await encoder.embed(bank.images), query: await encoder.embed(query.images) };
      const views = await reportViews(bank, query, features, { split: 'validation', queries: 4, k: 3 });
      expect(views.map.labels).toBeNull();
      expect(views.grid.rows.every((r) => r.neighbours.every((n) => n.wrong === null))).toBe(true);
      const html = renderReport({ config: {}, history: [], embeddings: views });
      expect(count(html, /<circle class="pt"/g)).toBe(12);
      expect(count(html, /<g class="lg"/g)).toBe(0);
      expect(html).toContain('the validation split has no labels: the points are not coloured by class');
      expect(html).toContain('the validation split has no labels: neighbours are not marked right or wrong');
      expect(count(html, /<td class="nn-cell"/g)).toBe(12);
      const unlabelledBank = await reportViews({ ...bank, labels: undefined }, labelled, features, { split: 'test', queries: 2, k: 2 });
      expect(unlabelledBank.grid.note).toBe('the kNN bank has no labels: neighbours are not marked right or wrong');
      expect(renderReport({ config: {}, history: [], embeddings: { note: 'no test or validation split: there is no split to draw' } }))
        .toContain('<p class="muted">no test or validation split: there is no split to draw</p>');
      const short: FeatureMatrix = { data: features.query.data.subarray(0, 11 * encoder.featureDim), shape: [11, encoder.featureDim] };
      await expect(reportViews(bank, query, { bank: features.bank, query: short }, { split: 'test' }))
        .rejects.toThrow(/features\.query\.shape\[0\]: expected 12 rows \(one per image\) but got 11/);
      await expect(reportViews(bank, query, features, { split: 'test', k: 0 })).rejects.toThrow(/options\.k: expected an integer in \[1, 1000\] but got 0/);
      await expect(reportViews(bank, query, features, {} as never)).rejects.toThrow(/options\.split: expected the split's name but got undefined/);
      expect(() => renderReport({ config: {}, history: [], embeddings: 5 as never })).toThrow(/input\.embeddings: expected \{ map, grid \}/);
      expect(() => thumbnail({ data: new Uint8Array(8 * 8 * 2), shape: [1, 8, 8, 2] }, 0)).toThrow(/images\.shape\[3\] \(C\): expected 1 or 3 channels but got 2/);
      expect(() => thumbnail(bank.images, 40)).toThrow(/row: expected an integer in \[0, 39\] but got 40/);
    } finally {
      encoder.dispose();
    }
  });
});
