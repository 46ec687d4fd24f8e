import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { FASHION_MNIST_SUBSET_DIR, loadDataset, resolveFashionMnist } from '../lib/data';
import { encodeIdx, parseIdx } from '../lib/idx';

let tmp: string;
beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-data-')); });
afterAll(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

function writeIdxSet(dir: string, split: 'train' | 't10k', n: number, h: number, w: number, gz: boolean) {
  fs.mkdirSync(dir, { recursive: true });
  const px = new Uint8Array(n * h * w).map((_, i) => (i * 7 + 3) & 255);
  const lb = new Uint8Array(n).map((_, i) => i % 10);
  const put = (name: string, b: Buffer) => fs.writeFileSync(path.join(dir, name + (gz ? '.gz' : '')), gz ? zlib.gzipSync(b) : b);
  put(`${split}-images-idx3-ubyte`, encodeIdx([n, h, w], px));
  put(`${split}-labels-idx1-ubyte`, encodeIdx([n], lb));
  return { px, lb };
}

describe('IDX loader', () => {
  test.each([false, true])('reads train and test splits (gzip %s)', async (gz) => {
    const dir = path.join(tmp, `idx-${gz}`);
    const a = writeIdxSet(dir, 'train', 13, 5, 3, gz);
    const b = writeIdxSet(dir, 't10k', 4, 5, 3, gz);
    const tr = await loadDataset(dir, { split: 'train' });
    expect(tr.images.shape).toEqual([13, 5, 3, 1]);
    expect(Array.from(tr.images.data)).toEqual(Array.from(a.px));
    expect(Array.from(tr.labels!)).toEqual(Array.from(a.lb));
    const te = await loadDataset(dir, { split: 'test' });
    expect(te.images.shape).toEqual([4, 5, 3, 1]);
    expect(Array.from(te.labels!)).toEqual(Array.from(b.lb));
  });

  test('corrupt files give clear errors', async () => {
    const good = encodeIdx([6, 2, 2], new Uint8Array(24));
    expect(() => parseIdx(Buffer.from([0, 0, 8]), 'f')).toThrow(/f: expected an IDX header \(4 magic bytes\) but the file has 3 bytes/);
    const badMagic = Buffer.from(good); badMagic[0] = 0x12;
    expect(() => parseIdx(badMagic, 'f')).toThrow(/bad IDX magic 12000803/);
    const badType = Buffer.from(good); badType[2] = 0x0d;
    expect(() => parseIdx(badType, 'f')).toThrow(/expected IDX type 0x08 \(unsigned bytes\) but got 0x0d/);
    expect(() => parseIdx(good.subarray(0, good.length - 5), 'f')).toThrow(/need 24 data bytes but the file has 19 \(truncated\)/);
    expect(() => parseIdx(good.subarray(0, 10), 'f')).toThrow(/the header needs 16 bytes but the file has 10 \(truncated\)/);
    expect(() => parseIdx(Buffer.concat([good, Buffer.from([1])]), 'f')).toThrow(/trailing data/);
    expect(() => parseIdx(good, 'f', 1)).toThrow(/expected 1 IDX dimensions but the header says 3/);

    // Files on disk: wrong label dims, count mismatch, bad gzip, truncated gzip.
    const dir = path.join(tmp, 'bad');
    writeIdxSet(dir, 'train', 6, 2, 2, true);
    const lbl = path.join(dir, 'train-labels-idx1-ubyte.gz');
    fs.writeFileSync(lbl, zlib.gzipSync(encodeIdx([5], new Uint8Array(5))));
    await expect(loadDataset(dir)).rejects.toThrow(/label count 5 does not match the image count 6/);
    fs.writeFileSync(lbl, zlib.gzipSync(encodeIdx([5, 1], new Uint8Array(5))));
    await expect(loadDataset(dir)).rejects.toThrow(/expected labels of 1 dim \[n\] but got \[5, 1\]/);
    const img = path.join(dir, 'train-images-idx3-ubyte.gz');
    const gz = zlib.gzipSync(encodeIdx([6, 2, 2], new Uint8Array(24)));
    fs.writeFileSync(img, gz.subarray(0, gz.length - 6));
    await expect(loadDataset(dir)).rejects.toThrow(/train-images-idx3-ubyte\.gz: bad gzip data/);
    fs.writeFileSync(img, Buffer.from('not gzip at all'));
    await expect(loadDataset(dir)).rejects.toThrow(/expected gzip data \(magic 1f 8b\) for a \.gz file/);
    fs.writeFileSync(img, zlib.gzipSync(encodeIdx([6, 4], new Uint8Array(24))));
    await expect(loadDataset(dir)).rejects.toThrow(/expected images of 3 dims \[n, H, W\] or 4 dims \[n, H, W, C\] but got \[6, 4\]/);
    // No t10k-* files: the test split is a hold-out of the training files, or with holdOut: false there is none.
    await expect(loadDataset(dir, { split: 'test', holdOut: false })).rejects.toThrow(/bad: no test split \(the source has none and options\.holdOut is false\)/);
    await expect(loadDataset(dir, { split: 'test' })).rejects.toThrow(/train-images-idx3-ubyte\.gz: expected images of 3 dims/);
  });
});

describe('fashion-mnist resolver', () => {
  test('uses the full set when a searched dir holds all four files, else the shipped subset', () => {
    const full = path.join(tmp, 'fm-full');
    writeIdxSet(full, 'train', 3, 28, 28, true);
    writeIdxSet(full, 't10k', 2, 28, 28, true);
    const half = path.join(tmp, 'fm-half');
    writeIdxSet(half, 'train', 3, 28, 28, true);  // no test files: not a full set
    expect(resolveFashionMnist([path.join(tmp, 'nope'), half, full])).toEqual({ dir: full, full: true });
    expect(resolveFashionMnist([path.join(tmp, 'nope'), half])).toEqual({ dir: FASHION_MNIST_SUBSET_DIR, full: false });
    expect(() => resolveFashionMnist([], path.join(tmp, 'nope'))).toThrow(/neither the full set .* nor the shipped subset/);
  });

  test('the shipped subset is 6000 + 1000 class-balanced 28x28 images', async () => {
    const tr = await loadDataset('fashion-mnist', { split: 'train', fashionMnistDirs: [] });
    const te = await loadDataset('fashion-mnist', { split: 'test', fashionMnistDirs: [] });
    expect(tr.source).toMatch(/subset/);
    expect(tr.images.shape).toEqual([6000, 28, 28, 1]);
    expect(te.images.shape).toEqual([1000, 28, 28, 1]);
    const counts = new Array(10).fill(0);
    tr.labels!.forEach((l) => counts[l]++);
    expect(counts).toEqual(new Array(10).fill(600));
    expect(tr.classes![9]).toBe('Ankle boot');
    const size = fs.readdirSync(FASHION_MNIST_SUBSET_DIR).reduce((a, f) => a + fs.statSync(path.join(FASHION_MNIST_SUBSET_DIR, f)).size, 0);
    expect(size).toBeLessThan(5e6);
    expect(fs.existsSync(path.join(FASHION_MNIST_SUBSET_DIR, 'LICENSE'))).toBe(true);
  });

  test("'fashion-mnist:PATH' loads that directory", async () => {
    const dir = path.join(tmp, 'fm-given');
    writeIdxSet(dir, 'train', 5, 28, 28, false);
    const ds = await loadDataset(`fashion-mnist:${dir}`, { holdOut: false });
    expect(ds.images.shape).toEqual([5, 28, 28, 1]);
    // Training files only: the test split is held out of them, disjoint from the training split.
    expect((await loadDataset(`fashion-mnist:${dir}`)).images.shape[0]).toBe(4);
    expect((await loadDataset(`fashion-mnist:${dir}`, { split: 'test' })).images.shape[0]).toBe(1);
    expect(ds.source).toContain(dir);
  });
});

describe('image folders', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sharp = require('sharp') as typeof import('sharp');

  async function solid(file: string, w: number, h: number, rgb: [number, number, number], format: 'png' | 'jpeg' | 'webp') {
    const img = sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
    await (format === 'png' ? img.png() : format === 'jpeg' ? img.jpeg({ quality: 100 }) : img.webp({ lossless: true })).toFile(file);
  }

  test('class sub-folders give labels; images are resized; the cache is reused and invalidated', async () => {
    const dir = path.join(tmp, 'folder');
    fs.mkdirSync(path.join(dir, 'cat'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'dog'), { recursive: true });
    await solid(path.join(dir, 'cat', 'a.png'), 10, 7, [255, 0, 0], 'png');
    await solid(path.join(dir, 'cat', 'b.webp'), 5, 5, [0, 255, 0], 'webp');
    await solid(path.join(dir, 'dog', 'c.jpg'), 16, 16, [0, 0, 255], 'jpeg');
    fs.writeFileSync(path.join(dir, 'dog', 'notes.txt'), 'ignored');
    // holdOut: false = the whole folder as the training split (no test split is held out).
    const ds = await loadDataset(dir, { size: 8, holdOut: false });
    expect(ds.images.shape).toEqual([3, 8, 8, 3]);
    expect(ds.classes).toEqual(['cat', 'dog']);
    expect(Array.from(ds.labels!)).toEqual([0, 0, 1]);
    const px = (i: number) => Array.from(ds.images.data.subarray(i * 192, i * 192 + 3));
    expect(px(0)).toEqual([255, 0, 0]);
    expect(px(1)).toEqual([0, 255, 0]);
    const blue = px(2);
    expect(blue[2]).toBeGreaterThan(240);
    expect(blue[0]).toBeLessThan(10);
    const cache = path.join(dir, '.clsa-cache');
    const files = fs.readdirSync(cache);
    expect(files.length).toBe(1);
    // Second load reads the cache: prove it by editing the cache bytes.
    const cf = path.join(cache, files[0]);
    const b = fs.readFileSync(cf); b[8] = 77; fs.writeFileSync(cf, b);
    expect((await loadDataset(dir, { size: 8, holdOut: false })).images.data[0]).toBe(77);
    // Changing a file invalidates it (and the stale cache is removed).
    await solid(path.join(dir, 'cat', 'a.png'), 10, 7, [255, 255, 255], 'png');
    const t = new Date(Date.now() + 5000); fs.utimesSync(path.join(dir, 'cat', 'a.png'), t, t);
    const again = await loadDataset(dir, { size: 8, holdOut: false });
    expect(Array.from(again.images.data.subarray(0, 3))).toEqual([255, 255, 255]);
    expect(fs.readdirSync(cache).length).toBe(1);
    // Grayscale and no cache.
    const g = await loadDataset(dir, { size: 4, channels: 1, cacheDir: false, holdOut: false });
    expect(g.images.shape).toEqual([3, 4, 4, 1]);
  });

  test('train/test sub-folders select the split; broken images and empty folders are errors', async () => {
    const dir = path.join(tmp, 'splits');
    for (const s of ['train', 'test']) fs.mkdirSync(path.join(dir, s, 'x'), { recursive: true });
    await solid(path.join(dir, 'train', 'x', '1.png'), 4, 4, [1, 2, 3], 'png');
    await solid(path.join(dir, 'train', 'x', '2.png'), 4, 4, [1, 2, 3], 'png');
    await solid(path.join(dir, 'test', 'x', '3.png'), 4, 4, [1, 2, 3], 'png');
    expect((await loadDataset(dir, { split: 'train', size: 4 })).images.shape[0]).toBe(2);
    expect((await loadDataset(dir, { split: 'test', size: 4 })).images.shape[0]).toBe(1);
    fs.writeFileSync(path.join(dir, 'test', 'x', '4.png'), 'not a png');
    await expect(loadDataset(dir, { split: 'test', size: 4, cacheDir: false })).rejects.toThrow(/4\.png: could not decode the image/);
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    await expect(loadDataset(empty)).rejects.toThrow(/expected images .* or class sub-folders of images but found none/);
    await expect(loadDataset(path.join(tmp, 'missing'))).rejects.toThrow(/does not exist/);
  });
});

describe('in-memory arrays', () => {
  test('validated and passed through', async () => {
    const data = new Uint8Array(2 * 3 * 3 * 1);
    const ds = await loadDataset({ images: { data, shape: [2, 3, 3, 1] }, labels: new Int32Array([0, 1]) }, { holdOut: false });
    expect(ds.images.data).toBe(data);
    await expect(loadDataset({ images: { data, shape: [2, 3, 3] as never } })).rejects.toThrow(/source\.images\.shape: expected \[n, H, W, C\]/);
    await expect(loadDataset({ images: { data, shape: [3, 3, 3, 1] } })).rejects.toThrow(/expected 27 bytes for shape \[3, 3, 3, 1\] but got 18/);
    await expect(loadDataset({ images: { data, shape: [2, 3, 3, 1] }, labels: new Int32Array(3) })).rejects.toThrow(/expected 2 labels/);
    await expect(loadDataset({ images: { data: new Float32Array(18) as never, shape: [2, 3, 3, 1] } })).rejects.toThrow(/expected a Uint8Array but got a Float32Array/);
  });
});
