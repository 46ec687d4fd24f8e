// The converged linear probe: full-batch multinomial logistic regression with an L2 penalty,
// solved by L-BFGS natively (clsa_probe_lbfgs) to a stated gradient tolerance, the penalty chosen
// on a validation split of the *training* rows. A probe stopped after a fixed number of noisy
// epochs understates every representation and can rank two of them wrongly; a strongly convex
// problem solved to its minimum cannot.
import { native } from './native';

export interface LbfgsProblem {
  x: Float32Array; n: number; d: number; classes: number; labels: Int32Array;
}

export interface LbfgsSettings {
  weightDecay: number; maxIterations: number; tolerance: number; history: number;
  cancel?: Int32Array;
}

export interface LbfgsFit {
  weight: Float32Array; bias: Float32Array;
  /** Objective at the solution: mean cross-entropy + weightDecay / 2 |W|^2. */
  loss: number;
  gradientNorm: number;
  initialGradientNorm: number;
  /** Decrease of the objective in the last iteration. */
  lastLossChange: number;
  iterations: number;
  evaluations: number;
  /** The gradient norm fell below tolerance x max(1, initial norm). */
  converged: boolean;
}

interface NativeLbfgs {
  probeLbfgs(a: unknown): Promise<void>;
  probeLbfgsSync(a: unknown): void;
}

function args(p: LbfgsProblem, s: LbfgsSettings, init?: { weight: Float32Array; bias: Float32Array }) {
  const weight = init ? Float32Array.from(init.weight) : new Float32Array(p.classes * p.d);
  const bias = init ? Float32Array.from(init.bias) : new Float32Array(p.classes);
  return {
    n: p.n, d: p.d, classes: p.classes, maxIterations: s.maxIterations, history: s.history, weightDecay: s.weightDecay,
    tolerance: s.tolerance, x: p.x, labels: p.labels, weight, bias, report: new Float64Array(7), cancel: s.cancel,
  };
}

function finish(a: ReturnType<typeof args>): LbfgsFit {
  const r = a.report;
  return {
    weight: a.weight, bias: a.bias, loss: r[0], gradientNorm: r[1], initialGradientNorm: r[2], lastLossChange: r[3],
    iterations: r[4], evaluations: r[5], converged: r[6] === 1,
  };
}

/** Minimises the probe objective from `init` (default zeros) on a worker thread. */
export async function fitLbfgs(p: LbfgsProblem, s: LbfgsSettings, init?: { weight: Float32Array; bias: Float32Array }): Promise<LbfgsFit> {
  const a = args(p, s, init);
  await (native() as unknown as NativeLbfgs).probeLbfgs(a);
  return finish(a);
}

export function fitLbfgsSync(p: LbfgsProblem, s: LbfgsSettings, init?: { weight: Float32Array; bias: Float32Array }): LbfgsFit {
  const a = args(p, s, init);
  (native() as unknown as NativeLbfgs).probeLbfgsSync(a);
  return finish(a);
}

/** Rows of the train set held out to choose the weight decay: every fifth row (i % 5 == 4), so
 * the split is deterministic and follows any ordering of the rows (class-sorted folders too). */
export function probeValidationRows(n: number): { fit: Int32Array; held: Int32Array } {
  const held: number[] = [], fit: number[] = [];
  for (let i = 0; i < n; i++) (i % 5 === 4 ? held : fit).push(i);
  return { fit: Int32Array.from(fit), held: Int32Array.from(held) };
}

export function takeRows(x: Float32Array, d: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * d);
  for (let i = 0; i < rows.length; i++) out.set(x.subarray(rows[i] * d, rows[i] * d + d), i * d);
  return out;
}

/** The weight decays tried when `weightDecay: 'auto'`. */
export const PROBE_WEIGHT_DECAYS = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2];
