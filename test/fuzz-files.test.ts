// Fuzzed damage to files clsa reads: model directories (loadEncoder), checkpoints (trainClsa's
// resume), saved search indexes, npy, safetensors, IDX files and PNG folders. Each case copies a
// good directory, damages one file, and calls the reader: it must fail with a typed error naming
// the damaged directory or file, or (only where the damage can leave a legal file: a JSON value, a
// flipped pixel) succeed with a usable result. Readers must not change what they read.
import fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  ClsaModel, encodeIdx, encodeNpy, encodeSafetensors, Encoder, loadDataset, loadEncoder, readNpy, readSafetensors, SearchIndex, trainClsa,
} from '../lib';
import { apply, copyOf, Damage, damage } from './helpers/corrupt';
import { treeDigests } from './helpers/disk';
import { CASE_MS, judgeError, SEED, show, targetSeed, withTimeout } from './helpers/fuzz';
import { seedNote } from './helpers/seed';
import { side, tiny } from './helpers/tiny-data';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-fuzz-files-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const runOptions = () => ({ data: { train: tiny(16, 1) }, epochs: 1, batchSize: 8, width: 2, projDim: 8, queueSize: 16, evaluate: false as const, device: 'cpu' as const });

interface FileTarget {
  name: string;
  /** The pristine directory (built once), the files in it to damage and the JSON fields to replace. */
  pristine: () => Promise<string>;
  files: string[];
  json?: Record<string, string[][]>;
  /** Reads the damaged copy; a success must return something usable (it is checked by `usable`). */
  read: (dir: string) => Promise<unknown>;
  usable: (result: unknown, d: Damage) => void | Promise<void>;
  /** Damage after which the file may still be legal (everything else must be an error). */
  mayPass: (d: Damage) => boolean;
  /** What the error may name besides the damaged copy's path. */
  names?: string[];
}

let pngPixels: Promise<{ images: { data: Uint8Array } }> | undefined;
const pngPristine = () => (pngPixels ??= loadDataset(path.join(tmp, 'png'), { holdOut: false, cacheDir: false, size: side, channels: 1 }));

// A JSON file stays legal after a changed value, a flipped or appended byte that is still JSON, or a
// cut that took only the final newline.
const jsonOnly = (d: Damage) => d.kind === 'json' || (d.file.endsWith('.json') && (d.kind === 'flip' || d.kind === 'append' || d.kind === 'truncate'));

async function fuzzFiles(t: FileTarget, runs: number): Promise<void> {
  const pristine = await t.pristine();
  const work = path.join(tmp, `${t.name.replace(/\W+/g, '-')}-case`);
  await fc.assert(fc.asyncProperty(damage(t.files, t.json), async (d) => {
    const dir = copyOf(pristine, work);
    apply(dir, d);
    const before = treeDigests(dir);
    const what = `${t.name} after ${show(d)}`;
    let result: unknown, error: unknown;
    try {
      result = await withTimeout(t.read(dir), CASE_MS, what);
    } catch (err) {
      error = err;
    }
    if (error !== undefined) judgeError(error, [dir, ...(t.names ?? [])], what);
    else if (!t.mayPass(d)) throw new Error(`${what}: expected an error but the damaged file was read`);
    else await t.usable(result, d);
    const after = treeDigests(dir);
    if ([...after].some(([k, v]) => before.get(k) !== v) || after.size !== before.size) throw new Error(`${what}: the reader changed the files it read`);
  }), { seed: targetSeed(t.name), numRuns: runs });
}

const encoderJson = [['format'], ['version'], ['model', 'width'], ['model', 'arch'], ['model', 'inChannels'], ['featureDim'], ['normalization', 'std'],
  ['normalization', 'mean'], ['normalization', 'channels'], ['imageSize'], ['clsaFormat'], ['clsaFiles', 'model.safetensors', 'sha256']];

const targets: [FileTarget, number][] = [
  [{
    name: 'loadEncoder',
    pristine: async () => {
      const dir = path.join(tmp, 'model');
      const e = new Encoder(ClsaModel.create({ width: 2, projDim: 8, queueSize: 16, inChannels: 1, device: 'cpu' }), { channels: 1, mean: [0.5], std: [0.25] }, [side, side]);
      await e.save(dir);
      e.dispose();
      return dir;
    },
    files: ['config.json', 'model.safetensors'],
    json: { 'config.json': encoderJson },
    read: async (dir) => loadEncoder(dir, { device: 'cpu' }),
    usable: async (r) => {
      const e = r as Encoder;
      const f = await e.embed(tiny(2, 9).images);
      e.dispose();
      expect(f.data.every(Number.isFinite)).toBe(true);
    },
    mayPass: jsonOnly,
  }, 300],
  [{
    name: 'resume from a checkpoint',
    pristine: async () => {
      const dir = path.join(tmp, 'checkpoint');
      (await trainClsa({ ...runOptions(), checkpoint: { dir } })).encoder.dispose();
      return dir;
    },
    files: ['checkpoint.json', 'state.safetensors'],
    json: { 'checkpoint.json': [['epoch'], ['step'], ['format'], ['version'], ['modelState', 'config', 'width'], ['modelState', 'queuePointer'],
      ['modelState', 'rng'], ['normalization', 'std'], ['imageSize'], ['history'], ['options', 'epochs'], ['files', 'state.safetensors', 'bytes']] },
    read: async (dir) => trainClsa({ ...runOptions(), resume: dir }),
    usable: (r) => (r as { encoder: Encoder }).encoder.dispose(),
    mayPass: jsonOnly,
    names: ['options.resume'],
  }, 250],
  [{
    name: 'SearchIndex.load',
    pristine: async () => {
      const dir = path.join(tmp, 'index');
      const e = new Encoder(ClsaModel.create({ width: 2, projDim: 8, queueSize: 16, inChannels: 1, device: 'cpu' }), { channels: 1, mean: [0.5], std: [0.25] }, [side, side]);
      await (await SearchIndex.build(e, tiny(6, 3))).save(dir);
      e.dispose();
      return dir;
    },
    files: ['index.json', 'features.npy', 'labels.npy'],
    json: { 'index.json': [['format'], ['version'], ['count'], ['featureDim'], ['files'], ['classes'], ['data', 'features.npy', 'sha256']] },
    read: async (dir) => SearchIndex.load(dir),
    usable: async (r) => {
      const index = r as SearchIndex;
      const hits = await index.searchFeatures({ data: new Float32Array(index.features.shape[1]).fill(1), shape: [1, index.features.shape[1]] }, 1);
      expect(hits[0].neighbours).toHaveLength(1);
    },
    mayPass: jsonOnly,
  }, 250],
  [{
    name: 'readNpy',
    pristine: async () => {
      const dir = path.join(tmp, 'npy');
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'a.npy'), Buffer.concat(encodeNpy({ data: Float32Array.from({ length: 12 }, (_, i) => i), shape: [3, 4] })));
      return dir;
    },
    files: ['a.npy'],
    read: async (dir) => readNpy(path.join(dir, 'a.npy')),
    usable: (r) => expect((r as { data: Float32Array }).data.length).toBe(12),
    // The header is text padded with spaces and the data has no checksum: a flip there can stay legal.
    mayPass: (d) => d.kind === 'flip',
  }, 200],
  [{
    name: 'readSafetensors',
    pristine: async () => {
      const dir = path.join(tmp, 'st');
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'a.safetensors'), encodeSafetensors({ w: { dtype: 'F32', shape: [2, 3], data: new Float32Array(6).fill(1) } }, { k: 'v' }));
      return dir;
    },
    files: ['a.safetensors'],
    read: async (dir) => readSafetensors(path.join(dir, 'a.safetensors')),
    usable: (r) => expect(Object.keys((r as { tensors: object }).tensors).length).toBeGreaterThanOrEqual(1),
    mayPass: (d) => d.kind === 'flip',
  }, 200],
  [{
    name: 'loadDataset of IDX files',
    pristine: async () => {
      const dir = path.join(tmp, 'idx');
      fs.mkdirSync(dir);
      const t = tiny(6, 4);
      fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), encodeIdx([6, side, side], t.images.data));
      fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), encodeIdx([6], Uint8Array.from(t.labels)));
      return dir;
    },
    files: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
    read: async (dir) => loadDataset(dir, { holdOut: false }),
    usable: (r) => expect((r as { images: { shape: number[] } }).images.shape[0]).toBe(6),
    mayPass: (d) => d.kind === 'flip',
    names: ['source'],
  }, 200],
  [{
    name: 'loadDataset of a PNG folder',
    pristine: async () => {
      const dir = path.join(tmp, 'png');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const sharp = require('sharp') as typeof import('sharp');
      for (const c of ['a', 'b']) {
        fs.mkdirSync(path.join(dir, c), { recursive: true });
        for (let i = 0; i < 2; i++)
          await sharp(Buffer.from(tiny(1, 10 + i).images.data), { raw: { width: side, height: side, channels: 1 } }).png().toFile(path.join(dir, c, `${i}.png`));
      }
      return dir;
    },
    files: ['a/0.png', 'b/1.png'],
    read: async (dir) => loadDataset(dir, { holdOut: false, cacheDir: false, size: side, channels: 1 }),
    usable: async (r, d) => {
      const got = r as { images: { data: Uint8Array; shape: number[] } };
      expect(got.images.shape[0]).toBeGreaterThanOrEqual(3);
      // A cut that only took the end marker (or the last checksum) leaves every pixel: then they
      // must be the pristine pixels, not a decoder's guess at missing rows.
      if (d.kind === 'truncate' || d.kind === 'append') expect(Buffer.compare(got.images.data, (await pngPristine()).images.data)).toBe(0);
    },
    // A flipped byte can land in pixel data a decoder takes as it is; a deleted image leaves a
    // smaller folder, which is still a folder of images.
    mayPass: (d) => d.kind !== 'empty',
  }, 100],
];

describe(`fuzzed damage to the files clsa reads (${seedNote(SEED)})`, () => {
  for (const [t, runs] of targets)
    test(`${t.name}: ${runs} damaged copies, each a typed error naming the file or a usable result`, () => fuzzFiles(t, runs), 120000);
});
