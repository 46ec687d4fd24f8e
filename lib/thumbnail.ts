// Small PNG thumbnails of single images, as data: URIs for pages that must stand alone. Images of
// any size are reduced by an integer box filter to at most `maxSide` pixels a side, so that a grid
// of large images does not make the page megabytes; 1-channel images stay greyscale PNGs.
import type { ImageTensor } from './dataset';
import { checkInt, describe } from './validate';

// pngjs is loaded on first use, as in lib/preview.ts: importing the package must not need it.
function pngSync(): typeof import('pngjs').PNG.sync {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('pngjs') as typeof import('pngjs')).PNG.sync;
}

export interface Thumbnail {
  /** data:image/png;base64,... */
  uri: string;
  width: number;
  height: number;
}

/** Row `row` of `images` ([n, H, W, C] uint8, C 1 or 3) as a PNG data URI at most maxSide a side. */
export function thumbnail(images: ImageTensor, row: number, maxSide = 48, name = 'images'): Thumbnail {
  if (typeof images !== 'object' || images === null || !Array.isArray(images.shape) || images.shape.length !== 4)
    throw new TypeError(`${name}: expected { data: Uint8Array, shape: [n, H, W, C] } but got ${describe(images)}`);
  const [n, h, w, c] = images.shape;
  if (c !== 1 && c !== 3) throw new RangeError(`${name}.shape[3] (C): expected 1 or 3 channels but got ${describe(c)}`);
  checkInt(`${name}.shape[1] (H)`, h, 1);
  checkInt(`${name}.shape[2] (W)`, w, 1);
  if (images.data?.length !== n * h * w * c)
    throw new RangeError(`${name}.data: expected ${n * h * w * c} bytes for shape [${images.shape.join(', ')}] but got ${describe(images.data?.length)}`);
  checkInt('row', row, 0, n - 1);
  checkInt('maxSide', maxSide, 1, 4096);
  const f = Math.ceil(Math.max(h, w) / maxSide);
  const th = Math.ceil(h / f), tw = Math.ceil(w / f);
  const out = Buffer.alloc(th * tw * c);
  const base = row * h * w * c;
  for (let y = 0; y < th; y++)
    for (let x = 0; x < tw; x++) {
      // The box is clipped at the right and bottom edges when f does not divide the side.
      const y1 = Math.min(h, (y + 1) * f), x1 = Math.min(w, (x + 1) * f);
      const count = (y1 - y * f) * (x1 - x * f);
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let yy = y * f; yy < y1; yy++) for (let xx = x * f; xx < x1; xx++) s += images.data[base + (yy * w + xx) * c + ch];
        out[(y * tw + x) * c + ch] = Math.round(s / count);
      }
    }
  const colorType = c === 1 ? 0 : 2;
  const png = pngSync().write({ width: tw, height: th, data: out } as never,
    { colorType, inputColorType: colorType, inputHasAlpha: false, bitDepth: 8 } as never);
  return { uri: `data:image/png;base64,${png.toString('base64')}`, width: tw, height: th };
}
