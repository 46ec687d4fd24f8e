// The pieces of an honest comparison: pixel baselines (raw, centred, standardised) against a
// float64 reference, the validation split (disjoint, deterministic), the learning-rate schedule,
// the data-scaled queue and the named recipes.
import { inForm } from '../lib/forms';
import { pixelBaselines, pixelFeatures, pixelForms } from '../lib/baselines';
import { Dataset } from '../lib/data';
import { knnAccuracy } from '../lib/eval';
import { Rng } from '../lib/random';
import { recipeOptions, RECIPES } from '../lib/recipes';
import { formatScorecard, scorecard } from '../lib/scorecard';
import { ClsaModel } from '../lib/model';
import { Encoder, imageStatistics } from '../lib/encoder';
import { sliceDataset, validationCount, validationSplit } from '../lib/split';
import { defaultQueueSize } from '../lib/train';
import { epochLr, scheduledLr } from '../lib/training/schedule';
import { resolveCrops } from '../lib/training/views';

const SEED = Number(process.env.CLSA_TEST_SEED ?? (Date.now() % 1_000_000));

function images(n: number, h: number, w: number, c: number, rng: Rng, labels = true): Dataset {
  const data = new Uint8Array(n * h * w * c);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = rng.nextU32() % 3;
    // Class-dependent brightness pattern plus a shared offset, so centring matters.
    for (let p = 0; p < h * w * c; p++) data[i * h * w * c + p] = Math.min(255, 120 + (p % 3 === y[i] ? 60 : 0) + (rng.nextU32() % 70));
  }
  return { images: { data, shape: [n, h, w, c] }, labels: labels ? y : undefined, source: 'memory' };
}

describe(`pixel baselines (seed ${SEED})`, () => {
  test('the three forms match a float64 reference; mean and std come from the bank only', () => {
    const rng = new Rng(SEED);
    const bank = images(37, 5, 3, 1, rng), query = images(11, 5, 3, 1, rng);
    const f = pixelForms(bank.images, query.images);
    const d = 15, n = 37;
    const mean = new Float64Array(d), sq = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let p = 0; p < d; p++) { const v = bank.images.data[i * d + p] / 255; mean[p] += v / n; sq[p] += v * v / n; }
    const std = Array.from(mean, (m, p) => { const v = sq[p] - m * m; return v > 1e-12 ? Math.sqrt(v) : 1; });
    for (let i = 0; i < 11; i++) for (let p = 0; p < d; p++) {
      const v = query.images.data[i * d + p] / 255;
      expect(Math.abs(f.raw.query.data[i * d + p] - v)).toBeLessThan(1e-7);
      expect(Math.abs(f.centred.query.data[i * d + p] - (v - mean[p]))).toBeLessThan(1e-6);
      expect(Math.abs(f.standardised.query.data[i * d + p] - (v - mean[p]) / std[p])).toBeLessThan(1e-5 * Math.max(1, 1 / std[p]));
    }
    // A constant pixel has std 0: it is centred, not divided by zero.
    const flat = pixelFeatures({ data: new Uint8Array([7, 7, 7, 7]), shape: [2, 2, 1, 1] }, new Float32Array([7 / 255, 7 / 255]), new Float32Array([1, 1]));
    for (const v of flat.data) expect(Math.abs(v)).toBeLessThan(1e-7);
  });

  test('pixelBaselines scores each form with the same kNN and names the best', async () => {
    const rng = new Rng(SEED + 1);
    const bank = images(120, 4, 4, 1, rng), query = images(40, 4, 4, 1, rng);
    const r = await pixelBaselines(bank, query, { knn: { k: 15, t: 0.1 }, linear: false });
    const f = pixelForms(bank.images, query.images);
    for (const name of ['raw', 'centred', 'standardised'] as const) {
      const direct = await knnAccuracy({ features: f[name].bank, labels: bank.labels! }, { features: f[name].query, labels: query.labels! }, { k: 15, t: 0.1 });
      expect(r.knn[name].accuracy).toBe(direct.accuracy);
    }
    // The form is chosen on held-out bank rows, never on the query split: another query gets the
    // same form, and the choice is the best on the held-out rows.
    expect(r.selection.heldOut).toBe(24);
    const sel = r.selection.knn;
    expect(sel[r.best.name]).toBe(Math.max(sel.raw, sel.centred, sel.standardised));
    expect(r.best.accuracy).toBe(r.knn[r.best.name].accuracy);
    const other = await pixelBaselines(bank, images(40, 4, 4, 1, rng), { knn: { k: 15, t: 0.1 }, linear: false });
    expect(other.best.name).toBe(r.best.name);
    expect(other.selection).toEqual(r.selection);
    await expect(pixelBaselines({ ...bank, labels: undefined }, query)).rejects.toThrow(/need labels/);
  });

  test('the scorecard puts an encoder beside the baselines and states the margin', async () => {
    const rng = new Rng(SEED + 2);
    const bank = images(64, 8, 8, 1, rng), query = images(16, 8, 8, 1, rng);
    const card = await scorecard(undefined, bank, query, { k: 10, split: 'validation', randomInit: { arch: 'resnet-mini', width: 4, depth: undefined } });
    expect(card.encoder).toBeUndefined();
    expect(card.marginOverPixels).toBeUndefined();
    // The random-init figure is that encoder's kNN: the same model, statistics, bank, k and t.
    const model = ClsaModel.create({ arch: 'resnet-mini', width: 4, inChannels: 1, device: 'cpu' });
    const twin = new Encoder(model, imageStatistics(bank.images), [8, 8]);
    // ... in the card's feature form, with the bank's statistics.
    expect(card.form).toBe('standardised');
    const f = inForm(await twin.embed(bank.images), await twin.embed(query.images), card.form);
    const direct = await knnAccuracy({ features: f.bank, labels: bank.labels! }, { features: f.query, labels: query.labels! }, { k: 10, t: 0.1 });
    twin.dispose();
    expect(card.randomInit!.knn).toBe(direct.accuracy);
    expect(card.split).toBe('validation');
    const text = formatScorecard(card).join('\n');
    expect(text).toMatch(/best pixel baseline +kNN \d+\.\d\d% \((raw|centred|standardised), best on 13 held-out bank images; raw/);
    expect(text).toMatch(/random-init encoder +kNN \d+\.\d\d% \(standardised features\)/);
  });

  test('a scorecard reuses pixel baselines given for its bank and query, and refuses others', async () => {
    const rng = new Rng(SEED + 4);
    const bank = images(64, 8, 8, 1, rng), query = images(16, 8, 8, 1, rng);
    const px = await pixelBaselines(bank, query, { knn: { k: 10, t: 0.1 }, linear: false });
    // Marked so that the card shows it used these, not a recomputation.
    const marked = { ...px, best: { ...px.best, accuracy: 0.123 } };
    const card = await scorecard(undefined, bank, query, { k: 10, pixels: marked });
    expect(card.pixels.best.accuracy).toBe(0.123);
    expect(card.pixels.knn.raw).toBe(px.knn.raw.accuracy);
    await expect(scorecard(undefined, bank, query, { k: 20, pixels: px })).rejects.toThrow(/options.pixels: expected pixelBaselines of this bank and query \(16 query rows, k 20\) but got 16 query rows, k 10/);
    await expect(scorecard(undefined, bank, images(15, 8, 8, 1, rng), { k: 10, pixels: px })).rejects.toThrow(/15 query rows, k 10\) but got 16 query rows/);
    await expect(scorecard(undefined, bank, query, { k: 10, pixels: px, linear: true })).rejects.toThrow(/options.pixels: expected baselines with a linear probe/);
  });
});

describe('validation split', () => {
  const rng = new Rng(SEED + 3);
  const ds = images(60, 2, 2, 1, rng);

  test('the last rows, disjoint from the training rows, the same every time', () => {
    const a = validationSplit(ds, 10), b = validationSplit(ds, 10);
    expect(a.train.images.shape[0]).toBe(50);
    expect(a.validation.images.shape[0]).toBe(10);
    expect(Array.from(a.validation.images.data)).toEqual(Array.from(ds.images.data.subarray(50 * 4)));
    expect(Array.from(a.train.labels!)).toEqual(Array.from(ds.labels!.subarray(0, 50)));
    expect(Array.from(a.validation.labels!)).toEqual(Array.from(b.validation.labels!));
    // A limit takes the training prefix, never a validation row.
    expect(sliceDataset(a.train, 1000).images.shape[0]).toBe(50);
  });

  test('a fraction rounds to a count; bad specs name the argument', () => {
    expect(validationCount('validation', 1 / 6, 60000)).toBe(10000);
    expect(validationCount('validation', 1 / 6, 6000)).toBe(1000);
    expect(() => validationSplit(ds, 60)).toThrow(/validation: expected to leave at least one training image of the 60 but got 60/);
    expect(() => validationSplit(ds, 0)).toThrow(/validation: expected a count >= 1 or a fraction in \(0, 1\) but got 0/);
    expect(() => validationSplit(ds, 2.5)).toThrow(/validation: expected an integer/);
    expect(() => validationSplit(ds, 0.001)).toThrow(/expected to leave at least one training image/);
  });
});

test('schedule: per-epoch cosine after a per-step linear warm-up', () => {
  const s = { baseLr: 0.3, epochs: 10, stepsPerEpoch: 4, warmupEpochs: 2 };
  expect(scheduledLr(s, 0, 0)).toBeCloseTo(epochLr(0.3, 0, 10) / 8, 12);
  expect(scheduledLr(s, 1, 3)).toBeCloseTo(epochLr(0.3, 1, 10), 12);
  expect(scheduledLr(s, 5, 2)).toBe(epochLr(0.3, 5, 10));
  expect(scheduledLr({ ...s, warmupEpochs: 0 }, 0, 0)).toBe(epochLr(0.3, 0, 10));
  for (let e = 0; e < 2; e++) for (let t = 1; t < 4; t++) expect(scheduledLr(s, e, t)).toBeGreaterThan(scheduledLr(s, e, t - 1));
});

test('the default queue scales with the data: a multiple of 64 in [256, 4096]', () => {
  expect(defaultQueueSize(6000)).toBe(512);
  expect(defaultQueueSize(50000)).toBe(4096);
  expect(defaultQueueSize(100)).toBe(256);
  for (const n of [700, 5000, 12345, 1e6]) {
    const k = defaultQueueSize(n);
    expect(k % 64).toBe(0);
    expect(k).toBeGreaterThanOrEqual(256);
    expect(k).toBeLessThanOrEqual(4096);
  }
});

test('recipes: the preset fills what the caller left unset; an unknown name is a clear error', () => {
  const o = recipeOptions({ preset: 'quick', epochs: 3, width: undefined });
  expect(o.epochs).toBe(3);
  expect(o.width).toBe(RECIPES.quick.options.width);
  expect(o.limit).toBe(RECIPES.quick.options.limit);
  expect(recipeOptions({ epochs: 2 })).toEqual({ epochs: 2 });
  expect(() => recipeOptions({ preset: 'fast' as never })).toThrow(/options\.preset: expected one of 'quick', 'cpu-long', 'gpu' but got the string "fast"/);
});

test('weakScale sets the key and weak crop range; multi-crop weak views keep their proportion; strong views keep theirs', () => {
  const norm = { channels: 1, mean: [0.5], std: [0.25] };
  const single = resolveCrops('single', 28, norm, {}, [0.4, 1]);
  expect(single.key.scale).toEqual([0.4, 1]);
  expect(single.weak[0].scale).toEqual([0.4, 1]);
  expect(single.strong[0].scale).toEqual(resolveCrops('single', 28, norm, {}).strong[0].scale);
  const multi = resolveCrops('multi', 28, norm, {}, [0.5, 1]);
  expect(multi.weak.map((v) => v.size)).toEqual([28, 24, 20, 16, 12]);
  for (const v of multi.weak) {
    expect(v.scale![0]).toBeCloseTo(0.5 * v.size / 28, 12);
    expect(v.scale![1]).toBeCloseTo(v.size / 28, 12);
  }
  // Without the option, the reference ranges (0.2 s/S, s/S).
  expect(resolveCrops('multi', 28, norm, {}).weak[1].scale![0]).toBeCloseTo(0.2 * 24 / 28, 12);
  expect(() => resolveCrops({ key: { size: 28 }, weak: [{ size: 28 }], strong: [] }, 28, norm, {}, [0.4, 1]))
    .toThrow(/options\.weakScale: applies to crops 'single', 'multi' or \{ relativeTo: 'image' \}/);
});

test('preset views follow the image size: full-size views at 28 pixels for Fashion-MNIST, 64 for 64-pixel images', () => {
  const crops = RECIPES.quick.options.crops!;
  for (const [side, channels] of [[28, 1], [64, 3], [16, 3]] as const) {
    const norm = { channels, mean: new Array(channels).fill(0.5), std: new Array(channels).fill(0.25) };
    const v = resolveCrops(crops, side, norm, {});
    expect([v.key, ...v.weak, ...v.strong].map((x) => x.size)).toEqual([side, side, side]);
    expect(v.strong[0].randAugment).toEqual({ n: 5, p: 0.5, magnitude: [1, 9], fill: 128 });
    expect(v.key.mean).toHaveLength(channels);
  }
  // At 28 pixels the preset is exactly the fixed 28-pixel views (key and weak of 60-100% of the image).
  const norm = { channels: 1, mean: [0.5], std: [0.25] };
  const at28 = resolveCrops(crops, 28, norm, {});
  const fixed = resolveCrops({ key: { size: 28, scale: [0.6, 1] }, weak: [{ size: 28, scale: [0.6, 1] }],
    strong: [{ size: 28, scale: [0.2, 1], randAugment: { n: 5, p: 0.5, magnitude: [1, 9], fill: 128 } }] }, 28, norm, {});
  expect(at28.views).toEqual(fixed.views);
  // Presets compose with weakScale (the key and weak views) and with view overrides.
  const ws = resolveCrops(crops, 28, norm, { grayscale: 0 }, [0.5, 1]);
  expect([ws.key.scale, ws.weak[0].scale, ws.strong[0].scale]).toEqual([[0.5, 1], [0.5, 1], [0.2, 1]]);
  expect(ws.strong[0].grayscale).toBe(0);
  const half = resolveCrops({ relativeTo: 'image', key: { size: 1 }, weak: [{ size: 0.5 }], strong: [] }, 32, norm, {}, [0.4, 1]);
  expect(half.weak[0]).toMatchObject({ size: 16, scale: [0.2, 0.5] });
  expect(() => resolveCrops({ relativeTo: 'image', key: { size: 1 }, weak: [{ size: 1.5 }], strong: [] }, 32, norm, {}))
    .toThrow(/options\.crops\.weak\[0\]\.size: expected a fraction of the image side in \(0, 1\]/);
});

test('the view-size check: no view larger than the images, no images smaller than the encoder\'s smallest view', () => {
  const norm = { channels: 1, mean: [0.5], std: [0.25] };
  expect(() => resolveCrops({ key: { size: 16 }, weak: [{ size: 16 }], strong: [{ size: 28 }] }, 16, norm, {}))
    .toThrow(/options\.crops\.strong\[0\]\.size: expected at most the image side 16 \(a larger view only interpolates the image\) but got 28/);
  expect(() => resolveCrops('single', 28, norm, { size: 32 })).toThrow(/options\.crops\.key\.size: expected at most the image side 28/);
  expect(() => resolveCrops('single', 6, norm, {})).toThrow(/images: expected a side of at least 8 pixels .* but got 6/);
  expect(resolveCrops('multi', 16, norm, {}).strong.map((v) => v.size)).toEqual([16, 14, 11, 9, 8]);
});
