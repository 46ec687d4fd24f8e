// The guard every score passes: a split scored against a kNN bank (or a probe's training rows)
// must not hold any of the bank's images, or the score measures recall of stored images (each
// query finds itself at similarity 1), not what the encoder learnt. Images are compared by their
// pixels, so the guard holds whatever the two data sets' sources say.
import type { Dataset, ImageTensor } from './dataset';
import { checkDataset, checkImageTensor } from './dataset-check';
import { checkInt, describe } from './validate';

/** FNV-1a over one image's bytes: a bucket key; equal keys are confirmed byte by byte. */
function imageHash(data: Uint8Array, begin: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = begin; i < end; i++) h = Math.imul(h ^ data[i], 0x01000193);
  return h >>> 0;
}

/** For each row, the first row with the same pixels (itself when it has no earlier twin): the
 * splits keep such twins on one side, so that a split of data with duplicates stays disjoint. */
export function duplicateGroups(images: ImageTensor): Int32Array {
  const [n, h, w, c] = images.shape;
  const per = h * w * c;
  const first = new Int32Array(n);
  const buckets = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const key = imageHash(images.data, i * per, (i + 1) * per);
    const list = buckets.get(key);
    const row = images.data.subarray(i * per, (i + 1) * per);
    const twin = list?.find((r) => Buffer.compare(images.data.subarray(r * per, (r + 1) * per), row) === 0);
    first[i] = twin ?? i;
    if (twin === undefined) { if (list) list.push(i); else buckets.set(key, [i]); }
  }
  return first;
}

/** Rows of `b` whose pixels equal a row of `a`: how many, and the first few pairs [row of a, row of b]. */
export function sharedImages(a: ImageTensor, b: ImageTensor, examples = 3): { count: number; pairs: [number, number][] } {
  checkImageTensor('a', a, 0);
  checkImageTensor('b', b, 0);
  checkInt('examples', examples, 0);
  const [na, ...da] = a.shape, [nb, ...db] = b.shape;
  if (da.join() !== db.join()) return { count: 0, pairs: [] };  // different image shapes: no image in common
  const per = da[0] * da[1] * da[2];
  const buckets = new Map<number, number[]>();
  for (let i = 0; i < na; i++) {
    const h = imageHash(a.data, i * per, (i + 1) * per);
    const list = buckets.get(h);
    if (list) list.push(i); else buckets.set(h, [i]);
  }
  let count = 0;
  const pairs: [number, number][] = [];
  for (let j = 0; j < nb; j++) {
    const list = buckets.get(imageHash(b.data, j * per, (j + 1) * per));
    if (!list) continue;
    const row = b.data.subarray(j * per, (j + 1) * per);
    const i = list.find((r) => Buffer.compare(a.data.subarray(r * per, (r + 1) * per), row) === 0);
    if (i === undefined) continue;
    count++;
    if (pairs.length < examples) pairs.push([i, j]);
  }
  return { count, pairs };
}

/**
 * Throws when `query` shares an image with `bank`, naming both (e.g. 'the kNN bank' and 'the
 * test split'), how many images they share and an example pair (with its files when known).
 */
export function assertDisjoint(bank: Dataset, bankName: string, query: Dataset, queryName: string): void {
  checkDataset('bank', bank, { minCount: 0 });
  checkDataset('query', query, { minCount: 0 });
  if (typeof bankName !== 'string') throw new TypeError(`bankName: expected a string but got ${describe(bankName)}`);
  if (typeof queryName !== 'string') throw new TypeError(`queryName: expected a string but got ${describe(queryName)}`);
  const { count, pairs } = sharedImages(bank.images, query.images);
  if (count === 0) return;
  const row = (ds: Dataset, r: number) => `row ${r}${ds.files ? ` (${ds.files[r]})` : ''}`;
  const [i, j] = pairs[0];
  throw new RangeError(`${queryName} (${query.images.shape[0]} images: ${query.source}) shares ${count} image${count === 1 ? '' : 's'} with ` +
    `${bankName} (${bank.images.shape[0]} images: ${bank.source}), e.g. its ${row(query, j)} is ${row(bank, i)} of the bank; ` +
    'a split scored against a bank must hold none of its images (each would find itself as its nearest neighbour)');
}
