// What this build and machine can do: CPU kernel level, CUDA compiled or not, GPUs or why none.
import { native } from './native';
import { checkInt } from './validate';

export interface DeviceInfo {
  index: number;
  name: string;
  /** e.g. "9.0" */
  computeCapability: string;
  multiprocessors: number;
  totalMemory: number;
  freeMemory: number;
}

/**
 * The CUDA code paths, by what `device: 'auto'` may send to them:
 * - head: the fused CLSA head (clsaHead, clsaHeadSync)
 * - ema: the momentum update (momentumUpdate)
 * - queue: the key queue (Queue)
 * - augment: the augmentation pipelines (augmentBatch, augmentBatchDevice)
 * - knn: kNN top-k (knnTopk, knnAccuracy)
 * - encoder: the encoder layers on the GPU (a ClsaModel or Encoder on 'cuda')
 * - step: the whole training step on the GPU (ClsaModel.step, trainClsa, `clsa train`)
 */
export type CudaPath = 'head' | 'ema' | 'queue' | 'augment' | 'knn' | 'encoder' | 'step';

/**
 * Which CUDA paths a run on a real GPU has checked against their CPU twins. This table is the
 * one place that says so: `device: 'auto'` uses the GPU only for a verified path, and
 * backend().cudaVerified reports it. The encoder layers and the training step have run only
 * under emulation so far; the GPU check that verifies them flips their entries.
 */
export const CUDA_VERIFIED: Readonly<Record<CudaPath, boolean>> = Object.freeze({
  head: true, ema: true, queue: true, augment: true, knn: true, encoder: false, step: false,
});

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
  /** A model on the CPU may use precision 'bf16': the CPU has AVX512-BF16 (vdpbf16ps) and
   * CLSA_CPU_KERNEL does not turn AVX-512 off. */
  cpuBf16: boolean;
  /** Which CUDA paths have been verified on a GPU (see CUDA_VERIFIED): under `device: 'auto'` an
   * unverified path runs on the CPU even when cudaUsable; `device: 'cuda'` still runs it. */
  cudaVerified: Record<CudaPath, boolean>;
}

export function backend(): BackendInfo {
  const b = native().backend();
  return { ...b, cudaUsable: b.cudaState === 'usable', cudaVerified: { ...CUDA_VERIFIED } };
}

/** Threads of the CPU worker pool (0 = one per hardware thread). */
export function setCpuThreads(threads: number): void {
  checkInt('threads', threads, 0, 4096);
  native().setCpuThreads(threads);
}
