// Each augmentation op of the native pipeline against the independent implementation in
// augment_reference.ts, on small random images (1 and 3 channels, odd sizes), through the real
// pipeline with explicit parameters: a full-image crop at the image's own size (an identity
// resize), everything else off except the op under test, mean 0 / std 1 so out * 255 = pixels.
import { applyAugmentParams, augmentBatchSync, drawAugmentParams, AugmentParams, ViewSpec, strongView } from '../lib/augment';
import { Rng } from '../lib/random';
import * as R from './augment_reference';

type Img = R.Img;
const f = Math.fround;

function randomImage(rng: Rng, w: number, h: number, c: number, kind: 'noise' | 'range' | 'flat' | 'smooth' = 'noise'): Img {
  const lo = Math.floor(rng.uniform() * 120), hi = lo + 1 + Math.floor(rng.uniform() * (254 - lo));
  const flat = Math.floor(rng.uniform() * 256);
  const px: number[] = [];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        if (kind === 'noise') px.push(Math.floor(rng.uniform() * 256));
        else if (kind === 'range') px.push(lo + Math.floor(rng.uniform() * (hi - lo + 1)));
        else if (kind === 'flat') px.push(flat);
        else px.push(Math.round(127.5 + 120 * Math.sin(x * 0.4 + ch) * Math.cos(y * 0.3 + 0.5 * ch)));
      }
  return { w, h, c, px };
}

function identityParams(w: number, h: number): AugmentParams {
  return {
    cropX: 0, cropY: 0, cropW: w, cropH: h, flip: false, jitter: false, jitterOrder: [-1, -1, -1, -1],
    brightness: 1, contrast: 1, saturation: 1, hue: 0, grayscale: false, blur: false, blurSigma: 1, ops: [],
  };
}

const plainView = (size: number, c: number, extra: Partial<ViewSpec> = {}): ViewSpec => ({
  size, mean: new Array(c).fill(0), std: new Array(c).fill(1), randAugment: { n: 0, fill: 128 }, ...extra,
});

/** Runs one image through the native pipeline with `params`; returns the uint8 image it produced. */
function runNative(im: Img, params: Partial<AugmentParams>, size = im.w, fill = 128): Img {
  const view = plainView(size, im.c, { randAugment: { n: 0, fill } });
  const p = { ...identityParams(im.w, im.h), ...params };
  const out = applyAugmentParams({ data: Uint8Array.from(im.px), shape: [1, im.h, im.w, im.c] }, [view], [[p]]).views[0];
  const px = new Array(size * size * im.c);
  for (let c = 0; c < im.c; c++)
    for (let i = 0; i < size * size; i++) px[i * im.c + c] = Math.round(out.data[c * size * size + i] * 255);
  return { w: size, h: size, c: im.c, px };
}

function maxDiff(a: Img, b: Img): number {
  expect(a.px.length).toBe(b.px.length);
  let m = 0;
  for (let i = 0; i < a.px.length; i++) m = Math.max(m, Math.abs(a.px[i] - b.px[i]));
  return m;
}

const op = (name: number, magnitude: number, sign = 1) => ({ op: name, magnitude, sign, applied: true });
const OPS = { autoContrast: 0, brightness: 1, color: 2, contrast: 3, equalize: 4, identity: 5, posterize: 6, rotate: 7,
  sharpness: 8, shearX: 9, shearY: 10, solarize: 11, translateX: 12, translateY: 13 };
const enhanceFactor = (v: number) => f(v * 0.9 / 10 + 0.05);

// Sizes that divide nothing in particular, both channel counts, several image kinds.
function* cases(seed: number): Generator<[string, Img]> {
  const rng = new Rng(seed);
  for (const c of [1, 3])
    for (const s of [1, 2, 5, 9, 16])
      for (const kind of ['noise', 'range', 'flat', 'smooth'] as const)
        yield [`${s}x${s}x${c} ${kind}`, randomImage(rng, s, s, c, kind)];
}

describe('point and histogram ops match PIL exactly', () => {
  test('AutoContrast', () => {
    for (const [, im] of cases(11)) expect(maxDiff(runNative(im, { ops: [op(OPS.autoContrast, 5)] }), R.autocontrast(im))).toBe(0);
  });
  test('Equalize', () => {
    for (const [, im] of cases(12)) expect(maxDiff(runNative(im, { ops: [op(OPS.equalize, 5)] }), R.equalize(im))).toBe(0);
  });
  test('Posterize at every magnitude (4..7 bits)', () => {
    for (const [, im] of cases(13))
      for (let v = 1; v <= 9; v++)
        expect(maxDiff(runNative(im, { ops: [op(OPS.posterize, v)] }), R.posterize(im, 4 + Math.floor(4 * v / 10)))).toBe(0);
  });
  test('Solarize at every magnitude (threshold 256 - int(25.6 v))', () => {
    for (const [, im] of cases(14))
      for (let v = 1; v <= 9; v++)
        expect(maxDiff(runNative(im, { ops: [op(OPS.solarize, v)] }), R.solarize(im, 256 - Math.trunc(v * 256 / 10)))).toBe(0);
  });
  test('Identity and a not-applied op leave the image alone', () => {
    for (const [, im] of cases(15)) {
      expect(maxDiff(runNative(im, { ops: [op(OPS.identity, 3)] }), im)).toBe(0);
      expect(maxDiff(runNative(im, { ops: [{ ...op(OPS.solarize, 9), applied: false }] }), im)).toBe(0);
    }
  });
  test('Brightness, Color, Contrast, Sharpness (RandAugment factors 0.05 + 0.09 v)', () => {
    for (const [, im] of cases(16))
      for (const v of [1, 4, 9]) {
        const k = enhanceFactor(v);
        expect(maxDiff(runNative(im, { ops: [op(OPS.brightness, v)] }), R.brightness(im, k))).toBe(0);
        expect(maxDiff(runNative(im, { ops: [op(OPS.color, v)] }), R.color(im, k))).toBe(0);
        expect(maxDiff(runNative(im, { ops: [op(OPS.contrast, v)] }), R.contrast(im, k))).toBe(0);
        expect(maxDiff(runNative(im, { ops: [op(OPS.sharpness, v)] }), R.sharpness(im, k))).toBe(0);
      }
  });
  test('colour jitter: brightness, contrast, saturation with factors above and below 1 (clipping path)', () => {
    const rng = new Rng(17);
    for (const [, im] of cases(18)) {
      const b = 0.6 + 0.8 * rng.uniform(), c = 0.6 + 0.8 * rng.uniform(), s = 0.6 + 0.8 * rng.uniform();
      const jit = (order: number[], p: Partial<AugmentParams>) => runNative(im, { jitter: true, jitterOrder: order, ...p });
      expect(maxDiff(jit([0, -1, -1, -1], { brightness: b }), R.brightness(im, b))).toBe(0);
      expect(maxDiff(jit([-1, 1, -1, -1], { contrast: c }), R.contrast(im, c))).toBe(0);
      expect(maxDiff(jit([-1, -1, 2, -1], { saturation: s }), R.color(im, s))).toBe(0);
      // all four in a given order compose
      const h = (rng.uniform() - 0.5) * 0.2;
      const all = jit([2, 0, 3, 1], { brightness: b, contrast: c, saturation: s, hue: h });
      expect(maxDiff(all, R.contrast(R.hue(R.brightness(R.color(im, s), b), h), c))).toBe(0);
    }
  });
  test('hue shift through Pillow HSV (identity on 1 channel), shifts of both signs', () => {
    const rng = new Rng(19);
    for (const [, im] of cases(20))
      for (let t = 0; t < 3; t++) {
        const h = (rng.uniform() - 0.5);
        expect(maxDiff(runNative(im, { jitter: true, jitterOrder: [-1, -1, -1, 3], hue: h }), R.hue(im, h))).toBe(0);
      }
  });
  test('grayscale (L conversion replicated; identity on 1 channel)', () => {
    for (const [, im] of cases(21)) expect(maxDiff(runNative(im, { grayscale: true }), R.grayscale(im))).toBe(0);
  });
  test('horizontal flip', () => {
    for (const [, im] of cases(22)) expect(maxDiff(runNative(im, { flip: true }), R.flip(im))).toBe(0);
  });
});

describe('geometric ops', () => {
  test('Rotate, ShearX, ShearY, TranslateX, TranslateY at every magnitude and sign (nearest, fill)', () => {
    const rng = new Rng(23);
    for (const [name, im] of cases(24)) {
      if (name.includes('flat')) continue;
      const s = im.w, fill = Math.floor(rng.uniform() * 256);
      for (let v = 1; v <= 9; v++)
        for (const sign of [-1, 1]) {
          const sh = sign * (v * 0.3 / 10), t = Math.trunc(sign * (v * 0.3 / 10) * s);
          const expected: [number, number[]][] = [
            [OPS.rotate, R.rotateMatrix(sign * 3 * v, s, s)],
            [OPS.shearX, [1, sh, 0, 0, 1, 0]],
            [OPS.shearY, [1, 0, 0, sh, 1, 0]],
            [OPS.translateX, [1, 0, t, 0, 1, 0]],
            [OPS.translateY, [1, 0, 0, 0, 1, t]],
          ];
          for (const [id, m] of expected)
            expect(maxDiff(runNative(im, { ops: [op(id, v, sign)] }, s, fill), R.affineNearest(im, m, fill))).toBeLessThanOrEqual(0);
        }
    }
  });

  test('RandomResizedCrop: Pillow bilinear (antialiased) resize of random boxes, up and down', () => {
    const rng = new Rng(25);
    for (const c of [1, 3])
      for (const [w, h] of [[13, 7], [28, 28], [31, 17], [40, 45]]) {
        const im = randomImage(rng, w, h, c, rng.uniform() < 0.5 ? 'noise' : 'smooth');
        for (let t = 0; t < 6; t++) {
          const cw = 1 + Math.floor(rng.uniform() * w), ch = 1 + Math.floor(rng.uniform() * h);
          const x0 = Math.floor(rng.uniform() * (w - cw + 1)), y0 = Math.floor(rng.uniform() * (h - ch + 1));
          const size = 1 + Math.floor(rng.uniform() * 36);
          const got = runNative(im, { cropX: x0, cropY: y0, cropW: cw, cropH: ch }, size);
          const want = R.resizeCrop(im, x0, y0, cw, ch, size);
          expect(maxDiff(got, want)).toBeLessThanOrEqual(1);  // the documented tolerance; exact in practice
          expect(maxDiff(got, want)).toBe(0);
        }
      }
  });
});

describe('blur', () => {
  test("Gaussian blur equals Pillow's 3-pass extended box blur exactly", () => {
    const rng = new Rng(27);
    for (const [, im] of cases(28)) {
      const sigma = f(0.1 + 1.9 * rng.uniform());
      expect(maxDiff(runNative(im, { blur: true, blurSigma: sigma }), R.gaussianBlur(im, sigma))).toBe(0);
    }
  });
  test('and stays close to a direct float Gaussian convolution on smooth images', () => {
    const rng = new Rng(29);
    for (const c of [1, 3])
      for (const sigma of [0.5, 1, 1.5, 2]) {
        const im = randomImage(rng, 24, 24, c, 'smooth');
        const got = runNative(im, { blur: true, blurSigma: sigma });
        const want = R.gaussianFloat(im, sigma);
        let sum = 0;
        for (let i = 0; i < got.px.length; i++) sum += Math.abs(got.px[i] - want.px[i]);
        expect(sum / got.px.length).toBeLessThan(1.5);
        expect(maxDiff(got, want)).toBeLessThanOrEqual(12);  // box approximation, measured max 9
      }
  });
});

test('normalisation: (x / 255 - mean) / std in float32, exactly', () => {
  const rng = new Rng(31);
  for (const c of [1, 3]) {
    const im = randomImage(rng, 7, 7, c);
    const mean = Array.from({ length: c }, () => rng.uniform() - 0.2), std = Array.from({ length: c }, () => 0.1 + rng.uniform());
    const view: ViewSpec = { size: 7, mean, std };
    const out = applyAugmentParams({ data: Uint8Array.from(im.px), shape: [1, 7, 7, c] }, [view], [[identityParams(7, 7)]]).views[0];
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < 49; i++) {
        const x = im.px[i * c + ch];
        expect(out.data[ch * 49 + i]).toBe(f(f(f(x / 255) - f(mean[ch])) / f(std[ch])));
      }
  }
});

/** The whole reference pipeline in TypeScript, driven by natively drawn parameters. */
function referencePipeline(src: Img, p: ReturnType<typeof drawAugmentParams>[number], size: number, fill: number): Img {
  let im = R.resizeCrop(src, p.cropX, p.cropY, p.cropW, p.cropH, size);
  if (p.jitter)
    for (const k of p.jitterOrder) {
      if (k === 0) im = R.brightness(im, p.brightness);
      else if (k === 1) im = R.contrast(im, p.contrast);
      else if (k === 2) im = R.color(im, p.saturation);
      else if (k === 3) im = R.hue(im, p.hue);
    }
  if (p.grayscale) im = R.grayscale(im);
  if (p.blur) im = R.gaussianBlur(im, p.blurSigma);
  if (p.flip) im = R.flip(im);
  for (const o of p.ops) {
    if (!o.applied) continue;
    const v = o.magnitude, sign = o.sign, k = enhanceFactor(v);
    const sh = sign * (v * 0.3 / 10), t = Math.trunc(sign * (v * 0.3 / 10) * size);
    switch (o.op) {
      case OPS.autoContrast: im = R.autocontrast(im); break;
      case OPS.brightness: im = R.brightness(im, k); break;
      case OPS.color: im = R.color(im, k); break;
      case OPS.contrast: im = R.contrast(im, k); break;
      case OPS.equalize: im = R.equalize(im); break;
      case OPS.posterize: im = R.posterize(im, 4 + Math.floor(4 * v / 10)); break;
      case OPS.rotate: im = R.affineNearest(im, R.rotateMatrix(sign * 3 * v, size, size), fill); break;
      case OPS.sharpness: im = R.sharpness(im, k); break;
      case OPS.shearX: im = R.affineNearest(im, [1, sh, 0, 0, 1, 0], fill); break;
      case OPS.shearY: im = R.affineNearest(im, [1, 0, 0, sh, 1, 0], fill); break;
      case OPS.solarize: im = R.solarize(im, 256 - Math.trunc(v * 256 / 10)); break;
      case OPS.translateX: im = R.affineNearest(im, [1, 0, t, 0, 1, 0], fill); break;
      case OPS.translateY: im = R.affineNearest(im, [1, 0, 0, 0, 1, t], fill); break;
      default: break;
    }
  }
  return im;
}

test('whole strong pipeline (drawn parameters) equals the reference composition, 1 and 3 channels', () => {
  const rng = new Rng(33);
  for (const c of [1, 3]) {
    const n = 12, H = 21, W = 19;
    const imgs = Array.from({ length: n }, (_, i) => randomImage(rng, W, H, c, i % 2 ? 'noise' : 'smooth'));
    const data = Uint8Array.from(imgs.flatMap((im) => im.px));
    for (const [size, seed, zeroHue] of [[16, 5, 0], [11, 6, 0], [13, 7, 1]]) {
      // zeroHue: strengths of 0 are skipped (jitterOrder -1), as torchvision skips None factors
      const view = strongView(size, { mean: new Array(c).fill(0), std: new Array(c).fill(1), randAugment: { n: 6, p: 0.7, fill: 77 },
        jitter: zeroHue ? { hue: 0, saturation: 0, p: 0.9 } : undefined });
      const out = augmentBatchSync({ data, shape: [n, H, W, c] }, [view], { seed }).views[0];
      const params = drawAugmentParams(view, { n, height: H, width: W, channels: c, seed, viewIndex: 0 });
      for (let i = 0; i < n; i++) {
        const want = referencePipeline(imgs[i], params[i], size, 77);
        const plane = size * size;
        for (let ch = 0; ch < c; ch++)
          for (let j = 0; j < plane; j++)
            expect(Math.round(out.data[(i * c + ch) * plane + j] * 255)).toBe(want.px[j * c + ch]);
      }
    }
  }
});
