// The fused CLSA head: loss, statistics and gradients in one native call (docs/objective.md).
import { native, NativeHeadArgs } from './native';
import { DEVICE_NAMES, DeviceTensor, isDeviceTensor, resolveDevice } from './device';
import { checkBool, checkEnum, checkHostTensor, checkNumber, checkShape, checkValues, describe, HostTensor } from './validate';

export type { HostTensor } from './validate';

export type Precision = 'fp32' | 'tf32' | 'bf16' | 'fp16';
export const PRECISIONS: readonly Precision[] = ['fp32', 'tf32', 'bf16', 'fp16'];

export interface HeadInputs {
  /** Weak query embeddings [W, N, D] (raw projection-head outputs when `normalize`). */
  weak: HostTensor;
  /** Strong query embeddings [S, N, D]; S = 0 (or omitted) gives the plain MoCo loss. */
  strong?: HostTensor;
  /** Keys from the momentum encoder [N, D]; the positive of row i is key i. */
  keys: HostTensor;
  /** Negative keys [K, D], used as given (not normalised). */
  queue: HostTensor;
}

export interface HeadOptions {
  /** Contrastive temperature tau (default 0.2). */
  temperature?: number;
  /** Temperature of the DDM distributions tau2 (default 0.2). */
  ddmTemperature?: number;
  /** Weight alpha of the DDM term (default 1; 0 = MoCo v2). */
  ddmWeight?: number;
  /** L2-normalise weak, strong and keys inside, gradients w.r.t. the raw inputs (default true). */
  normalize?: boolean;
  /** Arithmetic of the matrix products (CUDA only; the CPU computes fp32). Default 'fp32'. */
  precision?: Precision;
  /** Where to run: 'auto' (default: the GPU when backend().cudaUsable, else the CPU), 'cpu' or 'cuda'.
   *  Host tensors with 'cuda' are uploaded, computed on the GPU and the gradients downloaded;
   *  DeviceTensor inputs always run on their GPU. */
  device?: 'auto' | 'cpu' | 'cuda';
}

export interface HeadResult {
  /** nceLoss + ddmWeight * ddmLoss */
  loss: number;
  /** Sum over weak crops of the mean cross-entropy against [keys; queue]. */
  nceLoss: number;
  /** Sum over all (weak, strong) pairs of the mean DDM cross-entropy. */
  ddmLoss: number;
  /** Fraction of weak rows whose largest logit is their own key. */
  accuracy: number;
  /** dLoss/dweak [W, N, D] (excludes the DDM path: the weak distribution is detached). */
  gradWeak: Float32Array;
  /** dLoss/dstrong [S, N, D] (empty when S = 0). */
  gradStrong: Float32Array;
}

interface Prepared {
  args: NativeHeadArgs;
  result: () => HeadResult | DeviceHeadResult;
  cleanup: () => void;
}

/** Inputs already in GPU memory: the head runs there and its gradients stay there. */
export interface DeviceHeadInputs {
  weak: DeviceTensor;
  strong?: DeviceTensor;
  keys: DeviceTensor;
  queue: DeviceTensor;
}

/** As HeadResult, with the gradients left on the GPU (the caller disposes them). */
export interface DeviceHeadResult {
  loss: number;
  nceLoss: number;
  ddmLoss: number;
  accuracy: number;
  gradWeak: DeviceTensor;
  gradStrong: DeviceTensor;
}

const INPUT_NAMES = ['weak', 'strong', 'keys', 'queue'] as const;

function prepare(inputs: HeadInputs | DeviceHeadInputs, options: HeadOptions | undefined, sync: boolean): Prepared {
  const fn = sync ? 'clsaHeadSync' : 'clsaHead';
  if (typeof inputs !== 'object' || inputs === null)
    throw new TypeError(`${fn}(inputs): expected { weak, strong, keys, queue } but got ${describe(inputs)}`);
  const o = options ?? {};
  if (typeof o !== 'object') throw new TypeError(`${fn}(inputs, options): expected an object but got ${describe(o)}`);
  const temperature = checkNumber('options.temperature', o.temperature ?? 0.2, (x) => x > 0, 'a finite number > 0');
  const ddmTemperature = checkNumber('options.ddmTemperature', o.ddmTemperature ?? 0.2, (x) => x > 0, 'a finite number > 0');
  const ddmWeight = checkNumber('options.ddmWeight', o.ddmWeight ?? 1, (x) => x >= 0, 'a finite number >= 0');
  const normalize = checkBool('options.normalize', o.normalize ?? true);
  const precision = checkEnum('options.precision', o.precision ?? 'fp32', PRECISIONS);
  const requested = checkEnum('options.device', o.device ?? 'auto', DEVICE_NAMES);

  // Device tensors for all inputs, or host tensors for all: a mix is a mistake worth naming.
  const raw = inputs as unknown as Record<string, unknown>;
  const onDevice = INPUT_NAMES.filter((k) => raw[k] !== undefined && isDeviceTensor(raw[k]));
  const present = INPUT_NAMES.filter((k) => raw[k] !== undefined);
  if (onDevice.length > 0 && onDevice.length !== present.length) {
    const host = present.filter((k) => !onDevice.includes(k));
    throw new TypeError(`inputs: expected all tensors on one side but ${onDevice.join(', ')} ${onDevice.length > 1 ? 'are' : 'is a'} DeviceTensor${onDevice.length > 1 ? 's' : ''} and ${host.join(', ')} ${host.length > 1 ? 'are' : 'is a'} host tensor${host.length > 1 ? 's' : ''}; upload with DeviceTensor.fromHost() or download with toHost()`);
  }
  const deviceInputs = onDevice.length > 0;
  if (deviceInputs && requested === 'cpu')
    throw new Error(`options.device: 'cpu' but the inputs are DeviceTensors; download them with toHost() or use 'cuda'/'auto'`);
  const deviceIndex = deviceInputs ? (inputs as DeviceHeadInputs).weak.deviceIndex : 0;
  const device = deviceInputs ? 'cuda' : resolveDevice('options.device', requested, deviceIndex, 'head');
  if (device === 'cpu' && precision !== 'fp32')
    throw new RangeError(`options.precision: the CPU back end computes in fp32 only but got '${precision}'`);

  const dims: Record<string, number> = {};
  if (deviceInputs) return prepareDevice(inputs as DeviceHeadInputs, dims, {
    temperature, ddmTemperature, ddmWeight, normalize, precision, deviceIndex,
  });

  const h = inputs as HeadInputs;
  const weak = checkHostTensor('weak', h.weak, ['W', 'N', 'D'], dims);
  const strong = h.strong === undefined
    ? { data: new Float32Array(0), shape: [0, dims.N, dims.D] }
    : checkHostTensor('strong', h.strong, ['S', 'N', 'D'], dims, { S: 0 });
  const keys = checkHostTensor('keys', h.keys, ['N', 'D'], dims);
  const queue = checkHostTensor('queue', h.queue, ['K', 'D'], dims);
  const { W, N, D, K } = dims;
  const S = strong.shape[0];
  checkValues('weak.data', weak.data, W * N, D, normalize);
  checkValues('strong.data', strong.data, S * N, D, normalize);
  checkValues('keys.data', keys.data, N, D, normalize);
  checkValues('queue.data', queue.data, K, D, false);

  const gradWeak = new Float32Array(W * N * D);
  const gradStrong = new Float32Array(S * N * D);
  const stats = new Float32Array(4);
  const common = {
    n: N, d: D, k: K, w: W, s: S, temperature, ddmTemperature, ddmWeight, normalize,
    precision: PRECISIONS.indexOf(precision),
  };
  if (device === 'cpu') {
    const args: NativeHeadArgs = {
      ...common,
      weak: weak.data, strong: S > 0 ? strong.data : null, keys: keys.data, queue: queue.data,
      gradWeak, gradStrong: S > 0 ? gradStrong : null, stats,
    };
    return {
      args,
      result: () => ({ loss: stats[0], nceLoss: stats[1], ddmLoss: stats[2], accuracy: stats[3], gradWeak, gradStrong }),
      cleanup: () => {},
    };
  }

  // Host tensors on the GPU: upload, compute, download, free.
  const owned: DeviceTensor[] = [];
  const up = (t: HostTensor) => { const d = DeviceTensor.fromHost(t, { deviceIndex }); owned.push(d); return d; };
  const mk = (shape: number[]) => { const d = DeviceTensor.empty(shape, { deviceIndex }); owned.push(d); return d; };
  try {
    const dw = up(weak), dk = up(keys), dq = up(queue);
    const ds = S > 0 ? up(strong) : null;
    const gw = mk([W, N, D]), gs = S > 0 ? mk([S, N, D]) : null, st = mk([4]);
    const args: NativeHeadArgs = {
      ...common,
      weak: dw.buffer, strong: ds ? ds.buffer : null, keys: dk.buffer, queue: dq.buffer,
      gradWeak: gw.buffer, gradStrong: gs ? gs.buffer : null, stats: st.buffer,
    };
    return {
      args,
      result: () => {
        gw.buffer.download(gradWeak);
        if (gs) gs.buffer.download(gradStrong);
        st.buffer.download(stats);
        return { loss: stats[0], nceLoss: stats[1], ddmLoss: stats[2], accuracy: stats[3], gradWeak, gradStrong };
      },
      cleanup: () => owned.forEach((t) => t.dispose()),
    };
  } catch (e) {
    owned.forEach((t) => t.dispose());
    throw e;
  }
}

function checkDeviceTensor(name: string, t: unknown, pattern: string[], dims: Record<string, number>,
                           deviceIndex: number, minimum: Record<string, number> = {}): DeviceTensor {
  if (!isDeviceTensor(t))
    throw new TypeError(`${name}: expected a DeviceTensor of shape [${pattern.join(', ')}] but got ${describe(t)}`);
  checkShape(name, [...t.shape], pattern, dims, minimum);
  if (t.deviceIndex !== deviceIndex)
    throw new RangeError(`${name}: expected a tensor on GPU ${deviceIndex} (as weak) but got GPU ${t.deviceIndex}`);
  t.buffer;  // throws when disposed
  return t;
}

function prepareDevice(inputs: DeviceHeadInputs, dims: Record<string, number>, o: {
  temperature: number; ddmTemperature: number; ddmWeight: number; normalize: boolean; precision: Precision;
  deviceIndex: number;
}): Prepared {
  const di = o.deviceIndex;
  const weak = checkDeviceTensor('weak', inputs.weak, ['W', 'N', 'D'], dims, di);
  const strong = inputs.strong === undefined ? null
    : checkDeviceTensor('strong', inputs.strong, ['S', 'N', 'D'], dims, di, { S: 0 });
  const keys = checkDeviceTensor('keys', inputs.keys, ['N', 'D'], dims, di);
  const queue = checkDeviceTensor('queue', inputs.queue, ['K', 'D'], dims, di);
  const { W, N, D, K } = dims;
  const S = strong ? strong.shape[0] : 0;
  checkValues('weak', weak.buffer, W * N, D, o.normalize);
  if (strong && S > 0) checkValues('strong', strong.buffer, S * N, D, o.normalize);
  checkValues('keys', keys.buffer, N, D, o.normalize);
  checkValues('queue', queue.buffer, K, D, false);
  const gw = DeviceTensor.empty([W, N, D], { deviceIndex: di });
  let gs: DeviceTensor | undefined, st: DeviceTensor | undefined;
  try {
    gs = DeviceTensor.empty([S, N, D], { deviceIndex: di });
    st = DeviceTensor.empty([4], { deviceIndex: di });
  } catch (e) {
    gw.dispose();
    gs?.dispose();
    throw e;
  }
  const stats = st;
  const args: NativeHeadArgs = {
    n: N, d: D, k: K, w: W, s: S, temperature: o.temperature, ddmTemperature: o.ddmTemperature,
    ddmWeight: o.ddmWeight, normalize: o.normalize, precision: PRECISIONS.indexOf(o.precision),
    weak: weak.buffer, strong: strong && S > 0 ? strong.buffer : null, keys: keys.buffer, queue: queue.buffer,
    gradWeak: gw.buffer, gradStrong: S > 0 ? gs.buffer : null, stats: stats.buffer,
  };
  let ok = false;
  return {
    args,
    result: () => {
      const h = stats.toHost().data;
      ok = true;
      return { loss: h[0], nceLoss: h[1], ddmLoss: h[2], accuracy: h[3], gradWeak: gw, gradStrong: gs! };
    },
    cleanup: () => {
      stats.dispose();
      if (!ok) { gw.dispose(); gs!.dispose(); }
    },
  };
}

/** Loss, statistics and gradients of the CLSA head on the calling thread. */
export function clsaHeadSync(inputs: HeadInputs, options?: HeadOptions): HeadResult;
/** With DeviceTensor inputs: computed on their GPU, gradients returned as DeviceTensors. */
export function clsaHeadSync(inputs: DeviceHeadInputs, options?: HeadOptions): DeviceHeadResult;
export function clsaHeadSync(inputs: HeadInputs | DeviceHeadInputs, options?: HeadOptions): HeadResult | DeviceHeadResult {
  const p = prepare(inputs, options, true);
  try {
    native().headSync(p.args);
    return p.result();
  } finally {
    p.cleanup();
  }
}

/** As clsaHeadSync, on a worker thread: the event loop keeps turning while it runs. */
export async function clsaHead(inputs: HeadInputs, options?: HeadOptions): Promise<HeadResult>;
export async function clsaHead(inputs: DeviceHeadInputs, options?: HeadOptions): Promise<DeviceHeadResult>;
export async function clsaHead(inputs: HeadInputs | DeviceHeadInputs, options?: HeadOptions): Promise<HeadResult | DeviceHeadResult> {
  const p = prepare(inputs, options, false);
  try {
    await native().head(p.args);
    return p.result();
  } finally {
    p.cleanup();
  }
}
