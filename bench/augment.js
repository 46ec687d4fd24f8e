#!/usr/bin/env node
// Augmentation throughput: views per second of the weak and strong pipelines.
//   node bench/augment.js [--cpu-only | --gpu-only] [--seconds 2]
// Needs dist/ (npm run build) and the addon. Prints one JSON object per measurement (machine
// readable) and a short table on stderr. The CPU section measures augmentBatchSync on host
// outputs; the GPU section (skipped without a usable GPU) measures the native call end to end:
// host draws + parameter/image upload + kernel + synchronise, outputs left in device memory.
'use strict';
const os = require('os');
const path = require('path');
const clsa = require(path.join(__dirname, '..', 'dist'));
const { native } = require(path.join(__dirname, '..', 'dist', 'native'));
const { resolveView } = require(path.join(__dirname, '..', 'dist', 'augment'));

const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf('--seconds') + 1]) || 2;
const cpuOnly = args.includes('--cpu-only'), gpuOnly = args.includes('--gpu-only');

function batch(n, s, c, seed) {
  const data = new Uint8Array(n * s * s * c);
  let x = seed >>> 0;
  for (let i = 0; i < data.length; i++) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; data[i] = x >>> 24; }
  return { data, shape: [n, s, s, c] };
}

function measure(fn, viewsPerCall) {
  fn(); // warm-up
  let calls = 0;
  const t0 = process.hrtime.bigint();
  let dt = 0;
  do { fn(); calls++; dt = Number(process.hrtime.bigint() - t0) / 1e9; } while (dt < seconds);
  return { viewsPerSecond: (calls * viewsPerCall) / dt, seconds: dt, calls };
}

const results = [];
function report(r) { results.push(r); console.log(JSON.stringify(r)); }

const b = clsa.backend();
const pipelines = (size) => ({ weak: clsa.weakView(size), strong: clsa.strongView(size) });

if (!gpuOnly) {
  for (const [size, c, n] of [[28, 1, 4096], [32, 3, 2048]]) {
    const imgs = batch(n, size, c, 1);
    for (const [name, view] of Object.entries(pipelines(size))) {
      let seed = 0;
      const out = [new Float32Array(n * c * size * size)];  // reused, as a training loop would
      const m = measure(() => clsa.augmentBatchSync(imgs, [view], { seed: seed++, out }), n);
      report({ bench: 'augment', device: 'cpu', pipeline: name, size, channels: c, batch: n, threads: b.cpuThreads,
               viewsPerSecond: Math.round(m.viewsPerSecond), seconds: +m.seconds.toFixed(2),
               loadavg1: +os.loadavg()[0].toFixed(2), cpus: os.cpus().length });
    }
  }
}

if (!cpuOnly) {
  if (!b.cudaUsable) {
    report({ bench: 'augment', device: 'cuda', skipped: true, reason: `${b.cudaState}: ${b.cudaMessage}` });
  } else {
    const N = native();
    for (const [size, c, n, nviews] of [[32, 3, 8192, 4], [28, 1, 8192, 4], [32, 3, 65536, 2]]) {
      const imgs = batch(n, size, c, 2);
      for (const [name, view] of Object.entries(pipelines(size))) {
        const views = new Array(nviews).fill(view).map((v, i) => resolveView(`views[${i}]`, v, c));
        const outputs = views.map((v) => new N.DeviceBuffer(0, n * c * v.size * v.size));
        let seed = 0;
        const call = () => N.augmentSync({ images: imgs.data, n, height: size, width: size, channels: c, views,
                                            seed: seed++, imageOffset: 0, outputs });
        const m = measure(call, n * nviews);
        report({ bench: 'augment', device: 'cuda', gpu: b.devices[0].name, pipeline: name, size, channels: c, batch: n,
                 views: nviews, viewsPerSecond: Math.round(m.viewsPerSecond), seconds: +m.seconds.toFixed(2),
                 note: 'end to end: host draw + upload + kernel + sync' });
        outputs.forEach((o) => o.dispose());
      }
    }
  }
}

console.error('\ndevice pipeline size  C   views/s');
for (const r of results)
  if (!r.skipped) console.error(`${r.device.padEnd(6)} ${r.pipeline.padEnd(8)} ${String(r.size).padEnd(5)} ${r.channels}  ${r.viewsPerSecond}`);
  else console.error(`${r.device.padEnd(6)} skipped (${r.reason})`);
