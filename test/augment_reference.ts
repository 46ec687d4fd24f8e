// Independent TypeScript implementations of the PIL/torchvision operations the native pipeline
// reproduces, written from Pillow's C sources and torchvision's Python. Images are interleaved
// uint8 [h, w, c] in a plain number array. Math.fround marks float32 steps, plain JS numbers
// are C doubles.
export type Img = { w: number; h: number; c: number; px: number[] };

const f = Math.fround;
const clip8 = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v));
const clipInt = (v: number) => (v <= 0 ? 0 : v < 256 ? v : 255);

export function clone(im: Img): Img {
  return { ...im, px: im.px.slice() };
}

export const luma = (r: number, g: number, b: number) => (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;

/** Image.blend(in1, in2, alpha) per sample (Blend.c, float alpha). */
export function blendPx(a: number, b: number, alpha: number): number {
  return clip8(f(a + f(f(alpha) * (b - a))));
}

export function brightness(im: Img, k: number): Img {
  return { ...im, px: im.px.map((v) => blendPx(0, v, k)) };
}

function grayOf(im: Img, i: number): number {
  return im.c === 3 ? luma(im.px[i * 3], im.px[i * 3 + 1], im.px[i * 3 + 2]) : im.px[i];
}

export function contrast(im: Img, k: number): Img {
  const n = im.w * im.h;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += grayOf(im, i);
  const mean = Math.trunc(sum / n + 0.5);
  return { ...im, px: im.px.map((v) => blendPx(mean, v, k)) };
}

export function color(im: Img, k: number): Img {
  if (im.c === 1) return clone(im);
  const out = clone(im);
  for (let i = 0; i < im.w * im.h; i++) {
    const l = grayOf(im, i);
    for (let c = 0; c < 3; c++) out.px[i * 3 + c] = blendPx(l, im.px[i * 3 + c], k);
  }
  return out;
}

export function grayscale(im: Img): Img {
  if (im.c === 1) return clone(im);
  const out = clone(im);
  for (let i = 0; i < im.w * im.h; i++) out.px[i * 3] = out.px[i * 3 + 1] = out.px[i * 3 + 2] = grayOf(im, i);
  return out;
}

/** torchvision adjust_hue on a PIL image: RGB -> HSV (Pillow), h += int(hue * 255) mod 256, back. */
export function hue(im: Img, hueFactor: number): Img {
  if (im.c === 1) return clone(im);
  const shift = Math.trunc(f(hueFactor) * 255);
  const out = clone(im);
  for (let i = 0; i < im.w * im.h; i++) {
    const [r, g, b] = [im.px[i * 3], im.px[i * 3 + 1], im.px[i * 3 + 2]];
    const maxc = Math.max(r, g, b), minc = Math.min(r, g, b);
    let uh = 0, us = 0;
    if (maxc !== minc) {
      const cr = maxc - minc;
      const s = f(cr / maxc);
      const rc = f((maxc - r) / cr), gc = f((maxc - g) / cr), bc = f((maxc - b) / cr);
      let h: number;
      if (r === maxc) h = f(bc - gc);
      else if (g === maxc) h = f(2.0 + rc - bc);
      else h = f(4.0 + gc - rc);
      h = f((h / 6.0 + 1.0) % 1.0);
      uh = clipInt(Math.trunc(h * 255.0));
      us = clipInt(Math.trunc(s * 255.0));
    }
    const hh = (uh + shift + 256 * 4) % 256, v = maxc;
    let rgb: number[];
    if (us === 0) rgb = [v, v, v];
    else {
      const ii = Math.floor(hh * 6.0 / 255.0);
      const fr = f(hh * 6.0 / 255.0 - ii);
      const fs = f(us / 255.0);
      const cround = (x: number) => (x < 0 ? -Math.round(-x) : Math.round(x)); // half away from zero (x >= 0 here)
      const p = clipInt(cround(v * (1.0 - fs)));
      const q = clipInt(cround(v * (1.0 - f(fs * fr))));
      const t = clipInt(cround(v * (1.0 - fs * (1.0 - fr))));
      rgb = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][ii % 6];
    }
    out.px[i * 3] = rgb[0]; out.px[i * 3 + 1] = rgb[1]; out.px[i * 3 + 2] = rgb[2];
  }
  return out;
}

function histograms(im: Img): number[][] {
  const hs = Array.from({ length: im.c }, () => new Array(256).fill(0));
  im.px.forEach((v, i) => hs[i % im.c][v]++);
  return hs;
}

function applyLuts(im: Img, luts: number[][]): Img {
  return { ...im, px: im.px.map((v, i) => Math.min(255, luts[i % im.c][v])) };
}

/** ImageOps.autocontrast(image) (cutoff 0), the Python code. */
export function autocontrast(im: Img): Img {
  const luts = histograms(im).map((h) => {
    let lo = 0, hi = 255;
    for (lo = 0; lo < 256; lo++) if (h[lo]) break;
    for (hi = 255; hi >= 0; hi--) if (h[hi]) break;
    if (hi <= lo) return Array.from({ length: 256 }, (_, i) => i);
    const scale = 255.0 / (hi - lo), offset = -lo * scale;
    return Array.from({ length: 256 }, (_, ix) => Math.max(0, Math.min(255, Math.trunc(ix * scale + offset))));
  });
  return applyLuts(im, luts);
}

/** ImageOps.equalize(image), the Python code. */
export function equalize(im: Img): Img {
  const luts = histograms(im).map((h) => {
    const histo = h.filter((x) => x);
    if (histo.length <= 1) return Array.from({ length: 256 }, (_, i) => i);
    const step = Math.floor((histo.reduce((a, b) => a + b, 0) - histo[histo.length - 1]) / 256);
    if (!step) return Array.from({ length: 256 }, (_, i) => i);
    const lut: number[] = [];
    let n = Math.floor(step / 2);
    for (let i = 0; i < 256; i++) { lut.push(Math.floor(n / step)); n += h[i]; }
    return lut;
  });
  return applyLuts(im, luts);
}

export function posterize(im: Img, bits: number): Img {
  const mask = ~(2 ** (8 - bits) - 1) & 255;
  return { ...im, px: im.px.map((v) => v & mask) };
}

export function solarize(im: Img, threshold: number): Img {
  return { ...im, px: im.px.map((v) => (v < threshold ? v : 255 - v)) };
}

/** ImageEnhance.Sharpness: blend(im.filter(SMOOTH), im, k). */
export function sharpness(im: Img, k: number): Img {
  const { w, h, c } = im;
  const k1 = f(1 / 13), k5 = f(5 / 13);
  const at = (x: number, y: number, ch: number) => im.px[(y * w + x) * c + ch];
  const out = clone(im);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        let deg = at(x, y, ch);
        if (x > 0 && y > 0 && x < w - 1 && y < h - 1) {
          const row = (yy: number, a: number, b: number, cc: number) =>
            f(f(f(at(x - 1, yy, ch) * a) + f(at(x, yy, ch) * b)) + f(at(x + 1, yy, ch) * cc));
          let ss = f(0.5);
          ss = f(ss + row(y + 1, k1, k1, k1));
          ss = f(ss + row(y, k1, k5, k1));
          ss = f(ss + row(y - 1, k1, k1, k1));
          deg = clip8(ss);
        }
        out.px[(y * w + x) * c + ch] = blendPx(deg, at(x, y, ch), k);
      }
  return out;
}

export function flip(im: Img): Img {
  const out = clone(im);
  for (let y = 0; y < im.h; y++)
    for (let x = 0; x < im.w; x++)
      for (let ch = 0; ch < im.c; ch++) out.px[(y * im.w + x) * im.c + ch] = im.px[(y * im.w + (im.w - 1 - x)) * im.c + ch];
  return out;
}

/** Image.transform(size, AFFINE, m, NEAREST, fillcolor) in Pillow's 16.16 fixed point. */
export function affineNearest(im: Img, m: number[], fill: number): Img {
  const FIX = (v: number) => { const x = v * 65536.0 + 0.5; return x < 0 ? Math.floor(x) : Math.trunc(x); };
  const a0 = FIX(m[0]), a1 = FIX(m[1]), a3 = FIX(m[3]), a4 = FIX(m[4]);
  const a2 = FIX(m[2] + m[1] * 0.5 + m[0] * 0.5), a5 = FIX(m[5] + m[4] * 0.5 + m[3] * 0.5);
  const out = clone(im);
  for (let y = 0; y < im.h; y++)
    for (let x = 0; x < im.w; x++) {
      const xi = Math.floor((a2 + x * a0 + y * a1) / 65536), yi = Math.floor((a5 + x * a3 + y * a4) / 65536);
      for (let ch = 0; ch < im.c; ch++)
        out.px[(y * im.w + x) * im.c + ch] = xi >= 0 && xi < im.w && yi >= 0 && yi < im.h
          ? im.px[(yi * im.w + xi) * im.c + ch] : fill;
    }
  return out;
}

/** Image.rotate(angle) (Python code of Pillow): the inverse matrix about the centre. */
export function rotateMatrix(angle: number, w: number, h: number): number[] {
  let a = angle % 360.0;
  if (a < 0) a += 360;
  const t = -(a * (Math.PI / 180));
  const r15 = (x: number) => Math.round(x * 1e15) / 1e15;
  const m = [r15(Math.cos(t)), r15(Math.sin(t)), 0.0, r15(-Math.sin(t)), r15(Math.cos(t)), 0.0];
  const cx = w / 2.0, cy = h / 2.0;
  const tx = m[0] * -cx + m[1] * -cy + m[2], ty = m[3] * -cx + m[4] * -cy + m[5];
  m[2] = tx + cx; m[5] = ty + cy;
  return m;
}

/** Pillow's resize(size, BILINEAR) of a crop (Resample.c: antialiased triangle filter, 22-bit ints). */
export function resizeCrop(im: Img, x0: number, y0: number, cw: number, ch: number, size: number): Img {
  const coeffs = (inSize: number, outSize: number) => {
    const scale = inSize / outSize, filterscale = Math.max(1, scale), support = filterscale;
    return Array.from({ length: outSize }, (_, xx) => {
      const center = (xx + 0.5) * scale, ss = 1 / filterscale;
      const xmin = Math.max(0, Math.trunc(center - support + 0.5));
      const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
      const tri = (x: number) => { x = Math.abs(x); return x < 1 ? 1 - x : 0; };
      const ws: number[] = [];
      for (let x = 0; x < xmax; x++) ws.push(tri((x + xmin - center + 0.5) * ss));
      const total = ws.reduce((a, b) => a + b, 0);
      return { xmin, k: ws.map((w) => Math.trunc(0.5 + (w / total) * (1 << 22))) };
    });
  };
  const sample = (vals: (i: number) => number, c: { xmin: number; k: number[] }) => {
    let acc = 1 << 21;
    c.k.forEach((k, i) => { acc += vals(c.xmin + i) * k; });
    return Math.max(0, Math.min(255, acc >> 22));
  };
  const hc = coeffs(cw, size), vc = coeffs(ch, size);
  const tmp: number[] = new Array(ch * size * im.c);
  for (let r = 0; r < ch; r++)
    for (let xx = 0; xx < size; xx++)
      for (let c = 0; c < im.c; c++)
        tmp[(r * size + xx) * im.c + c] = sample((x) => im.px[((y0 + r) * im.w + x0 + x) * im.c + c], hc[xx]);
  const out: Img = { w: size, h: size, c: im.c, px: new Array(size * size * im.c) };
  for (let yy = 0; yy < size; yy++)
    for (let xx = 0; xx < size; xx++)
      for (let c = 0; c < im.c; c++)
        out.px[(yy * size + xx) * im.c + c] = sample((y) => tmp[(y * size + xx) * im.c + c], vc[yy]);
  return out;
}

/** Pillow's _gaussian_blur_radius(radius, 3 passes), float32 where Pillow uses float. */
export function gaussianBoxRadius(sigma: number): number {
  const r = f(sigma);
  const sigma2 = f(f(r * r) / 3);
  const L = f(Math.sqrt(12.0 * sigma2 + 1.0));
  const l = f(Math.floor((L - 1.0) / 2.0));
  let a = f(f(f(2 * l) + 1) * f(f(l * f(l + 1)) - f(3 * sigma2)));
  a = f(a / f(6 * f(sigma2 - f(f(l + 1) * f(l + 1)))));
  return f(l + a);
}

/** ImageFilter.GaussianBlur(sigma): 3 extended box passes along x, then 3 along y (BoxBlur.c). */
export function gaussianBlur(im: Img, sigma: number): Img {
  const radius = gaussianBoxRadius(sigma);
  const r = Math.trunc(radius);
  const ww = Math.trunc(f((1 << 24) / f(f(radius * 2) + 1)));
  const fw = Math.floor(((1 << 24) - (r * 2 + 1) * ww) / 2);
  let cur = clone(im);
  for (let pass = 0; pass < 6; pass++) {
    const vertical = pass >= 3, n = vertical ? im.h : im.w;
    const next = clone(cur);
    for (let y = 0; y < im.h; y++)
      for (let x = 0; x < im.w; x++)
        for (let c = 0; c < im.c; c++) {
          const at = (q: number) => {
            q = Math.max(0, Math.min(n - 1, q));
            return vertical ? cur.px[(q * im.w + x) * im.c + c] : cur.px[(y * im.w + q) * im.c + c];
          };
          const pos = vertical ? y : x;
          let acc = 0;
          for (let k = -r; k <= r; k++) acc += at(pos + k);
          const bulk = acc * ww + (at(pos - r - 1) + at(pos + r + 1)) * fw;  // < 2^32: exact in doubles
          next.px[(y * im.w + x) * im.c + c] = Math.floor((bulk + 2 ** 23) / 2 ** 24);
        }
    cur = next;
  }
  return cur;
}

/** A true Gaussian convolution (float64, clamped edges), separable, rounded once. */
export function gaussianFloat(im: Img, sigma: number): Img {
  const rad = Math.ceil(4 * sigma);
  const k = Array.from({ length: 2 * rad + 1 }, (_, i) => Math.exp(-((i - rad) ** 2) / (2 * sigma * sigma)));
  const ks = k.reduce((a, b) => a + b, 0);
  const tmp = new Array(im.px.length).fill(0), out = clone(im);
  for (let y = 0; y < im.h; y++)
    for (let x = 0; x < im.w; x++)
      for (let c = 0; c < im.c; c++) {
        let s = 0;
        for (let i = -rad; i <= rad; i++) s += k[i + rad] * im.px[(y * im.w + Math.max(0, Math.min(im.w - 1, x + i))) * im.c + c];
        tmp[(y * im.w + x) * im.c + c] = s / ks;
      }
  for (let y = 0; y < im.h; y++)
    for (let x = 0; x < im.w; x++)
      for (let c = 0; c < im.c; c++) {
        let s = 0;
        for (let i = -rad; i <= rad; i++) s += k[i + rad] * tmp[(Math.max(0, Math.min(im.h - 1, y + i)) * im.w + x) * im.c + c];
        out.px[(y * im.w + x) * im.c + c] = Math.round(s / ks);
      }
  return out;
}
