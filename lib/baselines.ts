// The baselines every result is shown beside: pixels under the same kNN (same bank, k and t) in
// three forms — raw, mean-centred and standardised — and the best of them, plus the linear probe
// on standardised pixels. Cosine kNN is blind to scale but not to an offset: centring removes the
// mean image that every pair of raw images shares, which is worth ~5 points on Fashion-MNIST.
// Which form is "the" baseline is chosen on held-out rows of the bank, never on the scored split:
// the best of three scores on the query split would be a choice made on it.
import type { Dataset, ImageTensor } from './dataset';
import { checkDataset, checkImageTensor } from './dataset-check';
import { stratifiedRows, takeRows } from './split';
import { checkFloat32, checkOptions } from './validate';
import { featureStats, knnAccuracy, KnnOptions, KnnResult, linearProbe, LinearProbeOptions, LinearProbeResult } from './eval';

export type PixelForm = 'raw' | 'centred' | 'standardised';
export const PIXEL_FORMS: readonly PixelForm[] = ['raw', 'centred', 'standardised'];

/** Pixels of `images` as features in [0, 1] minus `mean`, divided by `std` (per pixel, either optional). */
export function pixelFeatures(images: ImageTensor, mean?: Float32Array, std?: Float32Array): { data: Float32Array; shape: [number, number] } {
  const [n, h, w, c] = checkImageTensor('images', images, 0).shape;
  const d = h * w * c;
  if (mean !== undefined) checkFloat32('mean', mean, d);
  if (std !== undefined) checkFloat32('std', std, d);
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
  checkSameImages('bank', checkImageTensor('bank', bank), 'query', checkImageTensor('query', query));
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
  /** The pixel form chosen on held-out bank rows (see `selection`) and its kNN accuracy on the query split. */
  best: { name: PixelForm; accuracy: number };
  /** How `best` was chosen: kNN accuracy of each form on `heldOut` bank rows against the rest. */
  selection: { heldOut: number; knn: Record<PixelForm, number> };
  /** Linear probe on standardised pixels, unless `linear: false`. */
  linear?: LinearProbeResult;
}

/** Refuses images of two different sizes where pixels are compared feature by feature. */
export function checkSameImages(aName: string, a: ImageTensor, bName: string, b: ImageTensor): void {
  const [, ...da] = a.shape, [, ...db] = b.shape;
  if (da.join() !== db.join())
    throw new RangeError(`${bName}.shape: expected images of ${aName}'s size [${da.join(', ')}] (H, W, C) but got [${db.join(', ')}]`);
}

/** Bank rows held out to choose the pixel form: a fifth, at most 2000, per class (split seed 0). */
export function formSelectionRows(bank: Dataset): { kept: Int32Array; held: Int32Array } {
  const n = bank.images.shape[0];
  return stratifiedRows(bank.labels, n, Math.min(2000, Math.max(1, Math.round(n / 5))), 0, true);
}

/** The pixel form with the best kNN accuracy on held-out bank rows against the other bank rows
 * (ties: the earlier of raw, centred, standardised). */
export async function choosePixelForm(bank: Dataset, knn: KnnOptions = {}): Promise<{ name: PixelForm; selection: PixelBaselines['selection'] }> {
  checkDataset('bank', bank, { labels: true });
  knn = checkOptions('knn', knn);
  const { kept, held } = formSelectionRows(bank);
  const scores = { raw: 0, centred: 0, standardised: 0 } as Record<PixelForm, number>;
  if (kept.length === 0 || held.length === 0) return { name: 'raw', selection: { heldOut: 0, knn: scores } };
  const fit = takeRows(bank, kept, bank.source), val = takeRows(bank, held, bank.source);
  const forms = pixelForms(fit.images, val.images);
  let name: PixelForm = 'raw';
  for (const f of PIXEL_FORMS) {
    scores[f] = (await knnAccuracy({ features: forms[f].bank, labels: fit.labels! }, { features: forms[f].query, labels: val.labels! }, knn)).accuracy;
    if (scores[f] > scores[name]) name = f;
  }
  return { name, selection: { heldOut: held.length, knn: scores } };
}

/**
 * kNN accuracy of `query` against `bank` on raw, centred and standardised pixels (same k and t as
 * the encoder's monitor), the form chosen on held-out bank rows, and a linear probe on pixels.
 */
export async function pixelBaselines(bank: Dataset, query: Dataset,
                                     options: { knn?: KnnOptions; linear?: LinearProbeOptions | false } = {}): Promise<PixelBaselines> {
  checkDataset('bank', bank, { labels: true });
  checkDataset('query', query, { labels: true });
  options = checkOptions('options', options);
  if (options.knn !== undefined && options.knn !== null) checkOptions('options.knn', options.knn);
  if (options.linear !== undefined && options.linear !== false) checkOptions('options.linear', options.linear);
  const forms = pixelForms(bank.images, query.images);
  const knn = {} as Record<PixelForm, KnnResult>;
  for (const name of PIXEL_FORMS)
    knn[name] = await knnAccuracy({ features: forms[name].bank, labels: bank.labels as Int32Array }, { features: forms[name].query, labels: query.labels as Int32Array }, options.knn ?? {});
  const chosen = await choosePixelForm(bank, options.knn ?? {});
  const best = { name: chosen.name, accuracy: knn[chosen.name].accuracy };
  const linear = options.linear === false ? undefined
    : await linearProbe({ features: forms.raw.bank, labels: bank.labels as Int32Array }, { features: forms.raw.query, labels: query.labels as Int32Array }, options.linear ?? {});
  return { knn, best, selection: chosen.selection, linear };
}
