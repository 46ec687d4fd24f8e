// Evaluation on frozen features: the weighted cosine kNN monitor of the MoCo CIFAR demo and a
// linear probe (multinomial logistic regression), both on native kernels, plus the raw-pixel
// baselines used by reports and ablations.
import { imagesToFeatures, Dataset } from './data';
import { checkDataset } from './dataset-check';
import { native, NativeBinding } from './native';
import { Rng } from './random';
import { fitLbfgs, fitLbfgsSync, LbfgsFit, LbfgsProblem, LbfgsSettings, probeValidationRows, PROBE_WEIGHT_DECAYS, takeRows } from './probe';
import { checkBool, checkEnum, checkFloat32, checkHostTensor, checkInt, checkNumber, checkOptions, checkSignal, checkValues, describe, MAX_ELEMENTS } from './validate';

export interface FeatureMatrix {
  /** Row-major float32 [n, d]. */
  data: Float32Array;
  shape: [number, number] | number[];
}

export interface LabelledFeatures {
  features: FeatureMatrix;
  labels: Int32Array;
}

interface NativeEval {
  knnTopkSync(a: NativeKnnArgs): void;
  knnTopk(a: NativeKnnArgs): Promise<void>;
  probeTrainSync(a: NativeProbeArgs): void;
  probeTrain(a: NativeProbeArgs): Promise<void>;
  probePredictSync(a: NativePredictArgs): void;
  probePredict(a: NativePredictArgs): Promise<void>;
}
interface NativePredictArgs { n: number; d: number; classes: number; x: Float32Array; weight: Float32Array; bias: Float32Array; out: Int32Array }
interface NativeKnnArgs {
  nTrain: number; nTest: number; d: number; k: number; device: number; deviceIndex: number;
  train: Float32Array; test: Float32Array; outIndex: Int32Array; outSim: Float32Array; cancel?: Int32Array;
}
interface NativeProbeArgs {
  n: number; d: number; classes: number; epochs: number; batch: number; lr: number; weightDecay: number;
  beta1: number; beta2: number; eps: number;
  x: Float32Array; labels: Int32Array; order: Int32Array; weight: Float32Array; bias: Float32Array; epochLoss: Float32Array;
  cancel?: Int32Array;
}

/**
 * Runs an async native call that polls `args.cancel`: an abort of `signal` sets the flag, and the
 * call's CLSA_ERR_CANCELLED rejection becomes the signal's reason (an AbortError by default).
 */
async function abortable<A extends { cancel?: Int32Array }>(signal: AbortSignal | undefined, args: A,
                                                            run: (a: A) => Promise<void>): Promise<void> {
  if (!signal) return run(args);
  if (typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function')
    throw new TypeError(`options.signal: expected an AbortSignal but got ${describe(signal)}`);
  signal.throwIfAborted();
  const flag = new Int32Array(1);
  args.cancel = flag;
  const onAbort = () => { Atomics.store(flag, 0, 1); };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await run(args);
  } catch (err) {
    if ((err as { code?: string }).code === 'CLSA_ERR_CANCELLED' && signal.aborted) signal.throwIfAborted();
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function bindings(): NativeBinding & NativeEval {
  return native() as NativeBinding & NativeEval;
}

function checkLabels(name: string, labels: unknown, n: number): Int32Array {
  if (Object.prototype.toString.call(labels) !== '[object Int32Array]')
    throw new TypeError(`${name}: expected an Int32Array of ${n} class indices but got ${describe(labels)}`);
  const l = labels as Int32Array;
  if (l.length !== n) throw new RangeError(`${name}: expected ${n} labels (one per feature row) but got ${l.length}`);
  for (let i = 0; i < n; i++)
    if (l[i] < 0) throw new RangeError(`${name}[${i}]: expected a class index >= 0 but got ${l[i]}`);
  return l;
}

function maxLabel(...ls: Int32Array[]): number {
  let m = -1;
  for (const l of ls) for (let i = 0; i < l.length; i++) if (l[i] > m) m = l[i];
  return m;
}

// ---- kNN ------------------------------------------------------------------------------------

export interface KnnTopkOptions {
  k: number;
  /** 'cpu' (default) or 'cuda' (device `deviceIndex`). */
  device?: 'cpu' | 'cuda';
  deviceIndex?: number;
  /** Async form only: aborting stops the kernel (CPU: between train tiles) and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface KnnTopkResult {
  /** [nTest, k] train row indices, most similar first (ties: smaller train index first). */
  index: Int32Array;
  /** [nTest, k] cosine similarities, descending. */
  sim: Float32Array;
  k: number;
}

function prepareTopk(train: FeatureMatrix, test: FeatureMatrix, options: KnnTopkOptions, names = ['train', 'test']): NativeKnnArgs {
  const dims: Record<string, number> = {};
  checkHostTensor(names[0], train, ['NTrain', 'D'], dims);
  checkHostTensor(names[1], test, ['NTest', 'D'], dims);
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`options: expected { k, device?, deviceIndex? } but got ${describe(options)}`);
  const k = checkInt('options.k', options.k, 1, dims.NTrain);
  const device = options.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new RangeError(`options.device: expected 'cpu' or 'cuda' but got ${describe(device)}`);
  const deviceIndex = checkInt('options.deviceIndex', options.deviceIndex ?? 0, 0, 15);
  checkValues(names[0], train.data, dims.NTrain, dims.D, false);
  checkValues(names[1], test.data, dims.NTest, dims.D, false);
  return {
    nTrain: dims.NTrain, nTest: dims.NTest, d: dims.D, k, device: device === 'cuda' ? 1 : 0, deviceIndex,
    train: train.data, test: test.data, outIndex: new Int32Array(dims.NTest * k), outSim: new Float32Array(dims.NTest * k),
  };
}

/** The k most cosine-similar train rows of every test row (fused native kernel, never the full matrix). Requires k <= nTrain. */
export async function knnTopk(train: FeatureMatrix, test: FeatureMatrix, options: KnnTopkOptions): Promise<KnnTopkResult> {
  return topk(train, test, options);
}

async function topk(train: FeatureMatrix, test: FeatureMatrix, options: KnnTopkOptions, names?: string[]): Promise<KnnTopkResult> {
  const a = prepareTopk(train, test, options, names);
  await abortable(checkSignal('options.signal', options.signal), a, (x) => bindings().knnTopk(x));
  return { index: a.outIndex, sim: a.outSim, k: a.k };
}

export function knnTopkSync(train: FeatureMatrix, test: FeatureMatrix, options: KnnTopkOptions): KnnTopkResult {
  const a = prepareTopk(train, test, options);
  bindings().knnTopkSync(a);
  return { index: a.outIndex, sim: a.outSim, k: a.k };
}

/**
 * Weighted vote of the MoCo demo: class score = sum over the k neighbours of exp(sim / t);
 * prediction = the class with the largest score (ties: the smallest class index).
 */
export function knnVote(top: KnnTopkResult, trainLabels: Int32Array, classes: number, t: number): Int32Array {
  if (typeof top !== 'object' || top === null) throw new TypeError(`top: expected { index, sim, k } from knnTopk but got ${describe(top)}`);
  const k = checkInt('top.k', top.k, 1, MAX_ELEMENTS);
  if (Object.prototype.toString.call(top.index) !== '[object Int32Array]' || top.index.length % k !== 0)
    throw new TypeError(`top.index: expected an Int32Array of n x k = n x ${k} train rows but got ${describe(top.index)}`);
  checkFloat32('top.sim', top.sim, top.index.length);
  checkInt('classes', classes, 1, 1 << 20);
  checkNumber('t', t, (x) => x > 0, 'a number > 0');
  if (Object.prototype.toString.call(trainLabels) !== '[object Int32Array]')
    throw new TypeError(`trainLabels: expected an Int32Array of class indices but got ${describe(trainLabels)}`);
  const badLabel = trainLabels.findIndex((l) => l < 0 || l >= classes);
  if (badLabel >= 0) throw new RangeError(`trainLabels[${badLabel}]: expected a class index in [0, ${classes - 1}] (classes = ${classes}) but got ${trainLabels[badLabel]}`);
  const badRow = top.index.findIndex((r) => r < 0 || r >= trainLabels.length);
  if (badRow >= 0) throw new RangeError(`top.index[${badRow}]: expected a train row in [0, ${trainLabels.length - 1}] but got ${top.index[badRow]}`);
  const badSim = top.sim.findIndex((x) => !Number.isFinite(x));
  if (badSim >= 0) throw new RangeError(`top.sim[${badSim}]: expected a finite similarity but got ${top.sim[badSim]}`);
  const n = top.index.length / k;
  const out = new Int32Array(n);
  const score = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    score.fill(0);
    for (let j = 0; j < k; j++) score[trainLabels[top.index[i * k + j]]] += Math.exp(top.sim[i * k + j] / t);
    let best = 0;
    for (let c = 1; c < classes; c++) if (score[c] > score[best]) best = c;
    out[i] = best;
  }
  return out;
}

export interface KnnOptions {
  /** Neighbours (default 200, the MoCo demo). Clamped to the number of train rows. */
  k?: number;
  /** Temperature of the weights exp(sim / t) (default 0.1). */
  t?: number;
  /** Number of classes (default: largest label + 1 over train and test). */
  classes?: number;
  device?: 'cpu' | 'cuda';
  deviceIndex?: number;
  /** Async form only: cancels the kNN sweep. */
  signal?: AbortSignal;
}

export interface AccuracyResult {
  /** Fraction of test rows classified correctly. */
  accuracy: number;
  correct: number;
  total: number;
  /** Accuracy per class (null where the test set has no row of that class). */
  perClass: (number | null)[];
  predictions: Int32Array;
}

export interface KnnResult extends AccuracyResult {
  /** The k actually used (options.k clamped to the train size). */
  k: number;
}

function score(pred: Int32Array, labels: Int32Array, classes: number): AccuracyResult {
  const hit = new Float64Array(classes), tot = new Float64Array(classes);
  let correct = 0;
  for (let i = 0; i < pred.length; i++) {
    tot[labels[i]]++;
    if (pred[i] === labels[i]) { correct++; hit[labels[i]]++; }
  }
  return {
    accuracy: pred.length ? correct / pred.length : 0, correct, total: pred.length,
    perClass: Array.from(tot, (n, c) => (n > 0 ? hit[c] / n : null)), predictions: pred,
  };
}

function prepareKnn(train: LabelledFeatures, test: LabelledFeatures, userOptions: KnnOptions) {
  if (typeof train !== 'object' || train === null) throw new TypeError(`train: expected { features, labels } but got ${describe(train)}`);
  if (typeof test !== 'object' || test === null) throw new TypeError(`test: expected { features, labels } but got ${describe(test)}`);
  const options = checkOptions('options', userOptions);
  const dims: Record<string, number> = {};
  checkHostTensor('train.features', train.features, ['NTrain', 'D'], dims);
  checkHostTensor('test.features', test.features, ['NTest', 'D'], dims);
  const nTrain = dims.NTrain, nTest = dims.NTest;
  const trl = checkLabels('train.labels', train.labels, nTrain);
  const tel = checkLabels('test.labels', test.labels, nTest);
  const classes = options.classes === undefined ? maxLabel(trl, tel) + 1 : checkInt('options.classes', options.classes, 1, 1 << 20);
  if (maxLabel(trl, tel) >= classes) throw new RangeError(`options.classes: expected more than the largest label ${maxLabel(trl, tel)} but got ${classes}`);
  const kWanted = checkInt('options.k', options.k ?? 200, 1);
  const t = checkNumber('options.t', options.t ?? 0.1, (x) => x > 0, 'a number > 0');
  const k = Math.min(kWanted, nTrain);
  return { trl, tel, classes, k, t, options };
}

/** Weighted cosine kNN accuracy (k = 200, t = 0.1 by default); features are L2-normalised inside. */
export async function knnAccuracy(train: LabelledFeatures, test: LabelledFeatures, options: KnnOptions = {}): Promise<KnnResult> {
  const p = prepareKnn(train, test, options);
  const top = await topk(train.features, test.features, { k: p.k, device: p.options.device, deviceIndex: p.options.deviceIndex, signal: p.options.signal },
    ['train.features', 'test.features']);
  return { ...score(knnVote(top, p.trl, p.classes, p.t), p.tel, p.classes), k: p.k };
}

export function knnAccuracySync(train: LabelledFeatures, test: LabelledFeatures, options: KnnOptions = {}): KnnResult {
  const p = prepareKnn(train, test, options);
  const a = prepareTopk(train.features, test.features, { k: p.k, device: p.options.device, deviceIndex: p.options.deviceIndex },
    ['train.features', 'test.features']);
  bindings().knnTopkSync(a);
  const top = { index: a.outIndex, sim: a.outSim, k: a.k };
  return { ...score(knnVote(top, p.trl, p.classes, p.t), p.tel, p.classes), k: p.k };
}

// ---- linear probe ---------------------------------------------------------------------------

export type ProbeSolver = 'lbfgs' | 'adamw';

export interface LinearProbeOptions {
  /**
   * 'lbfgs' (default): the full-batch objective (mean cross-entropy + weightDecay / 2 |W|^2)
   * minimised by L-BFGS until the gradient norm is below `tolerance` (relative): a converged probe.
   * 'adamw': the fixed-budget mini-batch AdamW probe (epochs, batchSize, lr).
   */
  solver?: ProbeSolver;
  /** lbfgs: the L2 penalty, or 'auto' (default): the best of PROBE_WEIGHT_DECAYS on a validation
   * split of the train rows (every fifth row), then refitted on all of them.
   * adamw: decoupled weight decay on W (default 5e-4). */
  weightDecay?: number | 'auto';
  /** lbfgs: iteration cap (default 1000). */
  maxIterations?: number;
  /** lbfgs: stop when |grad| <= tolerance x max(1, |grad at start|) (default 1e-5). */
  tolerance?: number;
  /** adamw: passes over the train set (default 100). */
  epochs?: number;
  /** adamw: rows per AdamW step (default 256; >= n means full batch). */
  batchSize?: number;
  /** adamw: AdamW step size (default 0.01). */
  lr?: number;
  /** adamw: seeds the initial weights and the per-epoch order (default 0). */
  seed?: number;
  /** Standardise features with the train mean/std (default true). */
  standardize?: boolean;
  classes?: number;
  /** Async form only: stops training before the next step and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface ProbeConvergence {
  converged: boolean;
  /** Objective (mean cross-entropy + penalty) at the solution. */
  loss: number;
  gradientNorm: number;
  initialGradientNorm: number;
  lastLossChange: number;
  iterations: number;
  /** weightDecay 'auto': whether every fit of the penalty search converged too (a penalty chosen
   * from fits stopped at the iteration cap is chosen on unfinished fits). */
  searchConverged?: boolean;
}

export interface LinearProbeResult {
  testAccuracy: number;
  trainAccuracy: number;
  test: AccuracyResult;
  solver: ProbeSolver;
  /** The penalty used (the chosen one under 'auto'). */
  weightDecay: number;
  /** lbfgs: how the final fit ended. */
  convergence?: ProbeConvergence;
  /** lbfgs with weightDecay 'auto': validation accuracy of every candidate. */
  weightDecaySearch?: { weightDecay: number; validationAccuracy: number; converged: boolean; gradientNorm: number; iterations: number }[];
  /** adamw: mean training loss of each epoch (lbfgs: the final objective, once). */
  lossCurve: number[];
  weight: Float32Array;
  bias: Float32Array;
  mean: Float32Array;
  std: Float32Array;
}

/** Train-set mean and std per feature (float64 sums); std 0 becomes 1. */
export function featureStats(x: Float32Array, n: number, d: number): { mean: Float32Array; std: Float32Array } {
  const s = new Float64Array(d), s2 = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let f = 0; f < d; f++) { const v = x[i * d + f]; s[f] += v; s2[f] += v * v; }
  const mean = new Float32Array(d), std = new Float32Array(d);
  for (let f = 0; f < d; f++) {
    const m = s[f] / n, v = Math.max(0, s2[f] / n - m * m);
    mean[f] = m;
    std[f] = v > 1e-12 ? Math.sqrt(v) : 1;
  }
  return { mean, std };
}

export function standardize(x: Float32Array, n: number, d: number, mean: Float32Array, std: Float32Array): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let f = 0; f < d; f++) out[i * d + f] = (x[i * d + f] - mean[f]) / std[f];
  return out;
}

/** Initial weights of the probe: N(0, 0.01^2) from the seed, bias 0 (shared with the tests' reference). */
export function probeInit(d: number, classes: number, seed: number): { weight: Float32Array; bias: Float32Array } {
  const rng = new Rng(seed);
  const weight = new Float32Array(classes * d);
  for (let i = 0; i < weight.length; i++) weight[i] = 0.01 * rng.normal();
  return { weight, bias: new Float32Array(classes) };
}

/** One seeded Fisher-Yates permutation of [0, n) per epoch, concatenated. */
export function probeOrder(n: number, epochs: number, seed: number): Int32Array {
  const rng = new Rng(seed ^ 0x5bd1e995);
  const out = new Int32Array(n * epochs);
  for (let e = 0; e < epochs; e++) {
    const p = out.subarray(e * n, (e + 1) * n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = rng.nextU32() % (i + 1);
      const tmp = p[i]; p[i] = p[j]; p[j] = tmp;
    }
  }
  return out;
}

export const PROBE_ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

const ADAMW_ONLY = ['epochs', 'batchSize', 'lr', 'seed'] as const;

function prepareProbe(train: LabelledFeatures, test: LabelledFeatures, userOptions: LinearProbeOptions) {
  if (typeof train !== 'object' || train === null) throw new TypeError(`train: expected { features, labels } but got ${describe(train)}`);
  if (typeof test !== 'object' || test === null) throw new TypeError(`test: expected { features, labels } but got ${describe(test)}`);
  const options = checkOptions('options', userOptions);
  const dims: Record<string, number> = {};
  checkHostTensor('train.features', train?.features, ['NTrain', 'D'], dims);
  checkHostTensor('test.features', test?.features, ['NTest', 'D'], dims);
  const trl = checkLabels('train.labels', train.labels, dims.NTrain);
  const tel = checkLabels('test.labels', test.labels, dims.NTest);
  checkValues('train.features', train.features.data, dims.NTrain, dims.D, false);
  checkValues('test.features', test.features.data, dims.NTest, dims.D, false);
  const classes = Math.max(2, options.classes === undefined ? maxLabel(trl, tel) + 1 : checkInt('options.classes', options.classes, 2, 1 << 20));
  if (maxLabel(trl, tel) >= classes) throw new RangeError(`options.classes: expected more than the largest label ${maxLabel(trl, tel)} but got ${classes}`);
  const solver = checkEnum('options.solver', options.solver ?? 'lbfgs', ['lbfgs', 'adamw'] as const);
  if (solver === 'lbfgs') {
    for (const k of ADAMW_ONLY)
      if (options[k] !== undefined)
        throw new RangeError(`options.${k}: applies to solver 'adamw' only, but the solver is 'lbfgs' (the default, which runs to convergence); pass solver: 'adamw' or drop options.${k}`);
  } else if (options.maxIterations !== undefined || options.tolerance !== undefined) {
    throw new RangeError(`options.${options.maxIterations !== undefined ? 'maxIterations' : 'tolerance'}: applies to solver 'lbfgs' only but the solver is 'adamw'`);
  }
  const wdOption = options.weightDecay ?? (solver === 'lbfgs' ? 'auto' : 5e-4);
  if (wdOption === 'auto' && solver === 'adamw') throw new RangeError("options.weightDecay: 'auto' needs solver 'lbfgs' but the solver is 'adamw'; give a number");
  const weightDecay = wdOption === 'auto' ? 'auto' as const
    : checkNumber('options.weightDecay', wdOption, (x) => (solver === 'lbfgs' ? x > 0 : x >= 0), solver === 'lbfgs' ? "a number > 0 or 'auto'" : 'a number >= 0');
  const maxIterations = checkInt('options.maxIterations', options.maxIterations ?? 1000, 1, 1 << 24);
  const tolerance = checkNumber('options.tolerance', options.tolerance ?? 1e-5, (x) => x > 0, 'a number > 0');
  const epochs = checkInt('options.epochs', options.epochs ?? 100, 1, 100000);
  const batch = Math.min(checkInt('options.batchSize', options.batchSize ?? 256, 1), dims.NTrain);
  const lr = checkNumber('options.lr', options.lr ?? 0.01, (x) => x > 0, 'a number > 0');
  const seed = checkInt('options.seed', options.seed ?? 0, 0, 2 ** 32 - 1);
  const std = checkBool('options.standardize', options.standardize ?? true);
  const n = dims.NTrain, nt = dims.NTest, d = dims.D;
  let xtr = train.features.data, xte = test.features.data;
  let stats: { mean: Float32Array; std: Float32Array } = { mean: new Float32Array(d), std: new Float32Array(d).fill(1) };
  if (std) {
    stats = featureStats(xtr, n, d);
    xtr = standardize(xtr, n, d, stats.mean, stats.std);
    xte = standardize(xte, nt, d, stats.mean, stats.std);
  }
  const { weight, bias } = solver === 'adamw' ? probeInit(d, classes, seed) : { weight: new Float32Array(classes * d), bias: new Float32Array(classes) };
  const args: NativeProbeArgs = {
    n, d, classes, epochs, batch, lr, weightDecay: typeof weightDecay === 'number' ? weightDecay : 0, ...PROBE_ADAM, x: xtr, labels: trl,
    order: solver === 'adamw' ? probeOrder(n, epochs, seed) : new Int32Array(0), weight, bias, epochLoss: new Float32Array(solver === 'adamw' ? epochs : 1),
  };
  const predictArgs = (x: Float32Array, rows: number): NativePredictArgs => ({ n: rows, d, classes, x, weight, bias, out: new Int32Array(rows) });
  const trainPred = predictArgs(xtr, n), testPred = predictArgs(xte, nt);
  const extra: Pick<LinearProbeResult, 'convergence' | 'weightDecaySearch'> & { weightDecay: number } = { weightDecay: args.weightDecay };
  const finish = (): LinearProbeResult => {
    const trainRes = score(trainPred.out, trl, classes);
    const testRes = score(testPred.out, tel, classes);
    return {
      testAccuracy: testRes.accuracy, trainAccuracy: trainRes.accuracy, test: testRes, solver, ...extra,
      lossCurve: Array.from(args.epochLoss), weight, bias, mean: stats.mean, std: stats.std,
    };
  };
  // The L-BFGS path: choose the penalty on held-out train rows (when 'auto'), then fit all rows.
  // A generator of fit requests, so that the async and sync probes share one driver.
  type FitRequest = [LbfgsProblem, LbfgsSettings, { weight: Float32Array; bias: Float32Array } | undefined];
  function* lbfgs(cancel?: Int32Array): Generator<FitRequest, void, LbfgsFit> {
    const problem = { x: xtr, n, d, classes, labels: trl };
    const settings = { maxIterations, tolerance, history: 10, cancel };
    let wd = typeof weightDecay === 'number' ? weightDecay : 0;
    if (weightDecay === 'auto') {
      const rows = probeValidationRows(n);
      if (rows.held.length === 0 || rows.fit.length === 0)
        throw new RangeError(`train.features: weightDecay 'auto' needs at least 5 train rows to hold some out but got ${n}; give options.weightDecay`);
      const sub = { x: takeRows(xtr, d, rows.fit), n: rows.fit.length, d, classes, labels: Int32Array.from(rows.fit, (i) => trl[i]) };
      const heldX = takeRows(xtr, d, rows.held), heldY = Int32Array.from(rows.held, (i) => trl[i]);
      extra.weightDecaySearch = [];
      let best = -1;
      let init: { weight: Float32Array; bias: Float32Array } | undefined;
      // Largest penalty first, each fit warm-starting the next (a smaller penalty moves the optimum outward).
      for (const cand of [...PROBE_WEIGHT_DECAYS].reverse()) {
        const f = yield [sub, { ...settings, weightDecay: cand }, init];
        init = { weight: f.weight, bias: f.bias };
        const pred = { ...predictArgs(heldX, rows.held.length), weight: f.weight, bias: f.bias };
        bindings().probePredictSync(pred);
        const acc = score(pred.out, heldY, classes).accuracy;
        extra.weightDecaySearch.push({ weightDecay: cand, validationAccuracy: acc, converged: f.converged, gradientNorm: f.gradientNorm, iterations: f.iterations });
        if (acc > best) { best = acc; wd = cand; }  // ties keep the larger penalty
      }
    }
    const f = yield [problem, { ...settings, weightDecay: wd }, undefined];
    weight.set(f.weight); bias.set(f.bias);
    extra.weightDecay = wd;
    extra.convergence = { converged: f.converged, loss: f.loss, gradientNorm: f.gradientNorm, initialGradientNorm: f.initialGradientNorm,
      lastLossChange: f.lastLossChange, iterations: f.iterations,
      ...(extra.weightDecaySearch ? { searchConverged: extra.weightDecaySearch.every((c) => c.converged) } : {}) };
    args.epochLoss[0] = f.loss;
  }
  return { args, trainPred, testPred, finish, solver, lbfgs, signal: checkSignal('options.signal', options.signal) };
}

/** Linear probe on frozen features: by default L-BFGS to convergence with the penalty chosen on
 * held-out train rows (see LinearProbeOptions.solver); deterministic. */
export async function linearProbe(train: LabelledFeatures, test: LabelledFeatures, options: LinearProbeOptions = {}): Promise<LinearProbeResult> {
  const p = prepareProbe(train, test, options);
  if (p.solver === 'lbfgs') {
    await abortable(p.signal, p.args, async (a) => {
      const plan = p.lbfgs(a.cancel);
      for (let r = plan.next(); !r.done; ) r = plan.next(await fitLbfgs(...r.value));
    });
  }
  else await abortable(p.signal, p.args, (x) => bindings().probeTrain(x));
  await Promise.all([bindings().probePredict(p.trainPred), bindings().probePredict(p.testPred)]);
  return p.finish();
}

export function linearProbeSync(train: LabelledFeatures, test: LabelledFeatures, options: LinearProbeOptions = {}): LinearProbeResult {
  const p = prepareProbe(train, test, options);
  if (p.solver === 'lbfgs') {
    const plan = p.lbfgs();
    for (let r = plan.next(); !r.done; ) r = plan.next(fitLbfgsSync(...r.value));
  } else {
    bindings().probeTrainSync(p.args);
  }
  bindings().probePredictSync(p.trainPred);
  bindings().probePredictSync(p.testPred);
  return p.finish();
}

// ---- raw-pixel baselines --------------------------------------------------------------------

export interface RawBaselineResult {
  knn: KnnResult;
  linear?: LinearProbeResult;
}

/** kNN (and, unless `linear: false`, a linear probe) on raw pixels scaled to [0, 1]. */
export async function rawPixelBaseline(train: Dataset, test: Dataset, options: { knn?: KnnOptions; linear?: LinearProbeOptions | false } = {}): Promise<RawBaselineResult> {
  checkDataset('train', train, { labels: true });
  checkDataset('test', test, { labels: true });
  options = checkOptions('options', options);
  const tr: LabelledFeatures = { features: imagesToFeatures(train.images), labels: train.labels as Int32Array };
  const te: LabelledFeatures = { features: imagesToFeatures(test.images), labels: test.labels as Int32Array };
  const knn = await knnAccuracy(tr, te, options.knn ?? {});
  const linear = options.linear === false ? undefined : await linearProbe(tr, te, options.linear ?? {});
  return { knn, linear };
}
