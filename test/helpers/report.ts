// Shared by the report tests: class-structured images of any size and channel count, a random-init
// encoder for them, and a brute-force cosine search over features put in the kNN's form here
// (float64, written without lib/forms or the native kernel) to check the report's neighbours.
import type { Dataset } from '../../lib/dataset';
import { Encoder, imageStatistics } from '../../lib/encoder';
import { ClsaModel } from '../../lib/model';
import { Rng } from '../../lib/random';

/** `n` images of `classes` classes: class c is a bright band at a class-specific height, tinted
 * per class when there are three channels, plus noise (no two images alike). Every fourth round
 * of classes shows each image the next class's band under its own label, so that some neighbours
 * are of another class. */
export function bandImages(rng: Rng, n: number, h: number, w: number, c: 1 | 3, classes: number, names?: string[]): Dataset {
  const data = new Uint8Array(n * h * w * c), labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const cls = i % classes;
    labels[i] = cls;
    const shown = Math.floor(i / classes) % 4 === 3 ? (cls + 1) % classes : cls;
    const centre = ((shown + 0.5) / classes) * h;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) {
          const band = Math.abs(y - centre) <= Math.max(1, h / (2 * classes)) ? 190 : 40;
          const tint = c === 3 ? ((shown + ch) % 3) * 20 : 0;
          data[((i * h + y) * w + x) * c + ch] = Math.max(0, Math.min(255, Math.round(band + tint + 50 * (rng.uniform() - 0.5))));
        }
  }
  return { images: { data, shape: [n, h, w, c] }, labels, source: 'memory', ...(names ? { classes: names } : {}) };
}

export function randomInitEncoder(images: Dataset, width = 4, seed = 1): Encoder {
  const [, h, w, c] = images.images.shape;
  return new Encoder(ClsaModel.create({ arch: 'resnet-mini', width, inChannels: c, device: 'cpu', seed }), imageStatistics(images.images), [h, w]);
}

/** Both sides standardised (or centred) with the bank's mean and population std, as float64. */
export function inFormF64(bank: Float32Array, query: Float32Array, d: number, form: 'raw' | 'centred' | 'standardised'): { bank: Float64Array; query: Float64Array } {
  const n = bank.length / d;
  const mean = new Float64Array(d), std = new Float64Array(d).fill(1);
  if (form !== 'raw') {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += bank[i * d + j];
      mean[j] = s / n;
      if (form === 'standardised') {
        let v = 0;
        for (let i = 0; i < n; i++) v += (bank[i * d + j] - mean[j]) ** 2;
        v /= n;
        std[j] = v > 1e-12 ? Math.sqrt(v) : 1;
      }
    }
  }
  const apply = (x: Float32Array) => Float64Array.from(x, (v, i) => (v - mean[i % d]) / std[i % d]);
  return { bank: apply(bank), query: apply(query) };
}

/** Cosine similarity of query row q with every bank row (0 against a zero row, as the kernel). */
export function cosineRow(bank: Float64Array, query: Float64Array, d: number, q: number): Float64Array {
  const n = bank.length / d;
  let qn = 0;
  for (let j = 0; j < d; j++) qn += query[q * d + j] ** 2;
  return Float64Array.from({ length: n }, (_, i) => {
    let s = 0, bn = 0;
    for (let j = 0; j < d; j++) { s += query[q * d + j] * bank[i * d + j]; bn += bank[i * d + j] ** 2; }
    return qn > 0 && bn > 0 ? s / Math.sqrt(qn * bn) : 0;
  });
}

/** Bank rows by descending similarity, ties to the smaller row. */
export function bruteOrder(sims: Float64Array): number[] {
  return Array.from(sims.keys()).sort((a, b) => sims[b] - sims[a] || a - b);
}

/** Of the brute force's top k of every query row, how many have another label than the query. */
export function bruteWrongCount(bank: Float64Array, query: Float64Array, d: number, rows: number[], k: number,
                                bankLabels: Int32Array, queryLabels: Int32Array): number {
  let wrong = 0;
  for (const r of rows) for (const b of bruteOrder(cosineRow(bank, query, d, r)).slice(0, k)) if (bankLabels[b] !== queryLabels[r]) wrong++;
  return wrong;
}
