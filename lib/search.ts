// Similarity search: the encoder's features of an index of images, queried by cosine similarity
// with the fused top-k kernel of the kNN monitor (knnTopk: the query x index matrix is never
// stored). An index is built once and saved as a directory (features.npy, labels.npy, index.json)
// that records the encoder's digest, so it is never queried with another model's features.
import * as fs from 'fs';
import * as path from 'path';
import { Dataset, DatasetSource } from './data';
import { checkEmbeddings, checkEncoder, EmbedOptions, embedDataset, Embeddings } from './embeddings';
import { checkLabels } from './dataset-check';
import type { Encoder } from './encoder';
import { knnTopk } from './eval';
import { FormatError } from './errors';
import { writeDirAtomic, writeFileAtomicSync } from './fsutil';
import { readableDir } from './leftovers';
import { FileManifest, manifestEntry, verifyManifest } from './manifest';
import { encodeNpy, readNpy } from './npy';
import { checkHostTensor, checkInt, checkOptions, checkValues, describe } from './validate';

export const SEARCH_INDEX_FORMAT = 'clsa-search-index';
export const SEARCH_INDEX_VERSION = 1;
const INDEX_FILE = 'index.json', FEATURES_FILE = 'features.npy', LABELS_FILE = 'labels.npy';

export interface SearchHit {
  /** Row of the index. */
  index: number;
  /** Cosine similarity of the features. */
  similarity: number;
  file?: string;
  label?: number;
  class?: string;
}

export interface SearchResult {
  /** Row of the queries. */
  query: number;
  file?: string;
  label?: number;
  class?: string;
  /** Most similar first; equal similarities in index order. */
  neighbours: SearchHit[];
}

interface IndexMeta {
  format: typeof SEARCH_INDEX_FORMAT;
  version: number;
  source: string;
  split: string;
  count: number;
  featureDim: number;
  /** Encoder.digest() of the encoder that made the features. */
  encoderDigest: string;
  classes: string[] | null;
  files: string[] | null;
  /** Size and SHA-256 of the .npy files (absent in indexes of earlier versions). */
  data?: FileManifest;
}

function describeRow(i: number, files?: string[], labels?: Int32Array, classes?: string[]) {
  const r: { file?: string; label?: number; class?: string } = {};
  if (files) r.file = files[i];
  if (labels) {
    r.label = labels[i];
    if (classes && classes[labels[i]] !== undefined) r.class = classes[labels[i]];
  }
  return r;
}

export class SearchIndex {
  private constructor(readonly features: { data: Float32Array; shape: [number, number] }, readonly labels: Int32Array | undefined,
                      private meta: IndexMeta) {}

  /** Images in the index. */
  get size(): number { return this.meta.count; }
  get source(): string { return this.meta.source; }
  get files(): string[] | undefined { return this.meta.files ?? undefined; }
  get classes(): string[] | undefined { return this.meta.classes ?? undefined; }
  get encoderDigest(): string { return this.meta.encoderDigest; }

  /** Embeds every image of `source` (split 'train' by default) with `encoder`. */
  static async build(encoder: Encoder, source: DatasetSource | Dataset, options: EmbedOptions = {}): Promise<SearchIndex> {
    return SearchIndex.fromEmbeddings(await embedDataset(encoder, source, options), encoder.digest());
  }

  /** An index over features already computed by the encoder whose digest is given. */
  static fromEmbeddings(emb: Embeddings, encoderDigest: string): SearchIndex {
    checkEmbeddings('emb', emb);
    if (typeof encoderDigest !== 'string' || !/^[0-9a-f]{64}$/.test(encoderDigest))
      throw new TypeError(`encoderDigest: expected Encoder.digest(), 64 hex digits, but got ${describe(encoderDigest)}`);
    const [n, d] = emb.features.shape;
    return new SearchIndex(emb.features, emb.labels, {
      format: SEARCH_INDEX_FORMAT, version: SEARCH_INDEX_VERSION, source: emb.source, split: emb.split, count: n, featureDim: d,
      encoderDigest, classes: emb.classes ?? null, files: emb.files ?? null,
    });
  }

  /** True when `dir` holds a saved index (as opposed to a data set to build one from). */
  static isIndexDir(dir: string): boolean {
    if (typeof dir !== 'string') return false;
    const where = readableDir(dir);
    return fs.existsSync(path.join(where, INDEX_FILE)) && fs.existsSync(path.join(where, FEATURES_FILE));
  }

  /** Writes DIR/index.json, DIR/features.npy and DIR/labels.npy as one directory swap. */
  async save(dir: string): Promise<void> {
    if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`dir: expected a directory path but got ${describe(dir)}`);
    const features = encodeNpy(this.features, 'features');
    const labels = this.labels && encodeNpy({ data: this.labels, shape: [this.size] }, 'labels');
    const data: FileManifest = { [FEATURES_FILE]: manifestEntry(features), ...(labels ? { [LABELS_FILE]: manifestEntry(labels) } : {}) };
    await writeDirAtomic(dir, (tmp) => {
      writeFileAtomicSync(path.join(tmp, FEATURES_FILE), features);
      if (labels) writeFileAtomicSync(path.join(tmp, LABELS_FILE), labels);
      writeFileAtomicSync(path.join(tmp, INDEX_FILE), JSON.stringify({ ...this.meta, data }, null, 2) + '\n');
    }, { name: 'dir', replaceable: (d) => SearchIndex.isIndexDir(d) });
  }

  static load(dir: string): SearchIndex {
    if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`dir: expected a directory path but got ${describe(dir)}`);
    if (!SearchIndex.isIndexDir(dir)) throw new RangeError(`dir: ${dir}: not a saved search index (${INDEX_FILE} or ${FEATURES_FILE} is missing)`);
    const where = readableDir(dir), metaFile = path.join(where, INDEX_FILE);
    const bad = (file: string, what: string) => new FormatError(file, `${file}: ${what}`);
    let meta: IndexMeta;
    try {
      meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
    } catch (err) {
      throw bad(metaFile, `not valid JSON (${(err as Error).message})`);
    }
    if (typeof meta !== 'object' || meta === null) throw bad(metaFile, 'expected a JSON object');
    if (meta.format !== SEARCH_INDEX_FORMAT) throw bad(metaFile, `format ${describe(meta.format)}, expected '${SEARCH_INDEX_FORMAT}'`);
    if (typeof meta.version !== 'number' || meta.version > SEARCH_INDEX_VERSION)
      throw bad(metaFile, `index version ${describe(meta.version)} is not one this clsa reads (up to ${SEARCH_INDEX_VERSION})`);
    if (!Number.isInteger(meta.count) || meta.count < 1 || !Number.isInteger(meta.featureDim) || meta.featureDim < 1 || typeof meta.encoderDigest !== 'string')
      throw bad(metaFile, 'expected count >= 1, featureDim >= 1 and an encoderDigest');
    for (const k of ['files', 'classes'] as const)
      if (meta[k] !== null && meta[k] !== undefined && (!Array.isArray(meta[k]) || !meta[k].every((x) => typeof x === 'string')))
        throw bad(metaFile, `${k}: expected an array of strings or null`);
    if (meta.files && meta.files.length !== meta.count) throw bad(metaFile, `files: expected ${meta.count} names (one per row) but got ${meta.files.length}`);
    if (meta.data !== undefined) verifyManifest(where, meta.data, metaFile);
    const f = readNpy(path.join(where, FEATURES_FILE));
    if (!(f.data instanceof Float32Array) || f.shape.length !== 2 || f.shape[0] !== meta.count || f.shape[1] !== meta.featureDim)
      throw bad(path.join(where, FEATURES_FILE), `should be float32 [${meta.count}, ${meta.featureDim}] but is ${f.data.constructor.name} [${f.shape.join(', ')}]`);
    let labels: Int32Array | undefined;
    if (fs.existsSync(path.join(where, LABELS_FILE))) {
      const l = readNpy(path.join(where, LABELS_FILE));
      if (!(l.data instanceof Int32Array) || l.data.length !== meta.count)
        throw bad(path.join(where, LABELS_FILE), `should be int32 [${meta.count}]`);
      labels = l.data;
    }
    const { data: _manifest, ...rest } = meta;
    return new SearchIndex({ data: f.data, shape: [f.shape[0], f.shape[1]] }, labels, rest);
  }

  /** Refuses an encoder other than the index's: its features would not be comparable. */
  checkEncoder(encoder: Encoder): void {
    const digest = checkEncoder('encoder', encoder).digest();
    if (digest !== this.meta.encoderDigest)
      throw new Error(`encoder: the index was built with another encoder (digest ${this.meta.encoderDigest.slice(0, 12)}, this one ` +
        `${digest.slice(0, 12)}); rebuild the index with this model`);
  }

  /** The k most cosine-similar index rows of every query feature row. */
  async searchFeatures(queries: { data: Float32Array; shape: [number, number] | number[] }, k: number,
                       about: { files?: string[]; labels?: Int32Array; classes?: string[] } = {}): Promise<SearchResult[]> {
    const dims: Record<string, number> = { D: this.meta.featureDim };
    checkHostTensor('queries', queries, ['M', 'D'], dims);
    checkValues('queries', queries.data, dims.M, dims.D, false);
    checkInt('k', k, 1, this.size);
    about = checkOptions('about', about);
    if (about.labels !== undefined) checkLabels('about.labels', about.labels, dims.M);
    for (const key of ['files', 'classes'] as const)
      if (about[key] !== undefined && (!Array.isArray(about[key]) || !about[key].every((x) => typeof x === 'string')))
        throw new TypeError(`about.${key}: expected an array of strings but got ${describe(about[key])}`);
    if (about.files !== undefined && about.files.length !== dims.M) throw new RangeError(`about.files: expected ${dims.M} names (one per query) but got ${about.files.length}`);
    const top = await knnTopk(this.features, queries, { k });
    const nq = top.index.length / k;
    const out: SearchResult[] = [];
    for (let q = 0; q < nq; q++) {
      const neighbours: SearchHit[] = [];
      for (let r = 0; r < k; r++) {
        const i = top.index[q * k + r];
        neighbours.push({ index: i, similarity: top.sim[q * k + r], ...describeRow(i, this.files, this.labels, this.classes) });
      }
      out.push({ query: q, ...describeRow(q, about.files, about.labels, about.classes ?? this.classes), neighbours });
    }
    return out;
  }

  /** Embeds the query images with `encoder` (the index's own) and searches them. */
  async search(encoder: Encoder, queries: DatasetSource | Dataset, k: number, options: EmbedOptions = {}): Promise<SearchResult[]> {
    this.checkEncoder(encoder);
    checkInt('k', k, 1, this.size);
    const emb = await embedDataset(encoder, queries, options);
    return this.searchFeatures(emb.features, k, emb);
  }
}
