// trainClsa(): a training run read as a recipe. Its named parts live in lib/training/:
//   schedule.ts   the learning rate of every step (warm-up, cosine per epoch)
//   views.ts      which images a step sees and how they are augmented
//   monitor.ts    the kNN monitor, on a validation split carved from the training data
//   checkpoint.ts what a checkpoint holds and how it is written and read
// and lib/recipes.ts holds the named presets. Data order, augmentation seeds and the learning
// rate are pure functions of (seed, epoch, step), and the model's whole state lives in the
// checkpoint, so a resumed run is bit-identical to an uninterrupted one on the CPU.
import { augmentBatch, augmentBatchDevice, AugmentedView, CropPreset, resolveView, ViewSpec } from './augment';
import { Dataset, DatasetSource, isMemorySplits, LoadOptions, loadSource, memoryDataset, NoTestSplitError } from './data';
import { DEVICE_NAMES, DeviceName, DeviceTensor, isDeviceTensor, resolveDevice } from './device';
import { Communicator, DEFAULT_CHECK_EVERY, DISTRIBUTED_OPTIONS, DistributedOption, ncclUnavailable, openDistributed } from './distributed';
import { Encoder, ImageNormalization, imageStatistics, toEncoderInput } from './encoder';
import { Arch, ARCHS, ClsaModel, cpuPrecisionError, LOSS_REDUCTIONS, LossReduction, ModelConfig, ModelPrecision, ModelState, resolveConfig, StepResult } from './model';
import { FormatError } from './errors';
import { checkReplaceable } from './fsutil';
import { RecipeName, recipeOptions } from './recipes';
import { assertDisjoint } from './overlap';
import { sliceDataset, stratifiedSplit, stratifiedSubset, validationSplit } from './split';
import { checkResume, CheckpointMeta, fingerprint, isCheckpointDir, readCheckpoint, recordable, writeCheckpoint } from './training/checkpoint';
import { knnMonitor, Monitor } from './training/monitor';
import { FEATURE_FORMS, FeatureForm } from './forms';
import { Schedule, scheduledLr } from './training/schedule';
import { CropsOption, epochOrder, gather, MIN_VIEW_SIZE, resolveCrops } from './training/views';
import { checkBool, checkEnum, checkInt, checkNumber, checkOptions, describe } from './validate';

export type { CropsOption } from './training/views';
import { epochLr } from './training/schedule';
export { epochLr };
export { permutation } from './training/views';

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
  /** Weighted kNN accuracy on the monitored split, when evaluated this epoch. */
  knnAccuracy?: number;
  /** Which split knnAccuracy was measured on: 'validation' (carved from the training data),
   * 'test', or 'evalData' (in-memory arrays given as options.evalData). */
  knnSplit?: string;
  /** Images in that split. */
  knnSplitSize?: number;
}

export interface TrainOptions {
  /** A named recipe whose settings are the defaults of every option not given (see RECIPES). */
  preset?: RecipeName;
  /** Training data (default 'fashion-mnist': the full set when installed, else the shipped subset).
   * Training uses its 'train' split: a source without a test split of its own first gives up its
   * test hold-out (see LoadOptions.holdOut), so a later evaluation on 'test' is of unseen images. */
  data?: DatasetSource;
  /** How `data` is loaded: image size and channels of folders, the test hold-out, the cache. */
  load?: Pick<LoadOptions, 'size' | 'channels' | 'holdOut' | 'cacheDir'>;
  /**
   * Images held out of the training split for the kNN monitor: a count or a fraction in (0, 1),
   * carved as `validationRows` says. The run then never touches the test split, as choosing a
   * recipe requires. Default: 1/6 whenever the monitor runs on labelled data without `evalData`
   * (none when `evaluate` or `evalData` is false); false = none (the monitor watches the test split).
   */
  validation?: number | false;
  /**
   * How the validation rows (and the `limit` subset) are drawn: 'stratified' (default: per class,
   * seeded by `splitSeed`, right for data in class order such as image folders) or 'last' (the
   * last rows, and the first `limit` of the rest: the recipe study's protocol, validationSplit).
   */
  validationRows?: 'stratified' | 'last';
  /** Seed of the stratified validation split, the `limit` subset and the test hold-out (default 0);
   * independent of `seed`, so runs with different seeds are scored on the same images. */
  splitSeed?: number;
  /** Labelled data for the kNN monitor instead of a validation split: a source's test split, or
   * in-memory arrays used whole (default: none; false = no monitor). */
  evalData?: DatasetSource | false;
  /** Train on `limit` images of the training split (after the validation split; default all):
   * drawn per class with 'stratified' validation rows, the first ones with 'last'. */
  limit?: number;
  arch?: Arch;
  width?: number;
  depth?: number;
  /** Hidden width of the projection MLP (default: the backbone's feature size) and its output D (default 128). */
  projHidden?: number;
  projDim?: number;
  /** Epochs (default 10). */
  epochs?: number;
  /** Images per step (default 256, lowered to the data size; a multiple of splitBN). Across ranks
   * (options.distributed) the global batch: each rank steps on batchSize / ranks of its images, a
   * multiple of splitBN. */
  batchSize?: number;
  /** Base learning rate at batch 256 (default 0.06, the MoCo CIFAR demo), scaled linearly with the batch. */
  lr?: number;
  /** Epochs of linear learning-rate warm-up, per step (default 0). */
  warmupEpochs?: number;
  weightDecay?: number;
  momentum?: number;
  encoderMomentum?: number;
  /** Queue rows K (default: scaled to the data, defaultQueueSize(n)). */
  queueSize?: number;
  temperature?: number;
  ddmTemperature?: number;
  /** Weight of the DDM term (default 1; 0 = MoCo v2 with weak views only). */
  ddmWeight?: number;
  crops?: CropsOption;
  /** A symmetrised contrastive term (default false, the reference's loss; see ModelConfig.symmetric). */
  symmetric?: boolean;
  /** 'sum' (default, the reference) or 'mean' over the crops' terms (see ModelConfig.lossReduction). */
  lossReduction?: LossReduction;
  /** RandomResizedCrop area range of the key and weak views (default [0.2, 1], MoCo v2's). */
  weakScale?: [number, number];
  /** Overrides applied to every view (e.g. { blur: null } or { randAugment: { n: 3 } }). */
  augment?: Partial<ViewSpec>;
  /** Split-BN groups (default 8); across ranks, per rank: one process with splitBN x ranks groups
   * computes the same step. */
  splitBN?: number;
  /**
   * Data-parallel training (docs/distributed.md): 'auto' (default: when Open MPI's mpirun started
   * this process with more than one rank, NCCL if the model trains on the GPU (device 'cuda') and
   * every rank loads libnccl.so.2, else MPI; one process otherwise), 'mpi' (CPU ranks), 'nccl'
   * (GPU ranks, one GPU each: deviceIndex, default the rank's local rank) or 'none'.
   * Every rank runs trainClsa with the same options and data; each takes its rows of every global
   * batch (the images and augmentations one process would give those rows) and the replicas stay
   * identical, so each rank's result is the same model. Rank 0 alone writes checkpoints and runs
   * the kNN monitor (the others' history has no knnAccuracy). A resumed run reads its checkpoint
   * on every rank.
   */
  distributed?: DistributedOption;
  /** 'auto' (default: the CPU until backend().cudaVerified.step, see ModelConfig.device), 'cpu' or 'cuda'. A resumed
   * run stays on its checkpoint's device unless this is given. */
  device?: DeviceName;
  /** GPU ordinal for 'cuda' (default 0; under NCCL, the rank's local rank). */
  deviceIndex?: number;
  /** 'fp32' (default); 'bf16' on a CPU with AVX512-BF16 (backend().cpuBf16: bf16 products with fp32
   * accumulation in the convolutions and linear layers); 'tf32', 'bf16', 'fp16' on CUDA (see
   * ModelConfig.precision). A resumed run keeps its checkpoint's precision unless this is given. */
  precision?: ModelPrecision;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: ProgressInfo) => void;
  onEpochEnd?: (e: EpochInfo) => void | Promise<void>;
  /** Write a checkpoint to `dir` every `every` epochs (and at the end). */
  checkpoint?: { dir: string; every?: number; onAbort?: boolean };
  /** Continue from a checkpoint directory. The run's data, splits, limit and recipe must be the
   * checkpoint's (an error names the first option that differs) unless `forceResume`. */
  resume?: string;
  /** Resume even when options differ from the checkpoint's (default false). */
  forceResume?: boolean;
  /** kNN monitor every `every` epochs (default 1) with k = 200, t = 0.1, on features in `form`
   * (default 'standardised' with the bank's statistics, see lib/forms.ts); false = off. */
  evaluate?: { every?: number; k?: number; t?: number; form?: FeatureForm } | false;
}

/**
 * The queue scaled to the data: about one key in twelve training images, a multiple of 64, in
 * [256, 4096]. A queue holding most of a small data set makes an image's own older key one of
 * its negatives; the recipe study measured this (docs/recipe.md).
 */
export function defaultQueueSize(nTrain: number): number {
  checkInt('nTrain', nTrain, 0);
  return Math.max(256, Math.min(4096, Math.round(nTrain / 12 / 64) * 64));
}

export interface TrainResult {
  encoder: Encoder;
  history: EpochInfo[];
  /** The full model (both encoders, queue, optimiser), for further steps or a checkpoint. */
  model: ClsaModel;
  /** The images this run trained on (the kNN bank of its monitor) and its validation split, if any. */
  data: { train: Dataset; validation?: Dataset };
  /** The views it trained on, resolved for the image size (key, weak, strong). */
  views: CropPreset;
  /** This process's place in a data-parallel run (options.distributed), or undefined for one process. */
  distributed?: { rank: number; size: number };
}

interface Resolved {
  epochs: number; batchSize: number; lr: number; warmupEpochs: number; seed: number; crops: CropPreset;
  evaluate: { every: number; k: number; t: number; form: FeatureForm } | false;
  model: ModelConfig;
}

export class AbortError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ABORT_ERR';
  constructor(message = 'training was aborted') { super(message); }
}

function resolve(o: TrainOptions, train: Dataset, norm: ImageNormalization, comm: Communicator | undefined, resumed: boolean): Resolved {
  const ranks = comm?.size ?? 1;
  const n = train.images.shape[0];
  const channels = train.images.shape[3];
  if (channels !== 1 && channels !== 3)
    throw new RangeError(`options.data: expected images of 1 or 3 channels (what the augmentations take) but ${train.source} has ${channels}`);
  const epochs = checkInt('options.epochs', o.epochs ?? 10, 1, 1e6);
  const splitBN = checkInt('options.splitBN', o.splitBN ?? 8, 1, 4096);
  // Every rank's share of a batch is cut into splitBN groups.
  const unit = splitBN * ranks;
  let batchSize = checkInt('options.batchSize', o.batchSize ?? 256, 1, 1 << 20);
  if (o.batchSize === undefined) batchSize = Math.max(unit, Math.min(batchSize, Math.floor(n / unit) * unit));
  if (batchSize % unit !== 0)
    throw new RangeError(ranks === 1
      ? `options.batchSize: expected a multiple of options.splitBN = ${splitBN} (split batch norm) but got ${batchSize}`
      : `options.batchSize: expected a multiple of options.splitBN x ranks = ${splitBN} x ${ranks} = ${unit} (each rank's share of the batch is cut into splitBN groups) but got ${batchSize}`);
  if (batchSize > n) throw new RangeError(`options.batchSize: expected at most the ${n} training images but got ${batchSize}`);
  const baseLr = checkNumber('options.lr', o.lr ?? 0.06, (x) => x > 0, 'a number > 0');
  const warmupEpochs = checkNumber('options.warmupEpochs', o.warmupEpochs ?? 0, (x) => x >= 0 && x <= epochs, `a number in [0, options.epochs = ${epochs}]`);
  const seed = checkInt('options.seed', o.seed ?? 0, 0, 2 ** 32 - 1);
  // An NCCL rank's GPU is its communicator's (its local rank unless options.deviceIndex said).
  const deviceIndex = checkInt('options.deviceIndex', o.deviceIndex ?? comm?.deviceIndex ?? 0, 0, 15);
  const device = resolveDevice('options.device', checkEnum('options.device', o.device ?? 'auto', DEVICE_NAMES), deviceIndex);
  const precision = checkEnum('options.precision', o.precision ?? 'fp32', ['fp32', 'tf32', 'bf16', 'fp16'] as const);
  const cpuWhy = device === 'cpu' ? cpuPrecisionError('options.precision', precision) : undefined;
  if (cpuWhy) throw new RangeError(cpuWhy);
  const noNccl = ncclUnavailable();
  if (comm?.backend === 'mpi' && device !== 'cpu')
    throw new RangeError(`options.device: ranks over MPI train on the CPU, so expected 'cpu' or 'auto' with ${ranks} ranks but got '${o.device ?? 'auto'}' (resolved to '${device}'); GPU ranks need options.distributed 'nccl'${noNccl ? ` ('auto' did not take NCCL: ${noNccl})` : ''}`);
  if (comm?.backend === 'nccl' && device !== 'cuda')
    throw new RangeError(`options.device: NCCL ranks train on GPUs, so expected 'cuda' with ${ranks} ranks but got '${o.device ?? 'auto'}' (resolved to '${device}'); CPU ranks need options.distributed 'mpi'`);
  const evaluate = o.evaluate === false ? false : {
    every: checkInt('options.evaluate.every', o.evaluate?.every ?? 1, 1),
    k: checkInt('options.evaluate.k', o.evaluate?.k ?? 200, 1),
    t: checkNumber('options.evaluate.t', o.evaluate?.t ?? 0.1, (x) => x > 0, 'a number > 0'),
    form: checkEnum('options.evaluate.form', o.evaluate?.form ?? 'standardised', FEATURE_FORMS),
  };
  const [, h, w, c] = train.images.shape;
  let weakScale: [number, number] | undefined;
  if (o.weakScale !== undefined) {
    const ws = o.weakScale;
    if (!Array.isArray(ws) || ws.length !== 2 || !ws.every((x) => typeof x === 'number' && x > 0 && x <= 1) || ws[0] > ws[1])
      throw new RangeError(`options.weakScale: expected [lo, hi] with 0 < lo <= hi <= 1 but got ${describe(ws)}${Array.isArray(ws) ? ` [${ws.join(', ')}]` : ''}`);
    weakScale = [ws[0], ws[1]];
  }
  if (o.augment !== undefined && o.augment !== null) resolveView('options.augment', { size: MIN_VIEW_SIZE, ...checkOptions('options.augment', o.augment) }, c);
  const crops = resolveCrops(o.crops ?? 'single', Math.min(h, w), norm, o.augment ?? {}, weakScale);
  // Checked now, by name, rather than at the first step's augmentation ('views[2]...').
  const named: [string, ViewSpec][] = [['key', crops.key], ...crops.weak.map((v, i): [string, ViewSpec] => [`weak[${i}]`, v]),
    ...crops.strong.map((v, i): [string, ViewSpec] => [`strong[${i}]`, v])];
  for (const [k, v] of named) resolveView(`options.crops.${k}`, v, c);
  const model: ModelConfig = {
    arch: checkEnum('options.arch', o.arch ?? 'resnet-mini', ARCHS),
    width: o.width, depth: o.depth, projHidden: o.projHidden, projDim: o.projDim, inChannels: c,
    queueSize: checkInt('options.queueSize', o.queueSize ?? defaultQueueSize(n), 1, 1 << 26),
    temperature: o.temperature ?? 0.2, ddmTemperature: o.ddmTemperature ?? 0.2, ddmWeight: o.ddmWeight ?? 1,
    encoderMomentum: o.encoderMomentum ?? 0.99, lr: baseLr * batchSize / 256, momentum: o.momentum ?? 0.9,
    weightDecay: o.weightDecay ?? 5e-4, splitBN, seed, device, deviceIndex, precision,
    symmetric: checkBool('options.symmetric', o.symmetric ?? false),
    lossReduction: checkEnum('options.lossReduction', o.lossReduction ?? 'sum', LOSS_REDUCTIONS),
  };
  // Unset fields take the model's defaults (a present-but-undefined key would override them).
  for (const k of Object.keys(model) as (keyof ModelConfig)[]) if (model[k] === undefined) delete model[k];
  // Checked here, naming the options, rather than at ClsaModel.create (which names config.*).
  if (!resumed) resolveConfig(model, 'options');
  // S = 0 with ddmWeight 0 is MoCo v2: no strong views at all.
  if (model.ddmWeight === 0) crops.strong = [];
  return { epochs, batchSize, lr: baseLr * batchSize / 256, warmupEpochs, seed, crops, evaluate, model };
}

/** The monitor's validation split when options.validation is unset: a sixth of the training split. */
export const DEFAULT_VALIDATION = 1 / 6;

interface Splits { train: Dataset; validation?: Dataset; evalSet?: Dataset; evalSplit: string }

/** The training images (after any validation split and limit) and what the monitor scores. */
async function loadSplits(options: TrainOptions): Promise<Splits> {
  const source = options.data ?? 'fashion-mnist';
  const rows = checkEnum('options.validationRows', options.validationRows ?? 'stratified', ['stratified', 'last'] as const);
  const splitSeed = checkInt('options.splitSeed', options.splitSeed ?? 0, 0, 2 ** 32 - 1);
  if (options.load !== undefined && (typeof options.load !== 'object' || options.load === null))
    throw new TypeError(`options.load: expected { size?, channels?, holdOut?, cacheDir? } but got ${describe(options.load)}`);
  const load: LoadOptions = { ...options.load, splitSeed };
  let train = await loadSource('options.data', source, { ...load, split: 'train' });
  const monitorOn = options.evaluate !== false && options.evalData !== false;
  const spec = options.validation ?? (monitorOn && options.evalData === undefined && train.labels ? DEFAULT_VALIDATION : false);
  let validation: Dataset | undefined;
  if (spec !== false) {
    if (options.evalData !== undefined && options.evalData !== false)
      throw new RangeError('options.evalData: the monitor watches the validation split when options.validation is given; pass one of them, not both');
    const split = rows === 'last' ? validationSplit(train, spec, 'options.validation')
      : stratifiedSplit(train, spec, { seed: splitSeed, name: 'options.validation' });
    ({ train, validation } = split);
  }
  if (options.limit !== undefined) {
    const n = checkInt('options.limit', options.limit, 1);
    train = rows === 'last' ? sliceDataset(train, n) : stratifiedSubset(train, n, splitSeed);
  }
  let evalSet = validation, evalSplit = 'validation';
  if (!evalSet && monitorOn) {
    const given = options.evalData;
    if (given !== undefined && typeof given === 'object' && !isMemorySplits(given)) {
      evalSet = memoryDataset('options.evalData', given);  // arrays given for the monitor: all of them
      evalSplit = 'evalData';
    } else {
      evalSplit = 'test';
      try {
        evalSet = await loadSource(given === undefined ? 'options.data' : 'options.evalData', given === undefined ? source : given as DatasetSource, { ...load, split: 'test' });
      } catch (e) {
        if (given !== undefined || !(e instanceof NoTestSplitError)) throw e;  // no test split: no monitor
      }
    }
  }
  if (evalSet && (!evalSet.labels || !train.labels)) evalSet = undefined;
  if (evalSet) assertDisjoint(train, 'the training images (the kNN bank of the monitor)', evalSet, `the ${evalSplit} split`);
  return { train, validation, evalSet, evalSplit };
}

// Every key of TrainOptions, checked by the compiler (an option added to TrainOptions and not here is a
// type error), so that an option of one feature is never refused as unknown by another's check.
const TRAIN_OPTION_KEYS = Object.keys({
  preset: 1, data: 1, load: 1, validation: 1, validationRows: 1, splitSeed: 1, evalData: 1, limit: 1,
  arch: 1, width: 1, depth: 1, projHidden: 1, projDim: 1, epochs: 1, batchSize: 1, lr: 1, warmupEpochs: 1,
  weightDecay: 1, momentum: 1, encoderMomentum: 1, queueSize: 1, temperature: 1, ddmTemperature: 1,
  ddmWeight: 1, crops: 1, symmetric: 1, lossReduction: 1, weakScale: 1, augment: 1, splitBN: 1, device: 1,
  deviceIndex: 1, precision: 1, seed: 1, signal: 1, onProgress: 1, onEpochEnd: 1, checkpoint: 1, resume: 1,
  forceResume: 1, evaluate: 1, distributed: 1,
} satisfies Record<keyof TrainOptions, 1>) as (keyof TrainOptions)[];

/** What can be checked before any data is loaded: unknown keys (a misspelt option would be
 * ignored), callbacks, the signal, the checkpoint directory and the resume path. */
function checkTrainOptions(o: TrainOptions): void {
  for (const key of Object.keys(o))
    if (!TRAIN_OPTION_KEYS.includes(key as keyof TrainOptions))
      throw new RangeError(`options.${key}: unknown option (known: ${TRAIN_OPTION_KEYS.join(', ')})`);
  for (const k of ['onProgress', 'onEpochEnd'] as const)
    if (o[k] !== undefined && typeof o[k] !== 'function') throw new TypeError(`options.${k}: expected a function but got ${describe(o[k])}`);
  const sig = o.signal as unknown as { aborted?: unknown; addEventListener?: unknown } | undefined;
  if (sig !== undefined && (typeof sig !== 'object' || sig === null || typeof sig.aborted !== 'boolean'))
    throw new TypeError(`options.signal: expected an AbortSignal but got ${describe(sig)}`);
  if (o.evaluate !== undefined && o.evaluate !== false && (typeof o.evaluate !== 'object' || o.evaluate === null))
    throw new TypeError(`options.evaluate: expected { every?, k?, t?, form? } or false but got ${describe(o.evaluate)}`);
  for (const k of ['data', 'evalData'] as const) {
    const v = o[k];
    if (v !== undefined && !(k === 'evalData' && v === false) && typeof v !== 'string' && (typeof v !== 'object' || v === null))
      throw new TypeError(`options.${k}: expected a path, 'fashion-mnist' or in-memory { images, labels }${k === 'evalData' ? ' (or false)' : ''} but got ${describe(v)}`);
  }
  const ck = o.checkpoint;
  if (ck !== undefined) {
    if (typeof ck !== 'object' || ck === null || typeof ck.dir !== 'string' || ck.dir.length === 0)
      throw new TypeError(`options.checkpoint: expected { dir: string, every?: number, onAbort?: boolean } but got ${describe(ck)}`);
    for (const key of Object.keys(ck))
      if (!['dir', 'every', 'onAbort'].includes(key)) throw new RangeError(`options.checkpoint.${key}: unknown option (known: dir, every, onAbort)`);
    checkInt('options.checkpoint.every', ck.every ?? 1, 1);
    checkBool('options.checkpoint.onAbort', ck.onAbort ?? false);
    // Refused now rather than after the first epoch's training.
    checkReplaceable(ck.dir, { name: 'options.checkpoint.dir', replaceable: isCheckpointDir });
  }
  checkBool('options.forceResume', o.forceResume ?? false);
  if (o.resume !== undefined && (typeof o.resume !== 'string' || o.resume.length === 0))
    throw new TypeError(`options.resume: expected a checkpoint directory path but got ${describe(o.resume)}`);
}

/** The checkpoint's model, on the device the options ask for; a checkpoint whose state does not
 * build a model is named as the culprit rather than the state fields it holds. */
function modelFromCheckpoint(o: TrainOptions, state: ModelState): ClsaModel {
  try {
    return ClsaModel.fromState(state, { device: o.device, deviceIndex: o.deviceIndex, precision: o.precision });
  } catch (err) {
    if (/^state\./.test((err as Error).message))
      throw new FormatError(o.resume as string, `options.resume: ${o.resume}: the checkpoint holds a model this clsa cannot restore (${(err as Error).message})`);
    throw err;
  }
}

/** Trains a CLSA encoder (docs/objective.md, docs/augmentations.md, docs/recipe.md). Resolves with the encoder and the per-epoch history. */
export async function trainClsa(userOptions: TrainOptions = {}): Promise<TrainResult> {
  if (typeof userOptions !== 'object' || userOptions === null) throw new TypeError(`options: expected an object but got ${describe(userOptions)}`);
  const options = recipeOptions(userOptions);
  checkTrainOptions(options);
  const signal = options.signal;
  const throwIfAborted = () => { if (signal?.aborted) throw new AbortError(); };
  throwIfAborted();
  // Before any data is loaded: a missing MPI (or NCCL) library is an error about options.distributed,
  // at once. The back end follows the device: 'auto' takes NCCL for a model on the GPU.
  const distributed = checkEnum('options.distributed', options.distributed ?? 'auto', DISTRIBUTED_OPTIONS);
  // Checked here, under its own name, before the communicator (which takes it for an NCCL rank's GPU).
  const deviceIndex = options.deviceIndex === undefined ? undefined : checkInt('options.deviceIndex', options.deviceIndex, 0, 15);
  const gpu = options.device === 'cuda' ||
    (distributed === 'auto' && (options.device ?? 'auto') === 'auto' && resolveDevice('options.device', 'auto', deviceIndex ?? 0) === 'cuda');
  const comm: Communicator | undefined = openDistributed(distributed, 'options.distributed',
    { device: gpu ? 'cuda' : 'cpu', deviceIndex });
  const ranks = comm?.size ?? 1, rank = comm?.rank ?? 0, lead = rank === 0;
  const { train, validation, evalSet, evalSplit } = await loadSplits(options);
  const dataPrint = { train: fingerprint(train), validation: validation && fingerprint(validation) };

  let resumed: { meta: CheckpointMeta; state: ModelState } | undefined;
  if (options.resume !== undefined) {
    resumed = readCheckpoint(options.resume);
    if (!checkBool('options.forceResume', options.forceResume ?? false))
      checkResume(options.resume, resumed.meta, recordable(options), dataPrint);
  }
  const norm = resumed?.meta.normalization ?? imageStatistics(train.images);
  const r = resolve(options, train, norm, comm, resumed !== undefined);
  // A resumed run stays on its checkpoint's device unless options.device says otherwise; an NCCL
  // rank's model goes on its communicator's GPU.
  const model = resumed ? modelFromCheckpoint({ ...options, deviceIndex: options.deviceIndex ?? comm?.deviceIndex }, resumed.state)
    : ClsaModel.create(r.model);
  if (comm) {
    try {
      await model.attach(comm, { checkEvery: DEFAULT_CHECK_EVERY });
    } catch (err) {
      model.dispose();
      throw err;
    }
  }
  const [nTrain, H, W] = train.images.shape;
  const encoder = new Encoder(model, norm, [H, W], false);
  const history: EpochInfo[] = resumed ? resumed.meta.history.slice() : [];
  const stepsPerEpoch = Math.floor(nTrain / r.batchSize);
  let epoch = resumed?.meta.epoch ?? 0;
  let stepInEpoch = resumed?.meta.step ?? 0;
  const ckptMeta = () => ({ epoch, step: stepInEpoch, normalization: norm, imageSize: [H, W] as [number, number],
    options: recordable(options), data: dataPrint, history });

  const views = r.crops;
  const schedule: Schedule = { baseLr: r.lr, epochs: r.epochs, stepsPerEpoch, warmupEpochs: r.warmupEpochs };
  const monitor: Monitor | undefined = r.evaluate && evalSet ? knnMonitor(train, evalSet, evalSplit, r.evaluate) : undefined;
  // On a GPU the views are augmented there (the same bytes as on the CPU) and the step reads them
  // in place; on the CPU a worker thread augments into host memory.
  const onGpu = model.config.device === 'cuda';
  type Batch = { views: (AugmentedView | DeviceTensor)[] };
  // This rank's rows of the global batch: the images, and the augmentation draws, of rows
  // first .. first + local - 1 (all of them in one process).
  const local = r.batchSize / ranks, first = rank * local;
  const augmentStep = (ep: number, s: number): Promise<Batch> => {
    const batch = gather(train.images, epochOrder(nTrain, r.seed, ep), s * r.batchSize + first, local);
    const globalStep = ep * stepsPerEpoch + s;
    const all = [views.key, ...views.weak, ...views.strong];
    const opts = { seed: r.seed, imageOffset: globalStep * r.batchSize + first };
    return onGpu ? augmentBatchDevice(batch, all, { ...opts, deviceIndex: model.config.deviceIndex })
      : augmentBatch(batch, all, opts);
  };
  const release = (b: Batch | undefined) => {
    for (const v of b?.views ?? []) if (isDeviceTensor(v)) v.dispose();
  };

  let pending: Promise<Batch> | undefined;  // the next batch, being augmented
  try {
    for (; epoch < r.epochs; epoch++, stepInEpoch = 0) {
      let lr = scheduledLr(schedule, epoch, stepInEpoch);
      const sums = { loss: 0, nceLoss: 0, ddmLoss: 0, accuracy: 0, n: 0 };
      const t0 = Date.now();
      pending = stepInEpoch < stepsPerEpoch ? augmentStep(epoch, stepInEpoch) : undefined;
      for (; stepInEpoch < stepsPerEpoch; stepInEpoch++) {
        // Across ranks, an abort on any rank stops every rank before the same step.
        if (comm && signal) {
          const stop = await comm.allReduce(Float32Array.of(signal.aborted ? 1 : 0), 'sum');
          if (stop[0] > 0) throw new AbortError();
        }
        throwIfAborted();
        const ta = Date.now();
        const out = await (pending as Promise<Batch>);
        pending = undefined;
        const tb = Date.now();
        lr = scheduledLr(schedule, epoch, stepInEpoch);
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
        epoch, epochs: r.epochs, lr: epochLr(r.lr, epoch, r.epochs), seconds, imagesPerSecond: (sums.n * r.batchSize) / Math.max(seconds, 1e-6),
        loss: sums.loss / Math.max(sums.n, 1), nceLoss: sums.nceLoss / Math.max(sums.n, 1),
        ddmLoss: sums.ddmLoss / Math.max(sums.n, 1), accuracy: sums.accuracy / Math.max(sums.n, 1),
      };
      if (monitor && lead && ((epoch + 1) % monitor.every === 0 || epoch + 1 === r.epochs)) {
        if (!comm) throwIfAborted();  // across ranks only the collective check above stops, on every rank at once
        info.knnAccuracy = await monitor.measure(encoder);
        info.knnSplit = monitor.split;
        info.knnSplitSize = monitor.size;
      }
      history.push(info);
      stepInEpoch = stepsPerEpoch;
      if (options.checkpoint && lead && ((epoch + 1) % (options.checkpoint.every ?? 1) === 0 || epoch + 1 === r.epochs)) {
        const e = epoch;
        epoch = e + 1; stepInEpoch = 0;  // the checkpoint continues at the next epoch
        await writeCheckpoint(options.checkpoint.dir, model, ckptMeta());
        epoch = e; stepInEpoch = stepsPerEpoch;
      }
      await options.onEpochEnd?.(info);
    }
  } catch (err) {
    pending?.then(release, () => undefined);  // device views of a batch no step will take
    if (err instanceof AbortError && options.checkpoint?.onAbort && lead) await writeCheckpoint(options.checkpoint.dir, model, ckptMeta());
    model.dispose();
    throw err;
  }
  return { encoder: new Encoder(model, norm, [H, W], true), history, model, data: { train, validation }, views,
    distributed: comm && { rank, size: ranks } };
}

export { toEncoderInput };
