// Augmentation pipelines of CLSA (docs/augmentations.md): the MoCo v2 weak view, the strong view (weak +
// RandAugment with the 14 ops of the reference), and multi-crop presets. The work is native
// (C++ on the CPU, CUDA on a GPU); this file holds the options, their defaults and validation.
//
// Pipeline of a view (the reference's order, uint8 images between steps as PIL has them):
//   RandomResizedCrop(size, scale, ratio) [Pillow bilinear] -> ColorJitter with p -> grayscale
//   with p -> Gaussian blur with p -> horizontal flip with p -> RandAugment (strong views only;
//   after the weak ops, on the 8-bit image, as the reference applies RandAugmentMC before
//   ToTensor) -> ToTensor + Normalize(mean, std) -> float32 [C, size, size].
// Geometric RandAugment ops resample with nearest neighbour (Pillow's default for rotate and
// transform) and fill uncovered pixels with grey `fill`. The paper does not fix the fill: the
// FixMatch-PyTorch RandAugment the CLSA code derives from passes no fillcolor (black, 0), Google's
// FixMatch fills 128. The default here is 128 (as the issue asks); randAugment.fill = 0 gives black.
import { backend } from './backend';
import { DeviceTensor, resolveDevice } from './device';
import { native, NativeDeviceBuffer } from './native';
import { checkAugmentParams } from './augment-params';
import { checkEnum, checkInt, checkNumber, checkOptions, describe } from './validate';

/** The RandAugment ops, in the order of the reference's pool (their ids in drawn parameters). */
export const RA_OPS = [
  'autoContrast', 'brightness', 'color', 'contrast', 'equalize', 'identity', 'posterize',
  'rotate', 'sharpness', 'shearX', 'shearY', 'solarize', 'translateX', 'translateY',
] as const;
export type RandAugmentOp = (typeof RA_OPS)[number];

export interface JitterOptions {
  /** Brightness factor drawn from [max(0, 1 - x), 1 + x]. Default 0.4. */
  brightness?: number;
  /** Contrast factor drawn from [max(0, 1 - x), 1 + x]. Default 0.4. */
  contrast?: number;
  /** Saturation factor drawn from [max(0, 1 - x), 1 + x] (identity on 1-channel images). Default 0.4. */
  saturation?: number;
  /** Hue shift drawn from [-x, x] turns, x <= 0.5 (identity on 1-channel images). Default 0.1. */
  hue?: number;
  /** Probability the jitter is applied at all. Default 0.8. */
  p?: number;
}

export interface BlurOptions {
  /** Sigma range of Pillow's GaussianBlur. Default [0.1, 2]. */
  sigma?: [number, number];
  /** Default 0.5. */
  p?: number;
}

export interface RandAugmentOptions {
  /** Ops drawn per view, with replacement. Default 5. */
  n?: number;
  /** Probability each drawn op is applied. Default 0.5. */
  p?: number;
  /** Magnitude range, uniform integers within 1..9. Default [1, 9]. */
  magnitude?: [number, number];
  /** Grey level of pixels uncovered by rotate/shear/translate. Default 128. */
  fill?: number;
}

export interface ViewSpec {
  /** Output side in pixels (square views). */
  size: number;
  /** RandomResizedCrop area fraction range in (0, 1]. Default [0.2, 1] (MoCo v2). */
  scale?: [number, number];
  /** RandomResizedCrop aspect-ratio range. Default [3/4, 4/3]. */
  ratio?: [number, number];
  /** Horizontal flip probability. Default 0.5. */
  flip?: number;
  /** Colour jitter; null disables it. Default { 0.4, 0.4, 0.4, 0.1, p: 0.8 }. */
  jitter?: JitterOptions | null;
  /** Grayscale probability. Default 0.2. */
  grayscale?: number;
  /** Gaussian blur; null disables it. Default { sigma: [0.1, 2], p: 0.5 }. */
  blur?: BlurOptions | null;
  /** RandAugment; absent or null = a weak view. strongView() sets { n: 5, p: 0.5 }. */
  randAugment?: RandAugmentOptions | null;
  /** Normalize mean per channel. Default ImageNet's for 3 channels, Fashion-MNIST's (0.2860) for 1. */
  mean?: number[];
  /** Normalize std per channel. Default ImageNet's for 3 channels, Fashion-MNIST's (0.3530) for 1. */
  std?: number[];
}

/** uint8 images [N, H, W, C], C = 1 or 3, row-major. */
export interface ImageBatch {
  data: Uint8Array;
  shape: [number, number, number, number] | number[];
}

export interface AugmentOptions {
  /** Seed of the draws. Same seed, same images, same views: byte-identical output. Default 0. */
  seed?: number;
  /** Global index of the first image (the draws of image i depend on (seed, imageOffset + i, view)). */
  imageOffset?: number;
  /** 'cpu' (default), 'cuda', or 'auto' (CUDA when usable). */
  device?: 'auto' | 'cpu' | 'cuda';
  /** GPU ordinal for CUDA. Default 0. */
  deviceIndex?: number;
  /**
   * Host outputs to fill instead of allocating new ones, one Float32Array per view of exactly
   * N * C * size * size floats (CPU only): reusing them saves the allocation and page faults
   * of fresh memory on every batch.
   */
  out?: Float32Array[];
}

export interface AugmentedView {
  /** Normalised pixels [N, C, size, size]. */
  data: Float32Array;
  shape: [number, number, number, number];
}

/** Normalised pixels [N, C, size, size] in GPU memory (dispose() when done); ClsaModel.step
 * takes these as views directly. */
export type DeviceAugmentedView = DeviceTensor;

/** The drawn parameters of one (image, view), as clsa_augment_params holds them. */
export interface AugmentParams {
  cropX: number; cropY: number; cropW: number; cropH: number;
  flip: boolean;
  jitter: boolean;
  /** Order of brightness (0), contrast (1), saturation (2), hue (3); -1 = skipped (strength 0). */
  jitterOrder: number[];
  brightness: number; contrast: number; saturation: number; hue: number;
  grayscale: boolean;
  blur: boolean;
  blurSigma: number;
  ops: { op: number; magnitude: number; sign: number; applied: boolean }[];
}

/** Drawn parameters plus the fields derived from them (as augmentDraw returns them). */
export interface DrawnParams extends AugmentParams {
  hueShift: number;
  blurBoxRadius: number;
  ops: { op: number; magnitude: number; sign: number; applied: boolean; int: number; factor: number; affine: number[] }[];
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];
export const FASHION_MNIST_MEAN = [0.286];
export const FASHION_MNIST_STD = [0.353];

/** The flat view the addon reads (clsa_augment_view). */
export interface NativeView {
  size: number; scaleMin: number; scaleMax: number; ratioMin: number; ratioMax: number;
  flipP: number; jitterP: number; brightness: number; contrast: number; saturation: number; hue: number;
  grayscaleP: number; blurP: number; blurSigmaMin: number; blurSigmaMax: number;
  raN: number; raP: number; raMagnitudeMin: number; raMagnitudeMax: number; raFill: number;
  mean: number[]; std: number[];
}

/** A weak (MoCo v2) view of the given size with the reference defaults, overridable. */
export function weakView(size: number, overrides: Partial<ViewSpec> = {}): ViewSpec {
  return checkedView({ size, scale: [0.2, 1], ...checkOverrides(overrides) }, 'size', 'overrides');
}

function checkOverrides(o: Partial<ViewSpec> | undefined): Partial<ViewSpec> {
  return checkOptions('overrides', o);
}

/** A built view, checked now (for the channels its mean/std imply, else 3) so that a bad override
 * is named where it was given rather than where the view is used. */
function checkedView(v: ViewSpec, sizeName: string, overridesName: string): ViewSpec {
  const channels = Array.isArray(v.mean) ? v.mean.length : Array.isArray(v.std) ? v.std.length : 3;
  checkInt(sizeName, v.size, 1, 8192);
  resolveView(overridesName, v, channels === 1 ? 1 : 3);
  return v;
}

/** A strong view: the weak pipeline plus RandAugment (n = 5, p = 0.5, magnitudes 1..9). */
export function strongView(size: number, overrides: Partial<ViewSpec> = {}): ViewSpec {
  return checkedView({ size, scale: [0.2, 1], randAugment: { n: 5, p: 0.5, magnitude: [1, 9], fill: 128 }, ...checkOverrides(overrides) },
    'size', 'overrides');
}

export interface CropPreset {
  /** The key view (momentum encoder): weak, full size, scale [0.2, 1]. */
  key: ViewSpec;
  /** Weak query views. */
  weak: ViewSpec[];
  /** Strong query views. */
  strong: ViewSpec[];
  /** [key, ...weak, ...strong]. */
  views: ViewSpec[];
}

// Sizes of the reference's multi-crop for 224-pixel images; scale ranges are (0.2 r, r), r = s / 224.
const REFERENCE_SIZES = [224, 192, 160, 128, 96];

/**
 * The reference's crop settings scaled to `imageSize` (docs/augmentations.md). For a reference size s
 * (224/192/160/128/96) the view size is round(imageSize * s / 224) and its scale range
 * (0.2 s / 224, s / 224), e.g. 28/24/20/16/12 for 28-pixel images.
 *  - 'single': one weak query at full size, one strong query at the smallest size.
 *  - 'multi': 5 weak + 5 strong queries at the five sizes.
 * Both include the key view (weak, full size, scale [0.2, 1]).
 */
export function cropPresets(kind: 'single' | 'multi', imageSize: number, overrides: Partial<ViewSpec> = {}): CropPreset {
  checkEnum('kind', kind, ['single', 'multi'] as const);
  checkInt('imageSize', imageSize, 1, 8192);
  overrides = checkOverrides(overrides);
  const at = (s: number): { size: number; scale: [number, number] } => {
    const r = s / 224;
    return { size: Math.max(1, Math.round(imageSize * r)), scale: [0.2 * r, r] };
  };
  const key = weakView(imageSize, { ...overrides, scale: [0.2, 1] });
  const sizes = kind === 'multi' ? REFERENCE_SIZES : [224];
  const weak = sizes.map((s) => weakView(at(s).size, { ...overrides, scale: at(s).scale }));
  const strongSizes = kind === 'multi' ? REFERENCE_SIZES : [96];
  const strong = strongSizes.map((s) => strongView(at(s).size, { ...overrides, scale: at(s).scale }));
  return { key, weak, strong, views: [key, ...weak, ...strong] };
}

function checkPair(name: string, v: unknown, test: (lo: number, hi: number) => boolean, expected: string): [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x)) || !test(v[0], v[1]))
    throw new RangeError(`${name}: expected ${expected} but got ${Array.isArray(v) ? `[${v.join(', ')}]` : describe(v)}`);
  return [v[0], v[1]];
}

const prob = (name: string, v: unknown) => checkNumber(name, v, (x) => x >= 0 && x <= 1, 'a probability in [0, 1]');

/** Validates a view and fills its defaults for `channels`; errors name `name` (e.g. 'views[2]'). */
export function resolveView(name: string, view: unknown, channels: number): NativeView {
  if (typeof view !== 'object' || view === null || Array.isArray(view))
    throw new TypeError(`${name}: expected a view { size, scale?, ... } but got ${describe(view)}`);
  const v = view as ViewSpec;
  const size = checkInt(`${name}.size`, v.size, 1, 8192);
  const scale = checkPair(`${name}.scale`, v.scale ?? [0.2, 1], (a, b) => a > 0 && a <= b && b <= 1,
    '[min, max] with 0 < min <= max <= 1');
  const ratio = checkPair(`${name}.ratio`, v.ratio ?? [3 / 4, 4 / 3], (a, b) => a > 0 && a <= b,
    '[min, max] with 0 < min <= max');
  const flip = prob(`${name}.flip`, v.flip ?? 0.5);
  const grayscale = prob(`${name}.grayscale`, v.grayscale ?? 0.2);
  const j = v.jitter === null ? { p: 0 } : v.jitter ?? {};
  if (typeof j !== 'object') throw new TypeError(`${name}.jitter: expected an object or null but got ${describe(j)}`);
  const strength = (k: string, x: unknown, d: number) =>
    checkNumber(`${name}.jitter.${k}`, x ?? d, (y) => y >= 0, 'a finite number >= 0');
  const brightness = strength('brightness', j.brightness, 0.4);
  const contrast = strength('contrast', j.contrast, 0.4);
  const saturation = strength('saturation', j.saturation, 0.4);
  const hue = checkNumber(`${name}.jitter.hue`, j.hue ?? 0.1, (y) => y >= 0 && y <= 0.5, 'a number in [0, 0.5]');
  const jitterP = prob(`${name}.jitter.p`, j.p ?? 0.8);
  const bl = v.blur === null ? { p: 0 } : v.blur ?? {};
  if (typeof bl !== 'object') throw new TypeError(`${name}.blur: expected an object or null but got ${describe(bl)}`);
  const sigma = checkPair(`${name}.blur.sigma`, bl.sigma ?? [0.1, 2], (a, b) => a > 0 && a <= b && b <= 1000,
    '[min, max] with 0 < min <= max <= 1000');
  const blurP = prob(`${name}.blur.p`, bl.p ?? 0.5);
  const ra = v.randAugment ?? null;
  if (ra !== null && typeof ra !== 'object')
    throw new TypeError(`${name}.randAugment: expected an object or null but got ${describe(ra)}`);
  const raN = ra ? checkInt(`${name}.randAugment.n`, ra.n ?? 5, 0, 16) : 0;
  const raP = ra ? prob(`${name}.randAugment.p`, ra.p ?? 0.5) : 0.5;
  const mag = ra ? checkPair(`${name}.randAugment.magnitude`, ra.magnitude ?? [1, 9],
    (a, b) => Number.isInteger(a) && Number.isInteger(b) && a >= 1 && a <= b && b <= 9,
    'integers [min, max] with 1 <= min <= max <= 9') : [1, 9];
  const fill = ra ? checkInt(`${name}.randAugment.fill`, ra.fill ?? 128, 0, 255) : 128;
  const defMean = channels === 3 ? IMAGENET_MEAN : FASHION_MNIST_MEAN;
  const defStd = channels === 3 ? IMAGENET_STD : FASHION_MNIST_STD;
  const list = (k: 'mean' | 'std', x: unknown, d: number[]) => {
    const arr = x ?? d;
    if (!Array.isArray(arr) || arr.length !== channels)
      throw new RangeError(`${name}.${k}: expected ${channels} number(s), one per channel, but got ${describe(arr)}`);
    arr.forEach((y, i) => checkNumber(`${name}.${k}[${i}]`, y, k === 'std' ? (z) => z > 0 : () => true,
      k === 'std' ? 'a finite number > 0' : 'a finite number'));
    return arr as number[];
  };
  return {
    size, scaleMin: scale[0], scaleMax: scale[1], ratioMin: ratio[0], ratioMax: ratio[1],
    flipP: flip, jitterP, brightness, contrast, saturation, hue, grayscaleP: grayscale,
    blurP, blurSigmaMin: sigma[0], blurSigmaMax: sigma[1],
    raN, raP, raMagnitudeMin: mag[0], raMagnitudeMax: mag[1], raFill: fill,
    mean: list('mean', v.mean, defMean), std: list('std', v.std, defStd),
  };
}

/** Checks an image batch; returns [N, H, W, C]. */
export function checkImages(name: string, images: unknown): [number, number, number, number] {
  if (typeof images !== 'object' || images === null)
    throw new TypeError(`${name}: expected { data: Uint8Array, shape: [N, H, W, C] } but got ${describe(images)}`);
  const { data, shape } = images as { data: unknown; shape: unknown };
  if (!Array.isArray(shape) || shape.length !== 4)
    throw new RangeError(`${name}.shape: expected [N, H, W, C] (4 dimensions) but got ${Array.isArray(shape) ? `[${shape.join(', ')}]` : describe(shape)}`);
  const [n, h, w, c] = shape as number[];
  checkInt(`${name}.shape[0] (N)`, n, 0, 2 ** 31 - 1);
  checkInt(`${name}.shape[1] (H)`, h, 1, 8192);
  checkInt(`${name}.shape[2] (W)`, w, 1, 8192);
  if (c !== 1 && c !== 3) throw new RangeError(`${name}.shape[3] (C): expected 1 or 3 channels but got ${describe(c)}`);
  if (Object.prototype.toString.call(data) !== '[object Uint8Array]')
    throw new TypeError(`${name}.data: expected a Uint8Array but got ${describe(data)}`);
  const want = n * h * w * c;
  if ((data as Uint8Array).length !== want)
    throw new RangeError(`${name}.data: expected ${want} bytes for shape [${n}, ${h}, ${w}, ${c}] but got ${(data as Uint8Array).length}`);
  return [n, h, w, c];
}

function checkViews(views: unknown, channels: number): NativeView[] {
  if (!Array.isArray(views) || views.length < 1 || views.length > 64)
    throw new RangeError(`views: expected an array of 1..64 views but got ${describe(views)}`);
  return views.map((v, i) => resolveView(`views[${i}]`, v, channels));
}

interface Prepared {
  args: {
    images: Uint8Array; n: number; height: number; width: number; channels: number;
    views: NativeView[]; seed: number; imageOffset: number; outputs: (Float32Array | NativeDeviceBuffer)[];
  };
  shapes: [number, number, number, number][];
  cuda: boolean;
  deviceIndex: number;
}

function prepare(images: ImageBatch, views: ViewSpec[], options: AugmentOptions | undefined, device: boolean): Prepared {
  const [n, h, w, c] = checkImages('images', images);
  const nv = checkViews(views, c);
  const o = options ?? {};
  if (typeof o !== 'object') throw new TypeError(`options: expected an object but got ${describe(o)}`);
  const seed = checkInt('options.seed', o.seed ?? 0, 0, Number.MAX_SAFE_INTEGER);
  const imageOffset = checkInt('options.imageOffset', o.imageOffset ?? 0, 0, Number.MAX_SAFE_INTEGER);
  const dev = checkEnum('options.device', o.device ?? (device ? 'cuda' : 'cpu'), ['auto', 'cpu', 'cuda'] as const);
  const deviceIndex = checkInt('options.deviceIndex', o.deviceIndex ?? 0, 0, 15);
  let cuda = dev === 'cuda';
  if (dev === 'auto') cuda = resolveDevice('options.device', 'auto', deviceIndex, 'augment') === 'cuda';
  if (cuda) {
    const b = backend();
    if (!b.cudaUsable)
      throw new Error(`options.device: 'cuda' requested but CUDA is not usable here (${b.cudaState}: ${b.cudaMessage})`);
  } else if (device) {
    throw new RangeError(`options.device: device outputs need 'cuda' (or 'auto' with a usable GPU) but got '${dev}'`);
  }
  const shapes = nv.map((v) => [n, c, v.size, v.size] as [number, number, number, number]);
  if (o.out !== undefined) {
    if (cuda || device) throw new RangeError(`options.out: reusable outputs are host Float32Arrays, for device 'cpu' only`);
    if (!Array.isArray(o.out) || o.out.length !== nv.length)
      throw new RangeError(`options.out: expected ${nv.length} Float32Array(s), one per view, but got ${describe(o.out)}`);
    o.out.forEach((a, i) => {
      const len = shapes[i].reduce((x, y) => x * y, 1);
      if (Object.prototype.toString.call(a) !== '[object Float32Array]' || a.length !== len)
        throw new RangeError(`options.out[${i}]: expected a Float32Array of length ${len} (shape [${shapes[i].join(', ')}]) but got ${describe(a)}`);
    });
  }
  const outputs = shapes.map((s, i) => {
    const len = s[0] * s[1] * s[2] * s[3];
    if (len > 2 ** 31 - 1) throw new RangeError(`views: an output of shape [${s.join(', ')}] exceeds 2^31-1 elements`);
    if (o.out) return o.out[i];
    return cuda ? new (native().DeviceBuffer)(deviceIndex, Math.max(1, len)) : new Float32Array(len);
  });
  return {
    args: { images: images.data, n, height: h, width: w, channels: c, views: nv, seed, imageOffset, outputs },
    shapes, cuda, deviceIndex,
  };
}

function hostResult(p: Prepared): { views: AugmentedView[] } {
  return {
    views: p.args.outputs.map((o, i) => {
      if (!p.cuda) return { data: o as Float32Array, shape: p.shapes[i] };
      const buf = o as NativeDeviceBuffer;
      const s = p.shapes[i];
      const data = new Float32Array(s[0] * s[1] * s[2] * s[3]);
      if (data.length) buf.download(data);
      buf.dispose();
      return { data, shape: s };
    }),
  };
}

function disposeOutputs(p: Prepared): void {
  if (p.cuda) for (const o of p.args.outputs) (o as NativeDeviceBuffer).dispose();
}

/**
 * Augments a batch: every view of every image, normalised float32 [N, C, size, size] per view.
 * Runs on a worker thread (AugmentWorker); the event loop keeps turning.
 */
export async function augmentBatch(images: ImageBatch, views: ViewSpec[], options?: AugmentOptions):
Promise<{ views: AugmentedView[] }> {
  const p = prepare(images, views, options, false);
  try {
    await native().augment(p.args);
  } catch (e) {
    disposeOutputs(p);
    throw e;
  }
  return hostResult(p);
}

/** As augmentBatch, on the calling thread. */
export function augmentBatchSync(images: ImageBatch, views: ViewSpec[], options?: AugmentOptions): { views: AugmentedView[] } {
  const p = prepare(images, views, options, false);
  try {
    native().augmentSync(p.args);
  } catch (e) {
    disposeOutputs(p);
    throw e;
  }
  return hostResult(p);
}

/** As augmentBatch, leaving the views in GPU memory for the encoder step (no host round trip). */
export async function augmentBatchDevice(images: ImageBatch, views: ViewSpec[], options?: AugmentOptions):
Promise<{ views: DeviceAugmentedView[] }> {
  const p = prepare(images, views, options, true);
  try {
    await native().augment(p.args);
  } catch (e) {
    disposeOutputs(p);
    throw e;
  }
  return { views: p.args.outputs.map((o, i) => DeviceTensor.adopt(o as NativeDeviceBuffer, p.shapes[i], p.deviceIndex)) };
}

export interface DrawOptions {
  /** Images to draw for. */
  n: number;
  /** Source image size and channels. */
  height: number;
  width: number;
  channels?: number;
  seed?: number;
  imageOffset?: number;
  /** Index of the view in its batch (part of the random stream's key). Default 0. */
  viewIndex?: number;
}

/** The most images drawAugmentParams draws for at once. */
export const MAX_DRAWN = 1 << 20;

/** The parameters augmentBatch would draw for one view (for inspection, previews and tests). */
export function drawAugmentParams(view: ViewSpec, options: DrawOptions): DrawnParams[] {
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`options: expected { n, height, width, ... } but got ${describe(options)}`);
  const channels = options.channels ?? 3;
  if (channels !== 1 && channels !== 3) throw new RangeError(`options.channels: expected 1 or 3 but got ${describe(channels)}`);
  const nv = resolveView('view', view, channels);
  // One object per image comes back: a cap well above any preview keeps a typo from exhausting memory.
  const n = checkInt('options.n', options.n, 0, MAX_DRAWN);
  const h = checkInt('options.height', options.height, 1, 8192);
  const w = checkInt('options.width', options.width, 1, 8192);
  const seed = checkInt('options.seed', options.seed ?? 0, 0, Number.MAX_SAFE_INTEGER);
  const off = checkInt('options.imageOffset', options.imageOffset ?? 0, 0, Number.MAX_SAFE_INTEGER);
  const vi = checkInt('options.viewIndex', options.viewIndex ?? 0, 0, 2 ** 31 - 1);
  return native().augmentDraw(nv, n, h, w, channels, seed, off, vi) as DrawnParams[];
}

/**
 * Runs the pipelines with explicit parameters, params[v][i] for view v and image i (CPU, calling
 * thread). The derived fields (hue shift, blur box radius, op arguments, affine coefficients)
 * are recomputed natively from the drawn ones.
 */
export function applyAugmentParams(images: ImageBatch, views: ViewSpec[], params: AugmentParams[][]): { views: AugmentedView[] } {
  const p = prepare(images, views, { device: 'cpu' }, false);
  if (!Array.isArray(params) || params.length !== views.length)
    throw new RangeError(`params: expected one array per view (${views.length}) but got ${describe(params)}`);
  params.forEach((pv, v) => {
    if (!Array.isArray(pv) || pv.length !== p.args.n)
      throw new RangeError(`params[${v}]: expected ${p.args.n} parameter objects but got ${describe(pv)}`);
    pv.forEach((one, i) => checkAugmentParams(`params[${v}][${i}]`, one, p.args.height, p.args.width, RA_OPS.length));
  });
  native().augmentApply(p.args, params);
  return hostResult(p);
}
