// Drawn-parameter distributions, determinism, presets, bad input, preview.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';

import { setCpuThreads, backend } from '../lib/backend';
import {
  applyAugmentParams, augmentBatch, augmentBatchSync, cropPresets, drawAugmentParams, strongView, weakView, ViewSpec,
} from '../lib/augment';
import { augmentPreview, writeAugmentPreview } from '../lib/preview';
import { Rng } from '../lib/random';

function chiSquare(counts: number[], expected: number[]): number {
  return counts.reduce((s, c, i) => s + (c - expected[i]) ** 2 / expected[i], 0);
}

function randomBatch(seed: number, n: number, h: number, w: number, c: number) {
  const rng = new Rng(seed);
  const data = new Uint8Array(n * h * w * c);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng.uniform() * 256);
  return { data, shape: [n, h, w, c] as [number, number, number, number] };
}

describe('drawn parameters follow the reference distributions', () => {
  const N = 20000, S = 224;
  const params = drawAugmentParams(strongView(24), { n: N, height: S, width: S, channels: 3, seed: 42 });
  const ops = params.flatMap((p) => p.ops);

  test('RandAugment: 5 ops per view, op uniform over the 14 (chi-square), magnitude uniform 1..9, p = 0.5, sign 1/2', () => {
    expect(params.every((p) => p.ops.length === 5)).toBe(true);
    const opCounts = new Array(14).fill(0), magCounts = new Array(9).fill(0);
    for (const o of ops) { opCounts[o.op]++; magCounts[o.magnitude - 1]++; }
    // df 13 / 8; 0.99999 quantiles are about 44 and 37. A wrong pool size or range scores thousands.
    expect(chiSquare(opCounts, new Array(14).fill(ops.length / 14))).toBeLessThan(45);
    expect(chiSquare(magCounts, new Array(9).fill(ops.length / 9))).toBeLessThan(40);
    const applied = ops.filter((o) => o.applied).length / ops.length;
    expect(Math.abs(applied - 0.5)).toBeLessThan(0.01);
    const neg = ops.filter((o) => o.sign === -1).length / ops.length;
    expect(Math.abs(neg - 0.5)).toBeLessThan(0.01);
    expect(ops.every((o) => o.sign === 1 || o.sign === -1)).toBe(true);
  });

  test('custom n, p and magnitude range', () => {
    const ps = drawAugmentParams(strongView(8, { randAugment: { n: 3, p: 0.2, magnitude: [3, 5] } }),
      { n: 5000, height: 8, width: 8, seed: 7 });
    const o = ps.flatMap((p) => p.ops);
    expect(o.length).toBe(15000);
    expect(new Set(o.map((x) => x.magnitude))).toEqual(new Set([3, 4, 5]));
    expect(Math.abs(o.filter((x) => x.applied).length / o.length - 0.2)).toBeLessThan(0.015);
    expect(drawAugmentParams(weakView(8), { n: 10, height: 8, width: 8 }).every((p) => p.ops.length === 0)).toBe(true);
  });

  test('flip 0.5, grayscale 0.2, jitter 0.8, blur 0.5', () => {
    const frac = (k: 'flip' | 'grayscale' | 'jitter' | 'blur') => params.filter((p) => p[k]).length / N;
    expect(Math.abs(frac('flip') - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(frac('grayscale') - 0.2)).toBeLessThan(0.02);
    expect(Math.abs(frac('jitter') - 0.8)).toBeLessThan(0.02);
    expect(Math.abs(frac('blur') - 0.5)).toBeLessThan(0.02);
  });

  test('jitter factors uniform in [0.6, 1.4], hue in [-0.1, 0.1], order a uniform permutation', () => {
    for (const k of ['brightness', 'contrast', 'saturation'] as const) {
      const xs = params.map((p) => p[k]);
      expect(Math.min(...xs)).toBeGreaterThanOrEqual(0.6 - 1e-6);
      expect(Math.max(...xs)).toBeLessThanOrEqual(1.4 + 1e-6);
      const bins = new Array(8).fill(0);
      xs.forEach((x) => bins[Math.min(7, Math.floor((x - 0.6) / 0.1))]++);
      expect(chiSquare(bins, new Array(8).fill(N / 8))).toBeLessThan(40);
    }
    const hs = params.map((p) => p.hue);
    expect(Math.min(...hs)).toBeGreaterThanOrEqual(-0.1 - 1e-7);
    expect(Math.max(...hs)).toBeLessThanOrEqual(0.1 + 1e-7);
    expect(Math.abs(hs.reduce((a, b) => a + b, 0) / N)).toBeLessThan(0.003);
    const perms = new Map<string, number>();
    for (const p of params) perms.set(p.jitterOrder.join(), (perms.get(p.jitterOrder.join()) ?? 0) + 1);
    for (const k of perms.keys()) expect(k.split(',').map(Number).sort()).toEqual([0, 1, 2, 3]);
    expect(perms.size).toBe(24);
    expect(chiSquare([...perms.values()], new Array(24).fill(N / 24))).toBeLessThan(65);
  });

  test('blur sigma uniform in [0.1, 2]', () => {
    const xs = params.map((p) => p.blurSigma);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0.1 - 1e-6);
    expect(Math.max(...xs)).toBeLessThanOrEqual(2 + 1e-6);
    const bins = new Array(10).fill(0);
    xs.forEach((x) => bins[Math.min(9, Math.floor((x - 0.1) / 0.19))]++);
    expect(chiSquare(bins, new Array(10).fill(N / 10))).toBeLessThan(45);
  });

  test('crop boxes: inside the image, area and aspect within range, distributed as torchvision get_params', () => {
    const area = params.map((p) => (p.cropW * p.cropH) / (S * S));
    const outside = params.filter((p) => p.cropX < 0 || p.cropY < 0 || p.cropX + p.cropW > S || p.cropY + p.cropH > S);
    expect(outside).toEqual([]);
    const ratios = params.map((p) => p.cropW / p.cropH);
    expect(Math.min(...ratios)).toBeGreaterThan(0.75 * 0.98);
    expect(Math.max(...ratios)).toBeLessThan((4 / 3) * 1.02);
    expect(Math.min(...area)).toBeGreaterThan(0.2 * 0.97);
    expect(Math.min(...area)).toBeLessThan(0.21);
    expect(Math.max(...area)).toBeGreaterThan(0.95);
    // Expected area histogram from an independent simulation of RandomResizedCrop.get_params.
    const rng = new Rng(99), sim = new Array(4).fill(0), M = 200000;
    for (let t = 0; t < M; t++) {
      let a = 1;
      for (let k = 0; k < 10; k++) {
        const target = S * S * (0.2 + 0.8 * rng.uniform());
        const ar = Math.exp(Math.log(3 / 4) + (Math.log(4 / 3) - Math.log(3 / 4)) * rng.uniform());
        const w = Math.round(Math.sqrt(target * ar)), h = Math.round(Math.sqrt(target / ar));
        if (w > 0 && w <= S && h > 0 && h <= S) { a = (w * h) / (S * S); break; }
      }
      sim[Math.min(3, Math.floor((a - 0.2) / 0.2))]++;
    }
    const got = new Array(4).fill(0);
    area.forEach((a) => got[Math.max(0, Math.min(3, Math.floor((a - 0.2) / 0.2)))]++);
    expect(chiSquare(got, sim.map((c) => (c / M) * N))).toBeLessThan(30);
    // positions uniform over the free range
    const pos = params.filter((p) => p.cropW < S).map((p) => p.cropX / (S - p.cropW));
    expect(Math.abs(pos.reduce((a, b) => a + b, 0) / pos.length - 0.5)).toBeLessThan(0.02);
  });

  test('draws depend only on (seed, image index, view index)', () => {
    const view = strongView(16);
    const all = drawAugmentParams(view, { n: 10, height: 32, width: 32, seed: 3, viewIndex: 2 });
    const tail = drawAugmentParams(view, { n: 4, height: 32, width: 32, seed: 3, viewIndex: 2, imageOffset: 6 });
    expect(tail).toEqual(all.slice(6));
    const other = drawAugmentParams(view, { n: 10, height: 32, width: 32, seed: 4, viewIndex: 2 });
    expect(other).not.toEqual(all);
  });
});

describe('determinism', () => {
  const batch = randomBatch(1, 24, 28, 28, 3);
  const views = [weakView(28), strongView(20), strongView(12)];
  const bytes = (r: { views: { data: Float32Array }[] }) => Buffer.concat(r.views.map((v) => Buffer.from(v.data.buffer)));

  afterAll(() => setCpuThreads(0));

  test('same seed: byte-identical across runs and thread counts (1 vs 2), sync and async', async () => {
    setCpuThreads(1);
    const a = bytes(augmentBatchSync(batch, views, { seed: 9 }));
    setCpuThreads(2);
    const b = bytes(augmentBatchSync(batch, views, { seed: 9 }));
    const c = bytes(await augmentBatch(batch, views, { seed: 9 }));
    setCpuThreads(0);
    const d = bytes(augmentBatchSync(batch, views, { seed: 9 }));
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(true);
    expect(a.equals(d)).toBe(true);
    expect(a.equals(bytes(augmentBatchSync(batch, views, { seed: 10 })))).toBe(false);
  });

  test('an image gets the same views whatever batch it is in (imageOffset)', () => {
    const whole = augmentBatchSync(batch, views, { seed: 5 });
    const sub = { data: batch.data.subarray(10 * 28 * 28 * 3), shape: [14, 28, 28, 3] };
    const part = augmentBatchSync(sub, views, { seed: 5, imageOffset: 10 });
    views.forEach((v, i) => {
      const per = 3 * v.size * v.size;
      expect(Buffer.from(part.views[i].data.buffer).equals(Buffer.from(whole.views[i].data.slice(10 * per).buffer))).toBe(true);
    });
  });

  test('outputs have the right shapes, 1 and 3 channels, multi-crop preset', async () => {
    const gray = randomBatch(2, 5, 28, 28, 1);
    const preset = cropPresets('multi', 28);
    const r = await augmentBatch(gray, preset.views, { seed: 1 });
    expect(r.views.map((v) => v.shape)).toEqual(preset.views.map((v) => [5, 1, v.size, v.size]));
    for (const v of r.views) expect(v.data.every(Number.isFinite)).toBe(true);
  });
});

describe('crop presets', () => {
  test("'multi' at 28 px: 28/24/20/16/12 with scale (0.2 s/224, s/224), plus the key", () => {
    const p = cropPresets('multi', 28);
    expect(p.weak.map((v) => v.size)).toEqual([28, 24, 20, 16, 12]);
    expect(p.strong.map((v) => v.size)).toEqual([28, 24, 20, 16, 12]);
    [224, 192, 160, 128, 96].forEach((s, i) => {
      expect(p.weak[i].scale![0]).toBeCloseTo(0.2 * s / 224, 12);
      expect(p.weak[i].scale![1]).toBeCloseTo(s / 224, 12);
      expect(p.strong[i].scale).toEqual(p.weak[i].scale);
      expect(p.strong[i].randAugment).toMatchObject({ n: 5, p: 0.5 });
      expect(p.weak[i].randAugment ?? null).toBeNull();
    });
    expect(p.key).toMatchObject({ size: 28, scale: [0.2, 1] });
    expect(p.views.length).toBe(11);
    expect(cropPresets('multi', 224).weak.map((v) => v.size)).toEqual([224, 192, 160, 128, 96]);
  });
  test("'single': one weak query at full size, one strong query at the smallest size", () => {
    const p = cropPresets('single', 28);
    expect(p.weak.map((v) => [v.size, v.scale])).toEqual([[28, [0.2, 1]]]);
    expect(p.strong.length).toBe(1);
    expect(p.strong[0].size).toBe(12);
    expect(p.strong[0].scale![0]).toBeCloseTo(0.2 * 96 / 224, 12);
    expect(p.strong[0].scale![1]).toBeCloseTo(96 / 224, 12);
    expect(p.views.length).toBe(3);
  });
});

describe('bad input is rejected with a message naming argument, expectation and value', () => {
  const ok = randomBatch(3, 2, 8, 8, 3);
  const run = (images: unknown, views: unknown, options?: unknown) => () =>
    augmentBatchSync(images as never, views as never, options as never);
  const v = (extra: Partial<ViewSpec> | Record<string, unknown>) => [{ size: 8, ...extra }];

  test('wrong data length', () => {
    expect(run({ data: new Uint8Array(10), shape: [2, 8, 8, 3] }, v({}))).toThrow('images.data: expected 384 bytes for shape [2, 8, 8, 3] but got 10');
  });
  test('data not a Uint8Array', () => {
    expect(run({ data: new Float32Array(384), shape: [2, 8, 8, 3] }, v({}))).toThrow('images.data: expected a Uint8Array but got a Float32Array');
  });
  test('channels other than 1 or 3', () => {
    expect(run({ data: new Uint8Array(256), shape: [2, 8, 8, 2] }, v({}))).toThrow('images.shape[3] (C): expected 1 or 3 channels but got 2');
  });
  test('shape of the wrong rank', () => {
    expect(run({ data: new Uint8Array(64), shape: [8, 8] }, v({}))).toThrow('images.shape: expected [N, H, W, C] (4 dimensions) but got [8, 8]');
  });
  test('crop size < 1', () => {
    expect(run(ok, [{ size: 0 }])).toThrow('views[0].size: expected an integer in [1, 8192] but got 0');
  });
  test('scale out of (0, 1]', () => {
    expect(run(ok, v({ scale: [0, 1] }))).toThrow('views[0].scale: expected [min, max] with 0 < min <= max <= 1 but got [0, 1]');
    expect(run(ok, v({ scale: [0.2, 1.5] }))).toThrow('views[0].scale: expected [min, max] with 0 < min <= max <= 1 but got [0.2, 1.5]');
  });
  test('scale min > max', () => {
    expect(run(ok, v({ scale: [0.6, 0.3] }))).toThrow('views[0].scale: expected [min, max] with 0 < min <= max <= 1 but got [0.6, 0.3]');
  });
  test('probabilities outside [0, 1]', () => {
    expect(run(ok, v({ flip: 1.5 }))).toThrow('views[0].flip: expected a probability in [0, 1] but got 1.5');
    expect(run(ok, v({ grayscale: -0.1 }))).toThrow('views[0].grayscale: expected a probability in [0, 1] but got -0.1');
    expect(run(ok, v({ jitter: { p: 2 } }))).toThrow('views[0].jitter.p: expected a probability in [0, 1] but got 2');
    expect(run(ok, v({ blur: { p: NaN } }))).toThrow('views[0].blur.p: expected a probability in [0, 1] but got NaN');
    expect(run(ok, v({ randAugment: { p: 1.01 } }))).toThrow('views[0].randAugment.p: expected a probability in [0, 1] but got 1.01');
  });
  test('RandAugment n < 0', () => {
    expect(run(ok, v({ randAugment: { n: -1 } }))).toThrow('views[0].randAugment.n: expected an integer in [0, 16] but got -1');
  });
  test('magnitudes outside 1..9', () => {
    expect(run(ok, v({ randAugment: { magnitude: [0, 9] } }))).toThrow('views[0].randAugment.magnitude: expected integers [min, max] with 1 <= min <= max <= 9 but got [0, 9]');
    expect(run(ok, v({ randAugment: { magnitude: [1, 10] } }))).toThrow('views[0].randAugment.magnitude: expected integers [min, max] with 1 <= min <= max <= 9 but got [1, 10]');
  });
  test('jitter strengths, hue and blur sigma out of range', () => {
    expect(run(ok, v({ jitter: { brightness: -1 } }))).toThrow('views[0].jitter.brightness: expected a finite number >= 0 but got -1');
    expect(run(ok, v({ jitter: { hue: 0.7 } }))).toThrow('views[0].jitter.hue: expected a number in [0, 0.5] but got 0.7');
    expect(run(ok, v({ blur: { sigma: [2, 1] } }))).toThrow('views[0].blur.sigma: expected [min, max] with 0 < min <= max <= 1000 but got [2, 1]');
  });
  test('mean/std of the wrong length or std <= 0', () => {
    expect(run(ok, v({ mean: [0.5] }))).toThrow('views[0].mean: expected 3 number(s), one per channel, but got an array of length 1');
    expect(run(ok, v({ std: [1, 0, 1] }))).toThrow('views[0].std[1]: expected a finite number > 0 but got 0');
  });
  test('no views, bad seed', () => {
    expect(run(ok, [])).toThrow('views: expected an array of 1..64 views but got an array of length 0');
    expect(run(ok, v({}), { seed: -1 })).toThrow('options.seed: expected an integer in [0, 9007199254740991] but got -1');
  });
  test('bad preset arguments', () => {
    expect(() => cropPresets('triple' as never, 28)).toThrow("kind: expected one of 'single', 'multi' but got the string \"triple\"");
    expect(() => cropPresets('multi', 0)).toThrow('imageSize: expected an integer in [1, 8192] but got 0');
  });
  test('explicit parameters are checked before the native call (crop outside the image)', () => {
    const p = drawAugmentParams(weakView(8), { n: 2, height: 8, width: 8 });
    p[1].cropX = 5; p[1].cropW = 6;
    expect(() => applyAugmentParams(ok, [weakView(8)], [p])).toThrow('params[0][1].cropW: expected an integer in [1, 3] but got 6');
  });
  (backend().cudaUsable ? test.skip : test)(`device 'cuda' without a usable GPU${backend().cudaUsable ? ' [skipped: this machine has one]' : ''}`, () => {
    expect(run(ok, v({}), { device: 'cuda' })).toThrow("options.device: 'cuda' requested but CUDA is not usable here");
  });
  test('async errors reject the promise', async () => {
    await expect(augmentBatch(ok, [{ size: -3 }])).rejects.toThrow('views[0].size');
  });
});

describe('preview', () => {
  test('writes a PNG grid atomically: originals then their views', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-preview-'));
    const out = path.join(dir, 'grid.png');
    const batch = randomBatch(4, 3, 16, 16, 1);
    const r = await augmentPreview(batch, { out, n: 3, zoom: 2, views: [weakView(16), strongView(8)] });
    const png = PNG.sync.read(fs.readFileSync(out));
    expect([png.width, png.height]).toEqual([r.width, r.height]);
    expect(r.columns).toEqual(['original', 'weak 16', 'strong 8']);
    // cell 32 px, gap 2: 3 columns, 3 rows
    expect(r.width).toBe(3 * 32 + 4 * 2);
    expect(r.height).toBe(3 * 32 + 4 * 2);
    // the original of row 1 is drawn at zoom 2: pixel (x, y) of image 1 at (2 + 2x, 36 + 2y)
    for (const [x, y] of [[0, 0], [5, 7], [15, 15]]) {
      const o = ((36 + 2 * y) * png.width + 2 + 2 * x) * 4;
      expect(png.data[o]).toBe(batch.data[(1 * 16 + y) * 16 + x]);
    }
    expect(fs.readdirSync(dir)).toEqual(['grid.png']);  // no temporary left behind
    const r2 = await writeAugmentPreview({ images: batch }, out, { preset: 'single' });
    expect(r2.columns).toEqual(['original', 'weak 16', 'weak 16', 'strong 7']);
    fs.rmSync(dir, { recursive: true });
  });
});

test('options.out: reused host outputs are filled in place and checked', () => {
  const batch = randomBatch(8, 4, 12, 12, 1);
  const views = [weakView(12), strongView(6)];
  const fresh = augmentBatchSync(batch, views, { seed: 2 });
  const out = [new Float32Array(4 * 144).fill(NaN), new Float32Array(4 * 36).fill(NaN)];
  const r = augmentBatchSync(batch, views, { seed: 2, out });
  expect(r.views[0].data).toBe(out[0]);
  expect(Array.from(out[0])).toEqual(Array.from(fresh.views[0].data));
  expect(Array.from(out[1])).toEqual(Array.from(fresh.views[1].data));
  expect(() => augmentBatchSync(batch, views, { seed: 2, out: [out[0], new Float32Array(5)] })).toThrow(
    'options.out[1]: expected a Float32Array of length 144 (shape [4, 1, 6, 6]) but got a Float32Array of length 5');
});
