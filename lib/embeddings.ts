// Features of a whole data set for the rest of the stack: embedDataset runs the encoder over a
// source (as clsa loads it), writeEmbeddings leaves them as NumPy files that np.load reads:
// OUT.npy float32 [n, featureDim], OUT.labels.npy int32 [n] where the source has labels, and
// OUT.json (source, split, classes, file names, the encoder's normalisation and digest).
import { Dataset, DatasetSource, LoadOptions, loadDataset, Split } from './data';
import { checkDataset, checkLabels } from './dataset-check';
import { Encoder } from './encoder';
import { checkOutputFile, writeFileAtomic } from './fsutil';
import { encodeNpy } from './npy';
import { checkEnum, checkHostTensor, checkInt, checkOptions, checkValues, describe } from './validate';

export const EMBEDDINGS_FORMAT = 'clsa-embeddings';

export interface Embeddings {
  /** Row-major float32 [n, featureDim], exactly what Encoder.embed returns. */
  features: { data: Float32Array; shape: [number, number] };
  labels?: Int32Array;
  classes?: string[];
  /** Image folders: the file of each row. */
  files?: string[];
  source: string;
  split: Split;
}

export interface EmbedOptions {
  /** Which split of the source (default 'train'; a folder without split sub-folders is embedded whole). */
  split?: Split;
  /** Image folders: resize to size x size (default: the encoder's training size). */
  size?: number;
  /** Image folders: 1 or 3 channels (default: the encoder's). */
  channels?: 1 | 3;
  /** Images per native call (default 512). */
  batch?: number;
}

/** How a source is loaded for an encoder: image folders at its size and channels, and every image
 * of a source without a test split (a loader that holds some out by default is told not to). */
export function encoderLoadOptions(encoder: Encoder, userOptions: EmbedOptions, name = 'options'): LoadOptions {
  checkEncoder('encoder', encoder);
  const options = checkOptions(name, userOptions);
  const split = checkEnum(`${name}.split`, options.split ?? 'train', ['train', 'test'] as const);
  const size = checkInt(`${name}.size`, options.size ?? encoder.imageSize[0], 8, 4096);
  const channels = options.channels ?? encoder.normalization.channels;
  if (channels !== 1 && channels !== 3) throw new RangeError(`${name}.channels: expected 1 or 3 but got ${describe(channels)}`);
  return { split, size, channels, holdOut: false };
}

function isDataset(v: unknown): v is Dataset {
  return typeof v === 'object' && v !== null && typeof (v as Dataset).source === 'string' && typeof (v as Dataset).images === 'object';
}

/** The encoder's features of every image of `source` (a data set source as loadDataset takes, or
 * a loaded Dataset), with the labels, classes and file names the source has. */
export async function embedDataset(encoder: Encoder, source: DatasetSource | Dataset, options: EmbedOptions = {}): Promise<Embeddings> {
  const load = encoderLoadOptions(encoder, options);
  const ds = isDataset(source) ? checkDataset('source', source) : await loadDataset(source, load);
  const features = await encoder.embed(ds.images, { batch: options?.batch });
  return { features, labels: ds.labels, classes: ds.classes, files: ds.files, source: ds.source, split: load.split ?? 'train' };
}

/** Paths of the files written for OUT.npy. */
export function embeddingFiles(file: string): { features: string; labels: string; meta: string } {
  if (typeof file !== 'string' || !file.endsWith('.npy') || file.length <= 4)
    throw new TypeError(`file: expected a path ending in .npy but got ${describe(file)}`);
  const base = file.slice(0, -4);
  return { features: file, labels: `${base}.labels.npy`, meta: `${base}.json` };
}

/** Checks embeddings given to a writer or an index (what embedDataset returns). */
export function checkEmbeddings(name: string, emb: unknown): Embeddings {
  if (typeof emb !== 'object' || emb === null) throw new TypeError(`${name}: expected { features, labels?, source, split } but got ${describe(emb)}`);
  const e = emb as Embeddings;
  const dims: Record<string, number> = {};
  checkHostTensor(`${name}.features`, e.features, ['N', 'D'], dims);
  checkValues(`${name}.features`, e.features.data, dims.N, dims.D, false);
  if (e.labels !== undefined) checkLabels(`${name}.labels`, e.labels, dims.N);
  if (typeof e.source !== 'string') throw new TypeError(`${name}.source: expected a string but got ${describe(e.source)}`);
  checkEnum(`${name}.split`, e.split, ['train', 'test'] as const);
  for (const k of ['classes', 'files'] as const)
    if (e[k] !== undefined && (!Array.isArray(e[k]) || !e[k].every((x) => typeof x === 'string')))
      throw new TypeError(`${name}.${k}: expected an array of strings but got ${describe(e[k])}`);
  if (e.files !== undefined && e.files.length !== dims.N) throw new RangeError(`${name}.files: expected ${dims.N} names (one per row) but got ${e.files.length}`);
  return e;
}

/** An Encoder (a plain object with an embed method would pass here and fail later, unnamed). */
export function checkEncoder(name: string, encoder: unknown): Encoder {
  if (!(encoder instanceof Encoder)) throw new TypeError(`${name}: expected an Encoder (loadEncoder, trainClsa) but got ${describe(encoder)}`);
  return encoder;
}

/** Writes OUT.npy, OUT.labels.npy (where there are labels) and OUT.json, each atomically. Everything
 * is checked and encoded first, so a bad argument leaves the files that were there untouched. */
export async function writeEmbeddings(file: string, emb: Embeddings, about: Record<string, unknown> = {}): Promise<string[]> {
  const paths = embeddingFiles(file);
  checkEmbeddings('emb', emb);
  if (typeof about !== 'object' || about === null || Array.isArray(about)) throw new TypeError(`about: expected an object but got ${describe(about)}`);
  for (const p of [paths.features, paths.meta, ...(emb.labels ? [paths.labels] : [])]) checkOutputFile('file', p);
  const [n, d] = emb.features.shape;
  const meta = {
    format: EMBEDDINGS_FORMAT, version: 1, source: emb.source, split: emb.split, count: n, featureDim: d,
    features: { file: paths.features, dtype: 'float32', shape: [n, d] },
    labels: emb.labels ? { file: paths.labels, dtype: 'int32', shape: [n] } : null,
    classes: emb.classes ?? null,
    files: emb.files ?? null,
  };
  for (const key of Object.keys(about))
    if (key in meta) throw new RangeError(`about.${key}: clsa writes this field itself; name the extra field otherwise`);
  let json: string;
  try {
    json = JSON.stringify({ ...meta, ...about }, null, 2) + '\n';
  } catch (err) {
    throw new TypeError(`about: not JSON-serialisable (${(err as Error).message})`);
  }
  const features = encodeNpy(emb.features, 'features');
  const labels = emb.labels && encodeNpy({ data: emb.labels, shape: [n] }, 'labels');
  await writeFileAtomic(paths.features, features);
  if (labels) await writeFileAtomic(paths.labels, labels);
  await writeFileAtomic(paths.meta, json);
  return [paths.features, ...(labels ? [paths.labels] : []), paths.meta];
}

/** embedDataset then writeEmbeddings: `clsa embed` from the API. */
export async function embedToNpy(encoder: Encoder, source: DatasetSource | Dataset, file: string, options: EmbedOptions = {}): Promise<{ files: string[]; count: number; featureDim: number }> {
  // A bad path fails before the encoder runs.
  for (const p of Object.values(embeddingFiles(file))) checkOutputFile('file', p);
  const emb = await embedDataset(encoder, source, options);
  const files = await writeEmbeddings(file, emb, {
    encoder: { ...pick(encoder.config, ['arch', 'width', 'depth', 'inChannels']), featureDim: encoder.featureDim, digest: encoder.digest() },
    imageSize: encoder.imageSize, normalization: encoder.normalization,
  });
  return { files, count: emb.features.shape[0], featureDim: emb.features.shape[1] };
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}
