// The kNN monitor of a training run: the weighted cosine kNN (k = 200, t = 0.1 by default) of an
// evaluation split against the training images as the bank, with the encoder in eval mode.
// Which split it watches is the run's choice: a validation split carved from the training data
// when choosing a recipe, so that the test split is scored once, at the end.
import { Dataset } from '../data';
import { Encoder } from '../encoder';
import { knnAccuracy } from '../eval';

export interface Monitor {
  /** What the monitor scores: 'validation' or 'test' (or a caller's name for its own split). */
  split: string;
  /** Images in that split. */
  size: number;
  every: number;
  k: number;
  t: number;
  measure(encoder: Encoder, signal?: AbortSignal): Promise<number>;
}

export function knnMonitor(bank: Dataset, evalSet: Dataset, split: string, o: { every: number; k: number; t: number }): Monitor | undefined {
  if (!bank.labels || !evalSet.labels) return undefined;
  const bankLabels = bank.labels, evalLabels = evalSet.labels;
  return {
    split, size: evalSet.images.shape[0], ...o,
    async measure(encoder, signal) {
      const features = await encoder.embed(bank.images);
      const query = await encoder.embed(evalSet.images);
      const r = await knnAccuracy({ features, labels: bankLabels }, { features: query, labels: evalLabels }, { k: o.k, t: o.t, signal });
      return r.accuracy;
    },
  };
}
