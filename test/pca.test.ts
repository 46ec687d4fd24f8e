// lib/pca.ts against references computed another way: the closed-form eigenvectors of a 2 x 2
// covariance, the known axes of a rotated 3-D Gaussian cloud, and power iteration with deflation
// on a 24-feature covariance summed here in a different order. Fresh seed per run, in the names.
import { covariance, pca, project } from '../lib/pca';
import { Rng } from '../lib/random';

const seed = (Date.now() ^ (process.pid << 8)) >>> 0;

/** Rows of independent normals scaled by `scales`, then multiplied by the orthogonal `q` (row-major
 * d x d: row j is the j-th axis) and shifted by `offset`. */
function cloud(rng: Rng, n: number, scales: number[], q: number[][], offset: number): Float32Array {
  const d = scales.length, out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const z = scales.map((s) => s * rng.normal());
    for (let k = 0; k < d; k++) {
      let v = offset;
      for (let j = 0; j < d; j++) v += z[j] * q[j][k];
      out[i * d + k] = v;
    }
  }
  return out;
}

/** A random orthogonal d x d matrix (Gram-Schmidt of normal rows). */
function randomRotation(rng: Rng, d: number): number[][] {
  const rows: number[][] = [];
  while (rows.length < d) {
    const v = Array.from({ length: d }, () => rng.normal());
    for (const r of rows) { const p = r.reduce((a, x, k) => a + x * v[k], 0); r.forEach((x, k) => { v[k] -= p * x; }); }
    const n = Math.hypot(...v);
    if (n > 1e-3) rows.push(v.map((x) => x / n));
  }
  return rows;
}

/** Sample covariance by the textbook two-pass sum over all rows for each pair (not lib/pca's). */
function referenceCovariance(x: Float32Array, n: number, d: number): number[][] {
  const mean = Array.from({ length: d }, (_, j) => { let s = 0; for (let i = 0; i < n; i++) s += x[i * d + j]; return s / n; });
  return Array.from({ length: d }, (_, a) => Array.from({ length: d }, (_, b) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += (x[i * d + a] - mean[a]) * (x[i * d + b] - mean[b]);
    return s / n;
  }));
}

/** Top `count` eigenpairs by power iteration with deflation. */
function powerIteration(c: number[][], count: number): { values: number[]; vectors: number[][] } {
  const d = c.length, m = c.map((r) => r.slice()), values: number[] = [], vectors: number[][] = [];
  for (let e = 0; e < count; e++) {
    let v = Array.from({ length: d }, (_, k) => 1 / Math.sqrt(d) + 0.01 * k), lambda = 0;
    for (let it = 0; it < 20000; it++) {
      const w = m.map((r) => r.reduce((a, x, k) => a + x * v[k], 0));
      const n = Math.hypot(...w);
      const next = w.map((x) => x / n);
      const change = Math.hypot(...next.map((x, k) => x - v[k]));
      v = next; lambda = n;
      if (change < 1e-14) break;
    }
    values.push(lambda); vectors.push(v);
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) m[a][b] -= lambda * v[a] * v[b];
  }
  return { values, vectors };
}

const axis = (c: Float64Array, j: number, d: number) => Array.from(c.subarray(j * d, (j + 1) * d));
const absCos = (a: number[], b: number[]) => Math.abs(a.reduce((s, x, k) => s + x * b[k], 0)) / (Math.hypot(...a) * Math.hypot(...b));

describe(`pca (seed ${seed})`, () => {
  test('2-D cloud: the closed-form eigenvectors and eigenvalues of the 2 x 2 covariance', () => {
    const rng = new Rng(seed);
    const n = 2000, x = cloud(rng, n, [3, 0.7], randomRotation(rng, 2), 10);
    const [[a, b], [, c]] = referenceCovariance(x, n, 2);
    const mid = (a + c) / 2, r = Math.hypot((a - c) / 2, b);
    const l1 = mid + r, l2 = mid - r;
    const v1 = Math.abs(b) > 1e-12 ? [b, l1 - a] : a >= c ? [1, 0] : [0, 1];
    const p = pca({ data: x, shape: [n, 2] });
    expect(p.converged).toBe(true);
    expect(Math.abs(p.variances[0] - l1) / l1).toBeLessThan(1e-9);
    expect(Math.abs(p.variances[1] - l2) / l1).toBeLessThan(1e-9);
    expect(absCos(axis(p.components, 0, 2), v1)).toBeGreaterThan(1 - 1e-12);
    expect(p.explained[0] + p.explained[1]).toBeCloseTo(1, 12);
    expect(p.explained[0]).toBeCloseTo(l1 / (l1 + l2), 12);
  });

  test('3-D cloud: PC1 and PC2 find the known axes of a rotated anisotropic Gaussian', () => {
    const rng = new Rng(seed ^ 0x1234);
    const q = randomRotation(rng, 3), scales = [5, 2, 0.5], n = 6000;
    const x = cloud(rng, n, scales, q, -3);
    const p = pca({ data: x, shape: [n, 3] });
    // Sampling moves the axes by about s1 s2 / (s1^2 - s2^2) / sqrt(n) = 0.006 radians.
    expect(absCos(axis(p.components, 0, 3), q[0])).toBeGreaterThan(0.999);
    expect(absCos(axis(p.components, 1, 3), q[1])).toBeGreaterThan(0.999);
    const total = scales.reduce((s, v) => s + v * v, 0);
    expect(Math.abs(p.explained[0] - 25 / total)).toBeLessThan(0.03);
    expect(Math.abs(p.explained[1] - 4 / total)).toBeLessThan(0.02);
    // The sign convention: each axis's largest-magnitude entry is positive.
    for (let j = 0; j < 2; j++) {
      const v = axis(p.components, j, 3);
      expect(v.reduce((m, x) => (Math.abs(x) > Math.abs(m) ? x : m), 0)).toBeGreaterThan(0);
    }
  });

  test('24 features: power iteration with deflation on a separately summed covariance; projections', () => {
    const rng = new Rng(seed ^ 0xbeef);
    const d = 24, n = 1500;
    const scales = Array.from({ length: d }, (_, j) => (j === 0 ? 6 : j === 1 ? 4 : 1.5 / (1 + j)));
    const x = cloud(rng, n, scales, randomRotation(rng, d), 0.5);
    const ref = powerIteration(referenceCovariance(x, n, d), 2);
    const p = pca({ data: x, shape: [n, d] });
    expect(p.converged).toBe(true);
    for (let j = 0; j < 2; j++) {
      expect(Math.abs(p.variances[j] - ref.values[j]) / ref.values[0]).toBeLessThan(1e-9);
      expect(absCos(axis(p.components, j, d), ref.vectors[j])).toBeGreaterThan(1 - 1e-9);
      expect(Math.hypot(...axis(p.components, j, d))).toBeCloseTo(1, 12);
    }
    expect(Math.abs(absCos(axis(p.components, 0, d), axis(p.components, 1, d)))).toBeLessThan(1e-10);
    const rows = [0, 7, n - 1];
    const xy = project({ data: x, shape: [n, d] }, p, rows);
    rows.forEach((r, i) => {
      for (let j = 0; j < 2; j++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += (x[r * d + k] - p.mean[k]) * p.components[j * d + k];
        expect(xy[i * 2 + j]).toBeCloseTo(s, 9);
      }
    });
    // The same input gives the same bits: a report drawn twice is the same picture.
    expect(Array.from(pca({ data: x, shape: [n, d] }).components)).toEqual(Array.from(p.components));
  });

  test('degenerate inputs: constant rows, fewer rows than features, one feature; bad input is named', () => {
    const flat = pca({ data: new Float32Array(5 * 4).fill(2), shape: [5, 4] });
    expect(flat.explained).toEqual([0, 0]);
    expect(flat.totalVariance).toBe(0);
    const rng = new Rng(seed ^ 7);
    const few = Float32Array.from({ length: 3 * 16 }, () => rng.normal());
    const p = pca({ data: few, shape: [3, 16] });
    expect(p.converged).toBe(true);
    expect(p.explained[0] + p.explained[1]).toBeCloseTo(1, 9);   // 3 rows span 2 dimensions
    expect(covariance({ data: few, shape: [3, 16] }).cov.length).toBe(256);
    expect(() => pca({ data: new Float32Array(3), shape: [3, 1] })).toThrow(/options\.count: expected an integer in \[1, 1\] but got 2/);
    expect(pca({ data: Float32Array.of(1, 2, 4), shape: [3, 1] }, { count: 1 }).explained).toEqual([1]);
    expect(() => pca({ data: Float32Array.of(1, NaN), shape: [1, 2] })).toThrow(/x\.data: expected finite values but element 1 \(row 0\) is NaN/);
    expect(() => pca({ data: new Float32Array(5), shape: [2, 2] })).toThrow(/x\.data: expected 4 floats/);
    expect(() => pca({ data: new Float32Array(4), shape: [2, 2] }, { tolerance: 0 })).toThrow(/options\.tolerance: expected a number in \(0, 1\) but got 0/);
  });
});
