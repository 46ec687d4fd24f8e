import {
  featureStats, knnAccuracy, knnAccuracySync, knnTopkSync, linearProbe, linearProbeSync, probeInit, probeOrder,
  rawPixelBaseline, standardize,
} from '../lib/eval';
import { native } from '../lib/native';
import { Rng } from '../lib/random';
import { knnPredictReference, knnTopkReference, probeReference } from './helpers/eval-reference';

function randn(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** Clustered data: class c has centre c; points are centre + noise. */
function clusters(n: number, d: number, classes: number, noise: number, rng: Rng, centres: Float32Array) {
  const x = new Float32Array(n * d), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = rng.nextU32() % classes;
    y[i] = c;
    for (let f = 0; f < d; f++) x[i * d + f] = centres[c * d + f] + noise * rng.normal();
  }
  return { x, y };
}

describe('knnTopk (fused CPU kernel) vs float64 reference', () => {
  const shapes: [number, number, number, number][] = [
    // nTrain, nTest, d, k — odd sizes that divide no tile, k = nTrain, d below one vector
    [37, 5, 3, 7], [1000, 67, 129, 200], [513, 33, 17, 513], [300, 40, 64, 1], [1025, 3, 300, 50],
  ];
  {
    test.each(shapes)('nTrain %i nTest %i d %i k %i', (nTrain, nTest, d, k) => {
      const rng = new Rng(nTrain * 7 + d);
      const train = randn(nTrain * d, rng), test = randn(nTest * d, rng);
      const got = knnTopkSync({ data: train, shape: [nTrain, d] }, { data: test, shape: [nTest, d] }, { k });
      const ref = knnTopkReference(train, test, nTrain, nTest, d, k);
      let mismatched = 0;
      for (let i = 0; i < nTest * k; i++) {
        expect(Math.abs(got.sim[i] - ref.sim[i])).toBeLessThan(2e-5);
        if (got.index[i] !== ref.index[i]) {
          mismatched++;
          // An index may differ only where two neighbours are within rounding of each other.
          const j = got.index[i], row = Math.floor(i / k);
          let s = 0, a = 0, b = 0;
          for (let c = 0; c < d; c++) { s += test[row * d + c] * train[j * d + c]; a += test[row * d + c] ** 2; b += train[j * d + c] ** 2; }
          expect(Math.abs(s / Math.sqrt(a * b) - ref.sim[i])).toBeLessThan(2e-5);
        }
      }
      expect(mismatched).toBeLessThan(Math.max(2, nTest * k * 0.01));
    });
  }

  test('ties go to the smaller train index; zero rows have similarity 0', () => {
    const d = 4;
    // Train rows 0..5: rows 1, 3, 4 equal the query direction (scaled), row 5 is zero.
    const train = new Float32Array([0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 2, 2, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0]);
    const test = new Float32Array([1, 1, 0, 0]);
    const r = knnTopkSync({ data: train, shape: [6, d] }, { data: test, shape: [1, d] }, { k: 6 });
    expect(Array.from(r.index)).toEqual([1, 3, 4, 0, 2, 5]);
    expect(r.sim[0]).toBeCloseTo(1, 6);
    expect(r.sim[3]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(r.sim[4]).toBeCloseTo(0, 6);
    expect(r.sim[5]).toBe(0);
  });

  test.each(['generic', 'avx2', 'avx512'])('the %s variant (forced by CLSA_CPU_KERNEL in a child process) agrees', (variant) => {
    // The variant is picked once per process, so each one runs in its own node.
    const script = `
      const addon = require(${JSON.stringify(require('path').resolve(__dirname, '../build/Release/clsa.node'))});
      const n = 301, q = 19, d = 45, k = 30;
      const train = new Float32Array(n * d), test = new Float32Array(q * d);
      let s = 12345; const r = () => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296) - 0.5;
      for (let i = 0; i < train.length; i++) train[i] = r();
      for (let i = 0; i < test.length; i++) test[i] = r();
      const outIndex = new Int32Array(q * k), outSim = new Float32Array(q * k);
      addon.knnTopkSync({ nTrain: n, nTest: q, d, k, device: 0, deviceIndex: 0, train, test, outIndex, outSim });
      process.stdout.write(JSON.stringify({ train: Array.from(train), test: Array.from(test), sim: Array.from(outSim) }));`;
    const out = require('child_process').execFileSync(process.execPath, ['-e', script], { env: { ...process.env, CLSA_CPU_KERNEL: variant } });
    const got = JSON.parse(out.toString());
    const ref = knnTopkReference(Float32Array.from(got.train), Float32Array.from(got.test), 301, 19, 45, 30);
    for (let i = 0; i < 19 * 30; i++) expect(Math.abs(got.sim[i] - ref.sim[i])).toBeLessThan(2e-5);
  });

  test('the C API checks its own invariants (bypassing the facade)', () => {
    const addon = native() as unknown as { knnTopkSync(a: object): void; probeTrainSync(a: object): void };
    const f = new Float32Array(12);
    const call = (k: number) => addon.knnTopkSync({ nTrain: 3, nTest: 3, d: 4, k, device: 0, deviceIndex: 0, train: f, test: f,
                                                    outIndex: new Int32Array(3 * Math.max(k, 1)), outSim: new Float32Array(3 * Math.max(k, 1)) });
    expect(() => call(4)).toThrow(/CLSA_ERR_INVALID_ARGUMENT: desc->k \(1 <= k <= n_train\): expected an integer in \[1, 3\] but got 4/);
    expect(() => call(0)).toThrow(/desc->k/);
    expect(() => addon.knnTopkSync({ nTrain: 3, nTest: 3, d: 4, k: 1, device: 0, deviceIndex: 0, train: new Float32Array(5), test: f,
                                     outIndex: new Int32Array(3), outSim: new Float32Array(3) })).toThrow(/train: expected at least 12 elements but got 5/);
    const probe = (labels: Int32Array, order: Int32Array) => addon.probeTrainSync({
      n: 3, d: 4, classes: 2, epochs: 1, batch: 2, lr: 0.1, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8,
      x: f, labels, order, weight: new Float32Array(8), bias: new Float32Array(2), epochLoss: new Float32Array(1) });
    expect(() => probe(new Int32Array([0, 2, 1]), new Int32Array([0, 1, 2]))).toThrow(/labels\[1\]: expected a class in \[0, 2\) but got 2/);
    expect(() => probe(new Int32Array([0, 1, 1]), new Int32Array([0, 3, 2]))).toThrow(/order\[1\]: expected a row in \[0, 3\) but got 3/);
  });

  test('bad arguments give named errors', () => {
    const a = { data: new Float32Array(12), shape: [3, 4] };
    expect(() => knnTopkSync(a, a, { k: 4 })).toThrow(/options\.k: expected an integer in \[1, 3\] but got 4/);
    expect(() => knnTopkSync(a, { data: new Float32Array(10), shape: [2, 5] }, { k: 1 })).toThrow(/test\.shape\[1\] \(D\): expected D = 4/);
    const nan = new Float32Array(12); nan[5] = NaN;
    expect(() => knnTopkSync({ data: nan, shape: [3, 4] }, a, { k: 1 })).toThrow(/train: expected finite values/);
    expect(() => knnTopkSync(a, a, { k: 1, device: 'tpu' as 'cpu' })).toThrow(/options\.device/);
  });
});

describe('knnAccuracy', () => {
  test('matches the float64 reference predictions (weighted vote, k = 200, t = 0.1)', async () => {
    const rng = new Rng(11);
    const d = 24, classes = 7;
    const centres = randn(classes * d, rng);
    const tr = clusters(911, d, classes, 1.2, rng, centres), te = clusters(157, d, classes, 1.2, rng, centres);
    const res = await knnAccuracy({ features: { data: tr.x, shape: [911, d] }, labels: tr.y },
                                  { features: { data: te.x, shape: [157, d] }, labels: te.y });
    const ref = knnPredictReference(tr.x, tr.y, te.x, 911, 157, d, 200, 0.1, classes);
    let same = 0, correct = 0;
    for (let i = 0; i < 157; i++) { if (ref[i] === res.predictions[i]) same++; if (ref[i] === te.y[i]) correct++; }
    expect(same).toBeGreaterThanOrEqual(156);
    expect(Math.abs(res.accuracy - correct / 157)).toBeLessThanOrEqual(1 / 157 + 1e-12);
    expect(res.k).toBe(200);
    expect(res.perClass.length).toBe(classes);
    expect(res.accuracy).toBeGreaterThan(0.5);
  });

  test('k larger than the train set is clamped to it; sync and async agree', async () => {
    const rng = new Rng(3);
    const x = randn(10 * 5, rng), y = Int32Array.from({ length: 10 }, (_, i) => i % 3);
    const data = { features: { data: x, shape: [10, 5] }, labels: y };
    const a = await knnAccuracy(data, data, { k: 200 });
    const b = knnAccuracySync(data, data, { k: 200 });
    expect(a.k).toBe(10);
    expect(Array.from(a.predictions)).toEqual(Array.from(b.predictions));
    const ref = knnPredictReference(x, y, x, 10, 10, 5, 10, 0.1, 3);
    expect(Array.from(a.predictions)).toEqual(Array.from(ref));
  });

  test('labels are validated', () => {
    const f = { data: new Float32Array(6), shape: [3, 2] };
    expect(() => knnAccuracySync({ features: f, labels: new Int32Array(2) }, { features: f, labels: new Int32Array(3) }))
      .toThrow(/train\.labels: expected 3 labels/);
    expect(() => knnAccuracySync({ features: f, labels: new Int32Array([0, -1, 0]) }, { features: f, labels: new Int32Array(3) }))
      .toThrow(/train\.labels\[1\]: expected a class index >= 0 but got -1/);
  });

  const gpu = native().backend().cudaState === 'usable';
  (gpu ? test.skip : test)(`CUDA requests fail clearly on a machine without a usable GPU${gpu ? ' [skipped: this machine has one]' : ''}`, () => {
    const f = { data: new Float32Array([1, 0, 0, 1]), shape: [2, 2] };
    expect(() => knnTopkSync(f, f, { k: 1, device: 'cuda' })).toThrow(/CLSA_ERR_(NOT_COMPILED|NO_DEVICE)/);
  });
});

test('the async kNN leaves the event loop free while the kernel runs', async () => {
  const rng = new Rng(77);
  const data = { features: { data: randn(12000 * 64, rng), shape: [12000, 64] }, labels: new Int32Array(12000) };
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 1);
  const t0 = Date.now();
  await knnAccuracy(data, data, { k: 20 });
  const ms = Date.now() - t0;
  clearInterval(timer);
  // A blocked loop would see ~0 ticks; a free one sees many (timers are coarse, so stay lenient).
  if (ms > 100) expect(ticks).toBeGreaterThan(ms / 20);
});

test('an AbortSignal cancels a running kNN sweep and linear probe', async () => {
  const rng = new Rng(99);
  const big = { features: { data: randn(20000 * 64, rng), shape: [20000, 64] }, labels: new Int32Array(20000) };
  const ac = new AbortController();
  const t0 = Date.now();
  const p = knnAccuracy(big, big, { k: 10, signal: ac.signal });
  setTimeout(() => ac.abort(), 30);
  await expect(p).rejects.toThrow(/aborted/);
  expect(Date.now() - t0).toBeLessThan(5000);   // the full sweep takes far longer here
  const pre = new AbortController();
  pre.abort(new Error('stop before start'));
  await expect(knnAccuracy(big, big, { signal: pre.signal })).rejects.toThrow(/stop before start/);
  const wide = { features: { data: randn(2000 * 512, rng), shape: [2000, 512] }, labels: Int32Array.from({ length: 2000 }, (_, i) => i % 10) };
  const ac2 = new AbortController();
  const t1 = Date.now();
  const lp = linearProbe(wide, wide, { solver: 'adamw', epochs: 300, signal: ac2.signal });
  setTimeout(() => ac2.abort(), 30);
  await expect(lp).rejects.toThrow(/aborted/);
  expect(Date.now() - t1).toBeLessThan(5000);
});

describe('linearProbe', () => {
  test('follows the float64 reference loss curve (same init and order)', () => {
    const rng = new Rng(5);
    const n = 203, d = 13, classes = 4, epochs = 6, batch = 32, lr = 0.05, wd = 1e-3;
    const centres = randn(classes * d, rng);
    const { x, y } = clusters(n, d, classes, 2.0, rng, centres);
    const res = linearProbeSync({ features: { data: x, shape: [n, d] }, labels: y }, { features: { data: x, shape: [n, d] }, labels: y },
                                { solver: 'adamw', epochs, batchSize: batch, lr, weightDecay: wd, seed: 9 });
    const st = featureStats(x, n, d);
    const xs = standardize(x, n, d, st.mean, st.std);
    const init = probeInit(d, classes, 9);
    const ref = probeReference(xs, y, n, d, classes, epochs, batch, lr, wd, probeOrder(n, epochs, 9), init.weight, init.bias);
    expect(res.lossCurve.length).toBe(epochs);
    for (let e = 0; e < epochs; e++) expect(Math.abs(res.lossCurve[e] - ref.losses[e])).toBeLessThan(1e-4 * Math.max(1, ref.losses[e]));
    for (let q = 0; q < ref.W.length; q++) expect(Math.abs(res.weight[q] - ref.W[q])).toBeLessThan(1e-3);
    expect(res.lossCurve[epochs - 1]).toBeLessThan(res.lossCurve[0]);
  });

  test('reaches ~100% on separable data; deterministic from the seed; async = sync', async () => {
    const rng = new Rng(21);
    const d = 10, classes = 5;
    const centres = randn(classes * d, rng).map((v) => v * 6);
    const tr = clusters(400, d, classes, 0.3, rng, centres), te = clusters(100, d, classes, 0.3, rng, centres);
    const train = { features: { data: tr.x, shape: [400, d] }, labels: tr.y };
    const test = { features: { data: te.x, shape: [100, d] }, labels: te.y };
    const a = await linearProbe(train, test, { solver: 'adamw', epochs: 20, seed: 1 });
    const b = linearProbeSync(train, test, { solver: 'adamw', epochs: 20, seed: 1 });
    expect(a.testAccuracy).toBeGreaterThanOrEqual(0.99);
    expect(a.trainAccuracy).toBeGreaterThanOrEqual(0.99);
    expect(Array.from(a.weight)).toEqual(Array.from(b.weight));
    const c = linearProbeSync(train, test, { solver: 'adamw', epochs: 20, seed: 2 });
    expect(Array.from(c.weight)).not.toEqual(Array.from(a.weight));
  });

  test('bad options give named errors', () => {
    const f = { features: { data: new Float32Array(6), shape: [3, 2] }, labels: new Int32Array([0, 1, 0]) };
    expect(() => linearProbeSync(f, f, { solver: 'adamw', lr: -1 })).toThrow(/options\.lr: expected a number > 0 but got -1/);
    expect(() => linearProbeSync(f, f, { solver: 'adamw', epochs: 0 })).toThrow(/options\.epochs: expected an integer/);
    // AdamW's knobs mean nothing to the default solver, which runs to convergence.
    expect(() => linearProbeSync(f, f, { epochs: 5 })).toThrow(/options\.epochs: applies to solver 'adamw' only/);
    expect(() => linearProbeSync(f, f, { solver: 'adamw', tolerance: 1e-3 })).toThrow(/options\.tolerance: applies to solver 'lbfgs' only/);
    expect(() => linearProbeSync(f, f, { solver: 'adamw', weightDecay: 'auto' })).toThrow(/options\.weightDecay: 'auto' needs solver 'lbfgs'/);
    expect(() => linearProbeSync(f, f, { weightDecay: 0 })).toThrow(/options\.weightDecay: expected a number > 0 or 'auto' but got 0/);
    expect(() => linearProbeSync(f, f, { solver: 'sgd' as never })).toThrow(/options\.solver: expected/);
  });
});

test('raw-pixel baseline runs kNN and the linear probe on [0, 1] pixels', async () => {
  const rng = new Rng(8);
  const mk = (n: number) => {
    const data = new Uint8Array(n * 4 * 4), labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 2;
      for (let p = 0; p < 16; p++) data[i * 16 + p] = (labels[i] === 0 ? (p < 8 ? 200 : 20) : (p < 8 ? 20 : 200)) + (rng.nextU32() % 30);
    }
    return { images: { data, shape: [n, 4, 4, 1] as [number, number, number, number] }, labels, source: 'memory' };
  };
  const r = await rawPixelBaseline(mk(60), mk(20), { linear: { solver: 'adamw', epochs: 5 } });
  expect(r.knn.accuracy).toBe(1);
  expect(r.linear!.testAccuracy).toBe(1);
});
