#!/usr/bin/env node
// GPU check, node side (run by bench/gpu.sh on the GPU machine; needs only node, the prebuilt
// build/Release/clsa.node, dist/ and node_modules/node-gyp-build):
//   1. backend()                      2. parity of every CUDA kernel against its CPU twin
//   3. CUDA-event timings             4. one input set + our results exported for torch_head.py
// Usage: node bench/gpu/run.js [--quick] [--no-timing] [--no-parity] [--dry-run] [--out DIR] [--data DIR]
//   --quick: small parity shapes only (what compute-sanitizer runs).
//   --dry-run: no GPU needed; host-memory stand-ins for the device calls (dryrun-shim.js) to
//              test this script and the TypeScript device paths. Its numbers mean nothing.
// Exit status 1 when a parity check fails (after everything else ran), 2 when there is no GPU.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const argv = process.argv.slice(2);
const flag = (f) => argv.includes(f);
const opt = (f, d) => { const i = argv.indexOf(f); return i >= 0 && argv[i + 1] ? argv[i + 1] : d; };
const QUICK = flag('--quick');
const OUT = opt('--out', process.env.OUT || path.join(os.tmpdir(), 'clsa-gpu-out'));
const DATA = opt('--data', path.join(os.tmpdir(), 'clsa-gpu-data'));

const lib = require(path.join(root, 'dist'));
const { native } = require(path.join(root, 'dist', 'native'));
const { DeviceTensor } = require(path.join(root, 'dist', 'device'));
const { Rng } = lib;
const nat = native();
const DRY = flag('--dry-run');
if (DRY) require('./dryrun-shim')(nat);

const results = { backend: null, parity: [], timing: [], errors: [] };
fs.mkdirSync(OUT, { recursive: true });
function writeResults() {
  try {
    const f = path.join(OUT, QUICK ? 'results-quick.json' : 'results.json');
    fs.writeFileSync(f + '.tmp', JSON.stringify(results, null, 1));
    fs.renameSync(f + '.tmp', f);
  } catch (e) {
    log(`could not write results: ${e.message}`);
  }
}
const log = (...a) => console.log(...a);
async function stage(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
  } catch (e) {
    results.errors.push({ stage: name, message: String(e && e.stack || e) });
    log(`!! stage ${name} failed: ${e && e.message}`);
  }
  log(`-- ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  writeResults();  // after every stage, so a timeout still leaves what was measured
}

// ---------------------------------------------------------------------------------------------
function randn(rng, n, scale = 1) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}
function unitRows(rng, rows, cols) {
  const a = randn(rng, rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += a[r * cols + j] ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < cols; j++) a[r * cols + j] *= inv;
  }
  return a;
}
function relNorm(a, b) {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  if (!Number.isFinite(num)) return Infinity;
  return den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
}
const relErr = (a, b) => (Number.isFinite(a) ? Math.abs(a - b) / Math.max(Math.abs(b), 1e-6) : Infinity);
const up = (data) => { const t = DeviceTensor.fromHost({ data, shape: [data.length] }); return t; };
const PREC = ['fp32', 'tf32', 'bf16', 'fp16'];

function makeInputs(seed, c) {
  const rng = new Rng(seed);
  const { W, S, N, D, K } = c;
  // Raw embeddings when normalising (norms far from 1); unit rows otherwise, as a caller would pass.
  const q = (rows) => (c.normalize ? randn(rng, rows * D, 3) : unitRows(rng, rows, D));
  return { weak: q(W * N), strong: q(S * N), keys: q(N), queue: unitRows(rng, K, D) };
}

function cpuHead(c, x, reference = false) {
  const gw = new Float32Array(c.W * c.N * c.D), gs = new Float32Array(c.S * c.N * c.D), st = new Float32Array(4);
  (reference ? nat.headReference : nat.headSync)({
    n: c.N, d: c.D, k: c.K, w: c.W, s: c.S, temperature: c.tau, ddmTemperature: c.tau2, ddmWeight: c.alpha,
    normalize: c.normalize, precision: 0,
    weak: x.weak, strong: c.S > 0 ? x.strong : null, keys: x.keys, queue: x.queue, gradWeak: gw,
    gradStrong: c.S > 0 ? gs : null, stats: st,
  });
  return { stats: st, gw, gs };
}

// The CUDA head on device buffers, outputs poisoned with NaN first.
function gpuHead(c, dx, precision) {
  const gw = DeviceTensor.empty([c.W * c.N * c.D]), gs = DeviceTensor.empty([Math.max(c.S * c.N * c.D, 1)]);
  const st = DeviceTensor.empty([4]);
  try {
    gw.fill(NaN); gs.fill(NaN); st.fill(NaN);
    nat.headSync({
      n: c.N, d: c.D, k: c.K, w: c.W, s: c.S, temperature: c.tau, ddmTemperature: c.tau2, ddmWeight: c.alpha,
      normalize: c.normalize, precision: PREC.indexOf(precision),
      weak: dx.weak.buffer, strong: c.S > 0 ? dx.strong.buffer : null, keys: dx.keys.buffer, queue: dx.queue.buffer,
      gradWeak: gw.buffer, gradStrong: c.S > 0 ? gs.buffer : null, stats: st.buffer,
    });
    return { stats: st.toHost().data, gw: gw.toHost().data, gs: c.S > 0 ? gs.toHost().data : new Float32Array(0) };
  } finally {
    gw.dispose(); gs.dispose(); st.dispose();
  }
}

function record(kernel, shape, precision, metrics, pass, note = '') {
  results.parity.push({ kernel, shape, precision, ...metrics, pass, note });
  const m = Object.entries(metrics).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toExponential(2) : v}`).join(' ');
  log(`${pass ? 'PASS' : 'FAIL'}  ${kernel.padEnd(8)} ${precision.padEnd(5)} ${shape.padEnd(44)} ${m}${note ? '  ' + note : ''}`);
}

function headCases() {
  const base = { tau: 0.2, tau2: 0.2, alpha: 1, normalize: true };
  const cases = [
    { ...base, N: 7, K: 13, D: 5, W: 1, S: 1 },
    { ...base, N: 7, K: 13, D: 5, W: 2, S: 3, tau2: 0.3, normalize: false },
    { ...base, N: 33, K: 1000, D: 70, W: 2, S: 3, tau2: 0.35 },
    { ...base, N: 100, K: 1, D: 16, W: 1, S: 2, alpha: 0 },
    { ...base, N: 5, K: 70, D: 130, W: 1, S: 1, tau: 0.1 },  // D > 128: fp32 only
  ];
  for (let S = 0; S <= 5; S++)
    if (!QUICK || S === 0 || S === 5) cases.push({ ...base, N: 16, K: 300, D: 32, W: 5, S, tau2: S % 2 ? 0.3 : 0.2 });
  if (!QUICK) {
    cases.push({ ...base, N: 33, K: 1000, D: 70, W: 2, S: 3, normalize: false, tau: 0.07, tau2: 0.1 });
    cases.push({ ...base, N: 256, K: 4096, D: 128, W: 1, S: 1 });                // M = 512, single crop
    cases.push({ ...base, N: 256, K: 65536, D: 128, W: 5, S: 5 });               // the multi-crop target
    cases.push({ ...base, N: 256, K: 65536, D: 128, W: 5, S: 5, tau2: 0.1 });    // both temperatures
  } else {
    cases.push({ ...base, N: 64, K: 500, D: 128, W: 2, S: 2, tau2: 0.3 });
  }
  return cases;
}

function parityHead() {
  let seed = 1000 + (Date.now() % 100000);
  for (const c of headCases()) {
    const shape = `W${c.W} S${c.S} N${c.N} D${c.D} K${c.K} t${c.tau}/${c.tau2}${c.normalize ? '' : ' raw'}${c.alpha === 0 ? ' a0' : ''}`;
    const x = makeInputs(seed++, c);
    const ref = cpuHead(c, x);
    const dx = { weak: up(x.weak), strong: up(x.strong.length ? x.strong : new Float32Array(1)), keys: up(x.keys), queue: up(x.queue) };
    try {
      for (const p of PREC) {
        // The issue's bounds for every reduced precision. bf16's 8-bit mantissa on Q and X alone
        // moves the strong rows' DDM gradient by ~2.9e-3 relative (float64 emulation, NOTES.md):
        // when it crosses 3e-3 the table says FAIL, and that is the honest result.
        const tolL = p === 'fp32' ? 1e-5 : 3e-3, tolG = p === 'fp32' ? 1e-4 : 3e-3;
        const tolGS = tolG;
        let g;
        try {
          g = gpuHead(c, dx, p);
        } catch (e) {
          const unsupported = e.code === 'CLSA_ERR_UNSUPPORTED' && (c.D > 128 && p !== 'fp32');
          record('head', shape, p, {}, unsupported, unsupported ? 'unsupported (expected): ' + e.message.slice(0, 60) : 'ERROR ' + e.message);
          continue;
        }
        const m = {
          loss: relErr(g.stats[0], ref.stats[0]), nce: relErr(g.stats[1], ref.stats[1]),
          ddm: c.S > 0 ? relErr(g.stats[2], ref.stats[2]) : Math.abs(g.stats[2]),
          acc: Math.abs(g.stats[3] - ref.stats[3]),
          gW: relNorm(g.gw, ref.gw), gS: c.S > 0 ? relNorm(g.gs, ref.gs) : 0,
        };
        // Accuracy is an argmax: a near-tie may flip under rounding, allow one row in fp32.
        const accTol = (p === 'fp32' ? 1.01 : 0.02 * c.W * c.N + 1.01) / (c.W * c.N);
        const pass = m.loss <= tolL && m.nce <= tolL && (c.S === 0 ? m.ddm === 0 : m.ddm <= tolL) &&
          m.gW <= tolG && m.gS <= tolGS && m.acc <= accTol;
        record('head', shape, p, m, pass);
        // Small shapes: the fp32 kernel against the float64 reference as well.
        if (p === 'fp32' && (c.W + c.S) * c.N * (c.N + c.K) <= 4e6) {
          const r64 = cpuHead(c, x, true);
          const m64 = { loss: relErr(g.stats[0], r64.stats[0]), gW: relNorm(g.gw, r64.gw), gS: c.S > 0 ? relNorm(g.gs, r64.gs) : 0 };
          record('head64', shape, p, m64, m64.loss <= 1e-5 && m64.gW <= 1e-4 && m64.gS <= 1e-4);
        }
      }
      // The public API with DeviceTensors (gradients stay on the device) and host + 'cuda'.
      if (c.S > 0 && c.D <= 128) {
        const opts = { temperature: c.tau, ddmTemperature: c.tau2, ddmWeight: c.alpha, normalize: c.normalize };
        const shp = (d, r) => DeviceTensor.fromHost({ data: d, shape: r });
        const di = { weak: shp(x.weak, [c.W, c.N, c.D]), strong: shp(x.strong, [c.S, c.N, c.D]),
                     keys: shp(x.keys, [c.N, c.D]), queue: shp(x.queue, [c.K, c.D]) };
        try {
          const r = lib.clsaHeadSync(di, opts);
          const gw = r.gradWeak.toHost().data;
          r.gradWeak.dispose(); r.gradStrong.dispose();
          const h = lib.clsaHeadSync({ weak: { data: x.weak, shape: [c.W, c.N, c.D] }, strong: { data: x.strong, shape: [c.S, c.N, c.D] },
                                       keys: { data: x.keys, shape: [c.N, c.D] }, queue: { data: x.queue, shape: [c.K, c.D] } },
                                     { ...opts, device: 'cuda' });
          const m = { loss: relErr(r.loss, ref.stats[0]), gW: relNorm(gw, ref.gw), hostLoss: relErr(h.loss, ref.stats[0]), hostgS: relNorm(h.gradStrong, ref.gs) };
          record('api', shape, 'fp32', m, m.loss <= 1e-5 && m.gW <= 1e-4 && m.hostLoss <= 1e-5 && m.hostgS <= 1e-4);
        } finally {
          Object.values(di).forEach((t) => t.dispose());
        }
      }
    } finally {
      Object.values(dx).forEach((t) => t.dispose());
    }
  }
}

// clsaHead (the Promise API: HeadWorker on a libuv thread) with DeviceTensors.
async function parityAsync() {
  const c = { W: 2, S: 2, N: 33, D: 70, K: 1000, tau: 0.2, tau2: 0.3, alpha: 1, normalize: true };
  const x = makeInputs(4321, c);
  const ref = cpuHead(c, x);
  const shp = (d, r) => DeviceTensor.fromHost({ data: d, shape: r });
  const di = { weak: shp(x.weak, [c.W, c.N, c.D]), strong: shp(x.strong, [c.S, c.N, c.D]),
               keys: shp(x.keys, [c.N, c.D]), queue: shp(x.queue, [c.K, c.D]) };
  try {
    const rs = await Promise.all([0, 1, 2].map(() => lib.clsaHead(di, { ddmTemperature: c.tau2 })));
    for (const r of rs) {
      const m = { loss: relErr(r.loss, ref.stats[0]), gS: relNorm(r.gradStrong.toHost().data, ref.gs) };
      r.gradWeak.dispose(); r.gradStrong.dispose();
      record('async', 'W2 S2 N33 D70 K1000 x3 concurrent', 'fp32', m, m.loss <= 1e-5 && m.gS <= 1e-4);
    }
  } finally {
    Object.values(di).forEach((t) => t.dispose());
  }
}

function parityMomentum() {
  const rng = new Rng(77);
  for (const n of [1, 3, 1000, 1000003]) {
    const t = randn(rng, n), s = randn(rng, n), m = 0.99;
    const host = Float32Array.from(t);
    lib.momentumUpdate(host, s, m, { device: 'cpu' });
    const dt = up(t), ds = up(s);
    try {
      dt.fill(NaN); dt.buffer.upload(t);  // poison, then the real values
      lib.momentumUpdate(dt, ds, m);
      const g = dt.toHost().data;
      // Error of each result against float64, measured in units of the operands' size
      // |m t| + |(1 - m) s|: two fp32 roundings (or one with an FMA) stay under 2^-22 of it,
      // whatever cancellation does to the result itself. GPU and CPU are both held to it.
      let maxRel = 0, cpuRel = 0;
      for (let i = 0; i < n; i++) {
        const ref = m * t[i] + (1 - m) * s[i], scale = Math.abs(m * t[i]) + Math.abs((1 - m) * s[i]) + 1e-30;
        maxRel = Math.max(maxRel, Math.abs(g[i] - ref) / scale);
        cpuRel = Math.max(cpuRel, Math.abs(host[i] - ref) / scale);
      }
      if (!g.every(Number.isFinite)) maxRel = Infinity;
      record('ema', `count ${n}`, 'fp32', { maxRel, cpuRel }, maxRel <= 2 ** -22 && cpuRel <= 2 ** -22);
    } finally {
      dt.dispose(); ds.dispose();
    }
  }
}

function parityEnqueue() {
  const rng = new Rng(91);
  for (const [K, D, N, steps, normalize] of [[13, 5, 7, 4, false], [13, 5, 7, 4, true], [13, 5, 20, 2, true], [1000, 70, 33, 40, false], [4096, 128, 256, 20, true]]
    .slice(0, QUICK ? 3 : 5)) {
    const qc = new lib.Queue(K, D, { seed: 5, device: 'cpu' });
    const qg = new lib.Queue(K, D, { seed: 5, device: 'cuda' });
    try {
      for (let i = 0; i < steps; i++) {
        const keys = { data: randn(rng, N * D, 2), shape: [N, D] };
        qc.enqueue(keys, { normalize });
        if (i % 2) {
          const dk = DeviceTensor.fromHost(keys);
          try { qg.enqueue(dk, { normalize }); } finally { dk.dispose(); }
        } else {
          qg.enqueue(keys, { normalize });
        }
      }
      const a = qg.data, b = qc.data;
      let maxAbs = 0;
      for (let i = 0; i < b.length; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
      if (!a.every(Number.isFinite)) maxAbs = Infinity;
      const ok = maxAbs <= 1e-6 && qg.pointer === qc.pointer;
      record('enqueue', `K${K} D${D} N${N} x${steps}${normalize ? ' norm' : ''}`, 'fp32', { maxAbs, ptr: `${qg.pointer}/${qc.pointer}` }, ok);
    } finally {
      qg.dispose();
    }
  }
}

function parityScan() {
  const rng = new Rng(3);
  for (const [rows, cols, nanAt, zeroRow] of [[1, 1, -1, -1], [10, 7, 23, -1], [10, 7, -1, 4], [300, 33, 9000, 100], [5000, 128, -1, -1]]) {
    const a = randn(rng, rows * cols);
    if (zeroRow >= 0) a.fill(0, zeroRow * cols, (zeroRow + 1) * cols);
    if (nanAt >= 0) a[nanAt] = nanAt % 2 ? NaN : Infinity;
    const host = nat.scanRows(a, rows, cols);
    const d = up(a);
    try {
      const dev = nat.scanRows(d.buffer, rows, cols);
      const ok = dev.nonFinite === host.nonFinite && dev.zeroRow === host.zeroRow;
      record('scan', `${rows}x${cols}`, 'fp32', { dev: `${dev.nonFinite}/${dev.zeroRow}`, cpu: `${host.nonFinite}/${host.zeroRow}` }, ok);
    } finally {
      d.dispose();
    }
  }
}

// ---------------------------------------------------------------------------------------------
const { median } = require('../stats');

function timing() {
  const N = 256, D = 128, K = 65536, SETS = 3;
  for (const [W, S] of [[1, 1], [5, 5]]) {
    const c = { W, S, N, D, K, tau: 0.2, tau2: 0.2, alpha: 1, normalize: true };
    const sets = [];
    try {
      for (let i = 0; i < SETS; i++) {
        const x = makeInputs(500 + i, c);
        sets.push({ weak: up(x.weak), strong: up(x.strong), keys: up(x.keys), queue: up(x.queue) });
      }
      const gw = DeviceTensor.empty([W * N * D]), gs = DeviceTensor.empty([S * N * D]), st = DeviceTensor.empty([4]);
      try {
        for (const p of PREC) {
          const args = {
            n: N, d: D, k: K, w: W, s: S, temperature: 0.2, ddmTemperature: 0.2, ddmWeight: 1, normalize: true,
            precision: PREC.indexOf(p), weak: sets[0].weak.buffer, strong: sets[0].strong.buffer, keys: sets[0].keys.buffer,
            queue: sets[0].queue.buffer, gradWeak: gw.buffer, gradStrong: gs.buffer, stats: st.buffer,
          };
          const nsets = sets.map((s) => ({ weak: s.weak.buffer, strong: s.strong.buffer, keys: s.keys.buffer, queue: s.queue.buffer }));
          try {
            const slow = p === 'fp32' && W > 1;
            const r = nat.cudaBenchHead(args, nsets, { warmup: 2, samples: slow ? 5 : 15 });
            const ms = median(r.timesMs);
            const M = (W + S) * N;
            const tflops = (2 * 2 * M * D * (N + K)) / (ms * 1e-3) / 1e12;
            const name = `head ${W > 1 ? 'multi' : 'single'} ${p}`;
            results.timing.push({ name, ms, min: Math.min(...r.timesMs), tflops, workspaceMB: r.workspaceBytes / 2 ** 20, freeDropMB: r.freeDrop / 2 ** 20 });
            log(`${name.padEnd(20)} ${ms.toFixed(4)} ms (min ${Math.min(...r.timesMs).toFixed(4)})  ${tflops.toFixed(1)} TFLOP/s  workspace ${(r.workspaceBytes / 2 ** 20).toFixed(1)} MB (free drop ${(r.freeDrop / 2 ** 20).toFixed(1)} MB)`);
          } catch (e) {
            results.timing.push({ name: `head ${W > 1 ? 'multi' : 'single'} ${p}`, error: e.message });
            log(`head ${W}x${S} ${p}: ${e.message}`);
          }
        }
      } finally {
        gw.dispose(); gs.dispose(); st.dispose();
      }
    } finally {
      sets.forEach((s) => Object.values(s).forEach((t) => t.dispose()));
    }
  }
  // EMA over 25.6M parameters (ResNet-50): 12 bytes per parameter.
  {
    const n = 25_600_000;
    const t = DeviceTensor.empty([n]), s = DeviceTensor.empty([n]);
    try {
      t.fill(1); s.fill(2);
      const r = nat.cudaBenchMomentum(t.buffer, s.buffer, 0.999, { warmup: 3, samples: 20 });
      const ms = median(r.timesMs);
      results.timing.push({ name: 'ema 25.6M', ms, gbps: (12 * n) / (ms * 1e-3) / 1e9 });
      log(`ema 25.6M            ${ms.toFixed(4)} ms  ${((12 * n) / (ms * 1e-3) / 1e9).toFixed(0)} GB/s`);
    } finally {
      t.dispose(); s.dispose();
    }
  }
  for (const normalize of [false, true]) {
    const q = DeviceTensor.empty([65536 * 128]), k = DeviceTensor.empty([256 * 128]);
    try {
      q.fill(0); k.fill(1);
      const r = nat.cudaBenchEnqueue(q.buffer, 65536, 128, k.buffer, 256, normalize, { warmup: 3, samples: 20 });
      const ms = median(r.timesMs);
      results.timing.push({ name: `enqueue 256x128${normalize ? ' norm' : ''}`, ms });
      log(`enqueue 256x128${normalize ? ' norm' : '     '} ${ms.toFixed(4)} ms`);
    } finally {
      q.dispose(); k.dispose();
    }
  }
}

// One multi-crop input set and our results for torch_head.py (raw float32, little-endian).
function exportForTorch() {
  fs.mkdirSync(DATA, { recursive: true });
  const c = { W: 5, S: 5, N: 256, D: 128, K: 65536, tau: 0.2, tau2: 0.2, alpha: 1, normalize: true };
  const x = makeInputs(4242, c);
  const write = (name, a) => fs.writeFileSync(path.join(DATA, name + '.f32'), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  for (const k of ['weak', 'strong', 'keys', 'queue']) write(k, x[k]);
  const meta = { ...c, ours: {} };
  const dx = { weak: up(x.weak), strong: up(x.strong), keys: up(x.keys), queue: up(x.queue) };
  try {
    for (const p of PREC) {
      try {
        const g = gpuHead(c, dx, p);
        meta.ours[p] = { loss: g.stats[0], nce: g.stats[1], ddm: g.stats[2], accuracy: g.stats[3] };
        if (p === 'fp32') { write('grad_weak', g.gw); write('grad_strong', g.gs); }
      } catch (e) {
        meta.ours[p] = { error: e.message };
      }
    }
  } finally {
    Object.values(dx).forEach((t) => t.dispose());
  }
  meta.timing = results.timing;
  fs.writeFileSync(path.join(DATA, 'meta.json'), JSON.stringify(meta, null, 1));
  log(`exported one multi-crop set and our results to ${DATA}`);
}

// ---------------------------------------------------------------------------------------------
(async () => {
await stage('backend', () => {
  const b = lib.backend();
  results.backend = b;
  log(`clsa ${b.version}  cuda compiled=${b.cudaCompiled} state=${b.cudaState} runtime=${b.cudaRuntimeVersion} driver=${b.cudaDriverVersion}`);
  if (b.cudaMessage) log(`  ${b.cudaMessage}`);
  for (const d of b.devices) log(`  GPU ${d.index}: ${d.name} (sm_${d.computeCapability.replace('.', '')}, ${d.multiprocessors} SMs, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB)`);
  log(`  CPU: ${b.cpuThreads} threads, kernel ${b.cpuKernel}`);
});


if (!results.backend || !results.backend.cudaUsable) {
  log('no usable GPU: skipping parity, timing and the torch export');
  results.skipped = 'no usable GPU';
  writeResults();
  process.exit(2);
}

if (!flag('--no-parity')) {
  await stage('parity head', parityHead);
  await stage('parity async', parityAsync);
  await stage('parity ema', parityMomentum);
  await stage('parity enqueue', parityEnqueue);
  await stage('parity scan', parityScan);
}
const failed = results.parity.filter((r) => !r.pass).length;
log(`parity: ${results.parity.length - failed}/${results.parity.length} PASS`);
if (!QUICK && !flag('--no-timing')) await stage('timing', timing);
if (!QUICK && (!DRY || flag('--export'))) await stage('export for torch', exportForTorch);
writeResults();
process.exit(failed > 0 || results.errors.length > 0 ? 1 : 0);
})();
