// Loads the compiled addon (build/Release or prebuilds/, through node-gyp-build) and types it.
import * as path from 'path';

export interface NativeHeadArgs {
  n: number; d: number; k: number; w: number; s: number;
  temperature: number; ddmTemperature: number; ddmWeight: number;
  normalize: boolean; precision: number;
  weak: NativeTensor; strong?: NativeTensor | null; keys: NativeTensor; queue: NativeTensor;
  gradWeak?: NativeTensor | null; gradStrong?: NativeTensor | null; stats: NativeTensor;
}

export interface NativeDeviceBuffer {
  readonly length: number;
  readonly disposed: boolean;
  readonly deviceIndex: number;
  upload(src: Float32Array, offset?: number): void;
  download(dst: Float32Array, offset?: number): void;
  fill(value: number): void;
  copyFrom(other: NativeDeviceBuffer): void;
  dispose(): void;
}

export type NativeTensor = Float32Array | NativeDeviceBuffer;

export interface NativeBackend {
  version: string;
  cudaCompiled: boolean;
  cudaState: 'usable' | 'not-compiled' | 'no-driver' | 'driver-too-old' | 'no-device' | 'error';
  cudaMessage: string;
  cudaRuntimeVersion: number;
  cudaDriverVersion: number;
  devices: { index: number; name: string; computeCapability: string; multiprocessors: number;
             totalMemory: number; freeMemory: number }[];
  cpuThreads: number;
  cpuKernel: string;
  cpuBf16: boolean;
}

export interface NativeBinding {
  backend(): NativeBackend;
  setCpuThreads(threads: number): void;
  DeviceBuffer: new (deviceIndex: number, length: number) => NativeDeviceBuffer;
  headSync(args: NativeHeadArgs): void;
  head(args: NativeHeadArgs): Promise<void>;
  headReference(args: NativeHeadArgs): void;
  headWorkspaceSize(args: NativeHeadArgs): number;
  momentumUpdate(target: NativeTensor, source: NativeTensor, m: number): void;
  queueEnqueue(queue: NativeTensor, k: number, d: number, keys: NativeTensor, n: number,
               normalize: boolean, pointer: number): number;
  scanRows(data: NativeTensor, rows: number, cols: number): { nonFinite: number; zeroRow: number };
  // Bench-only (bench/gpu): CUDA-event timings; not part of the public API.
  cudaBenchHead(args: NativeHeadArgs, sets: { weak: NativeTensor; strong?: NativeTensor | null; keys: NativeTensor;
                                              queue: NativeTensor }[], timing?: NativeTiming): NativeHeadTiming;
  cudaBenchMomentum(target: NativeTensor, source: NativeTensor, m: number, timing?: NativeTiming): { timesMs: number[] };
  cudaBenchEnqueue(queue: NativeTensor, k: number, d: number, keys: NativeTensor, n: number, normalize: boolean,
                   timing?: NativeTiming): { timesMs: number[] };
  augmentDraw(view: object, n: number, height: number, width: number, channels: number, seed: number,
              imageOffset: number, viewIndex: number): object[];
  augmentApply(args: NativeAugmentArgs, params: object[][]): void;
  augmentSync(args: NativeAugmentArgs): void;
  augment(args: NativeAugmentArgs): Promise<void>;
}

export interface NativeTiming { warmup?: number; samples?: number }
export interface NativeHeadTiming {
  /** Mean ms per call of each sample (a sample runs every input set once). */
  timesMs: number[];
  workspaceBytes: number;
  /** Drop of cudaMemGetInfo's free bytes when the workspace was allocated. */
  freeDrop: number;
}

export interface NativeAugmentArgs {
  images: Uint8Array; n: number; height: number; width: number; channels: number;
  views: object[]; seed: number; imageOffset: number; outputs: NativeTensor[];
}

let cached: NativeBinding | undefined;

/** The addon, loaded once. Throws an Error listing where it looked when nothing loads. */
export function native(): NativeBinding {
  if (cached) return cached;
  const root = path.resolve(__dirname, '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => unknown;
    cached = load(root) as NativeBinding;
    return cached;
  } catch (err) {
    const tried = [
      path.join(root, 'build', 'Release', 'clsa.node'),
      path.join(root, 'build', 'Debug', 'clsa.node'),
      path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, '*.node'),
    ];
    const e = new Error(
      `clsa: could not load the native addon for ${process.platform}-${process.arch} (Node ${process.versions.node}, ` +
        `N-API ${process.versions.napi}). Looked for:\n  ${tried.join('\n  ')}\n` +
        `Prebuilt binaries ship for linux-x64 with glibc >= 2.34 and libstdc++ >= GCC 12 (GLIBCXX_3.4.30). ` +
        `Elsewhere, build from source: \`cd ${root} && npx cmake-js@~8.0.0 rebuild\` (needs CMake >= 3.19, ` +
        `a C++17 compiler, and nvcc for the GPU back end). ` +
        `Cause: ${(err as Error).message}`,
    );
    (e as Error & { cause?: unknown }).cause = err;
    throw e;
  }
}
