// The baselines every result is shown beside: pixels under the same kNN (same bank, k and t) in
// three forms — raw, mean-centred and standardised — and the best of them, plus the linear probe
// on standardised pixels. Cosine kNN is blind to scale but not to an offset: centring removes the
// mean image that every pair of raw images shares, which is worth ~5 points on Fashion-MNIST.
import { Dataset, ImageTensor } from './data';
import { featureStats, knnAccuracy, KnnOptions, KnnResult, linearProbe, LinearProbeOptions, LinearProbeResult } from './eval';

export type PixelForm = 'raw' | 'centred' | 'standardised';
export const PIXEL_FORMS: readonly PixelForm[] = ['raw', 'centred', 'standardised'];

/** Pixels of `images` as features in [0, 1] minus `mean`, divided by `std` (per pixel, either optional). */
export function pixelFeatures(images: ImageTensor, mean?: Float32Array, std?: Float32Array): { data: Float32Array; shape: [number, number] } {
  const [n, h, w, c] = images.shape;
  const d = h * w * c;
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let f = 0; f < d; f++) {
      let v = images.data[i * d + f] / 255;
      if (mean) v -= mean[f];
      if (std) v /= std[f];
      out[i * d + f] = v;
    }
  }
  return { data: out, shape: [n, d] };
}

/** The three pixel forms of a (bank, query) pair; mean and std come from the bank only. */
export function pixelForms(bank: ImageTensor, query: ImageTensor): Record<PixelForm, { bank: { data: Float32Array; shape: [number, number] }; query: { data: Float32Array; shape: [number, number] } }> {
  const raw = { bank: pixelFeatures(bank), query: pixelFeatures(query) };
  const [n, d] = raw.bank.shape;
  const { mean, std } = featureStats(raw.bank.data, n, d);
  return {
    raw,
    centred: { bank: pixelFeatures(bank, mean), query: pixelFeatures(query, mean) },
    standardised: { bank: pixelFeatures(bank, mean, std), query: pixelFeatures(query, mean, std) },
  };
}

export interface PixelBaselines {
  knn: Record<PixelForm, KnnResult>;
  /** The pixel form with the highest kNN accuracy (ties: the earlier of raw, centred, standardised). */
  best: { name: PixelForm; accuracy: number };
  /** Linear probe on standardised pixels, unless `linear: false`. */
  linear?: LinearProbeResult;
}

/**
 * kNN accuracy of `query` against `bank` on raw, centred and standardised pixels (same k and t as
 * the encoder's monitor), the best of them, and a linear probe on pixels.
 */
export async function pixelBaselines(bank: Dataset, query: Dataset,
                                     options: { knn?: KnnOptions; linear?: LinearProbeOptions | false } = {}): Promise<PixelBaselines> {
  if (!bank.labels || !query.labels) throw new Error('pixelBaselines: both data sets need labels');
  const forms = pixelForms(bank.images, query.images);
  const knn = {} as Record<PixelForm, KnnResult>;
  let best: { name: PixelForm; accuracy: number } = { name: 'raw', accuracy: -1 };
  for (const name of PIXEL_FORMS) {
    knn[name] = await knnAccuracy({ features: forms[name].bank, labels: bank.labels }, { features: forms[name].query, labels: query.labels }, options.knn ?? {});
    if (knn[name].accuracy > best.accuracy) best = { name, accuracy: knn[name].accuracy };
  }
  const linear = options.linear === false ? undefined
    : await linearProbe({ features: forms.raw.bank, labels: bank.labels }, { features: forms.raw.query, labels: query.labels }, options.linear ?? {});
  return { knn, best, linear };
}
