// Device-resident tensors (float32 in GPU memory) and the device policy shared by the API:
// 'cpu', 'cuda', or 'auto' (the GPU when backend().cudaUsable and the CUDA path has been
// verified on a GPU, see CUDA_VERIFIED in backend.ts; else the CPU).
import { backend, BackendInfo, CUDA_VERIFIED, CudaPath } from './backend';
import { native, NativeDeviceBuffer } from './native';
import { checkFloat32, checkInt, describe, HostTensor, MAX_ELEMENTS } from './validate';

export type DeviceName = 'auto' | 'cpu' | 'cuda';
export const DEVICE_NAMES: readonly DeviceName[] = ['auto', 'cpu', 'cuda'];

export interface DeviceTensorOptions {
  /** GPU ordinal (default 0). */
  deviceIndex?: number;
}

let cachedBackend: BackendInfo | undefined;
function backendInfo(): BackendInfo {
  // GPUs do not come and go during a process's life; one query is enough.
  cachedBackend ??= backend();
  return cachedBackend;
}

/** Throws a clear Error when CUDA cannot be used, naming the reason backend() gives. */
export function requireCuda(what: string, deviceIndex = 0): void {
  const b = backendInfo();
  if (!b.cudaUsable) {
    const why = b.cudaState === 'not-compiled'
      ? 'this build of clsa has no CUDA back end (compiled without nvcc)'
      : `CUDA is not usable here (${b.cudaState}): ${b.cudaMessage}`;
    throw new Error(`${what}: 'cuda' requested but ${why}`);
  }
  if (deviceIndex >= b.devices.length)
    throw new RangeError(`${what}: expected a device index in [0, ${b.devices.length - 1}] but got ${deviceIndex}`);
}

// What 'auto' falls back from, in the notice's words.
const UNVERIFIED_WORDS: Record<CudaPath, string> = {
  head: 'runs the fused head on the CPU: the CUDA head has',
  ema: 'runs the momentum update on the CPU: the CUDA momentum update has',
  queue: 'keeps the queue on the CPU: the CUDA queue has',
  augment: 'augments on the CPU: the CUDA augmentations have',
  knn: 'runs kNN on the CPU: the CUDA kNN has',
  encoder: 'runs the encoder on the CPU: the CUDA encoder layers have',
  step: 'trains on the CPU: the CUDA training step has',
};

const noticed = new Set<CudaPath>();

/** The one-line notice 'auto' gives when it passes over a usable GPU for an unverified path. */
export function unverifiedNotice(path: CudaPath): string {
  return `clsa: device 'auto' ${UNVERIFIED_WORDS[path]} not been verified on a GPU yet; ` +
    `pass device: 'cuda' to use the GPU anyway (experimental)`;
}

/** Forgets which notices were given, so that the next fallback notifies again (for tests). */
export function resetDeviceNotices(): void {
  noticed.clear();
}

/**
 * 'auto' becomes 'cuda' when a GPU is usable and `path` is verified on a GPU (CUDA_VERIFIED),
 * else 'cpu'; 'cuda' is checked to be usable and runs even an unverified path (the opt-in).
 * `path` defaults to 'step', the least verified use: a caller that forgets to name its path
 * falls back to the CPU rather than onto unchecked GPU code. When 'auto' passes over a usable
 * GPU it says so once per path and process, as a process warning (code CLSA_CUDA_UNVERIFIED):
 * once per process rather than per call, because training resolves its device per run and a
 * notice per step or per model would drown the output.
 */
export function resolveDevice(what: string, device: DeviceName, deviceIndex = 0, path: CudaPath = 'step'): 'cpu' | 'cuda' {
  if (device === 'auto') {
    if (!backendInfo().cudaUsable) return 'cpu';
    if (CUDA_VERIFIED[path]) return 'cuda';
    if (!noticed.has(path)) {
      noticed.add(path);
      process.emitWarning(unverifiedNotice(path), { code: 'CLSA_CUDA_UNVERIFIED' });
    }
    return 'cpu';
  }
  if (device === 'cuda') requireCuda(what, deviceIndex);
  return device;
}

function checkTensorShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape))
    throw new TypeError(`${name}: expected an array of dimensions but got ${describe(shape)}`);
  shape.forEach((v, i) => checkInt(`${name}[${i}]`, v, 0, MAX_ELEMENTS));
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  if (count > MAX_ELEMENTS)
    throw new RangeError(`${name}: [${shape.join(', ')}] has ${count} elements, more than the ${MAX_ELEMENTS} one tensor may hold`);
  return [...(shape as number[])];
}

/**
 * A dense row-major float32 tensor in GPU memory. Owns its allocation: call dispose() (or use
 * `using`) when done; the garbage collector frees it too, but late. Any use after dispose()
 * throws.
 */
export class DeviceTensor {
  readonly shape: readonly number[];
  readonly dtype = 'float32' as const;
  readonly deviceIndex: number;
  private buf: NativeDeviceBuffer | null;

  private constructor(shape: number[], deviceIndex: number, buf: NativeDeviceBuffer) {
    this.shape = Object.freeze(shape);
    this.deviceIndex = deviceIndex;
    this.buf = buf;
  }

  private static alloc(what: string, shape: number[], opts: DeviceTensorOptions | undefined): DeviceTensor {
    if (opts !== undefined && (typeof opts !== 'object' || opts === null))
      throw new TypeError(`${what}(..., options): expected an object but got ${describe(opts)}`);
    const deviceIndex = checkInt('options.deviceIndex', opts?.deviceIndex ?? 0, 0, 15);
    requireCuda(what, deviceIndex);
    const count = shape.reduce((a, b) => a * b, 1);
    return new DeviceTensor(shape, deviceIndex, new (native().DeviceBuffer)(deviceIndex, count));
  }

  /** Uploads a host tensor { data: Float32Array, shape }. */
  static fromHost(t: HostTensor, opts?: DeviceTensorOptions): DeviceTensor {
    if (typeof t !== 'object' || t === null)
      throw new TypeError(`DeviceTensor.fromHost(tensor): expected { data: Float32Array, shape } but got ${describe(t)}`);
    const shape = checkTensorShape('tensor.shape', t.shape);
    const count = shape.reduce((a, b) => a * b, 1);
    const data = checkFloat32('tensor.data', t.data, count);
    const out = DeviceTensor.alloc('DeviceTensor.fromHost', shape, opts);
    try {
      if (count > 0) out.buffer.upload(data);
    } catch (e) {
      out.dispose();
      throw e;
    }
    return out;
  }

  /** Takes ownership of a native buffer another API allocated (internal: augmentBatchDevice). */
  static adopt(buf: NativeDeviceBuffer, shape: number[], deviceIndex: number): DeviceTensor {
    return new DeviceTensor([...shape], deviceIndex, buf);
  }

  /** An uninitialised tensor of the given shape. */
  static empty(shape: number[], opts?: DeviceTensorOptions): DeviceTensor {
    return DeviceTensor.alloc('DeviceTensor.empty', checkTensorShape('shape', shape), opts);
  }

  /** Elements (product of the shape). */
  get size(): number { return this.shape.reduce((a, b) => a * b, 1); }
  get disposed(): boolean { return this.buf === null || this.buf.disposed; }

  /** The native buffer (internal: the API's plumbing). Throws after dispose(). */
  get buffer(): NativeDeviceBuffer {
    if (this.buf === null || this.buf.disposed)
      throw new Error(`DeviceTensor [${this.shape.join(', ')}]: used after dispose()`);
    return this.buf;
  }

  /** Downloads into a new host tensor. */
  toHost(): HostTensor {
    const b = this.buffer;
    const data = new Float32Array(this.size);
    if (data.length > 0) b.download(data);
    return { data, shape: [...this.shape] };
  }

  /** Sets every element to `value`. */
  fill(value: number): this {
    if (typeof value !== 'number') throw new TypeError(`fill(value): expected a number but got ${describe(value)}`);
    this.buffer.fill(value);
    return this;
  }

  /** Copies another device tensor of the same size into this one. */
  copyFrom(other: DeviceTensor): this {
    if (!isDeviceTensor(other)) throw new TypeError(`copyFrom(other): expected a DeviceTensor but got ${describe(other)}`);
    if (other.size !== this.size)
      throw new RangeError(`copyFrom(other): expected ${this.size} elements but got [${other.shape.join(', ')}]`);
    this.buffer.copyFrom(other.buffer);
    return this;
  }

  /** Frees the GPU memory now. Idempotent. */
  dispose(): void {
    if (this.buf) this.buf.dispose();
    this.buf = null;
  }

  [Symbol.dispose](): void { this.dispose(); }
}

export function isDeviceTensor(v: unknown): v is DeviceTensor {
  return v instanceof DeviceTensor;
}

/** A host tensor or a device tensor. */
export type AnyTensor = HostTensor | DeviceTensor;
