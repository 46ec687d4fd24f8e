// The views of a training step: which images a step sees (a seeded permutation per epoch) and
// how each is augmented (the key, weak and strong view specs resolved for the image size).
import { cropPresets, CropPreset, ViewSpec } from '../augment';
import { checkInt, checkNumber } from '../validate';
import { ImageNormalization, UInt8Images } from '../encoder';
import { describe } from '../validate';

/** A view whose `size` is a fraction of the image side, in (0, 1]: 1 = the whole side. */
export type RelativeViewSpec = Omit<ViewSpec, 'size'> & { size: number };

/** Views whose sizes follow the images (what the recipes use): with relativeTo 'image', each
 * size is a fraction of the image side, so one recipe trains 28-pixel and 64-pixel images alike. */
export interface RelativeCrops { relativeTo: 'image'; key: RelativeViewSpec; weak: RelativeViewSpec[]; strong: RelativeViewSpec[] }

export type CropsOption = 'single' | 'multi' | { key: ViewSpec; weak: ViewSpec[]; strong: ViewSpec[] } | RelativeCrops;

/** The smallest view the encoder takes (its stride). */
export const MIN_VIEW_SIZE = 8;

/**
 * The check every run's views pass (docs/augmentations.md, "View sizes"): each view is between
 * MIN_VIEW_SIZE pixels and the side of the images. A view larger than the image only
 * interpolates it (a 28-pixel view of 16-pixel images trains on blurred upsamples); images
 * smaller than MIN_VIEW_SIZE have no view the encoder can take.
 */
export function checkViewSizes(crops: Pick<CropPreset, 'key' | 'weak' | 'strong'>, imageSize: number, name = 'options.crops'): void {
  if (typeof crops !== 'object' || crops === null) throw new TypeError(`${name}: expected { key, weak: [...], strong: [...] } but got ${describe(crops)}`);
  if (typeof crops.key !== 'object' || crops.key === null) throw new TypeError(`${name}.key: expected a view { size, ... } but got ${describe(crops.key)}`);
  for (const k of ['weak', 'strong'] as const)
    if (!Array.isArray(crops[k]) || !crops[k].every((v) => typeof v === 'object' && v !== null))
      throw new TypeError(`${name}.${k}: expected an array of views { size, ... } but got ${describe(crops[k])}`);
  checkInt('imageSize', imageSize, 1, 8192);
  if (imageSize < MIN_VIEW_SIZE)
    throw new RangeError(`images: expected a side of at least ${MIN_VIEW_SIZE} pixels (the encoder's smallest view) but got ${imageSize}`);
  const named: [string, ViewSpec][] = [['key', crops.key], ...crops.weak.map((v, i): [string, ViewSpec] => [`weak[${i}]`, v]),
    ...crops.strong.map((v, i): [string, ViewSpec] => [`strong[${i}]`, v])];
  for (const [k, v] of named) {
    checkInt(`${name}.${k}.size`, v.size, 1, 8192);
    if (v.size > imageSize)
      throw new RangeError(`${name}.${k}.size: expected at most the image side ${imageSize} (a larger view only interpolates the image) but got ${v.size}`);
  }
}

function isRelative(c: unknown): c is RelativeCrops {
  return typeof c === 'object' && c !== null && (c as { relativeTo?: unknown }).relativeTo !== undefined;
}

/** A seeded permutation of [0, n) (Fisher-Yates over a splitmix32 stream). */
export function permutation(n: number, seed: number): Uint32Array {
  checkInt('n', n, 0, 2 ** 31 - 1);
  checkInt('seed', seed, 0, 2 ** 32 - 1);
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  for (let i = n - 1; i > 0; i--) {
    const j = next() % (i + 1);
    const t = p[i]; p[i] = p[j]; p[j] = t;
  }
  return p;
}

/** The order in which epoch `epoch` visits the training images. */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  return permutation(n, (seed ^ Math.imul(epoch + 1, 0x27d4eb2d)) >>> 0);
}

/** Images order[start .. start + count) as one batch. */
export function gather(images: UInt8Images, order: Uint32Array, start: number, count: number): UInt8Images {
  const [, h, w, c] = images.shape;
  const per = h * w * c;
  const out = new Uint8Array(count * per);
  for (let i = 0; i < count; i++) {
    const src = order[start + i] * per;
    out.set(images.data.subarray(src, src + per), i * per);
  }
  return { data: out, shape: [count, h, w, c] };
}

/**
 * The key, weak and strong views of a step for images of side `imageSize`, checked by
 * checkViewSizes. Sizes of 'single', 'multi' and { relativeTo: 'image' } follow the image side;
 * custom views in pixels are taken as given. `weakScale` replaces
 * the RandomResizedCrop area range of the key and full-size weak views (MoCo v2: [0.2, 1]); the
 * smaller weak crops of multi-crop keep their proportion to it (range x size / imageSize), as the
 * reference derives theirs from [0.2, 1]. Strong views keep their own ranges.
 */
export function resolveCrops(crops: CropsOption, imageSize: number, norm: ImageNormalization, overrides: Partial<ViewSpec>,
                             weakScale?: [number, number]): CropPreset {
  // The reference blur (sigma 0.1-2 at 224 pixels) scaled to the image, as the crop sizes are:
  // at 28 pixels an unscaled sigma of 2 would erase most of a garment.
  const r = Math.min(1, imageSize / 224);
  const blur = { sigma: [0.1 * r, 2 * r] as [number, number], p: 0.5 };
  // The encoder takes sides >= 8: the smallest reference crops of small images are raised to 8.
  const withNorm = (v: ViewSpec): ViewSpec => ({ mean: norm.mean, std: norm.std, blur, ...v, ...overrides, size: Math.max(MIN_VIEW_SIZE, (overrides.size ?? v.size)) });
  const checked = (p: CropPreset): CropPreset => { checkViewSizes(p, imageSize); return p; };
  if (isRelative(crops)) {
    if (crops.relativeTo !== 'image' || !Array.isArray(crops.weak) || crops.weak.length < 1 || !Array.isArray(crops.strong))
      throw new TypeError(`options.crops: expected { relativeTo: 'image', key, weak: [...], strong: [...] } but got ${describe(crops)}`);
    // Sizes as fractions of the side; weakScale, as for the presets, sets the full-size weak
    // ranges and keeps the smaller weak views in proportion.
    const abs = (name: string, v: RelativeViewSpec, weak: boolean): ViewSpec => {
      const f = checkNumber(`options.crops.${name}.size`, v?.size, (x) => x > 0 && x <= 1, 'a fraction of the image side in (0, 1] (relativeTo: \'image\')');
      const scale = weak && weakScale ? [weakScale[0] * f, weakScale[1] * f] as [number, number] : v.scale;
      return { ...v, size: Math.round(f * imageSize), ...(scale ? { scale } : {}) };
    };
    const key = withNorm(abs('key', crops.key, true)), weak = crops.weak.map((v, i) => withNorm(abs(`weak[${i}]`, v, true)));
    const strong = crops.strong.map((v, i) => withNorm(abs(`strong[${i}]`, v, false)));
    return checked({ ...cropPresets('single', imageSize), key, weak, strong, views: [key, ...weak, ...strong] });
  }
  if (crops === 'single' || crops === 'multi') {
    const p = cropPresets(crops, imageSize);
    if (weakScale) {
      p.key = { ...p.key, scale: weakScale };
      p.weak = p.weak.map((v) => ({ ...v, scale: [weakScale[0] * v.size / imageSize, weakScale[1] * v.size / imageSize] as [number, number] }));
    }
    const key = withNorm(p.key), weak = p.weak.map(withNorm), strong = p.strong.map(withNorm);
    return checked({ ...p, key, weak, strong, views: [key, ...weak, ...strong] });
  }
  if (typeof crops !== 'object' || crops === null || !Array.isArray(crops.weak) || crops.weak.length < 1)
    throw new TypeError(`options.crops: expected 'single', 'multi', { key, weak: [...], strong: [...] } or { relativeTo: 'image', ... } but got ${describe(crops)}`);
  if (weakScale) throw new RangeError("options.weakScale: applies to crops 'single', 'multi' or { relativeTo: 'image' } (the presets'); custom crops in pixels carry their own scale ranges");
  const key = withNorm(crops.key), weak = crops.weak.map(withNorm), strong = (crops.strong ?? []).map(withNorm);
  return checked({ ...cropPresets('single', imageSize), key, weak, strong, views: [key, ...weak, ...strong] });
}
