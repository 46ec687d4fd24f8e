// The report's look at a trained encoder's features (lib/report-types.ts): a PCA map of the scored
// split, and some of its images beside their nearest neighbours in the kNN bank. Both use the
// features as the report's kNN compares them (the same form, bank statistics, cosine similarity
// through the same fused top-k kernel), so that what the page shows is what the score measured.
import type { Dataset } from './dataset';
import { FeatureMatrix, knnTopk } from './eval';
import { FeatureForm, FEATURE_FORMS, inForm } from './forms';
import { pca, project } from './pca';
import { Rng } from './random';
import type { EmbeddingMap, MapClass, NeighbourGrid, NeighbourRow, ReportViews } from './report-types';
import { stratifiedRows } from './split';
import { thumbnail } from './thumbnail';
import { checkEnum, checkHostTensor, checkInt, describe } from './validate';

export interface ReportViewsOptions {
  /** Name of the query split for captions ('test', 'validation'). */
  split: string;
  /** Form of the features, as the kNN's (default 'standardised'). */
  form?: FeatureForm;
  /** Most points drawn on the map (default 2000), drawn per class. */
  points?: number;
  /** Query rows of the grid (default 8), spread over the classes. */
  queries?: number;
  /** Neighbours per query (default 8). */
  k?: number;
  /** Seed of the drawn points and queries (default 0). */
  seed?: number;
  /** Largest side of a thumbnail in pixels (default 48). */
  thumbnail?: number;
}

/** Rows [0, n) in a seeded order (Fisher-Yates). */
function shuffled(rows: ArrayLike<number>, seed: number): number[] {
  const out = Array.from(rows), rng = new Rng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    const t = out[i]; out[i] = out[j]; out[j] = t;
  }
  return out;
}

/** At most `cap` of n rows, each class its share (seeded), in a seeded drawing order: drawn in
 * class order, the last class would cover the others wherever they overlap. */
export function mapSample(labels: Int32Array | undefined, n: number, cap: number, seed: number): number[] {
  const rows = n <= cap ? Array.from({ length: n }, (_, i) => i) : Array.from(stratifiedRows(labels, n, cap, seed, false).held);
  return shuffled(rows, seed ^ 0x9e3779b9);
}

/** `count` rows spread over the classes: class after class in label order, each time the next of
 * that class's rows in a seeded order, so that 8 queries over 10 classes are 8 classes. */
export function spreadQueries(labels: Int32Array | undefined, n: number, count: number, seed: number): number[] {
  if (!labels) return shuffled(Array.from({ length: n }, (_, i) => i), seed).slice(0, Math.min(count, n));
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    let rows = byClass.get(labels[i]);
    if (!rows) byClass.set(labels[i], (rows = []));
    rows.push(i);
  }
  const queues = [...byClass.keys()].sort((a, b) => a - b).map((c) => shuffled(byClass.get(c)!, (seed + c * 0x632be5ab) >>> 0));
  const out: number[] = [];
  for (let round = 0; out.length < Math.min(count, n); round++)
    for (const q of queues) if (round < q.length && out.length < count) out.push(q[round]);
  return out;
}

/** The k most cosine-similar bank rows of query rows `rows`, with both sides in `form` (bank
 * statistics): [rows.length, k], most similar first, ties to the smaller bank row. */
export async function nearestInBank(features: { bank: FeatureMatrix; query: FeatureMatrix }, rows: number[], k: number, form: FeatureForm):
Promise<{ index: Int32Array; sim: Float32Array }> {
  const f = inForm(features.bank, features.query, form);
  const d = f.query.shape[1];
  const sub = new Float32Array(rows.length * d);
  rows.forEach((r, i) => sub.set(f.query.data.subarray(r * d, (r + 1) * d), i * d));
  const top = await knnTopk(f.bank, { data: sub, shape: [rows.length, d] }, { k });
  return { index: top.index, sim: top.sim };
}

/** Rows scaled to unit length: the cosine compares directions only, and so does the map. */
function unitRows(x: FeatureMatrix): FeatureMatrix {
  const [n, d] = x.shape;
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x.data[i * d + j] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < d; j++) out[i * d + j] = x.data[i * d + j] * inv;
  }
  return { data: out, shape: [n, d] };
}

const className = (label: number, classes?: string[]) => classes?.[label] ?? `class ${label}`;

function embeddingMap(query: Dataset, features: FeatureMatrix, o: Required<Omit<ReportViewsOptions, 'queries' | 'k' | 'thumbnail'>>): EmbeddingMap {
  const n = features.shape[0];
  const x = unitRows(features);
  const p = pca(x, { count: Math.min(2, x.shape[1]) });
  const rows = mapSample(query.labels, n, o.points, o.seed);
  const xy = project(x, p, rows);
  const c = p.count;
  const labels = query.labels ? rows.map((r) => query.labels![r]) : null;
  const counts = new Map<number, number>();
  for (const l of labels ?? []) counts.set(l, (counts.get(l) ?? 0) + 1);
  const classes: MapClass[] = [...counts.keys()].sort((a, b) => a - b).map((l) => ({ label: l, name: className(l, query.classes), count: counts.get(l)! }));
  return {
    split: o.split, size: n, form: o.form, rows, labels, classes, seed: o.seed, converged: p.converged,
    x: rows.map((_, i) => xy[i * c]), y: rows.map((_, i) => (c > 1 ? xy[i * c + 1] : 0)),
    explained: [p.explained[0], p.explained[1] ?? 0],
    ...(labels ? {} : { note: `the ${o.split} split has no labels: the points are not coloured by class` }),
  };
}

async function neighbourGrid(bank: Dataset, query: Dataset, features: { bank: FeatureMatrix; query: FeatureMatrix },
                             o: Required<ReportViewsOptions>): Promise<NeighbourGrid> {
  const nBank = bank.images.shape[0];
  const k = Math.min(o.k, nBank);
  const rows = spreadQueries(query.labels, query.images.shape[0], o.queries, o.seed);
  const top = await nearestInBank(features, rows, k, o.form);
  const names = query.classes ?? bank.classes;
  const grid: NeighbourRow[] = rows.map((r, i) => {
    const ql = query.labels?.[r];
    return {
      row: r, image: thumbnail(query.images, r, o.thumbnail, 'query.images'),
      ...(ql !== undefined ? { label: ql, className: className(ql, names) } : {}),
      neighbours: Array.from({ length: k }, (_, j) => {
        const b = top.index[i * k + j], bl = bank.labels?.[b];
        return {
          row: b, similarity: top.sim[i * k + j], image: thumbnail(bank.images, b, o.thumbnail, 'bank.images'),
          ...(bl !== undefined ? { label: bl, className: className(bl, bank.classes ?? names) } : {}),
          wrong: ql !== undefined && bl !== undefined ? bl !== ql : null,
        };
      }),
    };
  });
  const note = !query.labels ? `the ${o.split} split has no labels: neighbours are not marked right or wrong`
    : !bank.labels ? 'the kNN bank has no labels: neighbours are not marked right or wrong' : undefined;
  return { split: o.split, size: query.images.shape[0], bankSize: nBank, k, form: o.form, rows: grid, seed: o.seed, ...(note ? { note } : {}) };
}

function checkFeatures(name: string, f: unknown, ds: Dataset, dims: Record<string, number>): void {
  checkHostTensor(name, f, ['N', 'D'], {});
  const [n, d] = (f as FeatureMatrix).shape;
  if (n !== ds.images.shape[0]) throw new RangeError(`${name}.shape[0]: expected ${ds.images.shape[0]} rows (one per image) but got ${n}`);
  if (dims.D !== undefined && d !== dims.D) throw new RangeError(`${name}.shape[1]: expected ${dims.D} features (as features.bank) but got ${d}`);
  dims.D = d;
}

/** The map and the neighbour grid of `query` against `bank`, from the encoder's raw features of
 * both (Encoder.embed), in the kNN's form. */
export async function reportViews(bank: Dataset, query: Dataset, features: { bank: FeatureMatrix; query: FeatureMatrix },
                                  options: ReportViewsOptions): Promise<ReportViews> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`options: expected { split, ... } but got ${describe(options)}`);
  if (typeof options.split !== 'string' || options.split === '') throw new TypeError(`options.split: expected the split's name but got ${describe(options.split)}`);
  for (const [name, ds] of [['bank', bank], ['query', query]] as const)
    if (typeof ds !== 'object' || ds === null || !Array.isArray(ds.images?.shape))
      throw new TypeError(`${name}: expected a data set { images: { data, shape }, labels? } but got ${describe(ds)}`);
  if (typeof features !== 'object' || features === null) throw new TypeError(`features: expected { bank, query } feature matrices but got ${describe(features)}`);
  const dims: Record<string, number> = {};
  checkFeatures('features.bank', features.bank, bank, dims);
  checkFeatures('features.query', features.query, query, dims);
  const o: Required<ReportViewsOptions> = {
    split: options.split,
    form: checkEnum('options.form', options.form ?? 'standardised', FEATURE_FORMS),
    points: checkInt('options.points', options.points ?? 2000, 1),
    queries: checkInt('options.queries', options.queries ?? 8, 1, 1000),
    k: checkInt('options.k', options.k ?? 8, 1, 1000),
    seed: checkInt('options.seed', options.seed ?? 0, 0, 2 ** 32 - 1),
    thumbnail: checkInt('options.thumbnail', options.thumbnail ?? 48, 4, 512),
  };
  const f = inForm(features.bank, features.query, o.form);
  return { map: embeddingMap(query, f.query, o), grid: await neighbourGrid(bank, query, features, o) };
}
