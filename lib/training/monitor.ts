// The kNN monitor of a training run: the weighted cosine kNN (k = 200, t = 0.1 by default) of an
// evaluation split against the training images as the bank, with the encoder in eval mode, its
// features standardised with the bank's statistics by default (as the best pixel baseline is).
// Which split it watches is the run's choice: a validation split carved from the training data
// when choosing a recipe, so that the test split is scored once, at the end.
import { Dataset } from '../data';
import { Encoder } from '../encoder';
import { knnAccuracy } from '../eval';
import { FeatureForm, inForm } from '../forms';

export interface Monitor {
  /** What the monitor scores: 'validation' or 'test' (or a caller's name for its own split). */
  split: string;
  /** Images in that split. */
  size: number;
  every: number;
  k: number;
  t: number;
  /** The form the features are compared in (bank statistics; see lib/forms.ts). */
  form: FeatureForm;
  measure(encoder: Encoder, signal?: AbortSignal): Promise<number>;
}

export function knnMonitor(bank: Dataset, evalSet: Dataset, split: string, o: { every: number; k: number; t: number; form: FeatureForm }): Monitor | undefined {
  if (!bank.labels || !evalSet.labels) return undefined;
  const bankLabels = bank.labels, evalLabels = evalSet.labels;
  return {
    split, size: evalSet.images.shape[0], ...o,
    async measure(encoder, signal) {
      const f = inForm(await encoder.embed(bank.images), await encoder.embed(evalSet.images), o.form);
      const r = await knnAccuracy({ features: f.bank, labels: bankLabels }, { features: f.query, labels: evalLabels }, { k: o.k, t: o.t, signal });
      return r.accuracy;
    },
  };
}
