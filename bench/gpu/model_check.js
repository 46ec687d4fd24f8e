#!/usr/bin/env node
// The CUDA training step against the CPU one, then its throughput (run on the GPU machine by
// bench/gpu/all.sh; needs only node, build/Release/clsa.node, dist/ and node_modules/node-gyp-build).
//   1. parity: a CPU model and a CUDA model (fp32) from the same seed take the same steps on the
//      same views (odd sizes, multi-crop, both archs, 1 and 3 channels); every step's loss terms
//      and, after the steps, every state buffer and the embeddings are compared. Views given as
//      DeviceTensors must give the same numbers as the same views from host memory.
//   2. timing: resnet18, 32x32 RGB, batch 256, single- and multi-crop (the presets' sizes),
//      fp32 and tf32: images per second (one image = all its views) and the phase split.
// Usage: node bench/gpu/model_check.js [--quick] [--out DIR]
// Exit status 1 when a parity check fails, 2 when no GPU is usable.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const argv = process.argv.slice(2);
const opt = (f, d) => { const i = argv.indexOf(f); return i >= 0 && argv[i + 1] ? argv[i + 1] : d; };
const QUICK = argv.includes('--quick');
const OUT = opt('--out', process.env.OUT || path.join(os.tmpdir(), 'clsa-gpu-out'));
const lib = require(path.join(root, 'dist'));
const { ClsaModel, DeviceTensor, Rng, backend, cropPresets } = lib;

const log = (...a) => console.log(...a);
const b = backend();
if (!b.cudaUsable) {
  log(`no usable GPU: ${b.cudaState} ${b.cudaMessage}`);
  process.exit(2);
}
const card = b.devices[0];
log(`GPU: ${card.name} sm_${card.computeMajor}${card.computeMinor}, ${card.multiprocessors} SMs`);

const results = { gpu: card, parity: [], timing: [], errors: [] };
fs.mkdirSync(OUT, { recursive: true });
const save = () => fs.writeFileSync(path.join(OUT, QUICK ? 'model-quick.json' : 'model.json'), JSON.stringify(results, null, 1));
let failures = 0;

function img(rng, n, c, h, w = h) {
  const data = new Float32Array(n * c * h * w);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return { data, shape: [n, c, h, w] };
}
function relNorm(a, ref) {
  let e = 0, n = 0;
  for (let i = 0; i < ref.length; i++) { e += (a[i] - ref[i]) ** 2; n += ref[i] ** 2; }
  return n === 0 ? Math.sqrt(e) : Math.sqrt(e / n);
}
const relErr = (a, ref) => Math.abs(a - ref) / Math.max(Math.abs(ref), 1e-30);
function check(name, err, bound, extra = '') {
  const ok = Number.isFinite(err) && err <= bound;
  if (!ok) failures++;
  results.parity.push({ name, err, bound, ok });
  log(`${ok ? 'PASS' : 'FAIL'} ${name}: ${err.toExponential(2)} (bound ${bound})${extra}`);
}

// fp32 on both sides, but different summation orders: the losses agree to ~1e-5 per step; the
// parameters drift apart by rounding amplified through the steps, hence the looser state bound.
const LOSS_BOUND = 1e-4, STATE_BOUND = 1e-3, EMBED_BOUND = 1e-3;

async function parityCase(label, { batch: n, ...cfg }, viewSizes, steps) {
  const seed = Date.now() >>> 0;
  log(`${label}: views seed ${seed}`);
  const rng = new Rng(seed);
  const cpu = ClsaModel.create({ ...cfg, device: 'cpu' });
  const gpu = ClsaModel.create({ ...cfg, device: 'cuda', precision: 'fp32' });
  const c = cfg.inChannels;
  try {
    for (let s = 0; s < steps; s++) {
      const v = {
        key: img(rng, n, c, viewSizes.key[0], viewSizes.key[1]),
        weak: viewSizes.weak.map(([h, w]) => img(rng, n, c, h, w)),
        strong: viewSizes.strong.map(([h, w]) => img(rng, n, c, h, w)),
      };
      const rc = await cpu.step(v, { lr: 0.05 });
      const rg = await gpu.step(v, { lr: 0.05 });
      for (const k of ['loss', 'nceLoss', 'ddmLoss'])
        if (k !== 'ddmLoss' || viewSizes.strong.length > 0) check(`${label} step ${s + 1} ${k}`, relErr(rg[k], rc[k]), LOSS_BOUND);
      check(`${label} step ${s + 1} accuracy`, Math.abs(rg.accuracy - rc.accuracy), 2 / n);
    }
    const sc = cpu.state(), sg = gpu.state();
    for (const name of Object.keys(sc.buffers)) check(`${label} after ${steps} steps: ${name}`, relNorm(sg.buffers[name], sc.buffers[name]), STATE_BOUND);
    if (sg.queuePointer !== sc.queuePointer || sg.step !== sc.step || sg.rng.join() !== sc.rng.join()) {
      failures++;
      log(`FAIL ${label}: counters differ ${JSON.stringify([sc.queuePointer, sc.step, sc.rng])} vs ${JSON.stringify([sg.queuePointer, sg.step, sg.rng])}`);
    }
    const x = img(rng, 37, c, viewSizes.key[0], viewSizes.key[1]);
    const ec = await cpu.embed(x), eg = await gpu.embed(x);
    check(`${label} embed (37 images, eval BN)`, relNorm(eg.data, ec.data), EMBED_BOUND);
    // The same views from device memory: the CUDA model must not care where they come from.
    const v = { key: img(rng, n, c, viewSizes.key[0], viewSizes.key[1]), weak: viewSizes.weak.map(([h, w]) => img(rng, n, c, h, w)), strong: [] };
    const twin = ClsaModel.fromState(gpu.state());
    const dv = { key: DeviceTensor.fromHost(v.key), weak: v.weak.map((t) => DeviceTensor.fromHost(t)), strong: [] };
    const r1 = await gpu.step(v, { lr: 0.05 }), r2 = await twin.step(dv, { lr: 0.05 });
    check(`${label} host views vs DeviceTensor views (loss)`, relErr(r2.loss, r1.loss), 1e-6);
    [dv.key, ...dv.weak].forEach((t) => t.dispose());
    twin.dispose();
  } finally {
    cpu.dispose();
    gpu.dispose();
  }
}

async function timeCase(label, cfg, preset, batch, precision, steps) {
  const rng = new Rng(3);
  const sz = (v) => [v.size, v.size];
  const model = ClsaModel.create({ ...cfg, device: 'cuda', precision });
  const v = {
    key: img(rng, batch, cfg.inChannels, ...sz(preset.key)),
    weak: preset.weak.map((w) => img(rng, batch, cfg.inChannels, ...sz(w))),
    strong: preset.strong.map((w) => img(rng, batch, cfg.inChannels, ...sz(w))),
  };
  // Views resident on the GPU (as augmentBatch with device 'cuda' leaves them): no upload in the step.
  const dv = { key: DeviceTensor.fromHost(v.key), weak: v.weak.map((t) => DeviceTensor.fromHost(t)), strong: v.strong.map((t) => DeviceTensor.fromHost(t)) };
  try {
    for (let i = 0; i < 2; i++) await model.step(dv, { lr: 0.01 });  // warm-up: allocations, caches
    const phases = { keyForward: 0, queryForward: 0, head: 0, backward: 0, update: 0 };
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < steps; i++) {
      const r = await model.step(dv, { lr: 0.01 });
      for (const k of Object.keys(phases)) phases[k] += r.seconds[k];
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const row = {
      label, precision, batch, views: { key: preset.key.size, weak: preset.weak.map((w) => w.size), strong: preset.strong.map((w) => w.size) },
      imagesPerSecond: (batch * steps) / seconds, msPerStep: (1000 * seconds) / steps,
      phaseMsPerStep: Object.fromEntries(Object.entries(phases).map(([k, s]) => [k, (1000 * s) / steps])),
    };
    results.timing.push(row);
    const ph = Object.entries(row.phaseMsPerStep).map(([k, s]) => `${k} ${s.toFixed(1)}`).join(', ');
    log(`${label} ${precision}: ${row.imagesPerSecond.toFixed(0)} images/s, ${row.msPerStep.toFixed(1)} ms/step (${ph} ms)`);
  } finally {
    [dv.key, ...dv.weak, ...dv.strong].forEach((t) => t.dispose());
    model.dispose();
  }
}

(async () => {
  const stage = async (name, fn) => {
    const t0 = Date.now();
    try { await fn(); } catch (e) { failures++; results.errors.push({ stage: name, message: String(e && e.stack || e) }); log(`!! ${name}: ${e && e.stack || e}`); }
    log(`-- ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    save();
  };
  await stage('parity', async () => {
    const base = { queueSize: 203, splitBN: 4, seed: 11, projDim: 24 };
    await parityCase('resnet-mini w8 1ch single', { ...base, arch: 'resnet-mini', width: 8, inChannels: 1, batch: 12 },
      { key: [13, 11], weak: [[13, 11]], strong: [[9, 8]] }, 3);
    if (!QUICK) {
      await parityCase('resnet18 w8 3ch multi', { ...base, arch: 'resnet18', width: 8, inChannels: 3, batch: 8, ddmTemperature: 0.3 },
        { key: [16, 16], weak: [[16, 16], [12, 12], [9, 10]], strong: [[16, 16], [8, 8]] }, 2);
      await parityCase('resnet-mini w16 3ch MoCo (S=0)', { ...base, arch: 'resnet-mini', width: 16, inChannels: 3, batch: 16, ddmWeight: 0 },
        { key: [20, 20], weak: [[20, 20]], strong: [] }, 2);
    }
  });
  if (!QUICK) {
    await stage('timing', async () => {
      const cfg = { arch: 'resnet18', inChannels: 3, queueSize: 4096, splitBN: 8 };
      for (const kind of ['single', 'multi'])
        for (const precision of ['fp32', 'tf32'])
          await timeCase(`resnet18 32x32 ${kind}`, cfg, cropPresets(kind, 32), 256, precision, kind === 'multi' ? 3 : 5);
    });
  }
  log(`model parity: ${results.parity.filter((p) => p.ok).length}/${results.parity.length} PASS${failures ? ` (${failures} failures)` : ''}`);
  save();
  process.exit(failures ? 1 : 0);
})();
