// clsa — Contrastive Learning with Stronger Augmentations on fused native kernels.
export { clsaHead, clsaHeadSync, PRECISIONS } from './head';
export type { HeadInputs, HeadOptions, HeadResult, HostTensor, Precision } from './head';
export { momentumUpdate, Queue } from './update';
export type { QueueOptions, EnqueueOptions } from './update';
export { backend, setCpuThreads } from './backend';
export type { BackendInfo, DeviceInfo } from './backend';
export { Rng } from './random';
export { loadDataset, loadIdxPair, resolveFashionMnist, imagesToFeatures, hasIdx, FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIRS, FASHION_MNIST_SUBSET_DIR } from './data';
export type { Dataset, DatasetSource, ImageTensor, LoadOptions, Split } from './data';
export { readIdx, parseIdx, encodeIdx } from './idx';
export { knnAccuracy, knnAccuracySync, knnTopk, knnTopkSync, knnVote, linearProbe, linearProbeSync,
  rawPixelBaseline } from './eval';
export type { AccuracyResult, FeatureMatrix, KnnOptions, KnnResult, KnnTopkOptions, KnnTopkResult, LabelledFeatures,
  LinearProbeOptions, LinearProbeResult, RawBaselineResult } from './eval';
export { encodeSafetensors, decodeSafetensors, readSafetensors, writeSafetensors, DTYPE_BYTES } from './safetensors';
export type { Dtype, SafetensorsFile, Tensor, TensorData } from './safetensors';
export { writeFileAtomic, writeFileAtomicSync, writeDirAtomic, appendLineSync } from './fsutil';
export { appendMetrics, readMetrics, METRICS_FILE } from './metrics';
export { writeReport, renderReport } from './report';
export type { ReportInput, HistoryEntry } from './report';
export { saveModelFiles, loadModelFiles, MODEL_CONFIG_FILE, MODEL_WEIGHTS_FILE, MODEL_FORMAT_VERSION } from './modelfile';
export type { ModelFiles } from './modelfile';
