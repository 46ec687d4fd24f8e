// How uint8 pixels become an encoder's float input; its own module because the encoder, the ONNX
// export and the embedding writers all carry it.

/** How uint8 images are turned into the encoder's float input. */
export interface ImageNormalization {
  channels: number;
  /** Per-channel mean and standard deviation of pixel/255. */
  mean: number[];
  std: number[];
}
