// The fused CLSA head: loss, statistics and gradients in one native call (DESIGN.md §2).
import { native, NativeHeadArgs } from './native';
import { checkBool, checkEnum, checkHostTensor, checkNumber, checkValues, describe, HostTensor } from './validate';

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
  /** Where to run: 'cpu' (default for host tensors), 'cuda', or 'auto'. */
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
  result: () => HeadResult;
}

function prepare(inputs: HeadInputs, options: HeadOptions | undefined, sync: boolean): Prepared {
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
  const device = checkEnum('options.device', o.device ?? 'auto', ['auto', 'cpu', 'cuda'] as const);
  if (device === 'cuda')
    throw new Error(`options.device: 'cuda' with host tensors is not supported by this build; use 'cpu' or 'auto'`);
  if (precision !== 'fp32')
    throw new RangeError(`options.precision: the CPU back end computes in fp32 only but got '${precision}'`);

  const dims: Record<string, number> = {};
  const weak = checkHostTensor('weak', inputs.weak, ['W', 'N', 'D'], dims);
  const strong = inputs.strong === undefined
    ? { data: new Float32Array(0), shape: [0, dims.N, dims.D] }
    : checkHostTensor('strong', inputs.strong, ['S', 'N', 'D'], dims, { S: 0 });
  const keys = checkHostTensor('keys', inputs.keys, ['N', 'D'], dims);
  const queue = checkHostTensor('queue', inputs.queue, ['K', 'D'], dims);
  const { W, N, D, K } = dims;
  const S = strong.shape[0];
  checkValues('weak.data', weak.data, W * N, D, normalize);
  checkValues('strong.data', strong.data, S * N, D, normalize);
  checkValues('keys.data', keys.data, N, D, normalize);
  checkValues('queue.data', queue.data, K, D, false);

  const gradWeak = new Float32Array(W * N * D);
  const gradStrong = new Float32Array(S * N * D);
  const stats = new Float32Array(4);
  const args: NativeHeadArgs = {
    n: N, d: D, k: K, w: W, s: S, temperature, ddmTemperature, ddmWeight, normalize,
    precision: PRECISIONS.indexOf(precision),
    weak: weak.data, strong: S > 0 ? strong.data : null, keys: keys.data, queue: queue.data,
    gradWeak, gradStrong: S > 0 ? gradStrong : null, stats,
  };
  return {
    args,
    result: () => ({
      loss: stats[0], nceLoss: stats[1], ddmLoss: stats[2], accuracy: stats[3], gradWeak, gradStrong,
    }),
  };
}

/** Loss, statistics and gradients of the CLSA head on the calling thread. */
export function clsaHeadSync(inputs: HeadInputs, options?: HeadOptions): HeadResult {
  const p = prepare(inputs, options, true);
  native().headSync(p.args);
  return p.result();
}

/** As clsaHeadSync, on a worker thread: the event loop keeps turning while it runs. */
export async function clsaHead(inputs: HeadInputs, options?: HeadOptions): Promise<HeadResult> {
  const p = prepare(inputs, options, false);
  await native().head(p.args);
  return p.result();
}
