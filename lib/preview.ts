// A PNG grid of originals next to their augmented views: a quick look at what the encoder sees.
import * as fs from 'fs';
import * as path from 'path';
import type { PNG as PNGType } from 'pngjs';

// pngjs is loaded on first use: importing the package (e.g. on a GPU box with only the addon
// and dist/) must not need it.
function PNG(): typeof PNGType {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('pngjs') as typeof import('pngjs')).PNG;
}

import { augmentBatch, checkImages, cropPresets, ImageBatch, resolveView, strongView, ViewSpec, weakView } from './augment';
import { writeFileAtomic } from './fsutil';
import { checkEnum, checkInt, checkOptions, describe } from './validate';

export interface PreviewOptions {
  /** Rows: the first n images of the batch. Default 8 (or fewer when the batch is smaller). */
  n?: number;
  /** Views per image. Default: two weak and two strong views at full size. */
  views?: ViewSpec[];
  /** Use a crop preset's views ([key, ...weak, ...strong]) instead of `views`. */
  preset?: 'single' | 'multi';
  /** Seed of the draws. Default 0. */
  seed?: number;
  /** Integer upscaling of every cell (nearest). Default: the smallest making cells >= 64 px. */
  zoom?: number;
}

export interface PreviewResult {
  path: string;
  width: number;
  height: number;
  /** Columns: 'original' then one label per view ('weak 28', 'strong 12', ...). */
  columns: string[];
}

const GAP = 2;

/** Encodes the grid of `images` and their views as PNG bytes. */
export async function augmentPreviewPng(images: ImageBatch, options: PreviewOptions = {}):
Promise<{ png: Buffer; width: number; height: number; columns: string[] }> {
  const [N, H, W, C] = checkImages('images', images);
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`options: expected an object but got ${describe(options)}`);
  const n = checkInt('options.n', options.n ?? Math.min(8, N), 1, Math.max(1, N));
  if (N < 1) throw new RangeError('images: expected at least one image but got an empty batch');
  if (options.preset !== undefined && options.preset !== null) checkEnum('options.preset', options.preset, ['single', 'multi'] as const);
  if (options.views !== undefined && options.views !== null && (!Array.isArray(options.views) || options.views.length < 1 || options.views.length > 64))
    throw new RangeError(`options.views: expected an array of 1..64 views but got ${describe(options.views)}`);
  const views = options.preset
    ? cropPresets(options.preset, Math.max(H, W)).views
    : options.views ?? [weakView(Math.max(H, W)), weakView(Math.max(H, W)), strongView(Math.max(H, W)), strongView(Math.max(H, W))];
  const resolved = views.map((v, i) => resolveView(`options.views[${i}]`, v, C));
  const sub: ImageBatch = { data: images.data.subarray(0, n * H * W * C), shape: [n, H, W, C] };
  const out = await augmentBatch(sub, views, { seed: options.seed ?? 0 });
  const cellSide = Math.max(H, W, ...resolved.map((v) => v.size));
  const zoom = checkInt('options.zoom', options.zoom ?? Math.max(1, Math.ceil(64 / cellSide)), 1, 64);
  const cell = cellSide * zoom;
  const cols = 1 + views.length;
  const width = cols * cell + (cols + 1) * GAP, height = n * cell + (n + 1) * GAP;
  const Png = PNG();
  const png = new Png({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false } as never);
  png.data = Buffer.alloc(width * height * 4, 255);
  const put = (x: number, y: number, r: number, g: number, b: number) => {
    const o = (y * width + x) * 4;
    png.data[o] = r; png.data[o + 1] = g; png.data[o + 2] = b; png.data[o + 3] = 255;
  };
  // Draws a w x h image (pixel(x, y) -> rgb) zoomed and centred in cell (row, col).
  const blit = (row: number, col: number, w: number, h: number, z: number, pixel: (x: number, y: number) => number[]) => {
    const x0 = GAP + col * (cell + GAP) + Math.floor((cell - w * z) / 2);
    const y0 = GAP + row * (cell + GAP) + Math.floor((cell - h * z) / 2);
    for (let y = 0; y < h * z; y++)
      for (let x = 0; x < w * z; x++) {
        const [r, g, b] = pixel(Math.floor(x / z), Math.floor(y / z));
        put(x0 + x, y0 + y, r, g, b);
      }
  };
  for (let i = 0; i < n; i++) {
    const zo = Math.max(1, Math.floor(cell / Math.max(H, W)));
    blit(i, 0, W, H, zo, (x, y) => {
      const o = ((i * H + y) * W + x) * C;
      return C === 3 ? [images.data[o], images.data[o + 1], images.data[o + 2]] : [images.data[o], images.data[o], images.data[o]];
    });
    resolved.forEach((v, j) => {
      const s = v.size, data = out.views[j].data, plane = s * s;
      const level = (c: number, x: number, y: number) => {
        const t = data[(i * C + c) * plane + y * s + x] * v.std[c] + v.mean[c];
        return Math.max(0, Math.min(255, Math.round(t * 255)));
      };
      const z = Math.max(1, Math.floor(cell / s));
      blit(i, j + 1, s, s, z, (x, y) => C === 3 ? [level(0, x, y), level(1, x, y), level(2, x, y)]
        : [level(0, x, y), level(0, x, y), level(0, x, y)]);
    });
  }
  const columns = ['original', ...resolved.map((v) => `${v.raN > 0 ? 'strong' : 'weak'} ${v.size}`)];
  return { png: Png.sync.write(png, { colorType: 2 }), width, height, columns };
}

/** Writes the preview grid to `out` atomically (temporary file + rename). */
export async function augmentPreview(images: ImageBatch, options: PreviewOptions & { out: string }): Promise<PreviewResult> {
  if (typeof options !== 'object' || options === null || typeof options.out !== 'string' || options.out === '')
    throw new TypeError(`options.out: expected a file path but got ${describe(options?.out)}`);
  const target = path.resolve(options.out);
  if (!fs.existsSync(path.dirname(target))) throw new RangeError(`options.out: the directory ${path.dirname(target)} of ${options.out} does not exist`);
  if (fs.existsSync(target) && fs.statSync(target).isDirectory()) throw new RangeError(`options.out: ${options.out} is a directory, expected a path for the PNG file`);
  const r = await augmentPreviewPng(images, options);
  await writeFileAtomic(target, r.png);
  return { path: target, width: r.width, height: r.height, columns: r.columns };
}

/**
 * For `clsa augment --data ... --out grid.png`: a dataset is either an image batch
 * { data: Uint8Array, shape: [N, H, W, C] } or an object holding one as `images`.
 */
export async function writeAugmentPreview(dataset: ImageBatch | { images: ImageBatch }, outPath: string,
                                          options: PreviewOptions = {}): Promise<PreviewResult> {
  const images = dataset && typeof dataset === 'object' && 'images' in dataset ? dataset.images : dataset as ImageBatch;
  return augmentPreview(images, { ...checkOptions('options', options), out: outPath });
}
