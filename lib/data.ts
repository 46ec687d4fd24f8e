// Data sets: IDX files (MNIST family), folders of images (decoded once with sharp, cached),
// in-memory arrays, and 'fashion-mnist' (the Debian package's full set when installed, else the
// class-balanced subset shipped in data/fashion-mnist-subset/).
//
// A test split is a disjoint set of images or it does not exist. A source without one of its own
// (a folder without train/ and test/ sub-folders, IDX files without t10k-*, one in-memory pool)
// gets a stratified, seeded hold-out (lib/split.ts): its 'test' split is that hold-out and its
// 'train' split everything else, so every command and call sees the same two disjoint sets.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { readIdx } from './idx';
import { holdOut } from './split';
import { checkImageTensor } from './dataset-check';
import { FormatError } from './errors';
import { checkInputFile, writeFileAtomicSync } from './fsutil';
import { Dataset, ImageTensor, NoTestSplitError, Split } from './dataset';
import { checkEnum, checkInt, checkNumber, checkOptions, describe, MAX_ELEMENTS } from './validate';

export type { Dataset, ImageTensor, Split } from './dataset';
export { NoTestSplitError } from './dataset';

export interface LoadOptions {
  split?: Split;
  /** Image folders: every image is resized to size x size (default 32). */
  size?: number;
  /** Image folders: 1 (grayscale) or 3 (RGB, default). */
  channels?: 1 | 3;
  /** Image folders: where the decoded tensor is cached (default DIR/.clsa-cache); false = no cache. */
  cacheDir?: string | false;
  /** 'fashion-mnist': directories searched for the full set (default FASHION_MNIST_DIRS). */
  fashionMnistDirs?: string[];
  /**
   * Sources without a test split of their own: the images held out as their test split, a
   * fraction in (0, 1) or a count, stratified per class (default DEFAULT_HOLD_OUT, a fifth);
   * false = no test split (loading split 'test' then throws a NoTestSplitError).
   */
  holdOut?: number | false;
  /** Seed of that hold-out (default 0). The same data, holdOut and seed give the same rows. */
  splitSeed?: number;
}

/** The test hold-out of a source without a test split: a fifth of each class. */
export const DEFAULT_HOLD_OUT = 0.2;


export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

/** Where the Debian package dataset-fashion-mnist puts the four IDX gzip files. */
export const FASHION_MNIST_DIRS = ['/usr/share/datasets/fashion-mnist'];

/** The compact subset shipped inside the package. */
export const FASHION_MNIST_SUBSET_DIR = path.resolve(__dirname, '..', 'data', 'fashion-mnist-subset');

const IDX_NAMES: Record<Split, [string, string]> = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
};

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.webp']);

function findFile(dir: string, base: string): string | undefined {
  for (const name of [base, base + '.gz', base.replace(/-idx(\d)-/, '.idx$1-')]) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

/** True when `dir` holds the IDX pair of `split` (plain or .gz). */
export function hasIdx(dir: string, split: Split = 'train'): boolean {
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`dir: expected a directory path but got ${describe(dir)}`);
  checkEnum('split', split, ['train', 'test'] as const);
  const [im, lb] = IDX_NAMES[split];
  return findFile(dir, im) !== undefined && findFile(dir, lb) !== undefined;
}

/** Loads an IDX image file and its label file; checks dims and counts. */
export function loadIdxPair(imagesFile: string, labelsFile: string | undefined): { images: ImageTensor; labels?: Int32Array } {
  if (labelsFile !== undefined && labelsFile !== null) checkInputFile('labelsFile', labelsFile);
  const im = readIdx(imagesFile, undefined, 'imagesFile');
  if (im.dims.length !== 3 && im.dims.length !== 4)
    throw new FormatError(imagesFile, `${imagesFile}: expected images of 3 dims [n, H, W] or 4 dims [n, H, W, C] but got [${im.dims.join(', ')}]`);
  if (im.dims.slice(1).some((d) => d === 0))
    throw new FormatError(imagesFile, `${imagesFile}: expected non-zero image dims but got [${im.dims.join(', ')}]`);
  const [n, h, w] = im.dims;
  const c = im.dims.length === 4 ? im.dims[3] : 1;
  const images: ImageTensor = { data: new Uint8Array(im.data), shape: [n, h, w, c] };
  if (!labelsFile) return { images };
  const lb = readIdx(labelsFile, undefined, 'labelsFile');
  if (lb.dims.length !== 1) throw new FormatError(labelsFile, `${labelsFile}: expected labels of 1 dim [n] but got [${lb.dims.join(', ')}]`);
  if (lb.dims[0] !== n)
    throw new FormatError(labelsFile, `${labelsFile}: label count ${lb.dims[0]} does not match the image count ${n} of ${imagesFile}`);
  return { images, labels: Int32Array.from(lb.data) };
}

/** How a source without a test split gives one up, and the argument it came from (for messages). */
interface HoldOut { spec: number | false; seed: number; name: string }

/** Split `split` of a data set that has no test split of its own: the hold-out or the rest. */
function heldOut(ds: Dataset, split: Split, h: HoldOut): Dataset {
  if (h.spec === false) {
    if (split === 'train') return ds;
    throw noTest(ds.source);
  }
  return holdOut(ds, h.spec, h.seed, split, 'options.holdOut');
}

const noTest = (source: string) => new NoTestSplitError(`${source}: no test split (the source has none and options.holdOut is false)`);

function loadIdxDir(dir: string, split: Split, h?: HoldOut): Dataset {
  // Training files without t10k-* ones: the test split is held out of the training files.
  if (h && hasIdx(dir, 'train') && !hasIdx(dir, 'test')) {
    if (h.spec === false && split === 'test') throw noTest(dir);
    return heldOut(loadIdxDir(dir, 'train'), split, h);
  }
  const [imName, lbName] = IDX_NAMES[split];
  const im = findFile(dir, imName);
  if (!im) throw new FormatError(dir, `${h?.name ?? 'source'}: ${dir}: expected ${imName}(.gz) for split '${split}' but it is not there`);
  const lb = findFile(dir, lbName);
  const { images, labels } = loadIdxPair(im, lb);
  return { images, labels, source: dir };
}

/**
 * Which Fashion-MNIST to use: the first directory of `dirs` holding all four IDX files (the full
 * set), else the shipped subset. `dirs` is injectable for tests.
 */
export function resolveFashionMnist(dirs: string[] = FASHION_MNIST_DIRS,
                                    subsetDir: string = FASHION_MNIST_SUBSET_DIR): { dir: string; full: boolean } {
  if (!Array.isArray(dirs) || !dirs.every((d) => typeof d === 'string' && d.length > 0))
    throw new TypeError(`dirs: expected an array of directory paths but got ${describe(dirs)}`);
  if (typeof subsetDir !== 'string' || subsetDir.length === 0) throw new TypeError(`subsetDir: expected a directory path but got ${describe(subsetDir)}`);
  for (const d of dirs) if (hasIdx(d, 'train') && hasIdx(d, 'test')) return { dir: d, full: true };
  if (hasIdx(subsetDir, 'train') && hasIdx(subsetDir, 'test')) return { dir: subsetDir, full: false };
  throw new Error(`fashion-mnist: neither the full set (searched ${dirs.join(', ') || 'nothing'}; install it with ` +
    `scripts/install-fashion-mnist.sh) nor the shipped subset (${subsetDir}) was found`);
}

// ---- image folders -------------------------------------------------------------------------

interface FolderEntry { file: string; label?: number }

function listImages(dir: string, name: string): { entries: FolderEntry[]; classes?: string[] } {
  const names = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => !e.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const subdirs = names.filter((e) => e.isDirectory());
  const files = names.filter((e) => e.isFile() && IMAGE_EXT.has(path.extname(e.name).toLowerCase()));
  if (subdirs.length > 0) {
    // Class sub-folders: labels are the sorted sub-folder names' indices (torchvision ImageFolder).
    if (files.length > 0)
      throw new FormatError(dir, `${name}: ${dir}: found both images and sub-folders at the top level; expected class sub-folders only (or images only)`);
    const classes = subdirs.map((e) => e.name);
    const entries: FolderEntry[] = [];
    classes.forEach((c, label) => {
      const walk = (d: string): void => {
        for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
          if (e.name.startsWith('.')) continue;
          const p = path.join(d, e.name);
          if (e.isDirectory()) walk(p);
          else if (e.isFile() && IMAGE_EXT.has(path.extname(e.name).toLowerCase())) entries.push({ file: p, label });
        }
      };
      walk(path.join(dir, c));
    });
    return { entries, classes };
  }
  return { entries: files.map((e) => ({ file: path.join(dir, e.name) })) };
}

const CACHE_MAGIC = 'CLSAIMG1';

function cacheKey(entries: FolderEntry[], size: number, channels: number): string {
  const h = crypto.createHash('sha256');
  h.update(`${CACHE_MAGIC} ${size} ${channels}\n`);
  for (const e of entries) {
    const st = fs.statSync(e.file);
    h.update(`${e.file}\0${e.label ?? -1}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return h.digest('hex').slice(0, 32);
}

function readCache(file: string, n: number, size: number, channels: number): Uint8Array | undefined {
  try {
    const b = fs.readFileSync(file);
    const expect = n * size * size * channels;
    if (b.length !== 8 + expect || b.subarray(0, 8).toString('latin1') !== CACHE_MAGIC) return undefined;
    return new Uint8Array(b.buffer, b.byteOffset + 8, expect);
  } catch {
    return undefined;
  }
}

async function decodeAll(entries: FolderEntry[], size: number, channels: 1 | 3): Promise<Uint8Array> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sharp = require('sharp') as typeof import('sharp');
  const per = size * size * channels;
  const out = new Uint8Array(entries.length * per);
  const width = 8;  // decode a few at a time: libvips is multithreaded per image already
  for (let i = 0; i < entries.length; i += width) {
    await Promise.all(entries.slice(i, i + width).map(async (e, j) => {
      let px: Buffer;
      try {
        let img = sharp(e.file).resize(size, size, { fit: 'fill' }).removeAlpha();
        img = channels === 1 ? img.toColourspace('b-w') : img.toColourspace('srgb');
        const r = await img.raw().toBuffer({ resolveWithObject: true });
        if (r.info.channels !== channels) {
          // 1-channel sources asked for 3 come back as 1 from some codecs: expand.
          if (r.info.channels === 1 && channels === 3) {
            px = Buffer.alloc(per);
            for (let p = 0; p < size * size; p++) px[3 * p] = px[3 * p + 1] = px[3 * p + 2] = r.data[p];
          } else throw new Error(`decoded ${r.info.channels} channels, expected ${channels}`);
        } else px = r.data;
      } catch (err) {
        throw new FormatError(e.file, `${e.file}: could not decode the image (${(err as Error).message})`);
      }
      if (px.length !== per) throw new FormatError(e.file, `${e.file}: decoded ${px.length} bytes, expected ${per}`);
      out.set(px, (i + j) * per);
    }));
  }
  return out;
}

async function loadFolder(dir: string, opts: LoadOptions, h: HoldOut): Promise<Dataset> {
  const split = opts.split ?? 'train';
  // A folder with train/ and test/ (or val/) sub-folders holds both splits.
  const sub = split === 'train' ? ['train'] : ['test', 'val'];
  const splitDirs = sub.map((s) => path.join(dir, s)).filter((p) => fs.existsSync(p) && fs.statSync(p).isDirectory());
  const hasSplits = fs.existsSync(path.join(dir, 'train')) && (fs.existsSync(path.join(dir, 'test')) || fs.existsSync(path.join(dir, 'val')));
  const root = hasSplits ? splitDirs[0] : dir;
  // Without split sub-folders both splits come from the whole folder (decoded and cached once).
  if (!hasSplits && split === 'test' && h.spec === false) throw noTest(dir);
  if (!hasSplits && split === 'test') return heldOut(await loadFolder(dir, { ...opts, split: 'train' }, { spec: false, seed: 0, name: h.name }), 'test', h);
  if (!root) throw new FormatError(dir, `${h.name}: ${dir}: expected a '${sub.join("' or '")}' sub-folder for split '${split}'`);
  const size = opts.size ?? 32;
  const channels = opts.channels ?? 3;
  const { entries, classes } = listImages(root, h.name);
  if (entries.length === 0) throw new FormatError(root, `${h.name}: ${root}: expected images (${[...IMAGE_EXT].join(', ')}) or class sub-folders of images but found none`);
  const shape: ImageTensor['shape'] = [entries.length, size, size, channels];
  if (entries.length * size * size * channels > MAX_ELEMENTS)
    throw new RangeError(`options.size: ${entries.length} images of ${size} x ${size} x ${channels} bytes are more than the ${MAX_ELEMENTS} one tensor holds; ` +
      'use a smaller size');
  const labels = classes ? Int32Array.from(entries.map((e) => e.label as number)) : undefined;
  let data: Uint8Array | undefined;
  let cacheFile: string | undefined;
  if (opts.cacheDir !== false) {
    const cdir = opts.cacheDir ?? path.join(dir, '.clsa-cache');
    const splitTag = hasSplits ? split : 'all';
    cacheFile = path.join(cdir, `${splitTag}-${cacheKey(entries, size, channels)}.bin`);
    data = readCache(cacheFile, entries.length, size, channels);
  }
  if (!data) {
    data = await decodeAll(entries, size, channels);
    if (cacheFile) {
      try {
        fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
        // Drop stale caches of this split (files changed), then write the new one atomically.
        const prefix = path.basename(cacheFile).split('-')[0] + '-';
        for (const f of fs.readdirSync(path.dirname(cacheFile)))
          if (f.startsWith(prefix) && f.endsWith('.bin')) fs.rmSync(path.join(path.dirname(cacheFile), f), { force: true });
        writeFileAtomicSync(cacheFile, [Buffer.from(CACHE_MAGIC, 'latin1'), data]);
      } catch {
        /* a read-only data folder: just no cache */
      }
    }
  }
  const ds: Dataset = { images: { data, shape }, labels, classes, source: root, files: entries.map((e) => e.file) };
  return hasSplits ? ds : heldOut(ds, 'train', h);
}

// ---- in-memory -------------------------------------------------------------------------------

/** Validates one in-memory array set; `name` prefixes the errors ('source', 'source.train' ...). */
export function memoryDataset(name: string, src: unknown, source = 'memory'): Dataset {
  if (typeof src !== 'object' || src === null)
    throw new TypeError(`${name}: expected { images: { data, shape: [n, H, W, C] }, labels? } but got ${describe(src)}`);
  const { images: im, labels: lb, classes: cl } = src as { images?: { data?: unknown; shape?: unknown }; labels?: unknown; classes?: unknown };
  if (typeof im !== 'object' || im === null) throw new TypeError(`${name}.images: expected { data: Uint8Array, shape: [n, H, W, C] } but got ${describe(im)}`);
  if (Object.prototype.toString.call(im.data) !== '[object Uint8Array]')
    throw new TypeError(`${name}.images.data: expected a Uint8Array but got ${describe(im.data)}`);
  const shape = im.shape;
  if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((s) => Number.isInteger(s) && s >= 1))
    throw new RangeError(`${name}.images.shape: expected [n, H, W, C] of integers >= 1 but got ${JSON.stringify(shape)}`);
  const data = im.data as Uint8Array;
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new RangeError(`${name}.images.data: expected ${count} bytes for shape [${shape.join(', ')}] but got ${data.length}`);
  let labels: Int32Array | undefined;
  if (lb !== undefined) {
    if (Object.prototype.toString.call(lb) !== '[object Int32Array]')
      throw new TypeError(`${name}.labels: expected an Int32Array but got ${describe(lb)}`);
    labels = lb as Int32Array;
    if (labels.length !== shape[0]) throw new RangeError(`${name}.labels: expected ${shape[0]} labels (one per image) but got ${labels.length}`);
    const bad = labels.findIndex((l) => l < 0);
    if (bad >= 0) throw new RangeError(`${name}.labels[${bad}]: expected a class index >= 0 but got ${labels[bad]}`);
  }
  let classes: string[] | undefined;
  if (cl !== undefined) {
    if (!Array.isArray(cl) || !cl.every((c) => typeof c === 'string'))
      throw new TypeError(`${name}.classes: expected an array of strings but got ${describe(cl)}`);
    classes = cl as string[];
  }
  return { images: { data, shape: shape as ImageTensor['shape'] }, labels, classes, source };
}

/** Images (and labels) held in memory. */
export interface MemoryImages { images: ImageTensor; labels?: Int32Array; classes?: string[] }

/** In-memory data with its splits given: `test` is the test split; without it there is none. */
export interface MemorySplits { train: MemoryImages; test?: MemoryImages; classes?: string[] }

export type DatasetSource = string | MemoryImages | MemorySplits;

/** True for the { train, test? } form of in-memory data. */
export function isMemorySplits(src: unknown): src is MemorySplits {
  return typeof src === 'object' && src !== null && 'train' in src && !('images' in src);
}

function fromMemory(src: MemoryImages | MemorySplits, split: Split, h: HoldOut): Dataset {
  const name = h.name;
  if (!isMemorySplits(src)) return heldOut(memoryDataset(name, src), split, h);
  // Both parts are checked whichever is asked for: a broken test array is named now, not when a
  // later call evaluates on it.
  const other = split === 'train' ? src.test : src.train;
  if (other !== undefined) memoryDataset(`${name}.${split === 'train' ? 'test' : 'train'}`, other);
  const part = split === 'train' ? src.train : src.test;
  if (part === undefined)
    throw new NoTestSplitError(`${name}: in-memory { train } data without a test array has no test split ` +
      '(pass { train, test }, or one { images, labels } set to hold a test split out of)');
  const ds = memoryDataset(`${name}.${split}`, part, `memory (${split})`);
  if (src.classes === undefined || ds.classes !== undefined) return ds;
  if (!Array.isArray(src.classes) || !src.classes.every((c) => typeof c === 'string'))
    throw new TypeError(`${name}.classes: expected an array of strings but got ${describe(src.classes)}`);
  return { ...ds, classes: src.classes };
}

/** The options every source shares, checked whatever the source (a bad size is an error even
 * where only image folders would read it). */
function checkLoadOptions(o: LoadOptions | undefined): LoadOptions {
  const options = checkOptions('options', o);
  if (options.size !== undefined) checkInt('options.size', options.size, 1, 4096);
  if (options.channels !== undefined && options.channels !== 1 && options.channels !== 3)
    throw new RangeError(`options.channels: expected 1 or 3 but got ${describe(options.channels)}`);
  const cache = options.cacheDir;
  if (cache !== undefined && cache !== false && (typeof cache !== 'string' || cache === ''))
    throw new TypeError(`options.cacheDir: expected a directory path or false but got ${describe(cache)}`);
  const dirs = options.fashionMnistDirs;
  if (dirs !== undefined && (!Array.isArray(dirs) || !dirs.every((d) => typeof d === 'string')))
    throw new TypeError(`options.fashionMnistDirs: expected an array of directory paths but got ${describe(dirs)}`);
  return options;
}

/**
 * Loads a data set:
 * - 'fashion-mnist' (or 'fashion-mnist:PATH'): full set when installed, else the shipped subset;
 * - a directory holding IDX files (train-images-idx3-ubyte[.gz] ..., t10k-* for the test split);
 * - a directory of images (optionally train/ and test/ sub-folders; class sub-folders give labels);
 * - in-memory { images: { data, shape }, labels?, classes? }, or { train, test? } of those.
 * A source without a test split of its own gets a stratified hold-out (options.holdOut).
 */
export async function loadDataset(source: DatasetSource, options: LoadOptions = {}): Promise<Dataset> {
  return loadSource('source', source, options);
}

/** loadDataset, with errors about the source naming `name` (trainClsa's 'options.data', say). */
export async function loadSource(name: string, source: DatasetSource, userOptions: LoadOptions = {}): Promise<Dataset> {
  const options = checkLoadOptions(userOptions);
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'test') throw new RangeError(`options.split: expected 'train' or 'test' but got ${describe(split)}`);
  const spec = options.holdOut ?? DEFAULT_HOLD_OUT;
  if (spec !== false) checkNumber('options.holdOut', spec, (x) => x > 0 && (x < 1 || Number.isInteger(x)), 'a fraction in (0, 1), a count >= 1 or false');
  const h: HoldOut = { spec, seed: checkInt('options.splitSeed', options.splitSeed ?? 0, 0, 2 ** 32 - 1), name };
  if (typeof source === 'object' && source !== null) return fromMemory(source, split, h);
  if (typeof source !== 'string') throw new TypeError(`${name}: expected a path, 'fashion-mnist' or { images, labels } but got ${describe(source)}`);
  if (source === 'fashion-mnist' || source.startsWith('fashion-mnist:')) {
    const given = source.startsWith('fashion-mnist:') ? source.slice('fashion-mnist:'.length) : undefined;
    const { dir, full } = given ? { dir: given, full: true } : resolveFashionMnist(options.fashionMnistDirs);
    const ds = loadIdxDir(dir, split, h);
    return { ...ds, classes: FASHION_MNIST_CLASSES.slice(), source: `fashion-mnist (${full ? 'full' : 'subset'}: ${dir})` };
  }
  if (!fs.existsSync(source)) throw new RangeError(`${name}: the path ${source} does not exist`);
  const st = fs.statSync(source);
  if (!st.isDirectory()) throw new RangeError(`${name}: expected a directory (IDX files or images) but ${source} is a file`);
  if (hasIdx(source, 'train') || hasIdx(source, 'test')) return loadIdxDir(source, split, h);
  return loadFolder(source, options, h);
}

/** Pixels as float features in [0, 1], one row per image: [n, H*W*C]. */
export function imagesToFeatures(images: ImageTensor): { data: Float32Array; shape: [number, number] } {
  const [n, h, w, c] = checkImageTensor('images', images, 0).shape;
  const out = new Float32Array(images.data.length);
  for (let i = 0; i < out.length; i++) out[i] = images.data[i] / 255;
  return { data: out, shape: [n, h * w * c] };
}

/** Image files decoded and resized as an image folder's (size x size, 1 or 3 channels), in the
 * order given: single images a search queries with. */
export async function loadImageFiles(files: string[], options: { size?: number; channels?: 1 | 3 } = {}): Promise<Dataset> {
  if (!Array.isArray(files) || files.length === 0 || !files.every((f) => typeof f === 'string'))
    throw new TypeError(`files: expected a non-empty array of image paths but got ${describe(files)}`);
  options = checkOptions('options', options);
  const size = options.size ?? 32, channels = options.channels ?? 3;
  if (!Number.isInteger(size) || size < 1 || size > 4096) throw new RangeError(`options.size: expected an integer in [1, 4096] but got ${describe(size)}`);
  if (channels !== 1 && channels !== 3) throw new RangeError(`options.channels: expected 1 or 3 but got ${describe(channels)}`);
  for (const f of files) if (!fs.existsSync(f)) throw new RangeError(`files: ${f} does not exist`);
  if (files.length * size * size * channels > MAX_ELEMENTS)
    throw new RangeError(`options.size: ${files.length} images of ${size} x ${size} x ${channels} bytes are more than the ${MAX_ELEMENTS} one tensor holds`);
  const data = await decodeAll(files.map((file) => ({ file })), size, channels);
  return { images: { data, shape: [files.length, size, size, channels] }, source: files.length === 1 ? files[0] : `${files.length} files`, files: files.slice() };
}
