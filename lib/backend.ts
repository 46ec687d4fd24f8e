// What this build and machine can do: CPU kernel level, CUDA compiled or not, GPUs or why none.
import { native } from './native';

export interface DeviceInfo {
  index: number;
  name: string;
  /** e.g. "9.0" */
  computeCapability: string;
  multiprocessors: number;
  totalMemory: number;
  freeMemory: number;
}

export interface BackendInfo {
  version: string;
  /** The CUDA back end is compiled into this binary. */
  cudaCompiled: boolean;
  /** A GPU can be used right now. */
  cudaUsable: boolean;
  /** Why not, when not: 'not-compiled' | 'no-driver' | 'driver-too-old' | 'no-device' | 'error'. */
  cudaState: 'usable' | 'not-compiled' | 'no-driver' | 'driver-too-old' | 'no-device' | 'error';
  cudaMessage: string;
  cudaRuntimeVersion: number;
  cudaDriverVersion: number;
  devices: DeviceInfo[];
  cpuThreads: number;
  /** The CPU kernel variant in use: 'avx512' | 'avx2' | 'generic'. */
  cpuKernel: string;
}

export function backend(): BackendInfo {
  const b = native().backend();
  return { ...b, cudaUsable: b.cudaState === 'usable' };
}

/** Threads of the CPU worker pool (0 = one per hardware thread). */
export function setCpuThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 0 || threads > 4096)
    throw new RangeError(`threads: expected an integer in [0, 4096] but got ${threads}`);
  native().setCpuThreads(threads);
}
