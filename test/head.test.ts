// The fused head against the independent float64 reference: many shapes (odd ones that
// divide no tile size), tau != tau2, normalize on and off, S = 0..5, fresh seeds every run.
import { clsaHead, clsaHeadSync } from '../lib';
import { gradErr, lossErr, randomFloats, reference, relErr, relNorm } from './helpers/reference';

const seed0 = (Date.now() ^ (process.pid << 8)) >>> 0;
let seedCounter = 0;
const nextSeed = () => (seed0 + 7919 * ++seedCounter) >>> 0;

interface Case { N: number; D: number; K: number; W: number; S: number; tau: number; tau2: number; alpha: number; normalize: boolean }

function makeInputs(c: Case) {
  const seed = nextSeed();
  return {
    seed,
    weak: { data: randomFloats(c.W * c.N * c.D, seed), shape: [c.W, c.N, c.D] },
    strong: { data: randomFloats(c.S * c.N * c.D, seed + 1), shape: [c.S, c.N, c.D] },
    keys: { data: randomFloats(c.N * c.D, seed + 2), shape: [c.N, c.D] },
    queue: { data: randomFloats(c.K * c.D, seed + 3), shape: [c.K, c.D] },
  };
}

function check(c: Case) {
  const inp = makeInputs(c);
  const r = clsaHeadSync(inp, { temperature: c.tau, ddmTemperature: c.tau2, ddmWeight: c.alpha, normalize: c.normalize });
  const ref = reference(
    { W: c.W, S: c.S, N: c.N, D: c.D, K: c.K, weak: inp.weak.data, strong: inp.strong.data, keys: inp.keys.data, queue: inp.queue.data },
    { tau: c.tau, tau2: c.tau2, alpha: c.alpha, normalize: c.normalize },
  );
  const ctx = `seed ${inp.seed} ${JSON.stringify(c)}`;
  // Each loss is lse - dot / t summed over rows: relative to the size of those terms, since the
  // difference cancels towards 0 when a row's softmax is nearly one-hot (N = K = D = 1).
  const lossScale = ref.nceScale + c.alpha * ref.ddmScale;
  expect({ ctx, e: lossErr(r.loss, ref.loss, lossScale) < 1e-5 }).toEqual({ ctx, e: true });
  expect({ ctx, e: lossErr(r.nceLoss, ref.nce, ref.nceScale) < 1e-5 }).toEqual({ ctx, e: true });
  if (c.S > 0) expect({ ctx, e: lossErr(r.ddmLoss, ref.ddm, ref.ddmScale) < 1e-5 }).toEqual({ ctx, e: true });
  else expect(r.ddmLoss).toBe(0);
  // Exact ties (D = 1 with normalize: every unit row is +-1) are broken by rounding, so a row
  // whose own logit ties the best other one within float32 precision may count either way.
  expect({ ctx, acc: r.accuracy, lo: r.accuracy >= ref.accuracyMin - 1e-6, hi: r.accuracy <= ref.accuracyMax + 1e-6 })
    .toEqual({ ctx, acc: r.accuracy, lo: true, hi: true });
  if (ref.accuracyMin === ref.accuracyMax) expect(r.accuracy).toBeCloseTo(ref.accuracy, 6);
  expect(r.gradWeak.length).toBe(c.W * c.N * c.D);
  expect(r.gradStrong.length).toBe(c.S * c.N * c.D);
  expect({ ctx, gw: gradErr(r.gradWeak, ref.gradWeak, ref.gradWeakScale) < 1e-4 }).toEqual({ ctx, gw: true });
  if (c.S > 0 && c.alpha > 0)
    expect({ ctx, gs: gradErr(r.gradStrong, ref.gradStrong, ref.gradStrongScale) < 1e-4 }).toEqual({ ctx, gs: true });
  if (c.alpha === 0) expect(Array.from(r.gradStrong).every((v) => v === 0)).toBe(true);
  return r;
}

const cases: Case[] = [
  { N: 7, D: 5, K: 13, W: 5, S: 0, tau: 0.2, tau2: 0.2, alpha: 1, normalize: true },
  { N: 7, D: 5, K: 13, W: 5, S: 1, tau: 0.2, tau2: 0.2, alpha: 1, normalize: true },
  { N: 7, D: 5, K: 13, W: 5, S: 3, tau: 0.15, tau2: 0.3, alpha: 0.7, normalize: true },
  { N: 7, D: 5, K: 13, W: 5, S: 5, tau: 0.2, tau2: 0.1, alpha: 1, normalize: false },
  { N: 1, D: 1, K: 1, W: 1, S: 1, tau: 0.5, tau2: 0.25, alpha: 2, normalize: true },
  { N: 3, D: 17, K: 200, W: 2, S: 2, tau: 0.07, tau2: 0.2, alpha: 1, normalize: true },
  { N: 33, D: 70, K: 401, W: 1, S: 1, tau: 0.2, tau2: 0.2, alpha: 1, normalize: true },
  { N: 13, D: 128, K: 1000, W: 2, S: 4, tau: 0.1, tau2: 0.3, alpha: 0.5, normalize: false },
  { N: 64, D: 32, K: 777, W: 1, S: 1, tau: 0.2, tau2: 0.2, alpha: 0, normalize: true },
  { N: 9, D: 65, K: 193, W: 3, S: 2, tau: 1.5, tau2: 0.05, alpha: 1, normalize: true },
];

describe('clsaHeadSync matches the float64 reference', () => {
  test.each(cases.map((c) => [JSON.stringify(c), c] as const))('%s', (_name, c) => {
    check(c);
  });

  test('random shapes (fresh each run)', () => {
    for (let i = 0; i < 6; i++) {
      const s = nextSeed();
      const pick = (lo: number, hi: number, k: number) => lo + ((s >>> k) % (hi - lo + 1));
      check({
        N: pick(1, 24, 0), D: pick(1, 40, 5), K: pick(1, 300, 10), W: pick(1, 5, 15), S: pick(0, 5, 18),
        tau: 0.05 + (s % 100) / 100, tau2: 0.05 + ((s >>> 7) % 100) / 100, alpha: ((s >>> 3) % 3) / 2,
        normalize: (s & 1) === 1,
      });
    }
  });
});

describe('gradients against finite differences of the float64 reference loss', () => {
  // The weak rows' gradient excludes the DDM path (the weak distribution is detached), so it
  // is checked with ddmWeight = 0; the strong rows with any ddmWeight.
  function fdCheck(c: Case, which: 'weak' | 'strong') {
    const inp = makeInputs(c);
    const opts = { tau: c.tau, tau2: c.tau2, alpha: c.alpha, normalize: c.normalize };
    const r = clsaHeadSync(inp, { temperature: c.tau, ddmTemperature: c.tau2, ddmWeight: c.alpha, normalize: c.normalize });
    const base = {
      W: c.W, S: c.S, N: c.N, D: c.D, K: c.K,
      weak: Float64Array.from(inp.weak.data), strong: Float64Array.from(inp.strong.data),
      keys: inp.keys.data, queue: inp.queue.data,
    };
    const target = which === 'weak' ? base.weak : base.strong;
    const grad = which === 'weak' ? r.gradWeak : r.gradStrong;
    const h = 1e-6;
    const fd = new Float64Array(target.length);
    for (let i = 0; i < target.length; i++) {
      const v = target[i];
      target[i] = v + h;
      const up = reference(base, opts, false).loss;
      target[i] = v - h;
      const down = reference(base, opts, false).loss;
      target[i] = v;
      fd[i] = (up - down) / (2 * h);
    }
    expect(relNorm(grad, fd)).toBeLessThan(1e-4);
  }

  test('weak rows (ddmWeight = 0), normalize on', () =>
    fdCheck({ N: 5, D: 6, K: 11, W: 3, S: 2, tau: 0.2, tau2: 0.3, alpha: 0, normalize: true }, 'weak'));
  test('weak rows (ddmWeight = 0), normalize off', () =>
    fdCheck({ N: 4, D: 7, K: 9, W: 2, S: 1, tau: 0.3, tau2: 0.2, alpha: 0, normalize: false }, 'weak'));
  test('strong rows (ddmWeight = 0.8, tau != tau2), normalize on', () =>
    fdCheck({ N: 5, D: 6, K: 11, W: 3, S: 2, tau: 0.2, tau2: 0.35, alpha: 0.8, normalize: true }, 'strong'));
  test('strong rows, normalize off', () =>
    fdCheck({ N: 3, D: 5, K: 7, W: 2, S: 3, tau: 0.25, tau2: 0.15, alpha: 1, normalize: false }, 'strong'));
});

describe('semantics', () => {
  test('loss = nceLoss + ddmWeight * ddmLoss, and omitting strong equals S = 0', () => {
    const c = { N: 6, D: 9, K: 20, W: 2, S: 2, tau: 0.2, tau2: 0.2, alpha: 0.6, normalize: true };
    const r = check(c);
    expect(Math.abs(r.loss - (r.nceLoss + 0.6 * r.ddmLoss))).toBeLessThan(1e-4 * Math.abs(r.loss));
    const inp = makeInputs({ ...c, S: 0 });
    const a = clsaHeadSync({ weak: inp.weak, keys: inp.keys, queue: inp.queue });
    const b = clsaHeadSync({ ...inp, strong: { data: new Float32Array(0), shape: [0, 6, 9] } });
    expect(a.loss).toBe(b.loss);
    expect(a.gradStrong.length).toBe(0);
  });

  test('accuracy counts rows whose own key wins', () => {
    // Queries equal to their keys, queue far away: every row is correct.
    const N = 5, D = 4, K = 8;
    const keys = randomFloats(N * D, nextSeed());
    const queue = new Float32Array(K * D).fill(0);
    for (let k = 0; k < K; k++) queue[k * D] = -1;  // unit rows along -e0
    const weak = Float32Array.from(keys);
    const r = clsaHeadSync({ weak: { data: weak, shape: [1, N, D] }, keys: { data: keys, shape: [N, D] }, queue: { data: queue, shape: [K, D] } });
    expect(r.accuracy).toBe(1);
    // Negated queries: own key is the minimum, never the maximum.
    const r2 = clsaHeadSync({ weak: { data: weak.map((v) => -v), shape: [1, N, D] }, keys: { data: keys, shape: [N, D] }, queue: { data: queue, shape: [K, D] } });
    expect(r2.accuracy).toBe(0);
  });

  test('inputs are not modified', () => {
    const inp = makeInputs({ N: 4, D: 8, K: 10, W: 2, S: 2, tau: 0.2, tau2: 0.2, alpha: 1, normalize: true });
    const copies = [inp.weak.data, inp.strong.data, inp.keys.data, inp.queue.data].map((a) => Float32Array.from(a));
    clsaHeadSync(inp);
    [inp.weak.data, inp.strong.data, inp.keys.data, inp.queue.data].forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(copies[i])));
  });
});

describe('async clsaHead', () => {
  test('gives the same numbers as the sync call', async () => {
    const inp = makeInputs({ N: 17, D: 33, K: 301, W: 2, S: 3, tau: 0.2, tau2: 0.1, alpha: 1, normalize: true });
    const a = clsaHeadSync(inp, { ddmTemperature: 0.1 });
    const b = await clsaHead(inp, { ddmTemperature: 0.1 });
    expect(b.loss).toBe(a.loss);
    expect(b.accuracy).toBe(a.accuracy);
    expect(Array.from(b.gradWeak)).toEqual(Array.from(a.gradWeak));
    expect(Array.from(b.gradStrong)).toEqual(Array.from(a.gradStrong));
  });

  test('lets the event loop turn while a large call runs', async () => {
    const inp = makeInputs({ N: 256, D: 128, K: 16384, W: 2, S: 2, tau: 0.2, tau2: 0.2, alpha: 1, normalize: true });
    let turns = 0;
    let running = true;
    const spin = () => { if (running) { turns++; setImmediate(spin); } };
    setImmediate(spin);
    const t0 = Date.now();
    await clsaHead(inp);
    running = false;
    const ms = Date.now() - t0;
    // A call that blocked the loop would let at most a couple of turns through.
    expect(ms).toBeGreaterThan(20);
    expect(turns).toBeGreaterThan(20);
  });

  test('several calls in flight each give the right answer', async () => {
    const cs: Case[] = [
      { N: 9, D: 16, K: 100, W: 2, S: 1, tau: 0.2, tau2: 0.2, alpha: 1, normalize: true },
      { N: 5, D: 7, K: 31, W: 1, S: 3, tau: 0.1, tau2: 0.4, alpha: 0.5, normalize: false },
      { N: 12, D: 20, K: 64, W: 3, S: 0, tau: 0.3, tau2: 0.3, alpha: 1, normalize: true },
      { N: 30, D: 64, K: 500, W: 1, S: 1, tau: 0.2, tau2: 0.25, alpha: 2, normalize: true },
    ];
    const inputs = [...cs, ...cs].map(makeInputs);
    const all = [...cs, ...cs];
    const results = await Promise.all(inputs.map((inp, i) =>
      clsaHead(inp, { temperature: all[i].tau, ddmTemperature: all[i].tau2, ddmWeight: all[i].alpha, normalize: all[i].normalize })));
    results.forEach((r, i) => {
      const c = all[i], inp = inputs[i];
      const ref = reference({ W: c.W, S: c.S, N: c.N, D: c.D, K: c.K, weak: inp.weak.data, strong: inp.strong.data, keys: inp.keys.data, queue: inp.queue.data },
        { tau: c.tau, tau2: c.tau2, alpha: c.alpha, normalize: c.normalize });
      expect(relErr(r.loss, ref.loss)).toBeLessThan(1e-5);
      expect(relNorm(r.gradWeak, ref.gradWeak)).toBeLessThan(1e-4);
    });
  });
});
