import { backend, ClsaModel, cosineLr, Rng } from '../lib';
import type { HostTensor } from '../lib/validate';

function images(rng: Rng, n: number, c: number, h: number, w = h): HostTensor {
  const data = new Float32Array(n * c * h * w);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return { data, shape: [n, c, h, w] };
}

const small = { width: 8, queueSize: 64, splitBN: 4, seed: 5 };

describe('ClsaModel configuration errors name the argument', () => {
  test.each([
    [{ arch: 'resnet50' }, /config.arch: expected one of 'resnet-mini', 'resnet18'/],
    [{ width: 0 }, /config.width: expected an integer in \[1, 4096\] but got 0/],
    [{ inChannels: 0 }, /config.inChannels/],
    [{ splitBN: 0 }, /config.splitBN/],
    [{ temperature: -1 }, /config.temperature: expected a number > 0/],
    [{ encoderMomentum: 2 }, /config.encoderMomentum/],
    [{ bogus: 1 }, /config.bogus: unknown option/],
    [{ device: 'gpu' }, /config.device: expected one of 'auto', 'cpu', 'cuda' but got the string "gpu"/],
    [{ deviceIndex: -1 }, /config.deviceIndex: expected an integer in \[0, 15\] but got -1/],
    [{ precision: 'fp8' }, /config.precision: expected one of 'fp32', 'tf32', 'bf16', 'fp16'/],
    [{ device: 'cpu', precision: 'tf32' }, /config.precision: the CPU computes in fp32, so expected 'fp32' on the CPU but got 'tf32'/],
  ])('%j', (cfg, msg) => {
    expect(() => ClsaModel.create(cfg as never)).toThrow(msg);
  });

  test('bad views', async () => {
    const m = ClsaModel.create({ ...small, inChannels: 1 });
    const rng = new Rng(1);
    const ok = images(rng, 8, 1, 12);
    await expect(m.step({ key: images(rng, 8, 1, 7), weak: [ok] })).rejects.toThrow(/views.key.shape\[2\] \(H\): expected an integer in \[8,/);
    await expect(m.step({ key: ok, weak: [images(rng, 8, 3, 12)] })).rejects.toThrow(/views.weak\[0\].shape\[1\] \(C\): expected C = 1/);
    await expect(m.step({ key: images(rng, 6, 1, 12), weak: [images(rng, 6, 1, 12)] })).rejects.toThrow(/divisible by config.splitBN = 4 .* N = 6/);
    await expect(m.step({ key: ok, weak: [images(rng, 4, 1, 12)] })).rejects.toThrow(/views.weak\[0\].shape\[0\] \(N\): expected N = 8/);
    await expect(m.step({ key: ok, weak: [] })).rejects.toThrow(/views.weak: expected an array of at least one/);
    await expect(m.embed(images(rng, 2, 3, 9))).rejects.toThrow(/images.shape\[1\] \(C\): expected C = 1/);
    m.dispose();
    await expect(m.step({ key: ok, weak: [ok] })).rejects.toThrow(/disposed/);
  });
});

test('resnet-mini and resnet18 have the expected parameter counts', () => {
  const mini = ClsaModel.create({ queueSize: 16 });
  // stem 3*32*9 + BN, blocks 32/64/128 (shortcuts on the strided ones), MLP 128-128-128
  expect(mini.parameterCount).toBe(340384);
  expect(mini.featureDim).toBe(128);
  mini.dispose();
  const r18 = ClsaModel.create({ arch: 'resnet18', queueSize: 16 });
  // torchvision resnet18 with a 3x3 stem and no fc: 11,168,832; plus MLP 512*512+512 + 512*128+128
  expect(r18.parameterCount).toBe(11168832 + 262656 + 65664);
  expect(r18.featureDim).toBe(512);
  r18.dispose();
});

test('training on one fixed batch learns: the contrastive loss falls far below an lr=0 control', async () => {
  // A queue of exactly one batch: every key re-enters the queue the next step as a near-duplicate
  // negative, which floors the loss (the same for both runs); the lr=0 run measures that floor.
  const rng = new Rng(11);
  const key = images(rng, 32, 3, 16), weak = images(rng, 32, 3, 16), strong = images(rng, 32, 3, 12);
  const run = async (lr: number) => {
    const m = ClsaModel.create({ queueSize: 32, ddmWeight: 0, seed: 3 });
    const losses: number[] = [];
    for (let i = 0; i < 30; i++) losses.push((await m.step({ key, weak: [weak], strong: [strong] }, { lr })).nceLoss);
    m.dispose();
    return losses;
  };
  const trained = await run(0.1), control = await run(0);
  expect(trained[0]).toBeCloseTo(control[0], 5);
  expect(trained[29]).toBeLessThan(0.7 * control[29]);
  expect(trained[29]).toBeLessThan(0.85 * trained[0]);
}, 120000);

test('a step moves the parameters along the negative gradient of its loss (first order, whole step)', async () => {
  // p' = p - eps * (g + wd p) on the first step (SGD buffer starts at 0). Re-evaluating the same
  // loss (same queue, same shuffle, key encoder frozen with m = 1) at p' must drop by eps * g.d.
  const rng = new Rng(21);
  const views = { key: images(rng, 8, 3, 12), weak: [images(rng, 8, 3, 12)], strong: [images(rng, 8, 3, 9, 10)] };
  const cfg = { ...small, encoderMomentum: 1, weightDecay: 0 };
  const base = ClsaModel.create(cfg);
  const s0 = base.state();
  const eps = 2e-3;
  const l0 = (await base.step(views, { lr: eps })).loss;
  const moved = base.state();
  const p = s0.buffers.query_params, p1 = moved.buffers.query_params;
  let gg = 0;
  for (let i = 0; i < p.length; i++) { const g = (p[i] - p1[i]) / eps; gg += g * g; }
  expect(gg).toBeGreaterThan(0);
  const probe = ClsaModel.fromState({ ...s0, buffers: { ...s0.buffers, query_params: p1 } });
  const l1 = (await probe.step(views, { lr: 0 })).loss;
  const predicted = -eps * gg;
  expect(Math.abs(l1 - l0 - predicted)).toBeLessThan(0.25 * Math.abs(predicted));
  base.dispose();
  probe.dispose();
});

test('state() / fromState() restore a model bit-exactly', async () => {
  const rng = new Rng(31);
  const views = () => ({ key: images(rng, 8, 1, 10), weak: [images(rng, 8, 1, 10), images(rng, 8, 1, 8)], strong: [images(rng, 8, 1, 8)] });
  const a = ClsaModel.create({ ...small, inChannels: 1 });
  await a.step(views());
  await a.step(views());
  const st = a.state();
  expect(st.step).toBe(2);
  expect(st.queuePointer).toBe(16);
  const b = ClsaModel.fromState(st);
  const v = views();
  const ra = await a.step(v), rb = await b.step(v);
  expect(rb.loss).toBe(ra.loss);
  expect(rb.accuracy).toBe(ra.accuracy);
  const sa = a.state(), sb = b.state();
  for (const name of Object.keys(sa.buffers)) {
    const x = sa.buffers[name], y = sb.buffers[name];
    expect(y.length).toBe(x.length);
    let same = true;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) { same = false; break; }
    expect(`${name}: ${same}`).toBe(`${name}: true`);
  }
  expect(sb.rng).toEqual(sa.rng);
  a.dispose();
  b.dispose();
});

test('embed uses running statistics: a row does not depend on the rest of the batch', async () => {
  const rng = new Rng(41);
  const m = ClsaModel.create({ ...small });
  await m.step({ key: images(rng, 8, 3, 12), weak: [images(rng, 8, 3, 12)] });
  const batch = images(rng, 5, 3, 11, 13);
  const all = await m.embed(batch);
  expect(all.shape).toEqual([5, m.featureDim]);
  const one = await m.embed({ data: batch.data.slice(2 * 3 * 11 * 13, 3 * 3 * 11 * 13), shape: [1, 3, 11, 13] });
  for (let j = 0; j < m.featureDim; j++) expect(one.data[j]).toBeCloseTo(all.data[2 * m.featureDim + j], 5);
  const again = await m.embed(batch);
  expect(Array.from(again.data)).toEqual(Array.from(all.data));
  m.dispose();
});

test('key encoder: EMA of the query parameters happens before the key forward; BN buffers are not averaged', async () => {
  const rng = new Rng(51);
  const m = ClsaModel.create({ ...small, encoderMomentum: 0.5 });
  const s0 = m.state();
  await m.step({ key: images(rng, 8, 3, 12), weak: [images(rng, 8, 3, 12)] }, { lr: 0.1 });
  const s1 = m.state();
  // Key params start equal to the query params, so the EMA with the pre-update query leaves them unchanged.
  expect(Array.from(s1.buffers.key_params)).toEqual(Array.from(s0.buffers.query_params));
  await m.step({ key: images(rng, 8, 3, 12), weak: [images(rng, 8, 3, 12)] }, { lr: 0.1 });
  const s2 = m.state();
  const k = s2.buffers.key_params, q1 = s1.buffers.query_params, k1 = s1.buffers.key_params;
  for (let i = 0; i < k.length; i += 997) expect(k[i]).toBeCloseTo(0.5 * k1[i] + 0.5 * q1[i], 6);
  // Both encoders ran train-mode BN (their own running statistics moved, differently).
  const qs = s2.buffers.query_bn_stats, ks = s2.buffers.key_bn_stats;
  let differ = false;
  for (let i = 0; i < qs.length; i++) if (qs[i] !== ks[i]) differ = true;
  expect(differ).toBe(true);
  m.dispose();
});

test('cosineLr', () => {
  expect(cosineLr(0.06, 0)).toBeCloseTo(0.06, 12);
  expect(cosineLr(0.06, 0.5)).toBeCloseTo(0.03, 12);
  expect(cosineLr(0.06, 1)).toBeCloseTo(0, 12);
  expect(() => cosineLr(0.06, 2)).toThrow(/progress/);
});

test('resnet18 (narrow) trains on the smallest inputs: 8x8 down to 1x1 in the last stage', async () => {
  const rng = new Rng(61);
  const m = ClsaModel.create({ arch: 'resnet18', width: 8, queueSize: 32, splitBN: 2, seed: 2 });
  expect(m.featureDim).toBe(64);
  const r = await m.step({ key: images(rng, 4, 3, 8), weak: [images(rng, 4, 3, 9)], strong: [images(rng, 4, 3, 8)] });
  expect(Number.isFinite(r.loss)).toBe(true);
  expect(r.loss).toBeCloseTo(r.nceLoss + r.ddmLoss, 4);
  const f = await m.embed(images(rng, 2, 3, 8));
  expect(f.shape).toEqual([2, 64]);
  m.dispose();
});

test("device: 'auto' resolves to the GPU only when one is usable and the CUDA step verified; 'cuda' without one says why", () => {
  const b = backend();
  const usable = b.cudaUsable;
  const m = ClsaModel.create({ ...small });
  expect(m.config.device).toBe(usable && b.cudaVerified.step ? 'cuda' : 'cpu');
  m.dispose();
  if (!usable) expect(() => ClsaModel.create({ ...small, device: 'cuda' })).toThrow(/config.device: 'cuda' requested but /);
});

test('fromState moves a model to another device; a CPU copy keeps the numbers', async () => {
  const rng = new Rng(8);
  const a = ClsaModel.create({ ...small, inChannels: 1, device: 'cpu' });
  await a.step({ key: images(rng, 8, 1, 10), weak: [images(rng, 8, 1, 10)] });
  const st = a.state();
  // A checkpoint that says 'cuda' (as one trained on a GPU does) loads on the CPU when asked to.
  const onGpu = { ...st, config: { ...st.config, device: 'cuda' as const, precision: 'bf16' as const } };
  const b = ClsaModel.fromState(onGpu, { device: backend().cudaUsable ? 'cpu' : 'auto' });
  expect(b.config.device).toBe('cpu');
  expect(b.config.precision).toBe('fp32');
  const x = images(rng, 4, 1, 10);
  const fa = await a.embed(x), fb = await b.embed(x);
  expect(Array.from(fb.data)).toEqual(Array.from(fa.data));
  expect(() => ClsaModel.fromState(st, null as never)).toThrow(/fromState\(state, options\): expected an object but got null/);
  a.dispose();
  b.dispose();
});

// Fresh seeds every run, in the suite's name so that any failure shows it.
const symmetricSeed = (Date.now() ^ (process.pid << 8)) >>> 0;
describe(`symmetric: the mirrored contrastive term (seed ${symmetricSeed})`, () => {
  const seed = symmetricSeed;

  test('one symmetric step is the reference step plus the mirrored MoCo step: loss, update and queue', async () => {
    // splitBN 1 makes the key encoder's batch norm independent of its shuffle, so the symmetric model's
    // two shuffles and the two plain models' one each give the same keys (up to summation order).
    const rng = new Rng(seed);
    const cfg = { width: 8, inChannels: 1, queueSize: 96, splitBN: 1, seed: seed % 1000, momentum: 0, weightDecay: 0, ddmWeight: 0.7 };
    const n = 10;
    const K = images(rng, n, 1, 12), W = images(rng, n, 1, 13), S = images(rng, n, 1, 9);
    const sym = ClsaModel.create({ ...cfg, symmetric: true }), a = ClsaModel.create(cfg), b = ClsaModel.create(cfg);
    const before = sym.state().buffers;
    const rs = await sym.step({ key: K, weak: [W], strong: [S] }, { lr: 0.1 });
    const ra = await a.step({ key: K, weak: [W], strong: [S] }, { lr: 0.1 });
    const rb = await b.step({ key: W, weak: [K] }, { lr: 0.1 });
    const ctx = `seed ${seed}`;
    expect({ ctx, d: Math.abs(rs.loss - (ra.loss + rb.loss)) < 1e-4 }).toEqual({ ctx, d: true });
    expect({ ctx, d: Math.abs(rs.nceLoss - (ra.nceLoss + rb.nceLoss)) < 1e-4 }).toEqual({ ctx, d: true });
    expect({ ctx, d: Math.abs(rs.ddmLoss - ra.ddmLoss) < 1e-5 }).toEqual({ ctx, d: true });
    // With momentum and weight decay 0 an update is -lr * gradient: the symmetric gradient is the sum.
    const q0 = before.query_params, qs = sym.state().buffers.query_params;
    const qa = a.state().buffers.query_params, qb = b.state().buffers.query_params;
    let err = 0, scale = 0;
    for (let i = 0; i < q0.length; i++) {
      err = Math.max(err, Math.abs((qs[i] - q0[i]) - ((qa[i] - q0[i]) + (qb[i] - q0[i]))));
      scale = Math.max(scale, Math.abs(qs[i] - q0[i]));
    }
    expect(scale).toBeGreaterThan(1e-4);
    expect({ ctx, rel: err / scale < 1e-4 }).toEqual({ ctx, rel: true });
    // The queue gets the key view's keys, then the weak view's: 2n rows from the pointer.
    const qq = sym.state(), qA = a.state().buffers.queue, qB = b.state().buffers.queue;
    expect(qq.queuePointer).toBe(2 * n);
    const d = sym.config.projDim;
    let qerr = 0;
    for (let i = 0; i < n * d; i++) {
      qerr = Math.max(qerr, Math.abs(qq.buffers.queue[i] - qA[i]), Math.abs(qq.buffers.queue[n * d + i] - qB[i]));
    }
    expect({ ctx, qerr: qerr < 1e-5 }).toEqual({ ctx, qerr: true });
    for (const m of [sym, a, b]) m.dispose();
  });

  test('config.symmetric must be a boolean', () => {
    expect(() => ClsaModel.create({ ...small, symmetric: 1 as never })).toThrow(/config.symmetric: expected a boolean but got 1/);
  });
});

// Fresh seeds every run, in the suite's name so that any failure shows it.
const reductionSeed = (Date.now() ^ (process.pid << 4)) >>> 0;
describe(`lossReduction 'mean': each sum of terms divided by its count (seed ${reductionSeed})`, () => {
  const seed = reductionSeed;
  // The mean-reduced loss with C contrastive terms is (nce_sum + alpha C / (W S) ddm_sum) / C: the step of a
  // summing model with ddmWeight alpha C / (W S), divided by C. With momentum 0 an update is -lr * (g + wd p).
  test.each([
    { w: 2, s: 3, symmetric: false },
    { w: 3, s: 2, symmetric: true },
  ])('W $w, S $s, symmetric $symmetric: loss, terms and update against the summing step', async ({ w, s, symmetric }) => {
    const rng = new Rng(seed + w);
    const alpha = 0.8, lr = 0.1, wd = 0.01, n = 8, c = w + (symmetric ? 1 : 0);
    const cfg = { width: 8, inChannels: 1, queueSize: 80, splitBN: 2, seed: seed % 1000, momentum: 0, symmetric };
    const K = images(rng, n, 1, 12);
    const weak = Array.from({ length: w }, (_, i) => images(rng, n, 1, 12 - i));
    const strong = Array.from({ length: s }, (_, i) => images(rng, n, 1, 9 + i));
    const mean = ClsaModel.create({ ...cfg, ddmWeight: alpha, weightDecay: wd, lossReduction: 'mean' });
    const sum = ClsaModel.create({ ...cfg, ddmWeight: (alpha * c) / (w * s), weightDecay: 0 });
    const p0 = mean.state().buffers.query_params;
    const rm = await mean.step({ key: K, weak, strong }, { lr });
    const rs = await sum.step({ key: K, weak, strong }, { lr });
    const ctx = `seed ${seed}`;
    const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b));
    expect({ ctx, loss: close(rm.loss, rs.loss / c) }).toEqual({ ctx, loss: true });
    expect({ ctx, nce: close(rm.nceLoss, rs.nceLoss / c) }).toEqual({ ctx, nce: true });
    expect({ ctx, ddm: close(rm.ddmLoss, rs.ddmLoss / (w * s)) }).toEqual({ ctx, ddm: true });
    expect({ ctx, total: close(rm.loss, rm.nceLoss + alpha * rm.ddmLoss) }).toEqual({ ctx, total: true });
    const pm = mean.state().buffers.query_params, ps = sum.state().buffers.query_params;
    let err = 0, scale = 0;
    for (let i = 0; i < p0.length; i++) {
      const expected = (ps[i] - p0[i]) / c - lr * wd * p0[i];
      err = Math.max(err, Math.abs(pm[i] - p0[i] - expected));
      scale = Math.max(scale, Math.abs(expected));
    }
    expect(scale).toBeGreaterThan(1e-5);
    expect({ ctx, rel: err / scale < 1e-4 }).toEqual({ ctx, rel: true });
    mean.dispose();
    sum.dispose();
  });

  test('single-crop: mean and sum are the same step', async () => {
    const rng = new Rng(seed);
    const views = { key: images(rng, 8, 1, 12), weak: [images(rng, 8, 1, 12)], strong: [images(rng, 8, 1, 9)] };
    const cfg = { width: 8, inChannels: 1, queueSize: 64, splitBN: 2, seed: seed % 1000 };
    const a = ClsaModel.create({ ...cfg, lossReduction: 'mean' }), b = ClsaModel.create(cfg);
    const ra = await a.step(views, { lr: 0.1 }), rb = await b.step(views, { lr: 0.1 });
    expect(ra.loss).toBeCloseTo(rb.loss, 5);
    const pa = a.state().buffers.query_params, pb = b.state().buffers.query_params;
    let err = 0;
    for (let i = 0; i < pa.length; i++) err = Math.max(err, Math.abs(pa[i] - pb[i]));
    expect({ seed, err: err < 1e-6 }).toEqual({ seed, err: true });
    a.dispose();
    b.dispose();
  });

  test('config.lossReduction must be sum or mean', () => {
    expect(() => ClsaModel.create({ ...small, lossReduction: 'avg' as never })).toThrow(/config.lossReduction: expected one of .*'sum'.*'mean'.* but got the string "avg"/);
  });
});
