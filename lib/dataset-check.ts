// Checks of a Dataset (or its image tensor) given to a public call: the split, overlap, baseline
// and scoring functions take loaded data sets, and a hand-built one with a wrong shape would
// otherwise be read out of bounds or silently as other images.
import type { Dataset, ImageTensor } from './dataset';
import { checkInt, describe, MAX_ELEMENTS } from './validate';

/** uint8 images { data, shape: [n, H, W, C] } with n >= minCount and data matching the shape. */
export function checkImageTensor(name: string, t: unknown, minCount = 1): ImageTensor {
  if (typeof t !== 'object' || t === null) throw new TypeError(`${name}: expected { data: Uint8Array, shape: [n, H, W, C] } but got ${describe(t)}`);
  const { data, shape } = t as { data: unknown; shape: unknown };
  if (!Array.isArray(shape) || shape.length !== 4) throw new RangeError(`${name}.shape: expected [n, H, W, C] but got ${describe(shape)}`);
  shape.forEach((v, i) => checkInt(`${name}.shape[${i}]`, v, i === 0 ? minCount : 1, MAX_ELEMENTS));
  if (Object.prototype.toString.call(data) !== '[object Uint8Array]') throw new TypeError(`${name}.data: expected a Uint8Array but got ${describe(data)}`);
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  if ((data as Uint8Array).length !== count)
    throw new RangeError(`${name}.data: expected ${count} bytes for shape [${shape.join(', ')}] but got ${(data as Uint8Array).length}`);
  return t as ImageTensor;
}

/** Labels of `n` images: an Int32Array of class indices >= 0. */
export function checkLabels(name: string, labels: unknown, n: number): Int32Array {
  if (Object.prototype.toString.call(labels) !== '[object Int32Array]')
    throw new TypeError(`${name}: expected an Int32Array of ${n} class indices but got ${describe(labels)}`);
  const l = labels as Int32Array;
  if (l.length !== n) throw new RangeError(`${name}: expected ${n} labels (one per image) but got ${l.length}`);
  const bad = l.findIndex((x) => x < 0);
  if (bad >= 0) throw new RangeError(`${name}[${bad}]: expected a class index >= 0 but got ${l[bad]}`);
  return l;
}

/** A data set: its images, and labels / files of the same count where present. */
export function checkDataset(name: string, ds: unknown, options: { labels?: boolean; minCount?: number } = {}): Dataset {
  if (typeof ds !== 'object' || ds === null) throw new TypeError(`${name}: expected a data set { images, labels?, source } but got ${describe(ds)}`);
  const d = ds as Dataset;
  const n = checkImageTensor(`${name}.images`, d.images, options.minCount ?? 1).shape[0];
  if (options.labels && d.labels === undefined)
    throw new TypeError(`${name}.labels: the data sets scored here need labels (an Int32Array of class indices) but ${name} has none`);
  if (d.labels !== undefined) checkLabels(`${name}.labels`, d.labels, n);
  if (d.files !== undefined && (!Array.isArray(d.files) || d.files.length !== n))
    throw new RangeError(`${name}.files: expected ${n} file names (one per image) but got ${describe(d.files)}`);
  if (d.classes !== undefined && (!Array.isArray(d.classes) || !d.classes.every((c) => typeof c === 'string')))
    throw new TypeError(`${name}.classes: expected an array of strings but got ${describe(d.classes)}`);
  if (typeof d.source !== 'string') throw new TypeError(`${name}.source: expected a string but got ${describe(d.source)}`);
  return d;
}
