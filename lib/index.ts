// clsa — Contrastive Learning with Stronger Augmentations on fused native kernels.
export { clsaHead, clsaHeadSync, PRECISIONS } from './head';
export type { DeviceHeadInputs, DeviceHeadResult, HeadInputs, HeadOptions, HeadResult, HostTensor, Precision } from './head';
export { DeviceTensor, isDeviceTensor } from './device';
export type { AnyTensor, DeviceName, DeviceTensorOptions } from './device';
export { momentumUpdate, Queue } from './update';
export type { QueueOptions, EnqueueOptions, MomentumOptions } from './update';
export { backend, setCpuThreads, CUDA_VERIFIED } from './backend';
export type { BackendInfo, CudaPath, DeviceInfo } from './backend';
export { Rng } from './random';
export { loadDataset, loadIdxPair, resolveFashionMnist, imagesToFeatures, hasIdx, FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIRS, FASHION_MNIST_SUBSET_DIR, DEFAULT_HOLD_OUT, NoTestSplitError } from './data';
export type { DatasetSource, LoadOptions, MemoryImages, MemorySplits } from './data';
export type { Dataset, ImageTensor, Split } from './dataset';
export { sharedImages, assertDisjoint } from './overlap';
export { readIdx, parseIdx, encodeIdx } from './idx';
export { knnAccuracy, knnAccuracySync, knnTopk, knnTopkSync, knnVote, linearProbe, linearProbeSync,
  rawPixelBaseline } from './eval';
export type { AccuracyResult, FeatureMatrix, KnnOptions, KnnResult, KnnTopkOptions, KnnTopkResult, LabelledFeatures,
  LinearProbeOptions, LinearProbeResult, RawBaselineResult } from './eval';
export { encodeSafetensors, decodeSafetensors, readSafetensors, writeSafetensors, DTYPE_BYTES } from './safetensors';
export type { Dtype, SafetensorsFile, Tensor, TensorData } from './safetensors';
export { writeFileAtomic, writeFileAtomicSync, writeDirAtomic, appendLineSync } from './fsutil';
export type { DirWriteOptions } from './fsutil';
export { appendMetrics, readMetrics, METRICS_FILE } from './metrics';
export { writeReport, renderReport } from './report';
export type { ReportInput, HistoryEntry } from './report';
export { reportViews, nearestInBank, mapSample, spreadQueries } from './report-map';
export type { ReportViewsOptions } from './report-map';
export type { ReportViews, EmbeddingMap, MapClass, NeighbourGrid, NeighbourRow, NeighbourCell } from './report-types';
export { pca, project } from './pca';
export type { PcaOptions, PcaResult } from './pca';
export { thumbnail } from './thumbnail';
export type { Thumbnail } from './thumbnail';
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
export { ClsaModel, cosineLr, ARCHS } from './model';
export { openDistributed, Communicator, DISTRIBUTED_OPTIONS, DEFAULT_CHECK_EVERY, launcherWorldSize } from './distributed';
export type { DistributedOption, DistributedTarget } from './distributed';
export type { Arch, LossReduction, ModelConfig, ModelPrecision, ResolvedModelConfig, StepViews, StepResult, ModelState, ViewTensor } from './model';
export { saveModelFiles, loadModelFiles, MODEL_CONFIG_FILE, MODEL_WEIGHTS_FILE, MODEL_FORMAT_VERSION } from './modelfile';
export type { ModelFiles } from './modelfile';
export { trainClsa, AbortError, epochLr, permutation, DEFAULT_VALIDATION } from './train';
export type { TrainOptions, TrainResult, ProgressInfo, EpochInfo, CropsOption } from './train';
export { checkViewSizes, MIN_VIEW_SIZE } from './training/views';
export type { RelativeCrops, RelativeViewSpec } from './training/views';
export { Encoder, loadEncoder, toEncoderInput, imageStatistics, ENCODER_FORMAT } from './encoder';
export type { ImageNormalization, UInt8Images, EncoderConfigFile } from './encoder';
export { sliceDataset, validationSplit, validationCount, stratifiedSplit, stratifiedSubset, stratifiedRows, holdOut, takeRows } from './split';
export type { ValidationSplit } from './split';
export { pixelBaselines, pixelFeatures, pixelForms, choosePixelForm, PIXEL_FORMS } from './baselines';
export { FEATURE_FORMS, inForm } from './forms';
export type { FeatureForm } from './forms';
export type { PixelBaselines, PixelForm } from './baselines';
export { RECIPES, RECIPE_NAMES, recipeOptions } from './recipes';
export type { Recipe, RecipeName } from './recipes';
export { defaultQueueSize } from './train';
export { scheduledLr } from './training/schedule';
export type { Schedule } from './training/schedule';
export { PROBE_WEIGHT_DECAYS } from './probe';
export { scorecard, formatScorecard } from './scorecard';
export type { Scorecard, ScorecardOptions, ProbeSummary } from './scorecard';
export { encodeOnnx, writeOnnx, ONNX_OPSET, ONNX_IR_VERSION, ONNX_INPUT, ONNX_FEATURES, ONNX_PROJECTION } from './onnx';
export type { OnnxExportOptions, OnnxExportInfo, OnnxEncoderSource } from './onnx';
export { encoderLayout } from './layout';
export type { EncoderLayout, ConvLayout, BnLayout, LinearLayout, BlockLayout } from './layout';
export { encodeNpy, decodeNpy, writeNpy, readNpy } from './npy';
export type { NpyArray, NpyTensor } from './npy';
export { embedDataset, writeEmbeddings, embedToNpy, embeddingFiles, EMBEDDINGS_FORMAT } from './embeddings';
export type { Embeddings, EmbedOptions } from './embeddings';
export { SearchIndex, SEARCH_INDEX_FORMAT } from './search';
export type { SearchHit, SearchResult } from './search';
export { loadImageFiles } from './data';
export { FormatError } from './errors';
