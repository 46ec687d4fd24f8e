// Train / validation splits. Recipes are chosen on a validation split carved from the training
// data, never on the test split, which is scored once per chosen configuration.
import { Dataset } from './data';
import { checkInt, checkNumber, describe } from './validate';

/** The first `n` images (and labels) of a data set, without copying pixels. */
export function sliceDataset(ds: Dataset, n: number, start = 0): Dataset {
  const [total, h, w, c] = ds.images.shape;
  const begin = Math.min(total, start), end = Math.min(total, begin + n);
  const per = h * w * c;
  return {
    ...ds,
    images: { data: ds.images.data.subarray(begin * per, end * per), shape: [end - begin, h, w, c] },
    labels: ds.labels?.subarray(begin, end),
  };
}

/**
 * Rows held out for validation: a count (>= 1) or a fraction in (0, 1) of the training set. The
 * validation rows are the *last* ones (the first rows stay the training prefix that `limit`
 * takes), so the split is deterministic, disjoint, and needs no seed.
 */
export function validationCount(name: string, spec: number, total: number): number {
  checkNumber(name, spec, (x) => x > 0, 'a count >= 1 or a fraction in (0, 1)');
  const n = spec < 1 ? Math.round(spec * total) : checkInt(name, spec, 1);
  if (n < 1 || n >= total)
    throw new RangeError(`${name}: expected to leave at least one training image of the ${total} but got ${describe(spec)} (${n} images)`);
  return n;
}

export interface ValidationSplit {
  /** Rows [0, n - v): what training may use. */
  train: Dataset;
  /** Rows [n - v, n): scored while choosing a recipe. */
  validation: Dataset;
}

/** Splits off the last `spec` images (count or fraction) of a data set as its validation split. */
export function validationSplit(ds: Dataset, spec: number, name = 'validation'): ValidationSplit {
  const total = ds.images.shape[0];
  const v = validationCount(name, spec, total);
  return {
    train: { ...sliceDataset(ds, total - v), source: `${ds.source} [0, ${total - v})` },
    validation: { ...sliceDataset(ds, v, total - v), source: `${ds.source} [${total - v}, ${total}) (validation)` },
  };
}
