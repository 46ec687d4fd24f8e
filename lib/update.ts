// The momentum (EMA) update of the key encoder and the queue of negative keys, on the CPU or
// on a GPU (device tensors, or host arrays uploaded for the call).
import { DEVICE_NAMES, DeviceName, DeviceTensor, isDeviceTensor, resolveDevice } from './device';
import { native } from './native';
import { Rng, randomUnitRows } from './random';
import {
  checkBool, checkEnum, checkFloat32, checkHostTensor, checkOptions, checkInt, checkNumber, checkShape, checkValues, describe, HostTensor,
  MAX_ELEMENTS,
} from './validate';

export interface MomentumOptions {
  /** Where host arrays are updated: 'cpu' (default: the update is memory-bound, so a round
   *  trip over PCIe costs more than it saves), 'cuda' (upload, update, download) or 'auto'
   *  (the GPU when backend().cudaUsable). Device tensors are always updated on their GPU. */
  device?: DeviceName;
}

/**
 * In place: target = m * target + (1 - m) * source over a flat parameter buffer. Both
 * Float32Arrays, or both DeviceTensors of the same size on the same GPU.
 */
export function momentumUpdate(target: Float32Array | DeviceTensor, source: Float32Array | DeviceTensor, m: number,
                               opts: MomentumOptions = {}): void {
  checkNumber('m', m, (x) => x >= 0 && x <= 1, 'a number in [0, 1]');
  if (typeof opts !== 'object' || opts === null) throw new TypeError(`opts: expected an object but got ${describe(opts)}`);
  const requested = checkEnum('opts.device', opts.device ?? 'auto', DEVICE_NAMES);
  if (isDeviceTensor(target) || isDeviceTensor(source)) {
    if (!isDeviceTensor(target) || !isDeviceTensor(source))
      throw new TypeError(`${isDeviceTensor(target) ? 'source' : 'target'}: expected a DeviceTensor like ${isDeviceTensor(target) ? 'target' : 'source'} but got ${describe(isDeviceTensor(target) ? source : target)}`);
    if (requested === 'cpu') throw new Error(`opts.device: 'cpu' but target and source are DeviceTensors`);
    if (source.size !== target.size)
      throw new RangeError(`source: expected ${target.size} elements (as target) but got [${source.shape.join(', ')}]`);
    if (source.deviceIndex !== target.deviceIndex)
      throw new RangeError(`source: expected a tensor on GPU ${target.deviceIndex} (as target) but got GPU ${source.deviceIndex}`);
    native().momentumUpdate(target.buffer, source.buffer, m);
    return;
  }
  checkFloat32('target', target);
  checkFloat32('source', source, target.length);
  // Host arrays stay on the CPU unless 'cuda' or 'auto' is asked for explicitly.
  const where = opts.device === undefined ? 'cpu' : resolveDevice('opts.device', requested, 0, 'ema');
  if (where === 'cpu' || target.length === 0) {
    native().momentumUpdate(target, source, m);
    return;
  }
  const t = DeviceTensor.fromHost({ data: target, shape: [target.length] });
  try {
    const s = DeviceTensor.fromHost({ data: source, shape: [source.length] });
    try {
      native().momentumUpdate(t.buffer, s.buffer, m);
      t.buffer.download(target);
    } finally {
      s.dispose();
    }
  } finally {
    t.dispose();
  }
}

export interface QueueOptions {
  /** Seed of the random unit rows the queue starts with (default 0). */
  seed?: number;
  /** Where the rows live: 'cpu', 'cuda' (GPU memory, see `tensor`) or 'auto' (default 'cpu'). */
  device?: DeviceName;
  /** GPU ordinal for a device queue (default 0). */
  deviceIndex?: number;
}

export interface EnqueueOptions {
  /** L2-normalise the keys on the way in (default false: stored as given). */
  normalize?: boolean;
}

/** A [size, dim] ring buffer of negative keys, initialised with seeded random unit rows. */
export class Queue {
  readonly size: number;
  readonly dim: number;
  /** Where the rows live. */
  readonly device: 'cpu' | 'cuda';
  private buf: Float32Array | null = null;
  private dev: DeviceTensor | null = null;
  private ptr = 0;

  constructor(size: number, dim: number, opts: QueueOptions = {}) {
    checkInt('size', size, 1, MAX_ELEMENTS);
    checkInt('dim', dim, 1, MAX_ELEMENTS);
    if (size * dim > MAX_ELEMENTS)
      throw new RangeError(`size x dim: expected at most ${MAX_ELEMENTS} elements but got ${size} x ${dim} = ${size * dim}`);
    if (typeof opts !== 'object' || opts === null) throw new TypeError(`opts: expected an object but got ${describe(opts)}`);
    const seed = checkInt('opts.seed', opts.seed ?? 0, 0, 2 ** 32 - 1);
    const deviceIndex = checkInt('opts.deviceIndex', opts.deviceIndex ?? 0, 0, 15);
    const requested = checkEnum('opts.device', opts.device ?? 'cpu', DEVICE_NAMES);
    this.device = resolveDevice('opts.device', requested, deviceIndex, 'queue');
    this.size = size;
    this.dim = dim;
    const rows = randomUnitRows(size, dim, new Rng(seed));
    if (this.device === 'cuda') this.dev = DeviceTensor.fromHost({ data: rows, shape: [size, dim] }, { deviceIndex });
    else this.buf = rows;
  }

  /** The [size, dim] rows, row-major: a live view for a CPU queue, a downloaded copy for a GPU queue. */
  get data(): Float32Array {
    if (this.buf) return this.buf;
    return this.deviceTensor().toHost().data;
  }

  /** The rows as a tensor to pass as the head's `queue`: { data, shape } on the CPU, the
   *  queue's own DeviceTensor on the GPU (owned by the queue: do not dispose it). */
  get tensor(): HostTensor | DeviceTensor {
    if (this.buf) return { data: this.buf, shape: [this.size, this.dim] };
    return this.deviceTensor();
  }

  /** Row where the next key goes. */
  get pointer(): number { return this.ptr; }

  /** Writes the N keys at the pointer, wrapping around, and advances the pointer by N (mod size).
   *  Keys may be host tensors or DeviceTensors; they are moved to where the queue lives. */
  enqueue(keys: HostTensor | DeviceTensor, opts: EnqueueOptions = {}): void {
    const dims: Record<string, number> = { D: this.dim };
    const normalize = checkBool('opts.normalize', checkOptions('opts', opts).normalize ?? false);
    if (isDeviceTensor(keys)) {
      checkShape('keys', [...keys.shape], ['N', 'D'], dims);
      if (this.buf) {
        this.enqueue(keys.toHost(), opts);
        return;
      }
      const q = this.deviceTensor();
      if (keys.deviceIndex !== q.deviceIndex)
        throw new RangeError(`keys: expected a tensor on GPU ${q.deviceIndex} (as the queue) but got GPU ${keys.deviceIndex}`);
      checkValues('keys', keys.buffer, dims.N, this.dim, normalize);
      this.ptr = native().queueEnqueue(q.buffer, this.size, this.dim, keys.buffer, dims.N, normalize, this.ptr);
      return;
    }
    const t = checkHostTensor('keys', keys, ['N', 'D'], dims);
    checkValues('keys.data', t.data, dims.N, this.dim, normalize);
    if (this.buf) {
      this.ptr = native().queueEnqueue(this.buf, this.size, this.dim, t.data, dims.N, normalize, this.ptr);
      return;
    }
    const q = this.deviceTensor();
    const k = DeviceTensor.fromHost(t, { deviceIndex: q.deviceIndex });
    try {
      this.ptr = native().queueEnqueue(q.buffer, this.size, this.dim, k.buffer, dims.N, normalize, this.ptr);
    } finally {
      k.dispose();
    }
  }

  /** Frees the GPU rows of a device queue (no-op on the CPU). */
  dispose(): void {
    this.dev?.dispose();
  }

  [Symbol.dispose](): void { this.dispose(); }

  private deviceTensor(): DeviceTensor {
    if (!this.dev || this.dev.disposed) throw new Error(`Queue [${this.size}, ${this.dim}]: used after dispose()`);
    return this.dev;
  }
}
