// ClsaModel: the whole CLSA model (query encoder + projection head, momentum key encoder,
// queue, SGD state) living natively; one native call per training step (clsa/model.h).
// Policy and validation live here; the addon only plumbs prepared arguments.
import { backend } from './backend';
import { DEVICE_NAMES, DeviceName, DeviceTensor, isDeviceTensor, resolveDevice } from './device';
import { checkCommunicator, Communicator, DEFAULT_CHECK_EVERY } from './distributed';
import { native } from './native';
import { encoderLayout } from './layout';
import { checkBool, checkEnum, checkFloat32, checkHostTensor, checkInt, checkNumber, checkOptions, checkShape, checkValues, describe, HostTensor, MAX_ELEMENTS } from './validate';

export type Arch = 'resnet-mini' | 'resnet18';
export const ARCHS: readonly Arch[] = ['resnet-mini', 'resnet18'];

export interface ModelConfig {
  /** 'resnet-mini' (default; widths w/2w/4w, one block per stage) or 'resnet18' ([2,2,2,2] blocks). Both use the small-image stem (3x3 conv stride 1, no max-pool). */
  arch?: Arch;
  /** Channels of the first stage (default 32 for resnet-mini, 64 for resnet18). */
  width?: number;
  /** Basic blocks per stage (default 1 for resnet-mini, 2 for resnet18). */
  depth?: number;
  /** Image channels: 1 or 3 (default 3). */
  inChannels?: number;
  /** Hidden width of the projection MLP (default: the backbone's feature size). */
  projHidden?: number;
  /** Embedding dimension D (default 128). */
  projDim?: number;
  /** Queue rows K (default 4096). */
  queueSize?: number;
  /** Contrastive temperature tau (default 0.2). */
  temperature?: number;
  /** DDM temperature tau2 (default 0.2). */
  ddmTemperature?: number;
  /** DDM weight alpha (default 1). */
  ddmWeight?: number;
  /** Momentum m of the key encoder (default 0.99). */
  encoderMomentum?: number;
  /** Base learning rate, used when step() gets none (default 0.06). */
  lr?: number;
  /** SGD momentum (default 0.9). */
  momentum?: number;
  /** SGD weight decay, applied to every parameter as torch SGD (default 5e-4, the MoCo CIFAR-10 demo; the ImageNet recipe's 1e-4 is in docs/objective.md). */
  weightDecay?: number;
  /** Split-BN groups G (default 8); every batch must be divisible by G. */
  splitBN?: number;
  /** BN running-statistics momentum (default 0.1, as torch). */
  bnMomentum?: number;
  /** Seed of initialisation, queue and batch shuffle (default 0). */
  seed?: number;
  /** Where the model lives and trains: 'auto' (default), 'cpu' or 'cuda'. 'auto' picks the CPU
   * until the CUDA training step is verified on a GPU (backend().cudaVerified.step), saying so
   * once when it passes over a usable GPU; 'cuda' opts in to the GPU (experimental until then).
   * The resolved config records 'cpu' or 'cuda'. */
  device?: DeviceName;
  /** GPU ordinal for 'cuda' (default 0). */
  deviceIndex?: number;
  /** 'fp32' (default, exact) on either device. CPU: also 'bf16' where backend().cpuBf16 (AVX512-BF16):
   * the operands of every convolution and linear product (forward, dX, dW; embed() too) rounded to
   * bf16 and multiplied with fp32 accumulation; master weights, BN, the head and SGD stay fp32
   * (docs/bf16.md); refused, naming this option, elsewhere. CUDA: 'tf32' (tensor cores for the fused
   * head and the layers' GEMMs), 'bf16' / 'fp16' (the fused head's products; layers in fp32). */
  precision?: ModelPrecision;
  /** A symmetrised contrastive term (default false, the reference's loss): the key view is also a
   * query against the key encoder's embedding of the first weak view; both terms are summed and both
   * views' keys are enqueued. A departure from the reference code (MoCo's CIFAR-10 demo has it);
   * the DDM term is counted once. */
  symmetric?: boolean;
  /** How the terms of several crops combine (default 'sum', the reference): 'sum' adds the contrastive
   * terms of the W weak views and the W x S DDM terms, so multi-crop (5 + 25 terms) takes an order of
   * magnitude more gradient than single-crop at the same learning rate; 'mean' (a departure from the
   * reference) divides each sum by its number of terms. The two agree for single-crop. */
  lossReduction?: LossReduction;
}

export type LossReduction = 'sum' | 'mean';
export const LOSS_REDUCTIONS: readonly LossReduction[] = ['sum', 'mean'];

export type ModelPrecision = 'fp32' | 'tf32' | 'bf16' | 'fp16';
const PRECISIONS: readonly ModelPrecision[] = ['fp32', 'tf32', 'bf16', 'fp16'];

/** Why a model on the CPU cannot use `precision` (the message names `name`), or undefined when it can:
 * 'fp32' always, 'bf16' where backend().cpuBf16. */
export function cpuPrecisionError(name: string, precision: ModelPrecision): string | undefined {
  if (precision === 'fp32') return undefined;
  if (precision === 'bf16') {
    if (backend().cpuBf16) return undefined;
    return `${name}: 'bf16' on the CPU needs AVX512-BF16 (vdpbf16ps), which ${process.env.CLSA_CPU_KERNEL
      ? `CLSA_CPU_KERNEL=${process.env.CLSA_CPU_KERNEL} turns off here` : 'this CPU does not have'} (backend().cpuBf16 is false); use 'fp32'`;
  }
  return `${name}: the CPU computes in fp32, so expected 'fp32' on the CPU but got '${precision}' ('bf16' too where the CPU has AVX512-BF16)`;
}

export type ResolvedModelConfig = Required<Omit<ModelConfig, 'device'>> & { device: 'cpu' | 'cuda' };

/** A view: host floats, or (for a model on the GPU) a DeviceTensor on the model's GPU, e.g. from
 * augmentBatch with device: 'cuda', so the step reads it without a host round trip. */
export type ViewTensor = HostTensor | DeviceTensor;

export interface StepViews {
  /** Key view [N, C, H, W] (encoded by the momentum encoder). */
  key: ViewTensor;
  /** W >= 1 weak query views [N, C, Hi, Wi]; sizes may differ from each other and from the key. */
  weak: ViewTensor[];
  /** S >= 0 strong query views [N, C, Hi, Wi]. */
  strong?: ViewTensor[];
}

export interface StepResult {
  loss: number;
  nceLoss: number;
  ddmLoss: number;
  accuracy: number;
  /** Wall-clock seconds of the step's phases, timed natively; `comm` is the part of them spent in
   * collectives (0 unless attached to a Communicator). */
  seconds: { keyForward: number; queryForward: number; head: number; backward: number; update: number; comm: number };
}

export interface ModelState {
  config: ResolvedModelConfig;
  /** query_params, key_params, sgd_momentum, query_bn_stats, key_bn_stats, queue */
  buffers: Record<string, Float32Array>;
  queuePointer: number;
  step: number;
  /** The batch-shuffle generator's four 32-bit words. */
  rng: number[];
}

interface NativeModelHandle {
  info(): { parameterCount: number; statsCount: number; featureDim: number; projDim: number; queueSize: number };
  step(args: unknown): Promise<StepResult>;
  embed(images: unknown, out: Float32Array): Promise<void>;
  getBuffer(index: number): Float32Array;
  setBuffer(index: number, data: Float32Array): void;
  bufferNames(): string[];
  getCounters(): { queuePointer: number; step: number; rng: number[] };
  setCounters(c: { queuePointer: number; step: number; rng: number[] }): void;
  setComm(comm: unknown, checkEvery: number): Promise<void>;
  dispose(): void;
}

const DEFAULTS: Required<ModelConfig> = {
  arch: 'resnet-mini', width: 0, depth: 0, inChannels: 3, projHidden: 0, projDim: 128, queueSize: 4096,
  temperature: 0.2, ddmTemperature: 0.2, ddmWeight: 1, encoderMomentum: 0.99, lr: 0.06, momentum: 0.9,
  weightDecay: 5e-4, splitBN: 8, bnMomentum: 0.1, seed: 0, device: 'auto', deviceIndex: 0, precision: 'fp32',
  symmetric: false, lossReduction: 'sum',
};

/** Cosine schedule as the reference: lr * 0.5 * (1 + cos(pi * progress)), progress in [0, 1]. */
export function cosineLr(baseLr: number, progress: number): number {
  checkNumber('cosineLr(baseLr)', baseLr, (x) => x >= 0, 'a number >= 0');
  checkNumber('cosineLr(progress)', progress, (x) => x >= 0 && x <= 1, 'a number in [0, 1]');
  return baseLr * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** Validates a model config and fills its defaults; errors name `${prefix}.field` (trainClsa passes
 * 'options', whose fields of the same names become the model's). */
export function resolveConfig(config: ModelConfig | undefined, prefix = 'config'): ResolvedModelConfig {
  if (config !== undefined && (typeof config !== 'object' || config === null))
    throw new TypeError(`${prefix === 'config' ? 'ClsaModel.create(config)' : prefix}: expected an object but got ${describe(config)}`);
  // A key given as undefined takes the default, as an absent one does.
  const given = Object.fromEntries(Object.entries(config ?? {}).filter(([, v]) => v !== undefined));
  const merged = { ...DEFAULTS, ...given };
  for (const key of Object.keys(config ?? {}))
    if (!Object.prototype.hasOwnProperty.call(DEFAULTS, key)) throw new RangeError(`${prefix}.${key}: unknown option (known: ${Object.keys(DEFAULTS).join(', ')})`);
  checkEnum(`${prefix}.arch`, merged.arch, ARCHS);
  checkEnum(`${prefix}.device`, merged.device, DEVICE_NAMES);
  checkInt(`${prefix}.deviceIndex`, merged.deviceIndex, 0, 15);
  checkEnum(`${prefix}.precision`, merged.precision, PRECISIONS);
  const c: ResolvedModelConfig = { ...merged, device: resolveDevice(`${prefix}.device`, merged.device, merged.deviceIndex, 'step') };
  const cpuWhy = c.device === 'cpu' ? cpuPrecisionError(`${prefix}.precision`, c.precision) : undefined;
  if (cpuWhy) throw new RangeError(cpuWhy);
  if (config?.width !== undefined) checkInt(`${prefix}.width`, c.width, 1, 4096);
  if (config?.depth !== undefined) checkInt(`${prefix}.depth`, c.depth, 1, 64);
  checkInt(`${prefix}.inChannels`, c.inChannels, 1, 64);
  if (config?.projHidden !== undefined) checkInt(`${prefix}.projHidden`, c.projHidden, 1, 65536);
  checkInt(`${prefix}.projDim`, c.projDim, 1, 65536);
  checkInt(`${prefix}.queueSize`, c.queueSize, 1, 2 ** 26);
  checkNumber(`${prefix}.temperature`, c.temperature, (x) => x > 0, 'a number > 0');
  checkNumber(`${prefix}.ddmTemperature`, c.ddmTemperature, (x) => x > 0, 'a number > 0');
  checkNumber(`${prefix}.ddmWeight`, c.ddmWeight, (x) => x >= 0, 'a number >= 0');
  checkNumber(`${prefix}.encoderMomentum`, c.encoderMomentum, (x) => x >= 0 && x <= 1, 'a number in [0, 1]');
  checkNumber(`${prefix}.lr`, c.lr, (x) => x >= 0, 'a number >= 0');
  checkNumber(`${prefix}.momentum`, c.momentum, (x) => x >= 0, 'a number >= 0');
  checkNumber(`${prefix}.weightDecay`, c.weightDecay, (x) => x >= 0, 'a number >= 0');
  checkInt(`${prefix}.splitBN`, c.splitBN, 1, 4096);
  checkNumber(`${prefix}.bnMomentum`, c.bnMomentum, (x) => x >= 0 && x <= 1, 'a number in [0, 1]');
  checkInt(`${prefix}.seed`, c.seed, 0, 2 ** 32 - 1);
  checkBool(`${prefix}.symmetric`, c.symmetric);
  checkEnum(`${prefix}.lossReduction`, c.lossReduction, LOSS_REDUCTIONS);
  // Make the arch's defaults explicit, so state().config describes the model completely.
  const r18 = c.arch === 'resnet18';
  if (c.width === 0) c.width = r18 ? 64 : 32;
  if (c.depth === 0) c.depth = r18 ? 2 : 1;
  if (c.projHidden === 0) c.projHidden = c.width * (r18 ? 8 : 4);
  checkModelSize(c, prefix);
  return c;
}

/** Refuses models whose buffers could not be held: every buffer is one typed array, indexed with
 * 32-bit integers by some kernels, so at most MAX_ELEMENTS floats (8 GiB each, before the copies). */
function checkModelSize(c: ResolvedModelConfig, prefix: string): void {
  const params = encoderLayout(c).params;
  if (params > MAX_ELEMENTS)
    throw new RangeError(`${prefix}.width / ${prefix}.depth / ${prefix}.projHidden / ${prefix}.projDim: a ${c.arch} of width ${c.width}, depth ${c.depth}, ` +
      `projHidden ${c.projHidden} and projDim ${c.projDim} has ${params} parameters, more than the ${MAX_ELEMENTS} one buffer may hold`);
  if (c.queueSize * c.projDim > MAX_ELEMENTS)
    throw new RangeError(`${prefix}.queueSize x ${prefix}.projDim: ${c.queueSize} x ${c.projDim} = ${c.queueSize * c.projDim} queue floats, ` +
      `more than the ${MAX_ELEMENTS} one buffer may hold`);
}

function imagesArg(name: string, t: unknown, config: ResolvedModelConfig, dims: Record<string, number>) {
  const local: Record<string, number> = { N: dims.N, C: config.inChannels };
  if (local.N === undefined) delete local.N;
  const pattern = ['N', 'C', 'H', 'W'], minimum = { H: 8, W: 8 };
  let shape: number[];
  let data: Float32Array | DeviceTensor['buffer'];
  if (isDeviceTensor(t)) {
    if (config.device !== 'cuda')
      throw new TypeError(`${name}: expected host floats for a model on the CPU but got a DeviceTensor (GPU ${t.deviceIndex})`);
    if (t.deviceIndex !== config.deviceIndex)
      throw new RangeError(`${name}: expected a tensor on GPU ${config.deviceIndex} (the model's) but got GPU ${t.deviceIndex}`);
    shape = checkShape(name, [...t.shape], pattern, local, minimum);
    data = t.buffer;
  } else {
    shape = checkHostTensor(name, t, pattern, local, minimum).shape;
    data = (t as HostTensor).data;
  }
  dims.N = shape[0];
  const [n, c, h, w] = shape;
  // A NaN pixel gives NaN features, and through batch norm NaN running statistics: refused here
  // rather than found in a model that silently stopped working.
  checkValues(isDeviceTensor(t) ? name : `${name}.data`, data, n * c * h, w, false);
  return { data, n, c, h, w };
}

export class ClsaModel {
  private handle: NativeModelHandle | undefined;
  private busy = false;
  private comm: Communicator | undefined;
  /** Floats in one encoder's parameter buffer (backbone + projection head). */
  readonly parameterCount: number;
  /** Backbone feature size (columns of embed()). */
  readonly featureDim: number;
  readonly config: ResolvedModelConfig;

  private constructor(config: ResolvedModelConfig) {
    const Native = (native() as unknown as { NativeModel: new (c: unknown) => NativeModelHandle }).NativeModel;
    this.handle = new Native({
      ...config, arch: ARCHS.indexOf(config.arch), bnEps: 1e-5, device: config.device === 'cuda' ? 1 : 0,
      precision: PRECISIONS.indexOf(config.precision), symmetric: config.symmetric ? 1 : 0,
      lossReduction: LOSS_REDUCTIONS.indexOf(config.lossReduction),
    });
    const info = this.handle.info();
    this.parameterCount = info.parameterCount;
    this.featureDim = info.featureDim;
    this.config = config;
  }

  /** A freshly initialised model (deterministic from config.seed). */
  static create(config?: ModelConfig): ClsaModel {
    return new ClsaModel(resolveConfig(config));
  }

  /** Restores a model from state() bit-exactly; `options` may move it to another device (a model
   * trained on a GPU evaluated on the CPU, say). */
  static fromState(state: ModelState, options: { device?: DeviceName; deviceIndex?: number; precision?: ModelPrecision } = {}): ClsaModel {
    if (typeof state !== 'object' || state === null)
      throw new TypeError(`ClsaModel.fromState(state): expected an object from model.state() but got ${describe(state)}`);
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`ClsaModel.fromState(state, options): expected an object but got ${describe(options)}`);
    if (typeof state.config !== 'object' || state.config === null || Array.isArray(state.config))
      throw new TypeError(`state.config: expected the model's config object but got ${describe(state.config)}`);
    const config = { ...state.config } as ModelConfig;
    if (options.deviceIndex !== undefined) config.deviceIndex = checkInt('options.deviceIndex', options.deviceIndex, 0, 15);
    if (options.device !== undefined) {
      checkEnum('options.device', options.device, DEVICE_NAMES);
      config.device = resolveDevice('options.device', options.device, config.deviceIndex ?? 0, 'step');
      // A precision means something else on the other device (CUDA 'bf16': the head's products; CPU
      // 'bf16': the layers'), so a model moved to another device starts at fp32 unless told.
      if (options.precision === undefined && config.device !== state.config.device) config.precision = 'fp32';
    }
    if (options.precision !== undefined) {
      config.precision = checkEnum('options.precision', options.precision, PRECISIONS);
      const cpuWhy = config.device === 'cpu' ? cpuPrecisionError('options.precision', config.precision) : undefined;
      if (cpuWhy) throw new RangeError(cpuWhy);
    }
    const m = new ClsaModel(resolveConfig(config, 'state.config'));
    try {
      m.restore(state);
    } catch (err) {
      m.dispose();
      throw err;
    }
    return m;
  }

  private restore(state: ModelState): void {
    const h = this.live('fromState');
    if (typeof state.buffers !== 'object' || state.buffers === null)
      throw new TypeError(`state.buffers: expected { ${h.bufferNames().join(', ')} } but got ${describe(state.buffers)}`);
    h.bufferNames().forEach((name, i) => {
      const data = state.buffers[name];
      checkFloat32(`state.buffers.${name}`, data, h.getBuffer(i).length);
      h.setBuffer(i, data);
    });
    checkInt('state.queuePointer', state.queuePointer, 0, this.config.queueSize - 1);
    checkInt('state.step', state.step, 0);
    if (!Array.isArray(state.rng) || state.rng.length !== 4)
      throw new RangeError(`state.rng: expected 4 unsigned 32-bit integers but got ${describe(state.rng)}`);
    state.rng.forEach((v, i) => checkInt(`state.rng[${i}]`, v, 0, 2 ** 32 - 1));
    h.setCounters({ queuePointer: state.queuePointer, step: state.step, rng: state.rng });
  }

  private live(what: string): NativeModelHandle {
    if (!this.handle) throw new Error(`${what}: the model has been disposed`);
    return this.handle;
  }

  private claim(what: string): NativeModelHandle {
    const h = this.live(what);
    if (this.busy) throw new Error(`${what}: another step() or embed() of this model is still running; await it first`);
    return h;
  }

  /** One CLSA training step on already-augmented views; resolves with the step's loss terms. */
  async step(views: StepViews, options: { lr?: number } = {}): Promise<StepResult> {
    const h = this.claim('step');
    if (typeof views !== 'object' || views === null)
      throw new TypeError(`step(views): expected { key, weak, strong } but got ${describe(views)}`);
    const lr = checkOptions('step(options)', options).lr ?? this.config.lr;
    checkNumber('step(options.lr)', lr, (x) => x >= 0, 'a number >= 0');
    const dims: Record<string, number> = {};
    const key = imagesArg('views.key', views.key, this.config, dims);
    if (!Array.isArray(views.weak) || views.weak.length < 1)
      throw new RangeError(`views.weak: expected an array of at least one weak view but got ${describe(views.weak)}`);
    const strongList = views.strong ?? [];
    if (!Array.isArray(strongList)) throw new TypeError(`views.strong: expected an array but got ${describe(views.strong)}`);
    const weak = views.weak.map((v, i) => imagesArg(`views.weak[${i}]`, v, this.config, dims));
    const strong = strongList.map((v, i) => imagesArg(`views.strong[${i}]`, v, this.config, dims));
    if (dims.N % this.config.splitBN !== 0)
      throw new RangeError(`views: the batch size must be divisible by config.splitBN = ${this.config.splitBN} (split batch norm) but got N = ${dims.N}`);
    this.busy = true;
    try {
      return await h.step({ key, weak, strong, lr });
    } finally {
      this.busy = false;
    }
  }

  /**
   * Makes this model this rank's replica in a data-parallel job (docs/distributed.md). Every rank
   * calls it, with a model created from the same config (deviceIndex aside) and the same
   * checkEvery; rank 0's state is then copied to every rank, so a resumed run needs its state on
   * rank 0 only. Each step() afterwards takes this rank's N rows of a global batch of N x size rows
   * (rank r: global rows rN .. rN + N - 1) and computes the step one process computes on the
   * global batch with splitBN x size BN groups, up to summation order: shuffle-BN of the keys across
   * ranks, every query scored against all keys of the global batch plus the queue, gradients and BN
   * running statistics averaged, the same keys enqueued on every rank. The step's loss terms are the
   * global batch's. Every `checkEvery` steps (default DEFAULT_CHECK_EVERY; 0 = never) the replicas'
   * state is hashed and compared, and a step whose replicas differ rejects on every rank.
   * The MPI back end serves models on the CPU, NCCL models on the GPU it was opened on.
   */
  async attach(comm: Communicator, options: { checkEvery?: number } = {}): Promise<void> {
    const h = this.claim('attach');
    checkCommunicator('attach(comm)', comm);
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`attach(comm, options): expected { checkEvery? } but got ${describe(options)}`);
    const checkEvery = checkInt('attach(options.checkEvery)', options.checkEvery ?? DEFAULT_CHECK_EVERY, 0, 2 ** 31 - 1);
    if (comm.backend === 'mpi' && this.config.device !== 'cpu')
      throw new RangeError(`attach(comm): the MPI back end serves models on the CPU, but this model's config.device is '${this.config.device}'; GPU models need a communicator from openDistributed('nccl')`);
    if (comm.backend === 'nccl' && this.config.device !== 'cuda')
      throw new RangeError(`attach(comm): the NCCL back end serves models on a GPU, but this model's config.device is '${this.config.device}'; CPU models need a communicator from openDistributed('mpi')`);
    if (comm.backend === 'nccl' && this.config.deviceIndex !== comm.deviceIndex)
      throw new RangeError(`attach(comm): the NCCL communicator runs on GPU ${comm.deviceIndex}, but this model's config.deviceIndex is ${this.config.deviceIndex}; one GPU per rank: create the model with deviceIndex ${comm.deviceIndex}`);
    this.busy = true;
    try {
      await h.setComm(comm.handle, checkEvery);
      this.comm = comm;
    } finally {
      this.busy = false;
    }
  }

  /** Makes this model a single process again (every rank calls it). */
  async detach(): Promise<void> {
    const h = this.claim('detach');
    this.busy = true;
    try {
      await h.setComm(null, 0);
      this.comm = undefined;
    } finally {
      this.busy = false;
    }
  }

  /** The communicator this model is a replica over (attach), if any. */
  get communicator(): Communicator | undefined {
    return this.comm;
  }

  /** Backbone features [N, featureDim] of the query encoder, BN in evaluation mode (running statistics). */
  async embed(images: ViewTensor): Promise<HostTensor> {
    const h = this.claim('embed');
    const im = imagesArg('images', images, this.config, {});
    const out = new Float32Array(im.n * this.featureDim);
    this.busy = true;
    try {
      await h.embed(im, out);
    } finally {
      this.busy = false;
    }
    return { data: out, shape: [im.n, this.featureDim] };
  }

  /** Every tensor and counter of a checkpoint (copies). */
  state(): ModelState {
    const h = this.claim('state');
    const buffers: Record<string, Float32Array> = {};
    h.bufferNames().forEach((name, i) => { buffers[name] = h.getBuffer(i); });
    const c = h.getCounters();
    return { config: { ...this.config }, buffers, queuePointer: c.queuePointer, step: c.step, rng: c.rng };
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.live('steps').getCounters().step;
  }

  dispose(): void {
    if (!this.handle) return;
    if (this.busy) throw new Error('dispose: a step() or embed() is still running; await it first');
    this.handle.dispose();
    this.handle = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
