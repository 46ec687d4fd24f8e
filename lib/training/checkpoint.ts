// Checkpoints: both encoders, the optimiser state, the queue and its pointer, the counters, the
// image normalisation and the run's options, written atomically (a reader never sees half of one);
// checkpoint.json records the size and SHA-256 of state.safetensors, checked on reading.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Dataset } from '../dataset';
import { ImageNormalization } from '../encoder';
import { FormatError } from '../errors';
import { writeDirAtomic, writeFileAtomicSync } from '../fsutil';
import { readableDir } from '../leftovers';
import { FileManifest, manifestEntry, verifyManifest } from '../manifest';
import { ClsaModel, ModelState } from '../model';
import { decodeSafetensors, encodeSafetensors } from '../safetensors';
import type { EpochInfo } from '../train';
import { describe } from '../validate';

export const CHECKPOINT_FORMAT = 'clsa-checkpoint';

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  /** Epoch and step (within the epoch) the run continues at. */
  epoch: number;
  step: number;
  modelState: Omit<ModelState, 'buffers'>;
  normalization: ImageNormalization;
  imageSize: [number, number];
  options: Record<string, unknown>;
  /** The images the run trained on and validated on (absent in checkpoints of earlier versions). */
  data?: DataFingerprint;
  history: EpochInfo[];
  /** Size and SHA-256 of state.safetensors (absent in checkpoints of earlier versions). */
  files?: FileManifest;
}

/** Which images a split holds: their count and a SHA-256 of their pixels and labels. */
export interface SplitFingerprint { images: number; sha256: string }
export interface DataFingerprint { train: SplitFingerprint; validation?: SplitFingerprint }

export function fingerprint(ds: Dataset): SplitFingerprint {
  const h = crypto.createHash('sha256');
  h.update(JSON.stringify(ds.images.shape));
  h.update(ds.images.data);
  if (ds.labels) h.update(new Uint8Array(ds.labels.buffer, ds.labels.byteOffset, ds.labels.byteLength));
  return { images: ds.images.shape[0], sha256: h.digest('hex') };
}

// Options that may change on resume: where the run computes and how often it reports.
const MAY_DIFFER = new Set(['device', 'deviceIndex', 'precision', 'evaluate', 'forceResume']);

/** JSON of a value with sorted keys, so that key order does not count as a difference. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}

/**
 * Refuses to resume a run whose data, splits, limit or recipe differ from the checkpoint's: the
 * error names the first option that differs (or the split whose images differ). A resumed run
 * that trained on another split could train on what was its validation split.
 */
export function checkResume(dir: string, meta: CheckpointMeta, options: Record<string, unknown>, data: DataFingerprint): void {
  const keys = [...new Set([...Object.keys(meta.options), ...Object.keys(options)])].filter((k) => !MAY_DIFFER.has(k)).sort();
  const how = 'resume with the options of that run, or pass forceResume: true (--force-resume) to continue anyway';
  for (const k of keys) {
    const was = canonical(meta.options[k]), now = canonical(options[k]);
    if (was !== now)
      throw new RangeError(`options.${k}: the checkpoint in ${dir} was written by a run with options.${k} = ${was} but this run has ${now}; ${how}`);
  }
  if (!meta.data) return;  // a checkpoint of an earlier version: its options are all there is to compare
  for (const split of ['train', 'validation'] as const) {
    const was = meta.data[split], now = data[split];
    if (canonical(was) !== canonical(now))
      throw new RangeError(`options.data: the checkpoint in ${dir} was written by a run whose ${split} split held ` +
        `${was ? `${was.images} images (sha256 ${was.sha256.slice(0, 12)})` : 'nothing'} but this run's holds ` +
        `${now ? `${now.images} images (sha256 ${now.sha256.slice(0, 12)})` : 'nothing'}; ${how}`);
  }
}

const META_FILE = 'checkpoint.json', STATE_FILE = 'state.safetensors';

/** True for a directory writeCheckpoint wrote: one a later checkpoint may replace. */
export function isCheckpointDir(dir: string): boolean {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, META_FILE), 'utf8'))?.format === CHECKPOINT_FORMAT;
  } catch {
    return false;
  }
}

export async function writeCheckpoint(dir: string, model: ClsaModel, meta: Omit<CheckpointMeta, 'format' | 'version' | 'modelState' | 'files'>): Promise<void> {
  const st = model.state();
  const { buffers, ...rest } = st;
  const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  for (const [name, data] of Object.entries(buffers)) tensors[name] = { dtype: 'F32', shape: [data.length], data };
  const state = encodeSafetensors(tensors, { format: CHECKPOINT_FORMAT });
  const full: CheckpointMeta = { format: CHECKPOINT_FORMAT, version: 1, modelState: rest, ...meta, files: { [STATE_FILE]: manifestEntry(state) } };
  await writeDirAtomic(dir, (tmp) => {
    writeFileAtomicSync(path.join(tmp, STATE_FILE), state);
    writeFileAtomicSync(path.join(tmp, META_FILE), JSON.stringify(full, null, 2) + '\n');
  }, { name: 'options.checkpoint.dir', replaceable: isCheckpointDir });
}

/** The meta fields a resume reads, checked so that a damaged file is named rather than half used. */
function checkMeta(meta: unknown, file: string): CheckpointMeta {
  const bad = (what: string) => new FormatError(file, `options.resume: ${file}: ${what}`);
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw bad('expected a JSON object');
  const m = meta as CheckpointMeta;
  if (m.format !== CHECKPOINT_FORMAT) throw bad(`not a clsa checkpoint (format ${describe(m.format)})`);
  if (m.version !== 1) throw bad(`checkpoint version ${describe(m.version)} is not one this clsa reads (1)`);
  for (const k of ['epoch', 'step'] as const)
    if (!Number.isInteger(m[k]) || m[k] < 0) throw bad(`${k}: expected an integer >= 0 but got ${describe(m[k])}`);
  for (const k of ['modelState', 'normalization', 'options'] as const)
    if (typeof m[k] !== 'object' || m[k] === null || Array.isArray(m[k])) throw bad(`${k}: expected an object but got ${describe(m[k])}`);
  if (typeof m.modelState.config !== 'object' || m.modelState.config === null) throw bad(`modelState.config: expected an object but got ${describe(m.modelState.config)}`);
  if (!Array.isArray(m.history) || !m.history.every((h) => typeof h === 'object' && h !== null && Number.isInteger(h.epoch)))
    throw bad(`history: expected an array of { epoch, ... } but got ${describe(m.history)}`);
  if (m.data !== undefined) {
    const split = (k: string, v: unknown, optional: boolean) => {
      if (optional && v === undefined) return;
      const f = v as SplitFingerprint;
      if (typeof f !== 'object' || f === null || !Number.isInteger(f.images) || typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256))
        throw bad(`data.${k}: expected { images, sha256 } but got ${describe(v)}`);
    };
    if (typeof m.data !== 'object' || m.data === null) throw bad(`data: expected { train, validation? } but got ${describe(m.data)}`);
    split('train', m.data.train, false);
    split('validation', m.data.validation, true);
  }
  const n = m.normalization;
  if (!Number.isInteger(n.channels) || !Array.isArray(n.mean) || !Array.isArray(n.std) || n.mean.length !== n.channels || n.std.length !== n.channels ||
      ![...n.mean, ...n.std].every((x) => typeof x === 'number' && Number.isFinite(x)) || !n.std.every((x) => x > 0))
    throw bad('normalization: expected { channels, mean[channels], std[channels] > 0 }');
  if (!Array.isArray(m.imageSize) || m.imageSize.length !== 2 || !m.imageSize.every((x) => Number.isInteger(x) && x >= 1))
    throw bad(`imageSize: expected [H, W] but got ${describe(m.imageSize)}`);
  return m;
}

export function readCheckpoint(dir: string): { meta: CheckpointMeta; state: ModelState } {
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`options.resume: expected a checkpoint directory path but got ${describe(dir)}`);
  const where = readableDir(dir);
  const metaPath = path.join(where, META_FILE), statePath = path.join(where, STATE_FILE);
  if (!fs.existsSync(metaPath)) throw new RangeError(`options.resume: ${path.join(dir, META_FILE)} does not exist (expected a checkpoint directory)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(metaPath, 'utf8'));
  } catch (err) {
    throw new FormatError(metaPath, `options.resume: ${metaPath}: not valid JSON (${(err as Error).message})`);
  }
  const meta = checkMeta(parsed, metaPath);
  if (!fs.existsSync(statePath)) throw new FormatError(statePath, `options.resume: ${statePath}: missing (the checkpoint is incomplete)`);
  const bytes = fs.readFileSync(statePath);
  // Checkpoints of earlier versions have no manifest: their files are taken as they are.
  if (meta.files !== undefined) verifyManifest(where, meta.files, metaPath, 'options.resume: ', { [STATE_FILE]: bytes });
  let file;
  try {
    file = decodeSafetensors(bytes, statePath);
  } catch (err) {
    throw new FormatError(statePath, `options.resume: ${(err as Error).message}`);
  }
  const buffers: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(file.tensors)) {
    if (t.dtype !== 'F32') throw new FormatError(statePath, `options.resume: ${statePath}: tensor ${JSON.stringify(name)} is ${t.dtype}, expected F32`);
    buffers[name] = Float32Array.from(t.data as Float32Array);
  }
  return { meta, state: { ...meta.modelState, buffers } };
}

/** Options that define the run (no callbacks, signals or paths), stored with checkpoints. */
export function recordable(o: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    // distributed: how many processes ran it, not what the run is (the global batch and seed are).
    if (typeof v === 'function' || k === 'signal' || k === 'checkpoint' || k === 'resume' || k === 'distributed') continue;
    if (k === 'data' || k === 'evalData') out[k] = typeof v === 'string' || v === false ? v : 'memory';
    else if (v === undefined) continue;
    else out[k] = v;
  }
  return out;
}
