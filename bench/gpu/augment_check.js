#!/usr/bin/env node
// CUDA augmentation vs its CPU twin, then CUDA throughput. Plain node: needs only
// build/Release/clsa.node (built with CUDA) and dist/ (npm run build). No jest, no npm.
//   node bench/gpu/augment_check.js [--quick] [--dry-run-cpu]
// --dry-run-cpu runs the script with host buffers standing in for device ones (CPU against
// CPU), to test the script itself on a machine without a GPU.
// Both executors consume the same drawn parameters (the draw is on the host, keyed by seed,
// image and view) and run the same per-pixel code, so the outputs are expected to be identical;
// the pass criterion is the issue's tolerance: max |diff| <= 1/255 of a grey level after
// normalisation (1 / (255 std)), and 0 for the point ops. Exits 1 on a failed check, 0 when no
// GPU is usable (skipped).
'use strict';
const path = require('path');
const root = path.join(__dirname, '..', '..');
const clsa = require(path.join(root, 'dist'));
const { native } = require(path.join(root, 'dist', 'native'));
const { resolveView } = require(path.join(root, 'dist', 'augment'));

const quick = process.argv.includes('--quick'), dry = process.argv.includes('--dry-run-cpu');
const b = clsa.backend();
if (!b.cudaUsable && !dry) {
  console.log(`augment_check: skipped (CUDA ${b.cudaState}: ${b.cudaMessage})`);
  process.exit(0);
}
const N = dry ? { ...native(), DeviceBuffer: class {
  constructor(_i, len) { this.a = new Float32Array(len); }
  download(dst) { dst.set(this.a.subarray(0, dst.length)); }
  dispose() {}
} } : native();
const unwrap = (o) => (dry && o.a ? o.a : o);
const gpu = dry ? { name: 'CPU (dry run)', computeCapability: '-' } : b.devices[0];

function batch(n, h, w, c, seed) {
  const data = new Uint8Array(n * h * w * c);
  let x = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    // half noise, half smooth images: histograms and resampling both get exercised
    const img = Math.floor(i / (h * w * c));
    const p = i % (h * w * c), yy = Math.floor(p / (w * c)), xx = Math.floor(p / c) % w;
    data[i] = img % 2 ? x >>> 24 : Math.round(127 + 120 * Math.sin(xx * 0.37 + (p % c)) * Math.cos(yy * 0.23));
  }
  return data;
}

// Runs one call on both devices; returns per-view max |diff| and mismatch counts.
function compare(images, n, h, w, c, views, seed, params) {
  const nv = views.map((v, i) => resolveView(`views[${i}]`, v, c));
  const host = nv.map((v) => new Float32Array(n * c * v.size * v.size));
  const dev = nv.map((v) => new N.DeviceBuffer(0, Math.max(1, n * c * v.size * v.size)));
  const args = (outputs) => ({ images, n, height: h, width: w, channels: c, views: nv, seed, imageOffset: 0,
    outputs: outputs.map(unwrap) });
  if (params) { N.augmentApply(args(host), params); N.augmentApply(args(dev), params); }
  else { N.augmentSync(args(host)); N.augmentSync(args(dev)); }
  return nv.map((v, i) => {
    const got = new Float32Array(host[i].length);
    if (got.length) dev[i].download(got);
    dev[i].dispose();
    let max = 0, bad = 0;
    for (let j = 0; j < got.length; j++) {
      const d = Math.abs(got[j] - host[i][j]);
      if (!(d <= max)) max = Number.isNaN(d) ? Infinity : d;
      if (d !== 0) bad++;
    }
    return { size: v.size, strong: v.raN > 0, max, bad, total: got.length, tol: 1.0001 / (255 * Math.min(...v.std)) };
  });
}

const rows = [];
let failed = false;
function check(name, res, exactRequired) {
  for (const r of res) {
    const ok = exactRequired ? r.max === 0 : r.max <= r.tol;
    if (!ok) failed = true;
    rows.push({ check: name, view: `${r.strong ? 'strong' : 'weak'} ${r.size}`, maxAbsDiff: r.max, mismatches: `${r.bad}/${r.total}`, ok });
  }
}

// 1. Whole pipelines with drawn parameters: small (shared-memory path) and large (global scratch).
const configs = [
  ['28px gray, multi preset', 28, 28, 1, quick ? 64 : 512, clsa.cropPresets('multi', 28).views],
  ['32px rgb', 32, 32, 3, quick ? 64 : 512, [clsa.weakView(32), clsa.strongView(32), clsa.strongView(14)]],
  ['40x30 rgb non-square', 30, 40, 3, quick ? 32 : 128, [clsa.weakView(24), clsa.strongView(17, { randAugment: { n: 8, p: 0.9 } })]],
  ['96px rgb (global scratch)', 96, 96, 3, quick ? 8 : 48, [clsa.weakView(96), clsa.strongView(64)]],
];
for (const [name, h, w, c, n, views] of configs) check(name, compare(batch(n, h, w, c, 7), n, h, w, c, views, 11, null), false);

// 2. Each RandAugment op alone on a full-image crop, every magnitude parity and both signs.
const OPS = ['autoContrast', 'brightness', 'color', 'contrast', 'equalize', 'identity', 'posterize', 'rotate',
  'sharpness', 'shearX', 'shearY', 'solarize', 'translateX', 'translateY'];
const POINT = new Set(['autoContrast', 'brightness', 'color', 'contrast', 'equalize', 'identity', 'posterize', 'solarize']);
for (const c of [1, 3]) {
  const n = 16, s = 21, images = batch(n, s, s, c, 3 + c);
  const view = { size: s, mean: new Array(c).fill(0.5), std: new Array(c).fill(0.25), randAugment: { n: 0, fill: 128 } };
  OPS.forEach((name, id) => {
    const params = [Array.from({ length: n }, (_, i) => ({
      cropX: 0, cropY: 0, cropW: s, cropH: s, flip: false, jitter: false, jitterOrder: [-1, -1, -1, -1],
      brightness: 1, contrast: 1, saturation: 1, hue: 0, grayscale: false, blur: false, blurSigma: 1,
      ops: [{ op: id, magnitude: 1 + (i % 9), sign: i % 2 ? 1 : -1, applied: true }],
    }))];
    check(`op ${name} C=${c}`, compare(images, n, s, s, c, [view], 0, params), POINT.has(name));
  });
}

console.log(`\naugment_check on ${gpu.name} (sm ${gpu.computeCapability})`);
console.log('check                               view        max|diff|    mismatches      ok');
for (const r of rows)
  console.log(`${r.check.padEnd(35)} ${r.view.padEnd(11)} ${r.maxAbsDiff.toExponential(2).padEnd(12)} ${r.mismatches.padEnd(15)} ${r.ok ? 'yes' : 'NO'}`);

// 3. Throughput, end to end per call: host draw + upload + kernel + synchronise.
function time(fn, views) {
  fn();
  let calls = 0;
  const t0 = process.hrtime.bigint();
  let dt = 0;
  do { fn(); calls++; dt = Number(process.hrtime.bigint() - t0) / 1e9; } while (dt < (quick ? 0.5 : 2));
  return (calls * views) / dt;
}
console.log('\nthroughput (end to end)             batch x views   views/s');
const timings = dry ? [['32px rgb weak (dry run, CPU)', 32, 3, 256, 2, false]] : [
  ['32px rgb weak', 32, 3, 16384, 4, false], ['32px rgb strong', 32, 3, 16384, 4, true],
  ['28px gray weak', 28, 1, 16384, 4, false], ['28px gray strong', 28, 1, 16384, 4, true],
  ['32px rgb weak, big batch', 32, 3, 65536, 2, false], ['32px rgb multi preset (11 views)', 32, 3, 8192, 11, null],
];
for (const [label, s, c, n, nviews, strong] of timings) {
  const specs = strong === null ? clsa.cropPresets('multi', s).views
    : new Array(nviews).fill(strong ? clsa.strongView(s) : clsa.weakView(s));
  const nv = specs.map((v, i) => resolveView(`v${i}`, v, c));
  const outputs = nv.map((v) => new N.DeviceBuffer(0, n * c * v.size * v.size));
  const images = batch(n, s, s, c, 5);
  let seed = 0;
  const vps = time(() => N.augmentSync({ images, n, height: s, width: s, channels: c, views: nv, seed: seed++, imageOffset: 0,
    outputs: outputs.map(unwrap) }), n * nviews);
  outputs.forEach((o) => o.dispose());
  console.log(`${label.padEnd(35)} ${`${n} x ${nviews}`.padEnd(15)} ${Math.round(vps)}`);
  console.log(JSON.stringify({ bench: 'augment_gpu', gpu: gpu.name, label, size: s, channels: c, batch: n, views: nviews, viewsPerSecond: Math.round(vps) }));
}
console.log(failed ? '\nFAILED: CUDA and CPU disagree beyond tolerance' : '\nall checks passed');
process.exit(failed ? 1 : 0);
