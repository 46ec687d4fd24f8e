// Float64 references for the evaluation kernels: straightforward, materialising, slow.
import { PROBE_ADAM } from '../../lib/eval';

/** Top-k by cosine similarity in float64; ties: smaller train index first. */
export function knnTopkReference(train: Float32Array, test: Float32Array, nTrain: number, nTest: number, d: number, k: number) {
  const norm = (x: Float32Array, r: number) => {
    let s = 0;
    for (let c = 0; c < d; c++) s += x[r * d + c] * x[r * d + c];
    return s > 0 ? 1 / Math.sqrt(s) : 0;
  };
  const itr = Array.from({ length: nTrain }, (_, r) => norm(train, r));
  const index = new Int32Array(nTest * k), sim = new Float64Array(nTest * k);
  for (let i = 0; i < nTest; i++) {
    const it = norm(test, i);
    const all: [number, number][] = [];
    for (let j = 0; j < nTrain; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += test[i * d + c] * train[j * d + c];
      all.push([s * it * itr[j], j]);
    }
    all.sort((a, b) => (b[0] - a[0]) || (a[1] - b[1]));
    for (let j = 0; j < k; j++) { index[i * k + j] = all[j][1]; sim[i * k + j] = all[j][0]; }
  }
  return { index, sim };
}

export function knnPredictReference(train: Float32Array, trainLabels: Int32Array, test: Float32Array, nTrain: number,
                                    nTest: number, d: number, k: number, t: number, classes: number): Int32Array {
  const { index, sim } = knnTopkReference(train, test, nTrain, nTest, d, k);
  const out = new Int32Array(nTest);
  for (let i = 0; i < nTest; i++) {
    const sc = new Float64Array(classes);
    for (let j = 0; j < k; j++) sc[trainLabels[index[i * k + j]]] += Math.exp(sim[i * k + j] / t);
    let best = 0;
    for (let c = 1; c < classes; c++) if (sc[c] > sc[best]) best = c;
    out[i] = best;
  }
  return out;
}

/** The probe's AdamW training in float64 with the same init and order; returns the epoch losses and weights. */
export function probeReference(x: Float32Array, labels: Int32Array, n: number, d: number, classes: number, epochs: number,
                               batch: number, lr: number, wd: number, order: Int32Array, w0: Float32Array, b0: Float32Array) {
  const { beta1: b1, beta2: b2, eps } = PROBE_ADAM;
  const W = Float64Array.from(w0), b = Float64Array.from(b0);
  const mW = new Float64Array(W.length), vW = new Float64Array(W.length), mb = new Float64Array(classes), vb = new Float64Array(classes);
  const losses: number[] = [];
  let step = 0;
  for (let e = 0; e < epochs; e++) {
    let sum = 0, batches = 0;
    for (let b0i = 0; b0i < n; b0i += batch) {
      const rows = Math.min(batch, n - b0i);
      const gW = new Float64Array(W.length), gb = new Float64Array(classes);
      let bl = 0;
      for (let i = 0; i < rows; i++) {
        const r = order[e * n + b0i + i];
        const z = new Float64Array(classes);
        for (let c = 0; c < classes; c++) {
          let s = b[c];
          for (let f = 0; f < d; f++) s += W[c * d + f] * x[r * d + f];
          z[c] = s;
        }
        const mx = Math.max(...z);
        const lse = mx + Math.log(z.reduce((a, v) => a + Math.exp(v - mx), 0));
        bl += lse - z[labels[r]];
        for (let c = 0; c < classes; c++) {
          const g = Math.exp(z[c] - lse) - (c === labels[r] ? 1 : 0);
          gb[c] += g / rows;
          for (let f = 0; f < d; f++) gW[c * d + f] += (g * x[r * d + f]) / rows;
        }
      }
      sum += bl / rows;
      batches++;
      step++;
      const c1 = 1 - b1 ** step, c2 = 1 - b2 ** step;
      const adam = (w: Float64Array, m: Float64Array, v: Float64Array, g: Float64Array, decay: boolean) => {
        for (let q = 0; q < w.length; q++) {
          if (decay) w[q] *= 1 - lr * wd;
          m[q] = b1 * m[q] + (1 - b1) * g[q];
          v[q] = b2 * v[q] + (1 - b2) * g[q] * g[q];
          w[q] -= (lr * (m[q] / c1)) / (Math.sqrt(v[q] / c2) + eps);
        }
      };
      adam(W, mW, vW, gW, true);
      adam(b, mb, vb, gb, false);
    }
    losses.push(sum / batches);
  }
  return { losses, W, b };
}
