// Checkpoints: both encoders, the optimiser state, the queue and its pointer, the counters, the
// image normalisation and the run's options, written atomically (a reader never sees half of one).
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Dataset } from '../dataset';
import { ImageNormalization } from '../encoder';
import { writeDirAtomic, writeFileAtomicSync } from '../fsutil';
import { ClsaModel, ModelState } from '../model';
import { readSafetensors, writeSafetensors } from '../safetensors';
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

export async function writeCheckpoint(dir: string, model: ClsaModel, meta: Omit<CheckpointMeta, 'format' | 'version' | 'modelState'>): Promise<void> {
  const st = model.state();
  const { buffers, ...rest } = st;
  const full: CheckpointMeta = { format: CHECKPOINT_FORMAT, version: 1, modelState: rest, ...meta };
  await writeDirAtomic(dir, (tmp) => {
    const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    for (const [name, data] of Object.entries(buffers)) tensors[name] = { dtype: 'F32', shape: [data.length], data };
    writeSafetensors(path.join(tmp, 'state.safetensors'), tensors, { format: CHECKPOINT_FORMAT });
    writeFileAtomicSync(path.join(tmp, 'checkpoint.json'), JSON.stringify(full, null, 2) + '\n');
  });
}

export function readCheckpoint(dir: string): { meta: CheckpointMeta; state: ModelState } {
  const metaPath = path.join(dir, 'checkpoint.json');
  if (!fs.existsSync(metaPath)) throw new Error(`options.resume: ${metaPath} does not exist (expected a checkpoint directory)`);
  const meta = JSON.parse(fs.readFileSync(metaPath, 'utf8')) as CheckpointMeta;
  if (meta.format !== CHECKPOINT_FORMAT) throw new Error(`options.resume: ${metaPath} is not a clsa checkpoint (format ${describe(meta.format)})`);
  const file = readSafetensors(path.join(dir, 'state.safetensors'));
  const buffers: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(file.tensors)) buffers[name] = Float32Array.from(t.data as Float32Array);
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
