// trainClsa(): the training loop. Data order, augmentation seeds and the learning rate are pure
// functions of (seed, epoch, step), and the model's whole state lives in the checkpoint, so a
// resumed run is bit-identical to an uninterrupted one on the CPU.
import * as fs from 'fs';
import * as path from 'path';
import { augmentBatch, augmentBatchDevice, AugmentedView, cropPresets, CropPreset, ViewSpec } from './augment';
import { Dataset, DatasetSource, loadDataset } from './data';
import { DEVICE_NAMES, DeviceName, DeviceTensor, isDeviceTensor, resolveDevice } from './device';
import { Encoder, ImageNormalization, imageStatistics, toEncoderInput, UInt8Images } from './encoder';
import { knnAccuracy } from './eval';
import { writeDirAtomic, writeFileAtomicSync } from './fsutil';
import { Arch, ARCHS, ClsaModel, ModelConfig, ModelPrecision, ModelState, StepResult } from './model';
import { readSafetensors, writeSafetensors } from './safetensors';
import { checkBool, checkEnum, checkInt, checkNumber, describe } from './validate';

export type CropsOption = 'single' | 'multi' | { key: ViewSpec; weak: ViewSpec[]; strong: ViewSpec[] };

export interface ProgressInfo {
  epoch: number; epochs: number; step: number; steps: number; globalStep: number;
  loss: number; nceLoss: number; ddmLoss: number; accuracy: number; lr: number;
  /** Training images per second over this step (one image = all its views). */
  imagesPerSecond: number;
  seconds: { augment: number; step: number };
}

export interface EpochInfo {
  epoch: number; epochs: number;
  loss: number; nceLoss: number; ddmLoss: number; accuracy: number; lr: number;
  seconds: number; imagesPerSecond: number;
  /** Weighted kNN accuracy on the evaluation split, when evaluated this epoch. */
  knnAccuracy?: number;
}

export interface TrainOptions {
  /** Training data (default 'fashion-mnist': the full set when installed, else the shipped subset). */
  data?: DatasetSource;
  /** Labelled data for the kNN monitor (default: the test split of `data`; false = none). */
  evalData?: DatasetSource | false;
  /** Use only the first `limit` training images (default: all). */
  limit?: number;
  arch?: Arch;
  width?: number;
  depth?: number;
  /** Epochs (default 10). */
  epochs?: number;
  /** Images per step (default 256, lowered to the data size; a multiple of splitBN). */
  batchSize?: number;
  /** Base learning rate at batch 256 (default 0.06, the MoCo CIFAR demo), scaled linearly with the batch. */
  lr?: number;
  weightDecay?: number;
  momentum?: number;
  encoderMomentum?: number;
  /** Queue rows K (default 4096, at most the number of training images). */
  queueSize?: number;
  temperature?: number;
  ddmTemperature?: number;
  /** Weight of the DDM term (default 1; 0 = MoCo v2 with weak views only). */
  ddmWeight?: number;
  crops?: CropsOption;
  /** Overrides applied to every view (e.g. { blur: null } or { randAugment: { n: 3 } }). */
  augment?: Partial<ViewSpec>;
  splitBN?: number;
  /** 'auto' (default: the CPU until backend().cudaVerified.step, see ModelConfig.device), 'cpu' or 'cuda'. A resumed
   * run stays on its checkpoint's device unless this is given. */
  device?: DeviceName;
  /** GPU ordinal for 'cuda' (default 0). */
  deviceIndex?: number;
  /** CUDA only: 'fp32' (default), 'tf32', 'bf16', 'fp16' (see ModelConfig.precision); the CPU computes in fp32. */
  precision?: ModelPrecision;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: ProgressInfo) => void;
  onEpochEnd?: (e: EpochInfo) => void | Promise<void>;
  /** Write a checkpoint to `dir` every `every` epochs (and at the end). */
  checkpoint?: { dir: string; every?: number; onAbort?: boolean };
  /** Continue from a checkpoint directory. */
  resume?: string;
  /** kNN monitor every `every` epochs (default 1) with k = 200, t = 0.1; false = off. */
  evaluate?: { every?: number; k?: number; t?: number } | false;
}

export interface TrainResult {
  encoder: Encoder;
  history: EpochInfo[];
  /** The full model (both encoders, queue, optimiser), for further steps or a checkpoint. */
  model: ClsaModel;
}

interface Resolved {
  epochs: number; batchSize: number; lr: number; seed: number; crops: CropPreset;
  evaluate: { every: number; k: number; t: number } | false;
  model: ModelConfig;
}

export class AbortError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ABORT_ERR';
  constructor(message = 'training was aborted') { super(message); }
}

const CHECKPOINT_FORMAT = 'clsa-checkpoint';

/** The learning rate of an epoch: cosine decay from the base rate, per epoch as the reference. */
export function epochLr(baseLr: number, epoch: number, epochs: number): number {
  return baseLr * 0.5 * (1 + Math.cos((Math.PI * epoch) / epochs));
}

/** A seeded permutation of [0, n) (Fisher-Yates over a splitmix32 stream). */
export function permutation(n: number, seed: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  for (let i = n - 1; i > 0; i--) {
    const j = next() % (i + 1);
    const t = p[i]; p[i] = p[j]; p[j] = t;
  }
  return p;
}

function gather(images: UInt8Images, order: Uint32Array, start: number, count: number): UInt8Images {
  const [, h, w, c] = images.shape;
  const per = h * w * c;
  const out = new Uint8Array(count * per);
  for (let i = 0; i < count; i++) {
    const src = order[start + i] * per;
    out.set(images.data.subarray(src, src + per), i * per);
  }
  return { data: out, shape: [count, h, w, c] };
}

function resolveCrops(crops: CropsOption, imageSize: number, norm: ImageNormalization, overrides: Partial<ViewSpec>): CropPreset {
  // The reference blur (sigma 0.1-2 at 224 pixels) scaled to the image, as the crop sizes are:
  // at 28 pixels an unscaled sigma of 2 would erase most of a garment.
  const r = Math.min(1, imageSize / 224);
  const blur = { sigma: [0.1 * r, 2 * r] as [number, number], p: 0.5 };
  // The encoder takes sides >= 8: the smallest reference crops of small images are raised to 8.
  const withNorm = (v: ViewSpec): ViewSpec => ({ mean: norm.mean, std: norm.std, blur, ...v, ...overrides, size: Math.max(8, (overrides.size ?? v.size)) });
  if (crops === 'single' || crops === 'multi') {
    const p = cropPresets(crops, imageSize);
    const key = withNorm(p.key), weak = p.weak.map(withNorm), strong = p.strong.map(withNorm);
    return { ...p, key, weak, strong, views: [key, ...weak, ...strong] };
  }
  if (typeof crops !== 'object' || crops === null || !Array.isArray(crops.weak) || crops.weak.length < 1)
    throw new TypeError(`options.crops: expected 'single', 'multi' or { key, weak: [...], strong: [...] } but got ${describe(crops)}`);
  const key = withNorm(crops.key), weak = crops.weak.map(withNorm), strong = (crops.strong ?? []).map(withNorm);
  return { ...cropPresets('single', imageSize), key, weak, strong, views: [key, ...weak, ...strong] };
}

function resolve(o: TrainOptions, train: Dataset, norm: ImageNormalization): Resolved {
  const n = train.images.shape[0];
  const epochs = checkInt('options.epochs', o.epochs ?? 10, 1, 1e6);
  const splitBN = checkInt('options.splitBN', o.splitBN ?? 8, 1, 4096);
  let batchSize = checkInt('options.batchSize', o.batchSize ?? 256, 1, 1 << 20);
  if (o.batchSize === undefined) batchSize = Math.max(splitBN, Math.min(batchSize, Math.floor(n / splitBN) * splitBN));
  if (batchSize % splitBN !== 0)
    throw new RangeError(`options.batchSize: expected a multiple of options.splitBN = ${splitBN} (split batch norm) but got ${batchSize}`);
  if (batchSize > n) throw new RangeError(`options.batchSize: expected at most the ${n} training images but got ${batchSize}`);
  const baseLr = checkNumber('options.lr', o.lr ?? 0.06, (x) => x > 0, 'a number > 0');
  const seed = checkInt('options.seed', o.seed ?? 0, 0, 2 ** 32 - 1);
  const deviceIndex = checkInt('options.deviceIndex', o.deviceIndex ?? 0, 0, 15);
  const device = resolveDevice('options.device', checkEnum('options.device', o.device ?? 'auto', DEVICE_NAMES), deviceIndex);
  const precision = checkEnum('options.precision', o.precision ?? 'fp32', ['fp32', 'tf32', 'bf16', 'fp16'] as const);
  if (device === 'cpu' && precision !== 'fp32')
    throw new RangeError(`options.precision: training on the CPU computes in fp32, so expected 'fp32' but got '${precision}'`);
  const evaluate = o.evaluate === false ? false : {
    every: checkInt('options.evaluate.every', o.evaluate?.every ?? 1, 1),
    k: checkInt('options.evaluate.k', o.evaluate?.k ?? 200, 1),
    t: checkNumber('options.evaluate.t', o.evaluate?.t ?? 0.1, (x) => x > 0, 'a number > 0'),
  };
  const [, h, w, c] = train.images.shape;
  const crops = resolveCrops(o.crops ?? 'single', Math.min(h, w), norm, o.augment ?? {});
  const model: ModelConfig = {
    arch: checkEnum('options.arch', o.arch ?? 'resnet-mini', ARCHS),
    width: o.width, depth: o.depth, inChannels: c,
    queueSize: checkInt('options.queueSize', o.queueSize ?? Math.min(4096, n), 1, 1 << 26),
    temperature: o.temperature ?? 0.2, ddmTemperature: o.ddmTemperature ?? 0.2, ddmWeight: o.ddmWeight ?? 1,
    encoderMomentum: o.encoderMomentum ?? 0.99, lr: baseLr * batchSize / 256, momentum: o.momentum ?? 0.9,
    weightDecay: o.weightDecay ?? 5e-4, splitBN, seed, device, deviceIndex, precision,
  };
  // Unset fields take the model's defaults (a present-but-undefined key would override them).
  for (const k of Object.keys(model) as (keyof ModelConfig)[]) if (model[k] === undefined) delete model[k];
  // S = 0 with ddmWeight 0 is MoCo v2: no strong views at all.
  if (model.ddmWeight === 0) crops.strong = [];
  return { epochs, batchSize, lr: baseLr * batchSize / 256, seed, crops, evaluate, model };
}

interface CheckpointMeta {
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

async function writeCheckpoint(dir: string, model: ClsaModel, meta: Omit<CheckpointMeta, 'format' | 'version' | 'modelState'>): Promise<void> {
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

function readCheckpoint(dir: string): { meta: CheckpointMeta; state: ModelState } {
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
function recordable(o: TrainOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'function' || k === 'signal' || k === 'checkpoint' || k === 'resume') continue;
    if (k === 'data' || k === 'evalData') out[k] = typeof v === 'string' || v === false ? v : 'memory';
    else out[k] = v;
  }
  return out;
}

/** Trains a CLSA encoder (docs/objective.md, docs/augmentations.md). Resolves with the encoder and the per-epoch history. */
export async function trainClsa(options: TrainOptions = {}): Promise<TrainResult> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`options: expected an object but got ${describe(options)}`);
  const signal = options.signal;
  const throwIfAborted = () => { if (signal?.aborted) throw new AbortError(); };
  throwIfAborted();
  if (options.checkpoint !== undefined) {
    if (typeof options.checkpoint !== 'object' || typeof options.checkpoint.dir !== 'string')
      throw new TypeError(`options.checkpoint: expected { dir: string, every?: number } but got ${describe(options.checkpoint)}`);
    checkInt('options.checkpoint.every', options.checkpoint.every ?? 1, 1);
    checkBool('options.checkpoint.onAbort', options.checkpoint.onAbort ?? false);
  }

  const source = options.data ?? 'fashion-mnist';
  let train = await loadDataset(source, { split: 'train' });
  if (options.limit !== undefined) {
    const limit = checkInt('options.limit', options.limit, 1);
    const [n, h, w, c] = train.images.shape;
    const m = Math.min(n, limit);
    train = { ...train, images: { data: train.images.data.subarray(0, m * h * w * c), shape: [m, h, w, c] },
      labels: train.labels?.subarray(0, m) };
  }
  let evalSet: Dataset | undefined;
  if (options.evaluate !== false && options.evalData !== false) {
    const src = options.evalData ?? source;
    try {
      evalSet = await loadDataset(src, { split: 'test' });
    } catch (e) {
      if (options.evalData !== undefined) throw e;  // asked for explicitly: report it
    }
    if (evalSet && (!evalSet.labels || !train.labels)) evalSet = undefined;
  }

  let resumed: { meta: CheckpointMeta; state: ModelState } | undefined;
  if (options.resume !== undefined) resumed = readCheckpoint(options.resume);
  const norm = resumed?.meta.normalization ?? imageStatistics(train.images);
  const r = resolve(options, train, norm);
  // A resumed run stays on its checkpoint's device unless options.device says otherwise.
  const model = resumed
    ? ClsaModel.fromState(resumed.state, { device: options.device, deviceIndex: options.deviceIndex, precision: options.precision })
    : ClsaModel.create(r.model);
  const [nTrain, H, W] = train.images.shape;
  const encoder = new Encoder(model, norm, [H, W], false);
  const history: EpochInfo[] = resumed ? resumed.meta.history.slice() : [];
  const stepsPerEpoch = Math.floor(nTrain / r.batchSize);
  let epoch = resumed?.meta.epoch ?? 0;
  let stepInEpoch = resumed?.meta.step ?? 0;
  const ckptMeta = () => ({ epoch, step: stepInEpoch, normalization: norm, imageSize: [H, W] as [number, number],
    options: recordable(options), history });

  const views = r.crops;
  // On a GPU the views are augmented there (the same bytes as on the CPU) and the step reads them
  // in place; on the CPU a worker thread augments into host memory.
  const onGpu = model.config.device === 'cuda';
  type Batch = { views: (AugmentedView | DeviceTensor)[] };
  const augmentStep = (ep: number, s: number): Promise<Batch> => {
    const order = permutation(nTrain, (r.seed ^ Math.imul(ep + 1, 0x27d4eb2d)) >>> 0);
    const batch = gather(train.images, order, s * r.batchSize, r.batchSize);
    const globalStep = ep * stepsPerEpoch + s;
    const all = [views.key, ...views.weak, ...views.strong];
    const opts = { seed: r.seed, imageOffset: globalStep * r.batchSize };
    return onGpu ? augmentBatchDevice(batch, all, { ...opts, deviceIndex: model.config.deviceIndex })
      : augmentBatch(batch, all, opts);
  };
  const release = (b: Batch | undefined) => {
    for (const v of b?.views ?? []) if (isDeviceTensor(v)) v.dispose();
  };

  const evaluateNow = async (): Promise<number | undefined> => {
    if (!evalSet || !train.labels || !evalSet.labels) return undefined;
    const bank = await encoder.embed(train.images);
    const test = await encoder.embed(evalSet.images);
    const knn = await knnAccuracy({ features: bank, labels: train.labels }, { features: test, labels: evalSet.labels },
      { k: r.evaluate ? r.evaluate.k : 200, t: r.evaluate ? r.evaluate.t : 0.1 });
    return knn.accuracy;
  };

  let pending: Promise<Batch> | undefined;  // the next batch, being augmented
  try {
    for (; epoch < r.epochs; epoch++, stepInEpoch = 0) {
      const lr = epochLr(r.lr, epoch, r.epochs);
      const sums = { loss: 0, nceLoss: 0, ddmLoss: 0, accuracy: 0, n: 0 };
      const t0 = Date.now();
      pending = stepInEpoch < stepsPerEpoch ? augmentStep(epoch, stepInEpoch) : undefined;
      for (; stepInEpoch < stepsPerEpoch; stepInEpoch++) {
        throwIfAborted();
        const ta = Date.now();
        const out = await (pending as Promise<Batch>);
        pending = undefined;
        const tb = Date.now();
        let res: StepResult;
        try {
          // The next batch's augmentation runs on a worker while this step trains.
          pending = stepInEpoch + 1 < stepsPerEpoch ? augmentStep(epoch, stepInEpoch + 1) : undefined;
          pending?.catch(() => undefined);  // surfaced when awaited
          const v = out.views;
          res = await model.step({
            key: v[0], weak: v.slice(1, 1 + views.weak.length), strong: v.slice(1 + views.weak.length),
          }, { lr });
        } finally {
          release(out);
        }
        const tc = Date.now();
        sums.loss += res.loss; sums.nceLoss += res.nceLoss; sums.ddmLoss += res.ddmLoss; sums.accuracy += res.accuracy; sums.n++;
        options.onProgress?.({
          epoch, epochs: r.epochs, step: stepInEpoch, steps: stepsPerEpoch, globalStep: epoch * stepsPerEpoch + stepInEpoch,
          loss: res.loss, nceLoss: res.nceLoss, ddmLoss: res.ddmLoss, accuracy: res.accuracy, lr,
          imagesPerSecond: r.batchSize / Math.max((tc - ta) / 1000, 1e-6),
          seconds: { augment: (tb - ta) / 1000, step: (tc - tb) / 1000 },
        });
      }
      const seconds = (Date.now() - t0) / 1000;
      const info: EpochInfo = {
        epoch, epochs: r.epochs, lr, seconds, imagesPerSecond: (sums.n * r.batchSize) / Math.max(seconds, 1e-6),
        loss: sums.loss / Math.max(sums.n, 1), nceLoss: sums.nceLoss / Math.max(sums.n, 1),
        ddmLoss: sums.ddmLoss / Math.max(sums.n, 1), accuracy: sums.accuracy / Math.max(sums.n, 1),
      };
      if (r.evaluate && ((epoch + 1) % r.evaluate.every === 0 || epoch + 1 === r.epochs)) {
        throwIfAborted();
        info.knnAccuracy = await evaluateNow();
      }
      history.push(info);
      stepInEpoch = stepsPerEpoch;
      if (options.checkpoint && ((epoch + 1) % (options.checkpoint.every ?? 1) === 0 || epoch + 1 === r.epochs)) {
        const e = epoch;
        epoch = e + 1; stepInEpoch = 0;  // the checkpoint continues at the next epoch
        await writeCheckpoint(options.checkpoint.dir, model, ckptMeta());
        epoch = e; stepInEpoch = stepsPerEpoch;
      }
      await options.onEpochEnd?.(info);
    }
  } catch (err) {
    pending?.then(release, () => undefined);  // device views of a batch no step will take
    if (err instanceof AbortError && options.checkpoint?.onAbort) await writeCheckpoint(options.checkpoint.dir, model, ckptMeta());
    model.dispose();
    throw err;
  }
  return { encoder: new Encoder(model, norm, [H, W], true), history, model };
}

export { toEncoderInput };
