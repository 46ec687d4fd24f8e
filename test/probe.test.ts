// The converged linear probe (L-BFGS on the full-batch objective) against a float64 Newton
// solution of the same strongly convex problem, on odd shapes (rows across several blocks, feature
// counts that are no multiple of the 16-lane vector, class counts past one group of 8).
import { linearProbe, linearProbeSync } from '../lib/eval';
import { fitLbfgsSync, probeValidationRows } from '../lib/probe';
import { Rng } from '../lib/random';

// Fresh inputs every run; CLSA_TEST_SEED replays a failure (the seed is in every test name).
const SEED = Number(process.env.CLSA_TEST_SEED ?? (Date.now() % 1_000_000));

function problem(n: number, d: number, C: number, rng: Rng, centres = Array.from({ length: C * d }, () => rng.normal())) {
  const x = new Float32Array(n * d), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = rng.nextU32() % C;
    for (let f = 0; f < d; f++) x[i * d + f] = centres[y[i] * d + f] + 1.5 * rng.normal();
  }
  return { x, y };
}

/** Objective, gradient and Hessian in float64; parameters ordered [W (C x d), b (C)]. */
function objective(x: Float32Array, y: Int32Array, n: number, d: number, C: number, lambda: number, th: Float64Array, hessian: boolean) {
  const P = C * d + C;
  const g = new Float64Array(P);
  const H = hessian ? Array.from({ length: P }, () => new Float64Array(P)) : [];
  let f = 0;
  const idx = (c: number, j: number) => (j < d ? c * d + j : C * d + c);  // j = d: the bias
  for (let i = 0; i < n; i++) {
    const z = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      let s = th[C * d + c];
      for (let j = 0; j < d; j++) s += th[c * d + j] * x[i * d + j];
      z[c] = s;
    }
    const m = Math.max(...z);
    let se = 0;
    for (let c = 0; c < C; c++) se += Math.exp(z[c] - m);
    const lse = m + Math.log(se);
    f += lse - z[y[i]];
    const p = Array.from(z, (v) => Math.exp(v - lse));
    const xt = (j: number) => (j < d ? x[i * d + j] : 1);
    for (let c = 0; c < C; c++) for (let j = 0; j <= d; j++) g[idx(c, j)] += (p[c] - (c === y[i] ? 1 : 0)) * xt(j) / n;
    if (hessian) {
      for (let a = 0; a < C; a++) for (let b = 0; b < C; b++) {
        const w = ((a === b ? p[a] : 0) - p[a] * p[b]) / n;
        if (w === 0) continue;
        for (let j = 0; j <= d; j++) for (let k = 0; k <= d; k++) H[idx(a, j)][idx(b, k)] += w * xt(j) * xt(k);
      }
    }
  }
  f /= n;
  for (let q = 0; q < C * d; q++) {
    f += 0.5 * lambda * th[q] * th[q];
    g[q] += lambda * th[q];
    if (hessian) H[q][q] += lambda;
  }
  return { f, g, H };
}

function solve(A: Float64Array[], b: Float64Array): Float64Array {
  const n = b.length, M = A.map((r, i) => [...r, b[i]]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[piv][c])) piv = r;
    [M[c], M[piv]] = [M[piv], M[c]];
    for (let r = c + 1; r < n; r++) {
      const k = M[r][c] / M[c][c];
      for (let j = c; j <= n; j++) M[r][j] -= k * M[c][j];
    }
  }
  const out = new Float64Array(n);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r][n];
    for (let j = r + 1; j < n; j++) s -= M[r][j] * out[j];
    out[r] = s / M[r][r];
  }
  return out;
}

/** The exact minimiser by damped Newton (the bias block has one flat direction: shifting every
 * bias alike; a 1e-12 ridge pins it where the gradient, which never moves it, leaves it). */
function newton(x: Float32Array, y: Int32Array, n: number, d: number, C: number, lambda: number) {
  const P = C * d + C;
  let th = new Float64Array(P);
  let converged = false, gradientNorm = NaN;
  for (let it = 0; it < 30; it++) {
    const { g, H } = objective(x, y, n, d, C, lambda, th, true);
    for (let q = 0; q < P; q++) H[q][q] += 1e-12;
    const step = solve(H, g);
    th = th.map((v, q) => v - step[q]);
    gradientNorm = Math.sqrt(g.reduce((s, v) => s + v * v, 0));
    if (gradientNorm < 1e-11) { converged = true; break; }   // quadratic convergence: a few steps from here
  }
  return { theta: th, converged, gradientNorm, ...objective(x, y, n, d, C, lambda, th, false) };
}

describe(`L-BFGS probe vs float64 Newton (seed ${SEED})`, () => {
  const shapes: [number, number, number, number][] = [
    // n, d, C, lambda: rows over two 512-row blocks, d off the 16-lane grid, C past one group of 8
    [530, 19, 11, 1e-2], [97, 5, 3, 1e-3], [600, 33, 2, 3e-2],
  ];
  test.each(shapes)('n %i d %i classes %i weight decay %s', (n, d, C, lambda) => {
    const rng = new Rng(SEED + n);
    const { x, y } = problem(n, d, C, rng);
    const ref = newton(x, y, n, d, C, lambda);
    // A reference that did not reach its minimum would hold L-BFGS to the wrong point.
    if (!ref.converged) throw new Error(`the Newton reference did not converge in 30 steps (gradient norm ${ref.gradientNorm}); replay with CLSA_TEST_SEED=${SEED}`);
    expect(ref.converged).toBe(true);
    const fit = fitLbfgsSync({ x, n, d, classes: C, labels: y }, { weightDecay: lambda, maxIterations: 2000, tolerance: 1e-6, history: 10 });
    expect(fit.converged).toBe(true);
    expect(fit.gradientNorm).toBeLessThanOrEqual(1e-6 * Math.max(1, fit.initialGradientNorm));
    // The same minimum: objective to float precision, parameters to what float products allow.
    expect(Math.abs(fit.loss - ref.f)).toBeLessThan(1e-6 * Math.max(1, ref.f));
    const theta = Float64Array.from([...fit.weight, ...fit.bias]);
    const mine = objective(x, y, n, d, C, lambda, theta, false);
    expect(Math.abs(mine.f - fit.loss)).toBeLessThan(1e-6 * Math.max(1, ref.f));   // the reported loss is the loss there
    let diff = 0, norm = 0;
    for (let q = 0; q < C * d; q++) { diff += (theta[q] - ref.theta[q]) ** 2; norm += ref.theta[q] ** 2; }
    expect(Math.sqrt(diff / norm)).toBeLessThan(1e-3);
    // The start's gradient norm is the reference's at zero.
    const g0 = objective(x, y, n, d, C, lambda, new Float64Array(C * d + C), false).g;
    expect(Math.abs(fit.initialGradientNorm - Math.hypot(...g0))).toBeLessThan(1e-5 * Math.hypot(...g0));
  });

  test('stops at the iteration cap and says it did not converge', () => {
    const rng = new Rng(SEED + 3);
    const { x, y } = problem(300, 40, 5, rng);
    const fit = fitLbfgsSync({ x, n: 300, d: 40, classes: 5, labels: y }, { weightDecay: 1e-5, maxIterations: 3, tolerance: 1e-10, history: 10 });
    expect(fit.iterations).toBe(3);
    expect(fit.converged).toBe(false);
    expect(fit.gradientNorm).toBeGreaterThan(1e-10 * fit.initialGradientNorm);
  });
});

describe('linearProbe with the default solver', () => {
  const rng = new Rng(SEED + 11);
  const centres = Array.from({ length: 4 * 12 }, () => rng.normal());
  const tr = problem(400, 12, 4, rng, centres), te = problem(200, 12, 4, rng, centres);
  const train = { features: { data: tr.x, shape: [400, 12] }, labels: tr.y };
  const held = { features: { data: te.x, shape: [200, 12] }, labels: te.y };

  test(`chooses the weight decay on held-out train rows, converges, async = sync (seed ${SEED})`, async () => {
    const a = await linearProbe(train, held);
    const b = linearProbeSync(train, held);
    expect(a.solver).toBe('lbfgs');
    expect(a.convergence!.converged).toBe(true);
    expect(a.weightDecaySearch!.length).toBe(5);
    // Every fit of the penalty search converged too: the choice is made between minima.
    expect(a.weightDecaySearch!.map((s) => s.converged)).toEqual([true, true, true, true, true]);
    expect(a.convergence!.searchConverged).toBe(true);
    const best = Math.max(...a.weightDecaySearch!.map((s) => s.validationAccuracy));
    // The chosen penalty is the largest among the best on the held-out rows.
    const chosen = a.weightDecaySearch!.filter((s) => s.validationAccuracy === best).map((s) => s.weightDecay);
    expect(a.weightDecay).toBe(Math.max(...chosen));
    expect(Array.from(a.weight)).toEqual(Array.from(b.weight));
    expect(a.testAccuracy).toBe(b.testAccuracy);
    expect(a.testAccuracy).toBeGreaterThan(0.5);
  });

  test('the held-out rows are every fifth row: disjoint, covering, deterministic', () => {
    const r = probeValidationRows(23);
    expect(Array.from(r.held)).toEqual([4, 9, 14, 19]);
    expect(r.fit.length + r.held.length).toBe(23);
    expect(new Set([...r.fit, ...r.held]).size).toBe(23);
  });

  test('an AbortSignal stops the solver', async () => {
    const big = problem(5000, 64, 10, new Rng(SEED + 5));
    const ac = new AbortController();
    const p = linearProbe({ features: { data: big.x, shape: [5000, 64] }, labels: big.y }, { features: { data: big.x.subarray(0, 64 * 10), shape: [10, 64] }, labels: big.y.subarray(0, 10) },
      { weightDecay: 1e-6, tolerance: 1e-12, signal: ac.signal });
    // The native solve is queued by now: the flag it polls every iteration stops it.
    setImmediate(() => ac.abort());
    await expect(p).rejects.toThrow(/aborted/);
  });
});
