// The data set types every part of the package passes around: the loader makes them, the splits
// carve them, training, evaluation and the reports read them. Kept apart from the loader so that
// the split functions (which the loader uses for its hold-out) need not import the loader.

export type Split = 'train' | 'test';

export interface ImageTensor {
  /** Pixels, uint8, row-major [n, H, W, C]. */
  data: Uint8Array;
  shape: [number, number, number, number];
}

export interface Dataset {
  images: ImageTensor;
  labels?: Int32Array;
  classes?: string[];
  /** Where it came from and which rows, for reports: a path, 'memory', 'fashion-mnist (full)' ... */
  source: string;
  /** Image folders: the file of each row, for messages that must point at an image. */
  files?: string[];
}

/** Loading split 'test' of a source that has none (in-memory { train } alone, holdOut: false, or
 * too few images to hold any out). */
export class NoTestSplitError extends Error {
  override readonly name = 'NoTestSplitError';
  readonly code = 'CLSA_NO_TEST_SPLIT';
}
