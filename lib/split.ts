// Train / validation / test splits. Recipes are chosen on a validation split carved from the
// training data, never on the test split, which is scored once per chosen configuration.
//
// Two ways to carve rows:
// - stratified (stratifiedSplit, stratifiedSubset, holdOutRows): per class, seeded, so every
//   class is on both sides whatever the row order. Image folders load sorted by class: the last
//   rows of such a folder are its last class, which a "last rows" split would never train on.
//   This is what trainClsa and the CLI use.
// - the last rows (validationSplit, sliceDataset): the recipe study's protocol on Fashion-MNIST
//   (whose training rows are in no class order), kept unchanged so its numbers stay comparable.
import { Dataset, NoTestSplitError } from './dataset';
import { duplicateGroups } from './overlap';
import { Rng } from './random';
import { checkDataset, checkLabels } from './dataset-check';
import { checkBool, checkEnum, checkInt, checkNumber, checkOptions, describe } from './validate';

/** The first `n` images (and labels) of a data set, without copying pixels. */
export function sliceDataset(ds: Dataset, n: number, start = 0): Dataset {
  checkDataset('ds', ds, { minCount: 0 });
  checkInt('n', n, 0);
  checkInt('start', start, 0);
  const [total, h, w, c] = ds.images.shape;
  const begin = Math.min(total, start), end = Math.min(total, begin + n);
  const per = h * w * c;
  return {
    ...ds,
    images: { data: ds.images.data.subarray(begin * per, end * per), shape: [end - begin, h, w, c] },
    labels: ds.labels?.subarray(begin, end),
    files: ds.files?.slice(begin, end),
  };
}

/** The rows `rows` (ascending indices) of a data set, copied. */
export function takeRows(ds: Dataset, rows: Int32Array, source: string): Dataset {
  checkDataset('ds', ds, { minCount: 0 });
  const total = ds.images.shape[0];
  if (Object.prototype.toString.call(rows) !== '[object Int32Array]') throw new TypeError(`rows: expected an Int32Array of row indices but got ${describe(rows)}`);
  const bad = rows.findIndex((r) => r < 0 || r >= total);
  if (bad >= 0) throw new RangeError(`rows[${bad}]: expected a row in [0, ${total - 1}] but got ${rows[bad]}`);
  if (typeof source !== 'string') throw new TypeError(`source: expected a string but got ${describe(source)}`);
  const [, h, w, c] = ds.images.shape;
  const per = h * w * c;
  const data = new Uint8Array(rows.length * per);
  rows.forEach((r, i) => data.set(ds.images.data.subarray(r * per, (r + 1) * per), i * per));
  return {
    ...ds, source,
    images: { data, shape: [rows.length, h, w, c] },
    labels: ds.labels && Int32Array.from(rows, (r) => ds.labels![r]),
    files: ds.files && Array.from(rows, (r) => ds.files![r]),
  };
}

/**
 * Rows held out: a count (>= 1) or a fraction in (0, 1) of `total` rows, leaving at least one.
 */
export function validationCount(name: string, spec: number, total: number): number {
  if (typeof name !== 'string') throw new TypeError(`name: expected a string but got ${describe(name)}`);
  checkInt('total', total, 0);
  checkNumber(name, spec, (x) => x > 0, 'a count >= 1 or a fraction in (0, 1)');
  const n = spec < 1 ? Math.round(spec * total) : checkInt(name, spec, 1);
  if (n < 1 || n >= total)
    throw new RangeError(`${name}: expected to leave at least one training image of the ${total} but got ${describe(spec)} (${n} images)`);
  return n;
}

export interface ValidationSplit {
  /** What training may use. */
  train: Dataset;
  /** Scored while choosing a recipe. */
  validation: Dataset;
}

/**
 * Splits off the last `spec` images (count or fraction) of a data set as its validation split:
 * rows [0, n - v) train, [n - v, n) validation. The recipe study's protocol (bench/recipe.js);
 * for data in class order use stratifiedSplit.
 */
export function validationSplit(ds: Dataset, spec: number, name = 'validation'): ValidationSplit {
  checkDataset('ds', ds);
  const total = ds.images.shape[0];
  const v = validationCount(name, spec, total);
  return {
    train: { ...sliceDataset(ds, total - v), source: `${ds.source} [0, ${total - v})` },
    validation: { ...sliceDataset(ds, v, total - v), source: `${ds.source} [${total - v}, ${total}) (validation)` },
  };
}

/** A seed of its own for each class, so that one class's draw does not depend on the others. */
function classSeed(seed: number, label: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(label + 1, 0x85ebca6b)) >>> 0;
}

/**
 * `count` of the rows [0, n) drawn per class (one group when there are no labels): each class
 * gives its share of `count` (largest remainders), its rows chosen by a seeded shuffle. With
 * `everyClass`, each class of two or more rows gives at least one row and keeps at least one,
 * so a hold-out holds every class and training still sees every class (the total can then
 * differ from `count` by a few rows). `twins` (duplicateGroups) keeps rows with the same pixels
 * together: a twin goes wherever the first row of its kind goes. Both lists ascending.
 */
export function stratifiedRows(labels: Int32Array | undefined, n: number, count: number, seed: number,
                               everyClass: boolean, twins?: Int32Array): { kept: Int32Array; held: Int32Array } {
  checkInt('n', n, 0);
  if (labels !== undefined) checkLabels('labels', labels, n);
  checkInt('count', count, 0, n);
  checkInt('seed', seed, 0, 2 ** 32 - 1);
  checkBool('everyClass', everyClass);
  if (twins !== undefined && (Object.prototype.toString.call(twins) !== '[object Int32Array]' || twins.length !== n || twins.some((t, i) => t < 0 || t > i)))
    throw new RangeError(`twins: expected duplicateGroups() of the ${n} rows (an Int32Array, each row's first twin) but got ${describe(twins)}`);
  const groups = new Map<number, number[]>();   // class -> its first-of-kind rows
  const perClass = new Map<number, number>();    // class -> rows, twins included
  const size = new Int32Array(n).fill(1);
  if (twins) { size.fill(0); for (let i = 0; i < n; i++) size[twins[i]]++; }
  for (let i = 0; i < n; i++) {
    const g = labels ? labels[twins ? twins[i] : i] : 0;
    perClass.set(g, (perClass.get(g) ?? 0) + 1);
    if (twins && twins[i] !== i) continue;
    let rows = groups.get(g);
    if (!rows) groups.set(g, (rows = []));
    rows.push(i);
  }
  const keys = [...groups.keys()].sort((a, b) => a - b);
  const quota = keys.map((g) => (count * perClass.get(g)!) / n);
  const take = quota.map(Math.floor);
  let left = count - take.reduce((a, b) => a + b, 0);
  const byRemainder = keys.map((_, i) => i).sort((a, b) => (quota[b] - take[b]) - (quota[a] - take[a]) || a - b);
  for (const i of byRemainder) if (left-- > 0) take[i]++;
  const isHeld = new Uint8Array(n);
  keys.forEach((g, i) => {
    const rows = groups.get(g)!;
    const t = take[i];
    const rng = new Rng(classSeed(seed, g));
    // Partial Fisher-Yates: the first rows of a seeded shuffle, until they (with their twins)
    // make up the class's share; with everyClass at least one, and never all of them.
    let got = 0;
    for (let j = 0; j < rows.length; j++) {
      const enough = got >= t && !(everyClass && j === 0 && rows.length >= 2);
      if (enough || (everyClass && j === rows.length - 1 && j > 0)) break;
      const k = j + Math.floor(rng.uniform() * (rows.length - j));
      const x = rows[j]; rows[j] = rows[k]; rows[k] = x;
      isHeld[rows[j]] = 1;
      got += size[rows[j]];
    }
  });
  if (twins) for (let i = 0; i < n; i++) isHeld[i] = isHeld[twins[i]];
  const held: number[] = [];
  for (let i = 0; i < n; i++) if (isHeld[i]) held.push(i);
  const kept: number[] = [];
  for (let i = 0; i < n; i++) if (!isHeld[i]) kept.push(i);
  return { kept: Int32Array.from(kept), held: Int32Array.from(held) };
}

/** How a stratified split was drawn, for a Dataset's source. */
function how(held: number, total: number, seed: number, labelled: boolean): string {
  return `${held} of ${total} images, ${labelled ? 'stratified per class' : 'drawn'}, split seed ${seed}`;
}

/**
 * Splits off `spec` images (count or fraction) as a validation split, stratified per class and
 * seeded (every class with two or more images on both sides), the rows of each side in their
 * original order. Deterministic: the same data, spec and seed give the same rows.
 */
export function stratifiedSplit(ds: Dataset, spec: number, options: { seed?: number; name?: string } = {}): ValidationSplit {
  checkDataset('ds', ds);
  options = checkOptions('options', options);
  const name = options.name ?? 'validation';
  if (typeof name !== 'string') throw new TypeError(`options.name: expected a string but got ${describe(name)}`);
  const seed = checkInt(`${name} seed`, options.seed ?? 0, 0, 2 ** 32 - 1);
  const total = ds.images.shape[0];
  const v = validationCount(name, spec, total);
  const { kept, held } = stratifiedRows(ds.labels, total, v, seed, true, duplicateGroups(ds.images));
  if (kept.length < 1) throw new RangeError(`${name}: expected to leave at least one training image of the ${total} but got ${describe(spec)}`);
  const d = how(held.length, total, seed, !!ds.labels);
  return {
    train: takeRows(ds, kept, `${ds.source} without the validation split (${d})`),
    validation: takeRows(ds, held, `${ds.source}, validation split (${d})`),
  };
}

/** `n` images drawn per class (seeded) when the data set has more, else all of it: the stratified
 * counterpart of sliceDataset, for `limit` on data in class order. */
export function stratifiedSubset(ds: Dataset, n: number, seed = 0): Dataset {
  checkDataset('ds', ds);
  checkInt('n', n, 1);
  checkInt('seed', seed, 0, 2 ** 32 - 1);
  const total = ds.images.shape[0];
  if (n >= total) return ds;
  const { held } = stratifiedRows(ds.labels, total, n, seed, false);
  return takeRows(ds, held, `${ds.source}, ${how(n, total, seed, !!ds.labels)}`);
}

/**
 * The test hold-out of a source without a test split of its own: `spec` (count or fraction) of
 * its images, stratified and seeded as stratifiedSplit; `split` picks the side.
 */
export function holdOut(ds: Dataset, spec: number, seed: number, split: 'train' | 'test', name = 'holdOut'): Dataset {
  checkDataset('ds', ds);
  checkInt('seed', seed, 0, 2 ** 32 - 1);
  checkEnum('split', split, ['train', 'test'] as const);
  const total = ds.images.shape[0];
  checkNumber(name, spec, (x) => x > 0 && (x < 1 || Number.isInteger(x)), 'a fraction in (0, 1) or a count >= 1');
  // A fraction of a handful of images still holds one out; a single image cannot be split.
  if (spec < 1 && total < 2) {
    if (split === 'train') return ds;
    throw new NoTestSplitError(`${ds.source}: no test split (one image: nothing to hold out)`);
  }
  const v = spec < 1 ? Math.max(1, Math.round(spec * total)) : validationCount(name, spec, total);
  const { kept, held } = stratifiedRows(ds.labels, total, v, seed, true, duplicateGroups(ds.images));
  const d = how(held.length, total, seed, !!ds.labels);
  return split === 'test' ? takeRows(ds, held, `${ds.source}, held-out test split (${d})`)
    : takeRows(ds, kept, `${ds.source} without the held-out test split (${d})`);
}
