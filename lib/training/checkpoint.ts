// Checkpoints: both encoders, the optimiser state, the queue and its pointer, the counters, the
// image normalisation and the run's options, written atomically (a reader never sees half of one).
import * as fs from 'fs';
import * as path from 'path';
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
  history: EpochInfo[];
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
    if (typeof v === 'function' || k === 'signal' || k === 'checkpoint' || k === 'resume') continue;
    if (k === 'data' || k === 'evalData') out[k] = typeof v === 'string' || v === false ? v : 'memory';
    else out[k] = v;
  }
  return out;
}
