// Model directories: DIR/config.json (the architecture and training configuration) plus
// DIR/model.safetensors (the weights). Saved as a whole: the directory is built next to the
// target and swapped in, so a reader never sees a config without its weights or a torn file.
import * as fs from 'fs';
import * as path from 'path';
import { writeDirAtomic, writeFileAtomicSync } from './fsutil';
import { decodeSafetensors, encodeSafetensors, Tensor } from './safetensors';

export const MODEL_CONFIG_FILE = 'config.json';
export const MODEL_WEIGHTS_FILE = 'model.safetensors';
/** Bumped when the layout of a model directory changes incompatibly. */
export const MODEL_FORMAT_VERSION = 1;

export interface ModelFiles {
  /** JSON-serialisable configuration (architecture, dims, training options...). */
  config: Record<string, unknown>;
  tensors: Record<string, Tensor>;
  /** String metadata stored in the safetensors header (the format allows strings only). */
  metadata?: Record<string, string>;
}

/** Writes DIR/config.json and DIR/model.safetensors atomically (as one directory swap). */
export async function saveModelFiles(dir: string, model: ModelFiles, extra: Record<string, string | Uint8Array> = {}): Promise<void> {
  if (typeof model?.config !== 'object' || model.config === null || Array.isArray(model.config))
    throw new TypeError('model.config: expected a plain object');
  const config = { clsaFormat: MODEL_FORMAT_VERSION, ...model.config };
  const json = JSON.stringify(config, null, 2);
  if (json === undefined) throw new TypeError('model.config: not JSON-serialisable');
  const weights = encodeSafetensors(model.tensors, { format: 'clsa', clsaFormat: String(MODEL_FORMAT_VERSION), ...(model.metadata ?? {}) });
  for (const name of Object.keys(extra))
    if (name.includes('/') || name.includes('\\') || name === MODEL_CONFIG_FILE || name === MODEL_WEIGHTS_FILE || name.startsWith('.'))
      throw new RangeError(`extra: expected plain file names other than ${MODEL_CONFIG_FILE} and ${MODEL_WEIGHTS_FILE} but got ${JSON.stringify(name)}`);
  await writeDirAtomic(dir, (tmp) => {
    writeFileAtomicSync(path.join(tmp, MODEL_WEIGHTS_FILE), weights);
    writeFileAtomicSync(path.join(tmp, MODEL_CONFIG_FILE), json + '\n');
    for (const [name, data] of Object.entries(extra)) writeFileAtomicSync(path.join(tmp, name), data);
  });
}

/** Reads a model directory written by saveModelFiles (or by hand with the same two files). */
export function loadModelFiles(dir: string): ModelFiles {
  const cfgFile = path.join(dir, MODEL_CONFIG_FILE), wFile = path.join(dir, MODEL_WEIGHTS_FILE);
  if (!fs.existsSync(dir)) throw new Error(`${dir}: no such model directory`);
  if (!fs.existsSync(cfgFile)) throw new Error(`${dir}: not a clsa model directory (${MODEL_CONFIG_FILE} is missing)`);
  if (!fs.existsSync(wFile)) throw new Error(`${dir}: not a clsa model directory (${MODEL_WEIGHTS_FILE} is missing)`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  } catch (err) {
    throw new Error(`${cfgFile}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new Error(`${cfgFile}: expected a JSON object`);
  const v = config.clsaFormat;
  if (v !== undefined && (typeof v !== 'number' || v > MODEL_FORMAT_VERSION))
    throw new Error(`${cfgFile}: clsaFormat ${JSON.stringify(v)} is newer than this clsa understands (${MODEL_FORMAT_VERSION}); upgrade clsa`);
  const { tensors, metadata } = decodeSafetensors(fs.readFileSync(wFile), wFile);
  return { config, tensors, metadata };
}
