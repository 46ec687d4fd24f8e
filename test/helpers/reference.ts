// The CLSA objective in its naive, materialising float64 form (docs/objective.md), written
// independently of the native code: the tests hold the kernels to it.

export interface RefInputs {
  W: number; S: number; N: number; D: number; K: number;
  weak: ArrayLike<number>; strong: ArrayLike<number>; keys: ArrayLike<number>; queue: ArrayLike<number>;
}
export interface RefOptions { tau: number; tau2: number; alpha: number; normalize: boolean }
export interface RefResult {
  loss: number; nce: number; ddm: number; accuracy: number;
  /** Bounds on the accuracy a float32 kernel may report: rows whose own logit ties the best
   * other logit within float32 rounding (1e-5 relative) may be counted either way. */
  accuracyMin: number; accuracyMax: number;
  /** Magnitudes of the terms each loss is a difference of (sum over rows of |lse| + |dot| / t,
   * averaged like the loss): float32 rounding is relative to these, not to the difference,
   * which cancels to ~0 when a row's distribution is nearly one-hot. */
  nceScale: number; ddmScale: number;
  /** Norm of the gradient's term magnitudes before the normalisation's projection (see gradErr). */
  gradWeakScale: number; gradStrongScale: number;
  gradWeak: Float64Array; gradStrong: Float64Array;
}

function rows(src: ArrayLike<number>, n: number, d: number, normalize: boolean) {
  const out: Float64Array[] = [];
  const norms: number[] = [];
  for (let r = 0; r < n; r++) {
    const v = new Float64Array(d);
    let ss = 0;
    for (let j = 0; j < d; j++) { v[j] = src[r * d + j]; ss += v[j] * v[j]; }
    const nr = normalize ? Math.sqrt(ss) : 1;
    for (let j = 0; j < d; j++) v[j] /= nr;
    out.push(v);
    norms.push(nr);
  }
  return { out, norms };
}

const dot = (a: Float64Array, b: Float64Array) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; };

function softmax(logits: number[], t: number): { p: number[]; lse: number } {
  let mx = -Infinity;
  for (const l of logits) mx = Math.max(mx, l / t);
  let sum = 0;
  for (const l of logits) sum += Math.exp(l / t - mx);
  return { p: logits.map((l) => Math.exp(l / t - mx) / sum), lse: mx + Math.log(sum) };
}

/** Loss only (cheap enough for finite differences on small shapes). */
export function referenceLoss(x: RefInputs, o: RefOptions): { loss: number; nce: number; ddm: number } {
  const r = reference(x, o, false);
  return { loss: r.loss, nce: r.nce, ddm: r.ddm };
}

export function reference(x: RefInputs, o: RefOptions, withGrad = true): RefResult {
  const { W, S, N, D, K } = x;
  const qw = rows(x.weak, W * N, D, o.normalize);
  const qs = rows(x.strong, S * N, D, o.normalize);
  const kn = rows(x.keys, N, D, o.normalize).out;
  const X = kn.concat(rows(x.queue, K, D, false).out);
  const gw = new Float64Array(W * N * D), gs = new Float64Array(S * N * D);
  // The same sums with every term's magnitude: the scale of a float32 result's rounding.
  const gwAbs = new Float64Array(W * N * D), gsAbs = new Float64Array(S * N * D);
  let nce = 0, ddm = 0, correct = 0, tiedCorrect = 0, tiedWrong = 0, nceScale = 0, ddmScale = 0;
  for (let w = 0; w < W; w++) {
    for (let i = 0; i < N; i++) {
      const q = qw.out[w * N + i];
      const l = X.map((xj) => dot(q, xj));
      const a = softmax(l, o.tau);
      nce += (a.lse - l[i] / o.tau) / N;
      nceScale += (Math.abs(a.lse) + Math.abs(l[i] / o.tau)) / N;
      if (l[i] >= Math.max(...l)) correct++;
      let other = -Infinity;
      for (let j = 0; j < l.length; j++) if (j !== i) other = Math.max(other, l[j]);
      if (Math.abs(l[i] - other) <= 1e-5 * (1 + Math.abs(l[i]))) {
        if (l[i] >= other) tiedCorrect++;
        else tiedWrong++;
      }
      const pw = softmax(l, o.tau2).p;
      if (withGrad) {
        for (let j = 0; j < X.length; j++) {
          const c = (a.p[j] - (j === i ? 1 : 0)) / (o.tau * N);
          const ca = (a.p[j] + (j === i ? 1 : 0)) / (o.tau * N);
          for (let e = 0; e < D; e++) gw[(w * N + i) * D + e] += c * X[j][e];
          for (let e = 0; e < D; e++) gwAbs[(w * N + i) * D + e] += ca * Math.abs(X[j][e]);
        }
      }
      for (let s = 0; s < S; s++) {
        const qsr = qs.out[s * N + i];
        const ls = X.map((xj) => dot(qsr, xj));
        const b = softmax(ls, o.tau2);
        let ce = 0, cross = 0;
        for (let j = 0; j < X.length; j++) ce -= pw[j] * (ls[j] / o.tau2 - b.lse);
        for (let j = 0; j < X.length; j++) cross += pw[j] * ls[j] / o.tau2;
        ddm += ce / N;
        ddmScale += (Math.abs(b.lse) + Math.abs(cross)) / N;
        if (withGrad) {
          for (let j = 0; j < X.length; j++) {
            const c = (o.alpha * (b.p[j] - pw[j])) / (o.tau2 * N);
            const ca = (o.alpha * (b.p[j] + pw[j])) / (o.tau2 * N);
            for (let e = 0; e < D; e++) gs[(s * N + i) * D + e] += c * X[j][e];
            for (let e = 0; e < D; e++) gsAbs[(s * N + i) * D + e] += ca * Math.abs(X[j][e]);
          }
        }
      }
    }
  }
  // Through the normalisation: g_z = (g_q - q (q . g_q)) / |z|. Both the softmax differences
  // and the projection can cancel the gradient entirely (D = 1: g_z = 0 exactly), so the norm of
  // the term magnitudes / |z| is kept as the scale a float32 result's error is measured against.
  const scaleOf = (g: Float64Array, q: { norms: number[] }) => {
    let ss = 0;
    for (let r = 0; r < q.norms.length; r++) for (let e = 0; e < D; e++) ss += (g[r * D + e] / q.norms[r]) ** 2;
    return Math.sqrt(ss);
  };
  const gradWeakScale = scaleOf(gwAbs, qw), gradStrongScale = scaleOf(gsAbs, qs);
  const back = (g: Float64Array, q: { out: Float64Array[]; norms: number[] }) => {
    if (!o.normalize) return;
    q.out.forEach((qr, r) => {
      let d = 0;
      for (let e = 0; e < D; e++) d += qr[e] * g[r * D + e];
      for (let e = 0; e < D; e++) g[r * D + e] = (g[r * D + e] - qr[e] * d) / q.norms[r];
    });
  };
  back(gw, qw);
  back(gs, qs);
  return {
    loss: nce + o.alpha * ddm, nce, ddm, accuracy: correct / (W * N),
    accuracyMin: (correct - tiedCorrect) / (W * N), accuracyMax: (correct + tiedWrong) / (W * N),
    nceScale, ddmScale, gradWeakScale, gradStrongScale,
    gradWeak: gw, gradStrong: gs,
  };
}

/** Seeded uniform(-1, 1) floats (mulberry32), fresh per call with a fresh seed. */
export function randomFloats(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** |a - b| and |b| (Euclidean norms over all elements). */
function diffNorms(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; ref: number } {
  let e = 0, n = 0;
  for (let i = 0; i < a.length; i++) { e += (a[i] - b[i]) ** 2; n += b[i] ** 2; }
  return { diff: Math.sqrt(e), ref: Math.sqrt(n) };
}

export function relNorm(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const { diff, ref } = diffNorms(a, b);
  return ref === 0 ? diff : diff / ref;
}

/** |a - b| relative to max(|b|, scale): the error of a float32 difference of terms of size `scale`. */
export function lossErr(a: number, b: number, scale: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), scale, 1e-30);
}

/** Norm of a - b relative to max(|b|, scale): relNorm that stays meaningful when the exact
 * gradient cancels to ~0 (scale = the norm of its terms' magnitudes). */
export function gradErr(a: ArrayLike<number>, b: ArrayLike<number>, scale: number): number {
  const { diff, ref } = diffNorms(a, b);
  return diff / Math.max(ref, scale, 1e-30);
}

export function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
}
