// A trained encoder: the query backbone of a ClsaModel plus the image normalisation it was
// trained with. Saved as safetensors weights + a JSON config that other tools can read.
import * as crypto from 'crypto';
import * as path from 'path';
import { FormatError } from './errors';
import { encoderLayout } from './layout';
import { ClsaModel, ModelConfig, resolveConfig, ResolvedModelConfig } from './model';
import { loadModelFiles, saveModelFiles } from './modelfile';
import { DEVICE_NAMES, DeviceName, resolveDevice } from './device';
import { checkEnum, checkInt, checkOptions, describe, MAX_ELEMENTS } from './validate';
import { checkImageSize, checkNormalization, ImageNormalization } from './normalization';
import { OnnxExportInfo, OnnxExportOptions, writeOnnx } from './onnx';

export const ENCODER_FORMAT = 'clsa-encoder';
export const ENCODER_FORMAT_VERSION = 1;

export type { ImageNormalization };

export interface UInt8Images {
  /** Pixels, uint8, row-major [n, H, W, C]. */
  data: Uint8Array;
  shape: [number, number, number, number] | number[];
}

export interface EncoderConfigFile {
  format: typeof ENCODER_FORMAT;
  version: number;
  model: ResolvedModelConfig;
  featureDim: number;
  normalization: ImageNormalization;
  /** Image size the encoder was trained at (any size >= 8 works; this one is the reference). */
  imageSize: [number, number];
  tensors: Record<string, { shape: number[]; description: string }>;
}

/** Converts uint8 NHWC images to normalised float NCHW, the encoder's input. */
export function toEncoderInput(images: UInt8Images, norm: ImageNormalization, name = 'images'): { data: Float32Array; shape: [number, number, number, number] } {
  checkNormalization('norm', norm);
  if (typeof images !== 'object' || images === null) throw new TypeError(`${name}: expected { data: Uint8Array, shape: [n, H, W, C] } but got ${describe(images)}`);
  if (Object.prototype.toString.call(images.data) !== '[object Uint8Array]')
    throw new TypeError(`${name}.data: expected a Uint8Array but got ${describe(images.data)}`);
  const shape = images.shape;
  if (!Array.isArray(shape) || shape.length !== 4) throw new RangeError(`${name}.shape: expected [n, H, W, C] but got ${describe(shape)}`);
  const [n, h, w, c] = shape;
  checkInt(`${name}.shape[0] (n)`, n, 1);
  checkInt(`${name}.shape[1] (H)`, h, 8);
  checkInt(`${name}.shape[2] (W)`, w, 8);
  if (c !== norm.channels) throw new RangeError(`${name}.shape[3] (C): expected ${norm.channels} channels (the encoder's) but got ${describe(c)}`);
  if (images.data.length !== n * h * w * c)
    throw new RangeError(`${name}.data: expected ${n * h * w * c} bytes for shape [${shape.join(', ')}] but got ${images.data.length}`);
  const out = new Float32Array(n * c * h * w);
  const hw = h * w;
  for (let ch = 0; ch < c; ch++) {
    const scale = 1 / (255 * norm.std[ch]), shift = norm.mean[ch] / norm.std[ch];
    for (let i = 0; i < n; i++) {
      const src = i * hw * c + ch, dst = (i * c + ch) * hw;
      for (let p = 0; p < hw; p++) out[dst + p] = images.data[src + p * c] * scale - shift;
    }
  }
  return { data: out, shape: [n, c, h, w] };
}

/** Per-channel mean/std of pixel/255 over a data set (the normalisation the encoder is trained with). */
export function imageStatistics(images: UInt8Images): ImageNormalization {
  if (typeof images !== 'object' || images === null) throw new TypeError(`images: expected { data: Uint8Array, shape: [n, H, W, C] } but got ${describe(images)}`);
  if (Object.prototype.toString.call(images.data) !== '[object Uint8Array]')
    throw new TypeError(`images.data: expected a Uint8Array but got ${describe(images.data)}`);
  const shape = images.shape;
  if (!Array.isArray(shape) || shape.length !== 4) throw new RangeError(`images.shape: expected [n, H, W, C] but got ${describe(shape)}`);
  shape.forEach((v, i) => checkInt(`images.shape[${i}]`, v, 1, MAX_ELEMENTS));
  const c = shape[3];
  if (images.data.length !== shape.reduce((a, b) => a * b, 1))
    throw new RangeError(`images.data: expected ${shape.reduce((a, b) => a * b, 1)} bytes for shape [${shape.join(', ')}] but got ${images.data.length}`);
  const sum = new Float64Array(c), sq = new Float64Array(c);
  const d = images.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i] / 255;
    sum[i % c] += v;
    sq[i % c] += v * v;
  }
  const count = d.length / c;
  const mean = Array.from(sum, (s) => s / count);
  const std = Array.from(sq, (s, ch) => Math.max(Math.sqrt(Math.max(s / count - mean[ch] ** 2, 0)), 1e-3));
  return { channels: c, mean, std };
}

export class Encoder {
  /** Backbone feature size (columns of embed()). */
  readonly featureDim: number;

  constructor(private model: ClsaModel, readonly normalization: ImageNormalization, readonly imageSize: [number, number],
              private owned = true) {
    if (!(model instanceof ClsaModel)) throw new TypeError(`model: expected a ClsaModel but got ${describe(model)}`);
    checkNormalization('normalization', normalization, model.config.inChannels);
    checkImageSize('imageSize', imageSize);
    this.featureDim = model.featureDim;
  }

  get config(): ResolvedModelConfig { return this.model.config; }

  /** Backbone features [n, featureDim] (batch norm in evaluation mode), in chunks of `batch` images. */
  async embed(images: UInt8Images, options: { batch?: number } = {}): Promise<{ data: Float32Array; shape: [number, number] }> {
    const batch = checkInt('options.batch', checkOptions('options', options).batch ?? 512, 1);
    const x = toEncoderInput(images, this.normalization);
    const [n, c, h, w] = x.shape;
    const out = new Float32Array(n * this.featureDim);
    const per = c * h * w;
    for (let i = 0; i < n; i += batch) {
      const m = Math.min(batch, n - i);
      const f = await this.model.embed({ data: x.data.subarray(i * per, (i + m) * per), shape: [m, c, h, w] });
      out.set(f.data, i * this.featureDim);
    }
    return { data: out, shape: [n, this.featureDim] };
  }

  /** Writes DIR/model.safetensors and DIR/config.json, atomically (a new directory replaces the old). */
  async save(dir: string): Promise<void> {
    const st = this.model.state();
    const q = st.buffers.query_params, s = st.buffers.query_bn_stats;
    const config: Omit<EncoderConfigFile, 'weights'> = {
      format: ENCODER_FORMAT, version: ENCODER_FORMAT_VERSION, model: this.model.config, featureDim: this.featureDim,
      normalization: this.normalization, imageSize: this.imageSize,
      tensors: {
        query_params: { shape: [q.length], description: 'query encoder parameters (backbone + projection head), flat, in the order of native/include/clsa/model.h' },
        query_bn_stats: { shape: [s.length], description: 'batch-norm running mean and variance of the query encoder, flat, per BN layer mean[c] then var[c]' },
      },
    };
    await saveModelFiles(dir, {
      config: config as unknown as Record<string, unknown>,
      tensors: {
        query_params: { dtype: 'F32', shape: [q.length], data: q },
        query_bn_stats: { dtype: 'F32', shape: [s.length], data: s },
      },
      metadata: { format: ENCODER_FORMAT, arch: this.model.config.arch, featureDim: String(this.featureDim) },
    });
  }

  /** Writes the encoder as an ONNX model (backbone in evaluation mode, optionally the projection
   * head; input float NCHW normalised as `normalization`, dynamic batch), atomically. docs/onnx.md. */
  async exportOnnx(file: string, options: OnnxExportOptions = {}): Promise<OnnxExportInfo> {
    const st = this.model.state();
    return writeOnnx(file, { config: this.model.config, params: st.buffers.query_params, stats: st.buffers.query_bn_stats,
      normalization: this.normalization, imageSize: this.imageSize }, options);
  }

  /** SHA-256 of the weights and running statistics: names this exact encoder (a saved search
   * index records it, so that features are never compared with another model's). */
  digest(): string {
    const st = this.model.state();
    const h = crypto.createHash('sha256');
    for (const name of ['query_params', 'query_bn_stats']) {
      const b = st.buffers[name];
      h.update(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    }
    return h.digest('hex');
  }

  dispose(): void {
    if (this.owned) this.model.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** The fields of an encoder's config.json that loading reads, checked so that a damaged or
 * hand-edited file is named (a zero std would give NaN features, a wrong width a confusing
 * mismatch of weights). */
function checkEncoderConfig(config: Record<string, unknown>, file: string): EncoderConfigFile {
  const bad = (what: string) => new FormatError(file, `${file}: ${what}`);
  const cfg = config as unknown as EncoderConfigFile;
  if (cfg.format !== ENCODER_FORMAT) throw bad(`format ${describe(cfg.format)}, expected '${ENCODER_FORMAT}'`);
  if (typeof cfg.version !== 'number' || !Number.isInteger(cfg.version) || cfg.version < 1 || cfg.version > ENCODER_FORMAT_VERSION)
    throw bad(`format version ${describe(cfg.version)}; this clsa reads 1 to ${ENCODER_FORMAT_VERSION}`);
  if (typeof cfg.model !== 'object' || cfg.model === null || Array.isArray(cfg.model)) throw bad(`model: expected an object but got ${describe(cfg.model)}`);
  let model: ResolvedModelConfig;
  try {
    model = resolveConfig({ ...(cfg.model as ModelConfig), device: 'cpu', precision: 'fp32' }, 'model');
    checkNormalization('normalization', cfg.normalization, model.inChannels);
    checkImageSize('imageSize', cfg.imageSize);
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (cfg.featureDim !== undefined && cfg.featureDim !== encoderLayout(model).featureDim)
    throw bad(`featureDim ${describe(cfg.featureDim)} does not match the model's ${encoderLayout(model).featureDim}`);
  return cfg;
}

/** Loads an encoder written by `encoder.save(dir)` (or the `model/` folder of `clsa train`) onto
 * `options.device`, wherever it was trained. 'auto' (the default) picks the CPU until the CUDA
 * encoder is verified on a GPU (backend().cudaVerified.encoder); 'cuda' opts in. */
export function loadEncoder(dir: string, options: { device?: DeviceName; deviceIndex?: number } = {}): Encoder {
  if (typeof dir !== 'string') throw new TypeError(`dir: expected a directory path but got ${describe(dir)}`);
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`loadEncoder(dir, options): expected an object but got ${describe(options)}`);
  const deviceIndex = checkInt('options.deviceIndex', options.deviceIndex ?? 0, 0, 15);
  const device = resolveDevice('options.device', checkEnum('options.device', options.device ?? 'auto', DEVICE_NAMES), deviceIndex, 'encoder');
  const files = loadModelFiles(dir);
  const cfg = checkEncoderConfig(files.config, path.join(dir, 'config.json'));
  // The file's precision applies on a GPU; the CPU computes in fp32.
  const precision = device === 'cuda' ? cfg.model.precision ?? 'fp32' : 'fp32';
  const fresh = ClsaModel.create({ ...(cfg.model as ModelConfig), device, deviceIndex, precision });
  const state = fresh.state();
  fresh.dispose();
  for (const name of ['query_params', 'query_bn_stats']) {
    const t = files.tensors[name];
    const wFile = path.join(dir, 'model.safetensors');
    if (!t) throw new FormatError(wFile, `${wFile}: no tensor '${name}'`);
    const want = state.buffers[name].length;
    if (t.dtype !== 'F32' || t.data.length !== want)
      throw new FormatError(wFile, `${wFile}: tensor '${name}' should be F32 with ${want} values for the config but is ${t.dtype} with ${t.data.length}`);
    state.buffers[name] = Float32Array.from(t.data as Float32Array);
  }
  state.buffers.key_params = Float32Array.from(state.buffers.query_params);
  return new Encoder(ClsaModel.fromState(state), cfg.normalization, cfg.imageSize);
}
