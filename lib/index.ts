// clsa — Contrastive Learning with Stronger Augmentations on fused native kernels.
export { clsaHead, clsaHeadSync, PRECISIONS } from './head';
export type { HeadInputs, HeadOptions, HeadResult, HostTensor, Precision } from './head';
export { momentumUpdate, Queue } from './update';
export type { QueueOptions, EnqueueOptions } from './update';
export { backend, setCpuThreads } from './backend';
export type { BackendInfo, DeviceInfo } from './backend';
export { Rng } from './random';
export {
  augmentBatch, augmentBatchSync, augmentBatchDevice, applyAugmentParams, drawAugmentParams, cropPresets,
  weakView, strongView, RA_OPS, IMAGENET_MEAN, IMAGENET_STD, FASHION_MNIST_MEAN, FASHION_MNIST_STD,
} from './augment';
export type {
  ViewSpec, JitterOptions, BlurOptions, RandAugmentOptions, RandAugmentOp, ImageBatch, AugmentOptions,
  AugmentedView, DeviceAugmentedView, AugmentParams, DrawnParams, CropPreset, DrawOptions,
} from './augment';
export { augmentPreview, writeAugmentPreview } from './preview';
export type { PreviewOptions } from './preview';
