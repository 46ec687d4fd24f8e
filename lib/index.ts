// clsa — Contrastive Learning with Stronger Augmentations on fused native kernels.
export { clsaHead, clsaHeadSync, PRECISIONS } from './head';
export type { HeadInputs, HeadOptions, HeadResult, HostTensor, Precision } from './head';
export { momentumUpdate, Queue } from './update';
export type { QueueOptions, EnqueueOptions } from './update';
export { backend, setCpuThreads } from './backend';
export type { BackendInfo, DeviceInfo } from './backend';
export { Rng } from './random';
export { ClsaModel, cosineLr, ARCHS } from './model';
export type { Arch, ModelConfig, ResolvedModelConfig, StepViews, StepResult, ModelState } from './model';
