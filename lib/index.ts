// clsa — Contrastive Learning with Stronger Augmentations on fused native kernels.
export { clsaHead, clsaHeadSync, PRECISIONS } from './head';
export type { DeviceHeadInputs, DeviceHeadResult, HeadInputs, HeadOptions, HeadResult, HostTensor, Precision } from './head';
export { DeviceTensor, isDeviceTensor } from './device';
export type { AnyTensor, DeviceName, DeviceTensorOptions } from './device';
export { momentumUpdate, Queue } from './update';
export type { QueueOptions, EnqueueOptions, MomentumOptions } from './update';
export { backend, setCpuThreads } from './backend';
export type { BackendInfo, DeviceInfo } from './backend';
export { Rng } from './random';
