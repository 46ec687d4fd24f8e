// Principal components of a feature matrix, for drawing features in two dimensions. Subspace
// iteration on the d x d covariance (d is the encoder's feature size, tens to hundreds) with a
// Rayleigh-Ritz step: no random start beyond a fixed seed and no library, so that a report drawn
// twice from the same features is the same picture. Float64 throughout.
import type { FeatureMatrix } from './eval';
import { Rng } from './random';
import { checkHostTensor, checkInt, checkNumber, describe } from './validate';

export interface PcaResult {
  /** Row-major [count, d]: unit axes, largest variance first; each axis's largest-magnitude entry
   * is positive, so that the sign (which the data cannot decide) is fixed. */
  components: Float64Array;
  count: number;
  /** Per-feature mean the rows are centred with. */
  mean: Float64Array;
  /** Variance along each axis (eigenvalues of the covariance with divisor n). */
  variances: number[];
  /** Sum of all feature variances (the covariance's trace). */
  totalVariance: number;
  /** variances / totalVariance (0 where the features do not vary). */
  explained: number[];
  iterations: number;
  /** The residual ||C v - lambda v|| of every axis fell below tolerance * lambda_1. */
  converged: boolean;
}

export interface PcaOptions {
  /** Axes (default 2). */
  count?: number;
  /** Largest subspace iterations (default 3000). */
  maxIterations?: number;
  /** Residual relative to the largest variance at which to stop (default 1e-9). */
  tolerance?: number;
}

/** Mean and covariance (divisor n) of the rows, float64; only the upper triangle is summed. */
export function covariance(x: FeatureMatrix): { mean: Float64Array; cov: Float64Array; n: number; d: number } {
  const [n, d] = x.shape;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x.data[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  const cov = new Float64Array(d * d), row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = x.data[i * d + j] - mean[j];
    for (let a = 0; a < d; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      const o = a * d;
      for (let b = a; b < d; b++) cov[o + b] += ra * row[b];
    }
  }
  for (let a = 0; a < d; a++)
    for (let b = a; b < d; b++) { const v = cov[a * d + b] / n; cov[a * d + b] = v; cov[b * d + a] = v; }
  return { mean, cov, n, d };
}

/** Eigen-decomposition of a small symmetric p x p matrix by cyclic Jacobi rotations: values
 * descending, vectors as the columns of a row-major p x p matrix. */
export function symmetricEigen(a: Float64Array, p: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a), v = new Float64Array(p * p);
  for (let i = 0; i < p; i++) v[i * p + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0, all = 0;
    for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) { all += m[i * p + j] ** 2; if (i !== j) off += m[i * p + j] ** 2; }
    if (off <= 1e-30 * all || off === 0) break;
    for (let i = 0; i < p - 1; i++)
      for (let j = i + 1; j < p; j++) {
        const aij = m[i * p + j];
        if (aij === 0) continue;
        const theta = (m[j * p + j] - m[i * p + i]) / (2 * aij);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < p; k++) {   // columns i, j of M
          const mki = m[k * p + i], mkj = m[k * p + j];
          m[k * p + i] = c * mki - s * mkj; m[k * p + j] = s * mki + c * mkj;
        }
        for (let k = 0; k < p; k++) {   // rows i, j of M
          const mik = m[i * p + k], mjk = m[j * p + k];
          m[i * p + k] = c * mik - s * mjk; m[j * p + k] = s * mik + c * mjk;
        }
        for (let k = 0; k < p; k++) {
          const vki = v[k * p + i], vkj = v[k * p + j];
          v[k * p + i] = c * vki - s * vkj; v[k * p + j] = s * vki + c * vkj;
        }
      }
  }
  const order = Array.from({ length: p }, (_, i) => i).sort((x, y) => m[y * p + y] - m[x * p + x] || x - y);
  const values = Float64Array.from(order, (i) => m[i * p + i]);
  const vectors = new Float64Array(p * p);
  order.forEach((src, dst) => { for (let k = 0; k < p; k++) vectors[k * p + dst] = v[k * p + src]; });
  return { values, vectors };
}

/** Column-major p columns of length d, orthonormalised in place (modified Gram-Schmidt, twice:
 * once is not enough when the columns are nearly dependent). A column with nothing left of its
 * own becomes the first unit vector e_i that still has something left, so a rank-deficient
 * covariance (fewer rows than features) still yields p orthonormal columns. */
function orthonormalise(cols: Float64Array[], d: number): void {
  for (let j = 0; j < cols.length; j++) {
    const c = cols[j];
    const before = Math.sqrt(dot(c, c, d));
    for (let pass = 0; pass < 2; pass++)
      for (let i = 0; i < j; i++) axpy(-dot(cols[i], c, d), cols[i], c, d);
    let norm = Math.sqrt(dot(c, c, d));
    if (!(norm > 1e-10 * before)) {
      for (let e = 0; e < d && !(norm > 1e-6); e++) {
        c.fill(0); c[e] = 1;
        for (let pass = 0; pass < 2; pass++) for (let i = 0; i < j; i++) axpy(-dot(cols[i], c, d), cols[i], c, d);
        norm = Math.sqrt(dot(c, c, d));
      }
      if (!(norm > 1e-6)) throw new Error(`pca: no unit vector is left orthogonal to ${j} columns in ${d} dimensions (internal error)`);
    }
    for (let k = 0; k < d; k++) c[k] /= norm;
  }
}

function dot(a: Float64Array, b: Float64Array, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) s += a[k] * b[k];
  return s;
}

function axpy(alpha: number, x: Float64Array, y: Float64Array, d: number): void {
  for (let k = 0; k < d; k++) y[k] += alpha * x[k];
}

function multiply(cov: Float64Array, d: number, x: Float64Array, out: Float64Array): void {
  for (let a = 0; a < d; a++) {
    let s = 0;
    const o = a * d;
    for (let b = 0; b < d; b++) s += cov[o + b] * x[b];
    out[a] = s;
  }
}

/** V <- V Y for p columns (Y row-major p x p). */
function rotate(cols: Float64Array[], y: Float64Array, d: number): Float64Array[] {
  const p = cols.length;
  return Array.from({ length: p }, (_, j) => {
    const out = new Float64Array(d);
    for (let i = 0; i < p; i++) axpy(y[i * p + j], cols[i], out, d);
    return out;
  });
}

function fixSign(v: Float64Array): void {
  let at = 0;
  for (let k = 1; k < v.length; k++) if (Math.abs(v[k]) > Math.abs(v[at])) at = k;
  if (v[at] < 0) for (let k = 0; k < v.length; k++) v[k] = -v[k];
}

/** The top `count` eigenpairs of a symmetric d x d matrix by subspace iteration. */
export function topEigen(cov: Float64Array, d: number, count: number, maxIterations: number, tolerance: number):
{ values: number[]; vectors: Float64Array[]; iterations: number; converged: boolean } {
  // A few spare columns: convergence goes as (lambda_{p+1} / lambda_count)^iterations, and the
  // spares keep that ratio small when the leading variances are close together.
  const p = Math.min(d, count + 6);
  const rng = new Rng(0x5ca1ab1e);
  let v: Float64Array[] = Array.from({ length: p }, () => Float64Array.from({ length: d }, () => rng.normal()));
  orthonormalise(v, d);
  let cv: Float64Array[] = v.map(() => new Float64Array(d));
  let values: number[] = [], iterations = 0, converged = false;
  for (;;) {
    v.forEach((c, j) => multiply(cov, d, c, cv[j]));
    const h = new Float64Array(p * p);
    for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) h[i * p + j] = dot(v[i], cv[j], d);
    for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) { const s = (h[i * p + j] + h[j * p + i]) / 2; h[i * p + j] = s; h[j * p + i] = s; }
    const eig = symmetricEigen(h, p);
    v = rotate(v, eig.vectors, d);
    cv = rotate(cv, eig.vectors, d);
    values = Array.from(eig.values.subarray(0, count));
    const scale = Math.max(Math.abs(eig.values[0]), Number.MIN_VALUE);
    let worst = 0;
    for (let j = 0; j < count; j++) {
      let r = 0;
      for (let k = 0; k < d; k++) r += (cv[j][k] - eig.values[j] * v[j][k]) ** 2;
      worst = Math.max(worst, Math.sqrt(r));
    }
    iterations++;
    // A zero matrix (features that do not vary) has every vector as an eigenvector.
    if (worst <= tolerance * scale || eig.values[0] <= 0 || p === d) { converged = true; break; }
    if (iterations >= maxIterations) break;
    v = cv.map((c) => Float64Array.from(c));
    orthonormalise(v, d);
  }
  const vectors = v.slice(0, count);
  vectors.forEach(fixSign);
  return { values: values.map((x) => Math.max(x, 0)), vectors, iterations, converged };
}

/** The `count` (default 2) principal axes of the rows of `x` and the variance each explains. */
export function pca(x: FeatureMatrix, options: PcaOptions = {}): PcaResult {
  const dims: Record<string, number> = {};
  checkHostTensor('x', x, ['N', 'D'], dims);
  if (typeof options !== 'object' || options === null) throw new TypeError(`options: expected an object but got ${describe(options)}`);
  const count = checkInt('options.count', options.count ?? 2, 1, dims.D);
  const maxIterations = checkInt('options.maxIterations', options.maxIterations ?? 3000, 1);
  const tolerance = checkNumber('options.tolerance', options.tolerance ?? 1e-9, (t) => t > 0 && t < 1, 'a number in (0, 1)');
  for (let i = 0; i < x.data.length; i++)
    if (!Number.isFinite(x.data[i])) throw new RangeError(`x.data: expected finite values but element ${i} (row ${Math.floor(i / dims.D)}) is ${x.data[i]}`);
  const { mean, cov, d } = covariance(x);
  let total = 0;
  for (let j = 0; j < d; j++) total += cov[j * d + j];
  const eig = topEigen(cov, d, count, maxIterations, tolerance);
  const components = new Float64Array(count * d);
  eig.vectors.forEach((v, j) => components.set(v, j * d));
  return {
    components, count, mean, variances: eig.values, totalVariance: total,
    explained: eig.values.map((v) => (total > 0 ? v / total : 0)), iterations: eig.iterations, converged: eig.converged,
  };
}

/** Coordinates of rows `rows` of `x` (default all) on the axes: row-major [rows, count]. */
export function project(x: FeatureMatrix, p: PcaResult, rows?: ArrayLike<number>): Float64Array {
  const d = x.shape[1];
  if (d !== p.mean.length) throw new RangeError(`x.shape[1]: expected ${p.mean.length} features (the PCA's) but got ${describe(d)}`);
  const n = rows ? rows.length : x.shape[0];
  const out = new Float64Array(n * p.count);
  for (let r = 0; r < n; r++) {
    const i = rows ? rows[r] : r;
    for (let c = 0; c < p.count; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (x.data[i * d + j] - p.mean[j]) * p.components[c * d + j];
      out[r * p.count + c] = s;
    }
  }
  return out;
}
