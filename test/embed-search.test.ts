// clsa export, embed and search through the compiled CLI (dist/cli.js, built here if stale):
// the .npy files read back (by a reader of this test's own, and by Python's numpy where present)
// equal Encoder.embed bit for bit; search returns the neighbours of a brute-force cosine search
// written here, in the same order (ties aside), on the Fashion-MNIST subset and a folder of PNGs,
// built on the spot or reloaded from a saved index.
import { execFileSync, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { loadDataset } from '../lib/data';
import { Encoder, loadEncoder } from '../lib/encoder';
import { encodeNpy } from '../lib/npy';
import { Rng } from '../lib/random';
import { perturbedEncoder } from './helpers/encoders';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli.js');
const subset = path.join(root, 'data', 'fashion-mnist-subset');
const seed = (Date.now() ^ (process.pid << 8)) >>> 0;
let tmp: string, modelDir: string, encoder: Encoder;

beforeAll(async () => {
  const src = fs.readdirSync(path.join(root, 'lib'), { recursive: true }) as string[];
  const newest = Math.max(...src.filter((f) => f.endsWith('.ts')).map((f) => fs.statSync(path.join(root, 'lib', f)).mtimeMs));
  if (!fs.existsSync(cli) || fs.statSync(cli).mtimeMs < newest)
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-embed-'));
  modelDir = path.join(tmp, 'model');
  const { encoder: e } = perturbedEncoder({ width: 4, inChannels: 1 }, new Rng(seed), [28, 28]);
  await e.save(modelDir);
  e.dispose();
  encoder = loadEncoder(modelDir, { device: 'cpu' });
});

afterAll(() => {
  encoder?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function run(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 120000, maxBuffer: 1 << 28 });
  return r;
}

function ok(args: string[]): string {
  const r = run(args);
  if (r.status !== 0) throw new Error(`clsa ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

/** This test's own .npy reader: version 1.0, '<f4' or '<i4', C order. */
function readNpyHere(file: string): { descr: string; shape: number[]; bytes: Buffer; headerEnd: number } {
  const b = fs.readFileSync(file);
  expect(b.subarray(0, 6).equals(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]))).toBe(true);
  expect([b[6], b[7]]).toEqual([1, 0]);
  const len = b.readUInt16LE(8);
  const headerEnd = 10 + len;
  expect(headerEnd % 64).toBe(0);
  const header = b.subarray(10, headerEnd).toString('latin1');
  expect(header.endsWith('\n')).toBe(true);
  const m = /^\{'descr': '(<f4|<i4)', 'fortran_order': False, 'shape': \(([\d, ]*)\), \} *\n$/.exec(header);
  expect(m).not.toBeNull();
  const shape = m![2].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  return { descr: m![1], shape, bytes: b.subarray(headerEnd), headerEnd };
}

const bytesOf = (a: Float32Array | Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function havePythonNumpy(): boolean {
  return spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
}
const pyTest = havePythonNumpy() ? test : test.skip;
const pyName = havePythonNumpy() ? 'python3 numpy np.load reads clsa embed\'s files bit for bit'
  : 'python3 numpy np.load reads clsa embed\'s files (SKIPPED: python3 with numpy is not installed)';

test('.npy encoding: 1-D and 2-D headers, 64-byte aligned data; bad arguments named', () => {
  const a = encodeNpy({ data: Float32Array.of(1, 2, 3, 4, 5, 6), shape: [2, 3] });
  expect(Buffer.from(a[0]).toString('latin1')).toMatch(/^\x93NUMPY\x01\x00.\x00\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} +\n$/s);
  expect(a[0].length % 64).toBe(0);
  const b = encodeNpy({ data: Int32Array.of(7), shape: [1] });
  expect(Buffer.from(b[0]).toString('latin1')).toContain("'descr': '<i4', 'fortran_order': False, 'shape': (1,), }");
  expect(() => encodeNpy({ data: [1, 2] as never, shape: [2] })).toThrow(/array\.data: expected a Float32Array or an Int32Array but got an array of length 2/);
  expect(() => encodeNpy({ data: new Float32Array(5), shape: [2, 3] })).toThrow(/array\.data: expected 6 values for shape \[2, 3\] but got 5/);
});

describe(`embed (seed ${seed})`, () => {
  let feats: string;

  test('clsa embed on the Fashion-MNIST subset: features, labels and metadata equal embed bit for bit', async () => {
    feats = path.join(tmp, 'out', 'feats.npy');
    fs.mkdirSync(path.dirname(feats));
    const out = JSON.parse(ok(['embed', '--model', modelDir, '--data', subset, '--split', 'test', '--out', feats, '--json']));
    expect(out.files).toEqual([feats, path.join(tmp, 'out', 'feats.labels.npy'), path.join(tmp, 'out', 'feats.json')]);
    const ds = await loadDataset(subset, { split: 'test' });
    const ref = await encoder.embed(ds.images);
    const f = readNpyHere(feats);
    expect(f.descr).toBe('<f4');
    expect(f.shape).toEqual([1000, encoder.featureDim]);
    expect(f.bytes.equals(bytesOf(ref.data))).toBe(true);
    const l = readNpyHere(path.join(tmp, 'out', 'feats.labels.npy'));
    expect(l.descr).toBe('<i4');
    expect(l.shape).toEqual([1000]);
    expect(l.bytes.equals(bytesOf(ds.labels!))).toBe(true);
    const meta = JSON.parse(fs.readFileSync(path.join(tmp, 'out', 'feats.json'), 'utf8'));
    expect(meta).toMatchObject({ format: 'clsa-embeddings', split: 'test', count: 1000, featureDim: encoder.featureDim,
      encoder: { arch: 'resnet-mini', width: 4, digest: encoder.digest() }, normalization: encoder.normalization, files: null });
    expect(fs.readdirSync(path.join(tmp, 'out')).sort()).toEqual(['feats.json', 'feats.labels.npy', 'feats.npy']);  // no temp files
  });

  pyTest(pyName, () => {
    const script = 'import hashlib, json, sys, numpy as np\n' +
      'f = np.load(sys.argv[1]); l = np.load(sys.argv[2])\n' +
      'print(json.dumps({"dtype": str(f.dtype), "shape": list(f.shape), "sha": hashlib.sha256(np.ascontiguousarray(f).astype("<f4").tobytes()).hexdigest(),' +
      ' "ldtype": str(l.dtype), "lsum": int(l.sum())}))\n';
    const r = spawnSync('python3', ['-c', script, feats, feats.replace(/\.npy$/, '.labels.npy')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout);
    const f = readNpyHere(feats);
    expect(j).toEqual({ dtype: 'float32', shape: f.shape, sha: crypto.createHash('sha256').update(f.bytes).digest('hex'),
      ldtype: 'int32', lsum: sumLabels(feats) });
  });

  test('clsa embed: bad arguments are named', () => {
    const r = run(['embed', '--model', modelDir, '--data', subset, '--out', path.join(tmp, 'feats.bin')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--out: expected a file name ending in \.npy but got ".*feats\.bin"/);
    const s = run(['embed', '--model', modelDir, '--data', subset, '--split', 'val', '--out', path.join(tmp, 'x.npy')]);
    expect(s.stderr).toMatch(/--split: expected train or test but got "val"/);
  });
});

function sumLabels(feats: string): number {
  const l = readNpyHere(feats.replace(/\.npy$/, '.labels.npy'));
  let s = 0;
  for (let i = 0; i < l.shape[0]; i++) s += l.bytes.readInt32LE(4 * i);
  return s;
}

/** Brute-force cosine similarities in float64: [query][index row]. */
function bruteSims(index: Float32Array, queries: Float32Array, d: number): Float64Array[] {
  const norms = (a: Float32Array) => Array.from({ length: a.length / d }, (_, i) => {
    let s = 0;
    for (let j = 0; j < d; j++) s += a[i * d + j] ** 2;
    return Math.sqrt(s);
  });
  const ni = norms(index), nq = norms(queries);
  return nq.map((qn, q) => Float64Array.from(ni, (inn, i) => {
    let s = 0;
    for (let j = 0; j < d; j++) s += queries[q * d + j] * index[i * d + j];
    return qn > 0 && inn > 0 ? s / (qn * inn) : 0;
  }));
}

interface Hit { index: number; similarity: number; file?: string; label?: number }
interface Result { query: number; file?: string; neighbours: Hit[] }

/** Same neighbours in the same order as the brute force (descending similarity, ties by smaller
 * index), ties aside: where the search's row differs from the brute force's at a rank, the two rows
 * must be equally similar to float32 accuracy. Returns the fraction of ranks with the same row. */
function compareWithBrute(results: Result[], index: Float32Array, queries: Float32Array, d: number, k: number, ctx: string): number {
  const sims = bruteSims(index, queries, d);
  const TOL = 2e-6;
  let same = 0;
  expect(results.length).toBe(sims.length);
  results.forEach((r, q) => {
    const order = Array.from(sims[q].keys()).sort((a, b) => sims[q][b] - sims[q][a] || a - b);
    const fail = (rank: number, what: string) => new Error(`${ctx}: query ${q} rank ${rank}: ${what} ` +
      `(search ${JSON.stringify(r.neighbours.map((h) => h.index))}, brute force ${JSON.stringify(order.slice(0, k))})`);
    if (r.neighbours.length !== k) throw fail(0, `${r.neighbours.length} neighbours, expected ${k}`);
    if (new Set(r.neighbours.map((h) => h.index)).size !== k) throw fail(0, 'a row repeated');
    r.neighbours.forEach((h, rank) => {
      const want = order[rank], got = sims[q][h.index];
      if (h.index === want) same++;
      if (Math.abs(got - sims[q][want]) > TOL) throw fail(rank, `#${h.index} has similarity ${got}, the brute force's #${want} ${sims[q][want]}`);
      if (Math.abs(h.similarity - got) > TOL) throw fail(rank, `reported similarity ${h.similarity}, brute force ${got}`);
    });
  });
  return same / (results.length * k);
}

describe(`search (seed ${seed})`, () => {
  test('clsa search on the Fashion-MNIST subset (train index, test queries), then from the saved index', async () => {
    const saved = path.join(tmp, 'index');
    const k = 5;
    const outA = path.join(tmp, 'search-a.json');
    ok(['search', '--model', modelDir, '--index', subset, '--query', subset, '--k', String(k), '--save-index', saved, '--out', outA, '--quiet']);
    const a = JSON.parse(fs.readFileSync(outA, 'utf8'));
    expect(a.index).toEqual({ source: subset, size: 6000, saved });
    expect(fs.readdirSync(saved).sort()).toEqual(['features.npy', 'index.json', 'labels.npy']);
    const train = await loadDataset(subset, { split: 'train' }), test = await loadDataset(subset, { split: 'test' });
    const fi = await encoder.embed(train.images), fq = await encoder.embed(test.images);
    // The brute force over 200 of the 1000 queries keeps the test short; the rows are spread out.
    const pick = Array.from({ length: 200 }, (_, i) => i * 5);
    const d = encoder.featureDim;
    const qsub = new Float32Array(pick.length * d);
    pick.forEach((q, i) => qsub.set(fq.data.subarray(q * d, (q + 1) * d), i * d));
    const agree = compareWithBrute(pick.map((q) => a.results[q]), fi.data, qsub, d, k, `seed ${seed}, fashion-mnist`);
    // A random 16-feature encoder makes many near-ties; most ranks still agree exactly.
    expect(agree).toBeGreaterThan(0.8);
    expect(a.results[0].neighbours[0].label).toBe(train.labels![a.results[0].neighbours[0].index]);
    // Reloaded: the same results, without embedding the index again.
    const outB = JSON.parse(ok(['search', '--model', modelDir, '--index', saved, '--query', subset, '--k', String(k), '--json', '--quiet']));
    expect(outB.results).toEqual(a.results);
    // A saved index refuses another encoder.
    const other = path.join(tmp, 'other-model');
    const { encoder: e2 } = perturbedEncoder({ width: 4, inChannels: 1 }, new Rng(seed + 1), [28, 28]);
    await e2.save(other);
    e2.dispose();
    const r = run(['search', '--model', other, '--index', saved, '--query', subset, '--quiet']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/the index was built with another encoder \(digest [0-9a-f]{12}, this one [0-9a-f]{12}\); rebuild the index/);
  });

  test('clsa search on a folder of PNGs: the folder and a single image as queries', async () => {
    const ds = await loadDataset(subset, { split: 'test' });
    const folder = path.join(tmp, 'pngs');
    const classes = ['bag', 'coat', 'shoe'];
    let row = 0;
    for (const c of classes) {
      fs.mkdirSync(path.join(folder, c), { recursive: true });
      for (let i = 0; i < 12; i++, row++) {
        const png = new PNG({ width: 28, height: 28, colorType: 0, inputColorType: 0, bitDepth: 8 });
        png.data = Buffer.from(ds.images.data.subarray(row * 784, (row + 1) * 784));
        fs.writeFileSync(path.join(folder, c, `img${String(i).padStart(2, '0')}.png`), PNG.sync.write(png, { colorType: 0, inputColorType: 0 }));
      }
    }
    const k = 4;
    const res = JSON.parse(ok(['search', '--model', modelDir, '--index', folder, '--query', folder, '--k', String(k), '--json', '--quiet']));
    // Every image of the folder, as clsa search indexes it (no test hold-out).
    const loaded = await loadDataset(folder, { size: 28, channels: 1, cacheDir: false, holdOut: false });
    const f = await encoder.embed(loaded.images);
    const d = encoder.featureDim;
    const agree = compareWithBrute(res.results, f.data, f.data, d, k, `seed ${seed}, png folder`);
    expect(agree).toBeGreaterThan(0.8);
    // Every image finds itself first, and the names are the files.
    res.results.forEach((r: Result, q: number) => {
      expect(r.neighbours[0].index).toBe(q);
      expect(r.file).toBe(r.neighbours[0].file);
    });
    expect(res.results[13].file).toBe(path.join(folder, 'coat', 'img01.png'));
    expect(res.results[13].neighbours[0]).toMatchObject({ label: 1, class: 'coat' });
    // One image file as the query: its own row first, with the text output naming it.
    const one = path.join(folder, 'shoe', 'img03.png');
    const text = ok(['search', '--model', modelDir, '--index', folder, '--query', one, '--k', '2', '--quiet']);
    expect(text.split('\n')[0]).toBe(`query #0  ${one}  (nearest in ${folder})`);
    expect(text.split('\n')[1]).toMatch(new RegExp(`^    1\\. 1\\.0000  #27  shoe  ${one.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    // Bad arguments are named.
    const big = run(['search', '--model', modelDir, '--index', folder, '--query', one, '--k', '37', '--quiet']);
    expect(big.stderr).toMatch(/--k: expected at most the index's 36 images but got 37/);
    const none = run(['search', '--model', modelDir, '--index', folder, '--query', path.join(tmp, 'nope.png'), '--quiet']);
    expect(none.stderr).toMatch(/--query: .*nope\.png does not exist/);
  });
});

test('clsa export writes the ONNX file and says what its input is', () => {
  const file = path.join(tmp, 'enc.onnx');
  const text = ok(['export', '--model', modelDir, '--out', file, '--head']);
  expect(text).toMatch(/^wrote .*enc\.onnx \([\d.]+ MB, ONNX IR 8, opset 17\)$/m);
  expect(text).toMatch(/^input: images \[batch, 1, height, width\] float32, x = \(pixel \/ 255 - mean\) \/ std, mean \[0\.3\], std \[0\.25\]$/m);
  expect(text).toMatch(/^output: features \[batch, 16\]$/m);
  expect(text).toMatch(/^output: projection \[batch, 128\]$/m);
  expect(fs.statSync(file).size).toBeGreaterThan(1000);
  const r = run(['export', '--model', path.join(tmp, 'none'), '--out', file]);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/none: no such model directory/);
});
