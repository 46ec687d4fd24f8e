// Model directories: DIR/config.json (the architecture and training configuration) plus
// DIR/model.safetensors (the weights). Saved as a whole: the directory is built next to the
// target and swapped in, so a reader never sees a config without its weights or a torn file.
// config.json's `clsaFiles` lists the size and SHA-256 of every other file (lib/manifest.ts).
import * as fs from 'fs';
import * as path from 'path';
import { FormatError } from './errors';
import { writeDirAtomic, writeFileAtomicSync } from './fsutil';
import { readableDir } from './leftovers';
import { FileManifest, manifestEntry, verifyManifest } from './manifest';
import { decodeSafetensors, encodeSafetensors, Tensor } from './safetensors';
import { describe } from './validate';

export const MODEL_CONFIG_FILE = 'config.json';
export const MODEL_WEIGHTS_FILE = 'model.safetensors';
/** Bumped when the layout of a model directory changes incompatibly. */
export const MODEL_FORMAT_VERSION = 1;
/** The key of config.json holding the manifest (not part of the config loadModelFiles returns). */
const MANIFEST_KEY = 'clsaFiles';

export interface ModelFiles {
  /** JSON-serialisable configuration (architecture, dims, training options...). */
  config: Record<string, unknown>;
  tensors: Record<string, Tensor>;
  /** String metadata stored in the safetensors header (the format allows strings only). */
  metadata?: Record<string, string>;
}

/** True for a directory saveModelFiles wrote (its config.json has clsaFormat): one it may replace. */
export function isModelDir(dir: string): boolean {
  try {
    const c = JSON.parse(fs.readFileSync(path.join(dir, MODEL_CONFIG_FILE), 'utf8'));
    return typeof c === 'object' && c !== null && 'clsaFormat' in c;
  } catch {
    return false;
  }
}

/** Writes DIR/config.json and DIR/model.safetensors atomically (as one directory swap). */
export async function saveModelFiles(dir: string, model: ModelFiles, extra: Record<string, string | Uint8Array> = {}): Promise<void> {
  if (typeof model?.config !== 'object' || model.config === null || Array.isArray(model.config))
    throw new TypeError(`model.config: expected a plain object but got ${describe(model?.config)}`);
  const md = model.metadata;
  if (md !== undefined && md !== null && (typeof md !== 'object' || Array.isArray(md)))
    throw new TypeError(`model.metadata: expected { key: string } but got ${describe(md)}`);
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra))
    throw new TypeError(`extra: expected { name: string | Uint8Array } but got ${describe(extra)}`);
  const weights = encodeSafetensors(model.tensors, { format: 'clsa', clsaFormat: String(MODEL_FORMAT_VERSION), ...(model.metadata ?? {}) });
  const files: FileManifest = { [MODEL_WEIGHTS_FILE]: manifestEntry(weights) };
  for (const [name, data] of Object.entries(extra)) {
    if (name.includes('/') || name.includes('\\') || name === MODEL_CONFIG_FILE || name === MODEL_WEIGHTS_FILE || name.startsWith('.') || name === '')
      throw new RangeError(`extra: expected plain file names other than ${MODEL_CONFIG_FILE} and ${MODEL_WEIGHTS_FILE} but got ${JSON.stringify(name)}`);
    if (typeof data !== 'string' && !(data instanceof Uint8Array))
      throw new TypeError(`extra[${JSON.stringify(name)}]: expected a string or a Uint8Array but got ${describe(data)}`);
    files[name] = manifestEntry(data);
  }
  const config = { clsaFormat: MODEL_FORMAT_VERSION, ...model.config, [MANIFEST_KEY]: files };
  let json: string | undefined;
  try {
    json = JSON.stringify(config, null, 2);
  } catch (err) {
    throw new TypeError(`model.config: not JSON-serialisable (${(err as Error).message})`);
  }
  if (json === undefined) throw new TypeError('model.config: not JSON-serialisable');
  await writeDirAtomic(dir, (tmp) => {
    writeFileAtomicSync(path.join(tmp, MODEL_WEIGHTS_FILE), weights);
    for (const [name, data] of Object.entries(extra)) writeFileAtomicSync(path.join(tmp, name), data);
    writeFileAtomicSync(path.join(tmp, MODEL_CONFIG_FILE), json + '\n');
  }, { name: 'dir', replaceable: isModelDir });
}

/** Reads a model directory written by saveModelFiles (or by hand with the same two files). */
export function loadModelFiles(dir: string): ModelFiles {
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`dir: expected a model directory path but got ${describe(dir)}`);
  const where = readableDir(dir);
  const cfgFile = path.join(where, MODEL_CONFIG_FILE), wFile = path.join(where, MODEL_WEIGHTS_FILE);
  if (!fs.existsSync(where)) throw new RangeError(`dir: ${dir}: no such model directory`);
  if (!fs.statSync(where).isDirectory()) throw new RangeError(`dir: expected a model directory but ${dir} is a file`);
  if (!fs.existsSync(cfgFile)) throw new FormatError(cfgFile, `dir: ${dir}: not a clsa model directory (${MODEL_CONFIG_FILE} is missing)`);
  if (!fs.existsSync(wFile)) throw new FormatError(wFile, `dir: ${dir}: not a clsa model directory (${MODEL_WEIGHTS_FILE} is missing)`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  } catch (err) {
    throw new FormatError(cfgFile, `${cfgFile}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new FormatError(cfgFile, `${cfgFile}: expected a JSON object`);
  const v = config.clsaFormat;
  if (v !== undefined && (typeof v !== 'number' || v > MODEL_FORMAT_VERSION))
    throw new FormatError(cfgFile, `${cfgFile}: clsaFormat ${JSON.stringify(v)} is newer than this clsa understands (${MODEL_FORMAT_VERSION}); upgrade clsa`);
  const bytes = fs.readFileSync(wFile);
  const { [MANIFEST_KEY]: files, ...rest } = config;
  if (files !== undefined) verifyManifest(where, files, cfgFile, '', { [MODEL_WEIGHTS_FILE]: bytes });
  const { tensors, metadata } = decodeSafetensors(bytes, wFile);
  return { config: rest, tensors, metadata };
}
