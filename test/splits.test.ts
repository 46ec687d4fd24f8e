// Splits that are what they say, for every source: a test split is disjoint from the training
// images or it does not exist; a source without one gets a stratified, seeded hold-out; the
// validation split is carved per class from the training side; every score refuses a split that
// shares images with its bank. Class-sorted PNG folders cut from Fashion-MNIST, as users lay out
// their own images, and in-memory arrays.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Dataset, DEFAULT_HOLD_OUT, loadDataset, NoTestSplitError } from '../lib/data';
import { assertDisjoint, sharedImages } from '../lib/overlap';
import { scorecard } from '../lib/scorecard';
import { stratifiedRows, stratifiedSplit, stratifiedSubset, validationSplit } from '../lib/split';
import { trainClsa } from '../lib/train';
import { writeClassFolder } from './helpers/folders';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-splits-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const CLASSES = ['a-tshirt', 'b-trouser', 'c-pullover', 'd-dress'];
const flat = path.join(tmp, 'flat'), split = path.join(tmp, 'split');
beforeAll(async () => {
  await writeClassFolder(flat, { classes: CLASSES, perClass: 30 });
  await writeClassFolder(split, { classes: CLASSES, perClass: 24, testPerClass: 6 });
});

const load = { size: 28, channels: 1 as const };
const counts = (ds: Dataset) => {
  const c = new Array(CLASSES.length).fill(0);
  ds.labels!.forEach((l) => c[l]++);
  return c;
};
const counts2 = (l: Int32Array) => [0, 1].map((c) => l.filter((x) => x === c).length);
const rowsOf = (ds: Dataset) => ds.files!.map((f) => path.relative(flat, f));

describe('a class-sorted folder without train/ and test/ sub-folders', () => {
  test('its test split is a stratified hold-out: a fifth of every class, disjoint from the training split, the same every time', async () => {
    const tr = await loadDataset(flat, { ...load, split: 'train' });
    const te = await loadDataset(flat, { ...load, split: 'test' });
    expect(DEFAULT_HOLD_OUT).toBe(0.2);
    expect(counts(te)).toEqual([6, 6, 6, 6]);
    expect(counts(tr)).toEqual([24, 24, 24, 24]);
    expect(rowsOf(tr).filter((f) => rowsOf(te).includes(f))).toEqual([]);
    expect(sharedImages(tr.images, te.images).count).toBe(0);
    expect(te.source).toMatch(/held-out test split \(24 of 120 images, stratified per class, split seed 0\)/);
    // Not the last rows of each class: a seeded draw.
    expect(rowsOf(te).filter((f) => f.startsWith('a-')).every((f) => Number(path.basename(f, '.png')) >= 24)).toBe(false);
    const again = await loadDataset(flat, { ...load, split: 'test' });
    expect(rowsOf(again)).toEqual(rowsOf(te));
    const other = await loadDataset(flat, { ...load, split: 'test', splitSeed: 1 });
    expect(rowsOf(other)).not.toEqual(rowsOf(te));
    expect(counts(other)).toEqual([6, 6, 6, 6]);
    // The hold-out follows the files, not the image size: the same files at 16 pixels.
    expect(rowsOf(await loadDataset(flat, { size: 16, channels: 1, split: 'test' }))).toEqual(rowsOf(te));
  });

  test('holdOut: false means no test split, said with a typed error', async () => {
    const all = await loadDataset(flat, { ...load, split: 'train', holdOut: false });
    expect(all.images.shape[0]).toBe(120);
    await expect(loadDataset(flat, { ...load, split: 'test', holdOut: false })).rejects.toThrow(NoTestSplitError);
    await expect(loadDataset(flat, { ...load, holdOut: 1.5 })).rejects.toThrow(/options\.holdOut: expected a fraction in \(0, 1\), a count >= 1 or false but got 1\.5/);
  });

  test('the validation split is carved per class from the training side; the last rows would be one class', async () => {
    const tr = await loadDataset(flat, { ...load, split: 'train' });
    const te = await loadDataset(flat, { ...load, split: 'test' });
    const s = stratifiedSplit(tr, 1 / 6, { seed: 0 });
    expect(counts(s.validation)).toEqual([4, 4, 4, 4]);
    expect(counts(s.train)).toEqual([20, 20, 20, 20]);
    for (const [a, b] of [[s.train, s.validation], [s.train, te], [s.validation, te]]) expect(sharedImages(a.images, b.images).count).toBe(0);
    // What the old split did with this folder: the validation rows are all of the last class.
    expect(counts(validationSplit(tr, 16).validation)).toEqual([0, 0, 0, 16]);
  });
});

test('a folder with train/ and test/ sub-folders keeps its own split', async () => {
  const tr = await loadDataset(split, { ...load, split: 'train' });
  const te = await loadDataset(split, { ...load, split: 'test' });
  expect(counts(tr)).toEqual([24, 24, 24, 24]);
  expect(counts(te)).toEqual([6, 6, 6, 6]);
  expect(te.files!.every((f) => f.includes(`${path.sep}test${path.sep}`))).toBe(true);
  expect(sharedImages(tr.images, te.images).count).toBe(0);
});

describe('in-memory data', () => {
  const pool = (n: number, offset = 0) => {
    const data = new Uint8Array(n * 4 * 4);
    for (let i = 0; i < n; i++) for (let p = 0; p < 16; p++) data[i * 16 + p] = (i + offset + p * 7) & 255;
    // Class-sorted, as arrays built from folders often are.
    return { images: { data, shape: [n, 4, 4, 1] as [number, number, number, number] }, labels: Int32Array.from({ length: n }, (_, i) => Math.floor((i * 3) / n)) };
  };

  test('one pool gets the same stratified hold-out; { train, test } keeps its arrays; { train } alone has no test split', async () => {
    const src = pool(60);
    const tr = await loadDataset(src, { split: 'train' }), te = await loadDataset(src, { split: 'test' });
    expect(te.images.shape[0]).toBe(12);
    expect(Array.from(te.labels!).filter((l) => l === 2)).toHaveLength(4);
    expect(tr.images.shape[0] + te.images.shape[0]).toBe(60);
    expect(sharedImages(tr.images, te.images).count).toBe(0);
    const given = { train: pool(30), test: pool(9, 100) };
    expect((await loadDataset(given, { split: 'train' })).images.shape[0]).toBe(30);
    expect((await loadDataset(given, { split: 'test' })).images.shape[0]).toBe(9);
    await expect(loadDataset({ train: pool(30) }, { split: 'test' })).rejects.toThrow(/in-memory \{ train \} data without a test array has no test split/);
    await expect(loadDataset({ train: { images: { data: new Uint8Array(3), shape: [1, 2, 2, 1] } } })).rejects.toThrow(/source\.train\.images\.data: expected 4 bytes/);
  });

  test('stratified rows: every class on both sides, the requested count, deterministic per seed', () => {
    const labels = Int32Array.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    const a = stratifiedRows(labels, 20, 4, 7, true);
    expect(Array.from(a.held, (r) => labels[r])).toEqual([0, 0, 1, 2, 2]);  // 1.6, 0.4, 2 rounded by largest remainder; class 1 raised to 1
    expect(new Set(Array.from(a.kept, (r) => labels[r]))).toEqual(new Set([0, 1, 2]));
    expect(Array.from(stratifiedRows(labels, 20, 4, 7, true).held)).toEqual(Array.from(a.held));
    expect(stratifiedSubset({ images: { data: new Uint8Array(20), shape: [20, 1, 1, 1] }, labels, source: 'm' }, 10).labels!.filter((l) => l === 1)).toHaveLength(1);
  });

  test('images that occur twice stay on one side of a split, so the split is still disjoint', () => {
    // 40 images, each of the first 20 repeated once (rows i and i + 20), two classes.
    const data = new Uint8Array(40 * 4);
    for (let i = 0; i < 40; i++) for (let p = 0; p < 4; p++) data[i * 4 + p] = ((i % 20) * 11 + p) & 255;
    const ds: Dataset = { images: { data, shape: [40, 2, 2, 1] }, labels: Int32Array.from({ length: 40 }, (_, i) => (i % 20) % 2), source: 'twins' };
    for (const seed of [0, 1, 2, 3]) {
      const s = stratifiedSplit(ds, 8, { seed });
      expect(sharedImages(s.train.images, s.validation.images).count).toBe(0);
      expect(s.validation.images.shape[0]).toBe(8);
      expect(counts2(s.validation.labels!)).toEqual([4, 4]);
    }
  });
});

test('a score refuses a split that shares images with its bank, naming both', async () => {
  const tr = await loadDataset(flat, { ...load, split: 'train' });
  const leaky = stratifiedSplit(tr, 8).validation;
  expect(() => assertDisjoint(tr, 'the kNN bank', leaky, 'the test split')).toThrow(
    /the test split \(8 images: .*\) shares 8 images with the kNN bank \(96 images: .*\), e\.g\. its row 0 \(.*\.png\) is row \d+ \(.*\.png\) of the bank/);
  await expect(scorecard(undefined, tr, leaky, { split: 'test', k: 5 })).rejects.toThrow(/the test split .* shares 8 images with the kNN bank/);
});

test('trainClsa on a class-sorted folder monitors a stratified validation split by default, disjoint from the bank', async () => {
  const r = await trainClsa({ data: flat, load, epochs: 1, batchSize: 16, width: 4, queueSize: 32, evaluate: { k: 5 } });
  const { train, validation } = r.data;
  expect(counts(validation!)).toEqual([4, 4, 4, 4]);
  expect(train.images.shape[0]).toBe(80);      // 120 - 24 held out as the test split - 16 validation
  expect(sharedImages(train.images, validation!.images).count).toBe(0);
  const te = await loadDataset(flat, { ...load, split: 'test' });
  expect(sharedImages(train.images, te.images).count).toBe(0);
  expect(r.history[0].knnSplit).toBe('validation');
  expect(r.history[0].knnSplitSize).toBe(16);
  r.encoder.dispose();
}, 60000);

test('clsa train --data on a class-sorted folder: held-out test split, stratified validation, every split named', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { execFileSync } = require('child_process') as typeof import('child_process');
  const out = path.join(tmp, 'run');
  const cli = path.join(__dirname, '..', 'dist', 'cli.js');
  const stdout = execFileSync(process.execPath, [cli, 'train', '--data', flat, '--size', '28', '--channels', '1', '--out', out,
    '--epochs', '1', '--batch-size', '16', '--width', '4', '--queue-size', '32', '--quiet'], { encoding: 'utf8' });
  expect(stdout).toMatch(/splits: train 80 images \(the kNN bank\), validation 16, test 24/);
  expect(stdout).toMatch(/test split: 24 images, kNN bank 80 training images/);
  const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(lines[0]).toMatchObject({ knnSplit: 'validation', knnSplitSize: 16 });
  const final = lines.find((l) => l.final);
  expect(final.splits.test.source).toMatch(/held-out test split \(24 of 120 images, stratified per class, split seed 0\)/);
  expect(final.splits.validation.source).toMatch(/validation split \(16 of 96 images, stratified per class, split seed 0\)/);
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  expect(html).toMatch(/<th>validation split<\/th><td>16 images: /);
  expect(html).toMatch(/<th>test split<\/th><td>24 images: /);
  // --hold-out 0: no test split, and the validation split is what gets scored, said so.
  const noTest = execFileSync(process.execPath, [cli, 'train', '--data', flat, '--size', '28', '--channels', '1', '--out', path.join(tmp, 'run0'),
    '--epochs', '1', '--batch-size', '16', '--width', '4', '--queue-size', '32', '--hold-out', '0', '--quiet'], { encoding: 'utf8' });
  expect(noTest).toMatch(/no test split \(--hold-out 0\): the validation split is scored instead/);
  expect(noTest).toMatch(/validation split: 20 images, kNN bank 100 training images/);
}, 120000);
