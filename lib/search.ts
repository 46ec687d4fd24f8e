// Similarity search: the encoder's features of an index of images, queried by cosine similarity
// with the fused top-k kernel of the kNN monitor (knnTopk: the query x index matrix is never
// stored). An index is built once and saved as a directory (features.npy, labels.npy, index.json)
// that records the encoder's digest, so it is never queried with another model's features.
import * as fs from 'fs';
import * as path from 'path';
import { Dataset, DatasetSource } from './data';
import { EmbedOptions, embedDataset, Embeddings } from './embeddings';
import type { Encoder } from './encoder';
import { knnTopk } from './eval';
import { writeDirAtomic, writeFileAtomicSync } from './fsutil';
import { encodeNpy, readNpy } from './npy';
import { checkInt, describe } from './validate';

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
    const [n, d] = emb.features.shape;
    return new SearchIndex(emb.features, emb.labels, {
      format: SEARCH_INDEX_FORMAT, version: SEARCH_INDEX_VERSION, source: emb.source, split: emb.split, count: n, featureDim: d,
      encoderDigest, classes: emb.classes ?? null, files: emb.files ?? null,
    });
  }

  /** True when `dir` holds a saved index (as opposed to a data set to build one from). */
  static isIndexDir(dir: string): boolean {
    return typeof dir === 'string' && fs.existsSync(path.join(dir, INDEX_FILE)) && fs.existsSync(path.join(dir, FEATURES_FILE));
  }

  /** Writes DIR/index.json, DIR/features.npy and DIR/labels.npy as one directory swap. */
  async save(dir: string): Promise<void> {
    if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`dir: expected a directory path but got ${describe(dir)}`);
    await writeDirAtomic(dir, (tmp) => {
      writeFileAtomicSync(path.join(tmp, FEATURES_FILE), encodeNpy(this.features, 'features'));
      if (this.labels) writeFileAtomicSync(path.join(tmp, LABELS_FILE), encodeNpy({ data: this.labels, shape: [this.size] }, 'labels'));
      writeFileAtomicSync(path.join(tmp, INDEX_FILE), JSON.stringify(this.meta, null, 2) + '\n');
    });
  }

  static load(dir: string): SearchIndex {
    if (typeof dir !== 'string') throw new TypeError(`dir: expected a directory path but got ${describe(dir)}`);
    if (!SearchIndex.isIndexDir(dir)) throw new Error(`${dir}: not a saved search index (${INDEX_FILE} or ${FEATURES_FILE} is missing)`);
    let meta: IndexMeta;
    try {
      meta = JSON.parse(fs.readFileSync(path.join(dir, INDEX_FILE), 'utf8'));
    } catch (err) {
      throw new Error(`${path.join(dir, INDEX_FILE)}: not valid JSON (${(err as Error).message})`);
    }
    if (meta.format !== SEARCH_INDEX_FORMAT) throw new Error(`${dir}: ${INDEX_FILE} has format ${describe(meta.format)}, expected '${SEARCH_INDEX_FORMAT}'`);
    if (meta.version > SEARCH_INDEX_VERSION) throw new Error(`${dir}: index version ${meta.version} is newer than this clsa reads (${SEARCH_INDEX_VERSION})`);
    const f = readNpy(path.join(dir, FEATURES_FILE));
    if (!(f.data instanceof Float32Array) || f.shape.length !== 2 || f.shape[0] !== meta.count || f.shape[1] !== meta.featureDim)
      throw new Error(`${dir}: ${FEATURES_FILE} should be float32 [${meta.count}, ${meta.featureDim}] but is ${f.data.constructor.name} [${f.shape.join(', ')}]`);
    let labels: Int32Array | undefined;
    if (fs.existsSync(path.join(dir, LABELS_FILE))) {
      const l = readNpy(path.join(dir, LABELS_FILE));
      if (!(l.data instanceof Int32Array) || l.data.length !== meta.count)
        throw new Error(`${dir}: ${LABELS_FILE} should be int32 [${meta.count}]`);
      labels = l.data;
    }
    return new SearchIndex({ data: f.data, shape: [f.shape[0], f.shape[1]] }, labels, meta);
  }

  /** Refuses an encoder other than the index's: its features would not be comparable. */
  checkEncoder(encoder: Encoder): void {
    const digest = encoder.digest();
    if (digest !== this.meta.encoderDigest)
      throw new Error(`encoder: the index was built with another encoder (digest ${this.meta.encoderDigest.slice(0, 12)}, this one ` +
        `${digest.slice(0, 12)}); rebuild the index with this model`);
  }

  /** The k most cosine-similar index rows of every query feature row. */
  async searchFeatures(queries: { data: Float32Array; shape: [number, number] | number[] }, k: number,
                       about: { files?: string[]; labels?: Int32Array; classes?: string[] } = {}): Promise<SearchResult[]> {
    checkInt('k', k, 1, this.size);
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
