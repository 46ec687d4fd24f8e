#!/usr/bin/env node
// CPU micro-benchmarks of clsa (issue 2): the fused head against an unfused C++ implementation
// and a numpy/OpenBLAS baseline of the same objective, the EMA update against a memcpy of the
// same size, the queue enqueue, and the resident-memory growth of one fused call at K=65536.
//
//   npm run bench                 human-readable table
//   npm run bench -- --json       one JSON document on stdout
//   npm run bench -- --save       also write bench/results/cpu-<date>.json (atomically)
//   options: --reps=N (timed repetitions, default 7), --no-numpy, --quick (fewer reps, no memory child)
//
// Plain Node, loads the compiled package from ../dist. Timings are medians over --reps runs after
// one warm-up; the machine's load average is recorded before and after, since on a shared
// machine every number here moves with it.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const nat = require(path.join(root, 'dist', 'native')).native();

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const opt = (name, dflt) => {
  const a = argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : dflt;
};

// ---------------------------------------------------------------------------------------------
// Deterministic inputs (mulberry32): the same data go to every implementation.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function gaussian(n, r) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12), v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    a[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) a[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return a;
}
function normalizeRows(a, d) {
  for (let r = 0; r < a.length / d; r++) {
    let s = 0;
    for (let e = 0; e < d; e++) s += a[r * d + e] ** 2;
    s = 1 / Math.sqrt(s);
    for (let e = 0; e < d; e++) a[r * d + e] *= s;
  }
  return a;
}

function makeHead(c, seed) {
  const r = rng(seed);
  const { n, d, k, w, s } = c;
  return {
    n, d, k, w, s,
    temperature: c.tau, ddmTemperature: c.tau2, ddmWeight: c.alpha, normalize: true, precision: 0,
    weak: gaussian(w * n * d, r), strong: s > 0 ? gaussian(s * n * d, r) : null,
    keys: gaussian(n * d, r), queue: normalizeRows(gaussian(k * d, r), d),
    gradWeak: new Float32Array(w * n * d), gradStrong: s > 0 ? new Float32Array(s * n * d) : null,
    stats: new Float32Array(4),
  };
}

// The FLOP count of the issue: 2 GEMMs of M x D x (N+K) per temperature pass; weak rows count
// twice when tau != tau2 and S > 0 (their tau2 distribution is a second pass).
function headFlops(c) {
  const rows = (c.w + c.s) * c.n + (c.s > 0 && c.tau !== c.tau2 ? c.w * c.n : 0);
  return 2 * (2 * rows * c.d * (c.n + c.k));
}

// Wall time (median, min) and CPU time per call (all threads of this process, user + system):
// on a shared machine the wall time depends on how many cores the scheduler lends us, the CPU
// time much less so.
function timeIt(fn, reps) {
  fn(); // warm-up: thread pool, caches, first-touch pages
  const t = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const cpu = process.cpuUsage(cpu0);
  t.sort((a, b) => a - b);
  return { ms: t[t.length >> 1], msMin: t[0], cpuMs: (cpu.user + cpu.system) / 1e3 / reps, times: t.map((x) => +x.toFixed(3)) };
}

const relDiff = (a, b) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
function relNorm(a, b) {
  let n = 0, d = 0;
  for (let i = 0; i < a.length; i++) {
    n += (a[i] - b[i]) ** 2;
    d += b[i] ** 2;
  }
  return Math.sqrt(n / Math.max(d, 1e-300));
}

// ---------------------------------------------------------------------------------------------
// numpy: run in a child with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed (this environment
// may set them, which pins OpenBLAS to a slower kernel); the child reports the kernel it ran.
function numpyEnv() {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}
function python() {
  for (const py of ['python3', 'python']) {
    const r = spawnSync(py, ['-c', 'import numpy'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return null;
}

function numpyHead(py, args, c, reps) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-bench-'));
  try {
    const write = (name, a) => fs.writeFileSync(path.join(dir, `${name}.f32`), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
    write('weak', args.weak);
    if (args.strong) write('strong', args.strong);
    write('keys', args.keys);
    write('queue', args.queue);
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ ...c, normalize: true, reps }));
    const r = spawnSync(py, [path.join(__dirname, 'numpy_head.py'), dir], { encoding: 'utf8', env: numpyEnv(), maxBuffer: 1 << 24 });
    if (r.status !== 0) return { error: (r.stderr || r.error || 'failed').toString().trim().split('\n').pop() };
    return JSON.parse(r.stdout.trim().split('\n').pop());
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function numpySgemm(py) {
  const code = [
    'import numpy as np, time, json',
    'a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32); b = a.copy(); a @ b',
    't = []',
    'for _ in range(7):',
    '    s = time.perf_counter(); a @ b; t.append(time.perf_counter() - s)',
    't.sort(); print(json.dumps({"gflops": 2 * 2048**3 / t[3] / 1e9, "gflopsMax": 2 * 2048**3 / t[0] / 1e9}))',
  ].join('\n');
  const r = spawnSync(py, ['-c', code], { encoding: 'utf8', env: numpyEnv() });
  if (r.status !== 0) return { error: (r.stderr || 'failed').trim().split('\n').pop() };
  return JSON.parse(r.stdout.trim());
}

// ---------------------------------------------------------------------------------------------
function benchHead(name, c, reps, py) {
  const args = makeHead(c, 1234 + c.w);
  const flops = headFlops(c);
  const fused = timeIt(() => nat.headSync(args), reps);
  const fusedStats = Array.from(args.stats);
  const gw = args.gradWeak.slice(), gs = args.gradStrong ? args.gradStrong.slice() : null;
  const unfused = timeIt(() => nat.headUnfused(args), Math.max(3, Math.ceil(reps / 2) | 1));
  const unfusedStats = Array.from(args.stats);
  const gradDiff = Math.max(relNorm(gw, args.gradWeak), gs ? relNorm(gs, args.gradStrong) : 0);
  const res = {
    name, ...c, gflop: flops / 1e9,
    fused: { ...fused, gflops: flops / fused.ms / 1e6, loss: fusedStats[0], nceLoss: fusedStats[1], ddmLoss: fusedStats[2] },
    unfused: { ...unfused, gflops: flops / unfused.ms / 1e6, loss: unfusedStats[0], lossRelDiff: relDiff(unfusedStats[0], fusedStats[0]), gradRelDiff: gradDiff },
    speedupVsUnfused: unfused.ms / fused.ms,
    cpuTimeRatioVsUnfused: unfused.cpuMs / fused.cpuMs,
  };
  if (py) {
    const np = numpyHead(py, args, c, Math.max(3, Math.ceil(reps / 2) | 1));
    if (np.error) res.numpy = { error: np.error };
    else {
      res.numpy = { ...np, gflops: flops / np.ms / 1e6, lossRelDiff: relDiff(np.loss, fusedStats[0]) };
      res.speedupVsNumpy = np.ms / fused.ms;
      res.cpuTimeRatioVsNumpy = np.cpuMs / fused.cpuMs;
    }
  }
  return res;
}

function benchEma(params, reps) {
  const r = rng(7);
  const target = gaussian(params, r), source = gaussian(params, r), dst = new Float32Array(params);
  const ema = timeIt(() => nat.momentumUpdate(target, source, 0.999), reps);
  const libc = timeIt(() => nat.benchMemcpy(dst, source, true), reps);
  const loop = timeIt(() => nat.benchMemcpy(dst, source, false), reps);
  const emaGBs = (12 * params) / ema.ms / 1e6; // read target, read source, write target
  const gbs = (t) => (8 * params) / t.ms / 1e6; // memcpy: read + write
  // The reference is the faster of the two copies, so the ratio is not flattered by a slow libc.
  const best = gbs(libc) >= gbs(loop) ? { kind: 'libc memcpy', ...libc, gbs: gbs(libc) } : { kind: 'copy loop', ...loop, gbs: gbs(loop) };
  return {
    params, ema: { ...ema, gbs: emaGBs }, memcpy: best,
    memcpyLibc: { ...libc, gbs: gbs(libc) }, memcpyLoop: { ...loop, gbs: gbs(loop) }, ratio: emaGBs / best.gbs,
  };
}

function benchEnqueue(reps) {
  const k = 65536, d = 128, n = 256, r = rng(9);
  const queue = new Float32Array(k * d), keys = gaussian(n * d, r);
  let ptr = k - 100; // wraps on the first call
  const t = timeIt(() => { ptr = nat.queueEnqueue(queue, k, d, keys, n, true, ptr); }, reps * 20);
  return { k, d, n, normalize: true, us: t.ms * 1e3, usMin: t.msMin * 1e3, gbs: (8 * n * d) / t.ms / 1e6 };
}

function readStatus() {
  const s = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (key) => Number((s.match(new RegExp(`^${key}:\\s+(\\d+)`, 'm')) || [])[1]);
  return { rssKB: kb('VmRSS'), hwmKB: kb('VmHWM') };
}

// Child mode: one fused call at K=65536 multi-crop, peak RSS growth around it.
function memoryChild() {
  const c = { n: 256, d: 128, k: 65536, w: 5, s: 5, tau: 0.2, tau2: 0.2, alpha: 1 };
  const args = makeHead(c, 99);
  const out = { ...c, canResetPeak: true };
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
  } catch {
    out.canResetPeak = false;
  }
  const before = readStatus();
  const t0 = process.hrtime.bigint();
  nat.headSync(args);
  out.ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const after = readStatus();
  out.rssBeforeKB = before.rssKB;
  out.peakAfterKB = after.hwmKB;
  out.growthMB = (after.hwmKB - (out.canResetPeak ? before.rssKB : before.hwmKB)) / 1024;
  out.loss = args.stats[0];
  process.stdout.write(JSON.stringify(out) + '\n');
}

function benchMemory() {
  if (process.platform !== 'linux') return { skipped: 'needs /proc (Linux)' };
  const r = spawnSync(process.execPath, [__filename, '--memory-child'], { encoding: 'utf8' });
  if (r.status !== 0) return { error: (r.stderr || 'failed').trim().split('\n').pop() };
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

// Vendor, family and model from /proc/cpuinfo (a VM may show only "AMD EPYC" as the model name).
function cpuId() {
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const get = (k) => (info.match(new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm')) || [])[1];
    const flags = (get('flags') || '').split(' ');
    return {
      vendor: get('vendor_id'), family: Number(get('cpu family')), model: Number(get('model')),
      avx512: flags.includes('avx512f'), avx2: flags.includes('avx2'),
    };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
function main() {
  if (flag('memory-child')) return memoryChild();
  const quick = flag('quick');
  const reps = Number(opt('reps', quick ? 3 : 7));
  const py = flag('no-numpy') ? null : python();
  const be = nat.backend();
  const out = {
    date: new Date().toISOString(),
    cpu: os.cpus()[0] ? os.cpus()[0].model : 'unknown',
    cpuId: cpuId(),
    logicalCpus: os.cpus().length,
    threads: be.cpuThreads,
    kernel: be.cpuKernel,
    node: process.version,
    loadAvgStart: os.loadavg().map((x) => +x.toFixed(2)),
    reps,
    heads: [],
  };
  const base = { n: 256, d: 128, k: 16384, tau: 0.2, tau2: 0.2, alpha: 1 };
  out.heads.push(benchHead('single-crop', { ...base, w: 1, s: 1 }, reps, py));
  out.heads.push(benchHead('multi-crop', { ...base, w: 5, s: 5 }, reps, py));
  if (py) {
    out.numpySgemm = numpySgemm(py);
    if (!out.numpySgemm.error)
      for (const h of out.heads) h.fused.fractionOfSgemm = h.fused.gflops / out.numpySgemm.gflops;
  } else out.numpySgemm = { skipped: 'python3 with numpy not found (or --no-numpy)' };
  out.ema = benchEma(25.6e6, reps);
  out.enqueue = benchEnqueue(reps);
  out.memory = quick ? { skipped: '--quick' } : benchMemory();
  out.loadAvgEnd = os.loadavg().map((x) => +x.toFixed(2));

  if (flag('save')) {
    const dir = path.join(__dirname, 'results');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `cpu-${out.date.slice(0, 10)}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(out, null, 2) + '\n');
    fs.renameSync(tmp, file);
    out.savedTo = path.relative(root, file);
  }
  if (flag('json')) {
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return;
  }
  printTable(out);
}

function printTable(o) {
  const f = (x, d = 1) => (typeof x === 'number' ? x.toFixed(d) : '-');
  const id = o.cpuId ? ` (${o.cpuId.vendor} family ${o.cpuId.family} model ${o.cpuId.model})` : '';
  console.log(`clsa CPU bench — ${o.cpu}${id}, ${o.threads} threads, kernel ${o.kernel}, Node ${o.node}`);
  console.log(`load average at start ${o.loadAvgStart.join(' ')}, at end ${o.loadAvgEnd.join(' ')}; medians of ${o.reps} runs\n`);
  console.log('head (N=256 D=128 K=16384)   fused ms  GFLOP/s | unfused ms  GFLOP/s | numpy ms  GFLOP/s | vs unfused  vs numpy  of sgemm');
  for (const h of o.heads) {
    const np = h.numpy && !h.numpy.error ? h.numpy : null;
    console.log(
      `${`${h.name} (W=${h.w} S=${h.s})`.padEnd(28)} ${f(h.fused.ms).padStart(8)} ${f(h.fused.gflops).padStart(8)} |` +
        ` ${f(h.unfused.ms).padStart(10)} ${f(h.unfused.gflops).padStart(8)} |` +
        ` ${f(np && np.ms).padStart(8)} ${f(np && np.gflops).padStart(8)} |` +
        ` ${f(h.speedupVsUnfused, 2).padStart(9)}x ${f(h.speedupVsNumpy, 2).padStart(8)}x ${h.fused.fractionOfSgemm ? (100 * h.fused.fractionOfSgemm).toFixed(0) + '%' : '-'}`,
    );
  }
  for (const h of o.heads) {
    const np = h.numpy && !h.numpy.error ? h.numpy : null;
    console.log(`  ${h.name}: CPU time per call (all threads) fused ${f(h.fused.cpuMs)} ms, unfused ${f(h.unfused.cpuMs)} ms` +
      `${np ? `, numpy ${f(np.cpuMs)} ms (ratio ${f(h.cpuTimeRatioVsNumpy, 2)}x)` : ''}`);
    console.log(`  ${h.name}: loss fused ${h.fused.loss.toFixed(5)}, unfused rel diff ${h.unfused.lossRelDiff.toExponential(1)}` +
      ` (grad ${h.unfused.gradRelDiff.toExponential(1)}), numpy ${np ? 'rel diff ' + np.lossRelDiff.toExponential(1) : (h.numpy ? h.numpy.error : 'skipped')}`);
  }
  const np0 = o.heads.find((h) => h.numpy && !h.numpy.error);
  if (np0) console.log(`  numpy ${np0.numpy.numpy}, ${np0.numpy.blas} ${np0.numpy.blasVersion}, core ${np0.numpy.blasCore}, ${np0.numpy.blasThreads} threads`);
  if (o.numpySgemm && o.numpySgemm.gflops) console.log(`  numpy sgemm 2048^3: ${f(o.numpySgemm.gflops)} GFLOP/s (median)`);
  console.log(`\nEMA ${(o.ema.params / 1e6).toFixed(1)} M params: ${f(o.ema.ema.ms, 2)} ms, ${f(o.ema.ema.gbs)} GB/s (12 B/param);` +
    ` memcpy same size (${o.ema.memcpy.kind}) ${f(o.ema.memcpy.ms, 2)} ms, ${f(o.ema.memcpy.gbs)} GB/s (read+write);` +
    ` EMA/memcpy ${(100 * o.ema.ratio).toFixed(0)}% (libc ${f(o.ema.memcpyLibc.gbs)}, loop ${f(o.ema.memcpyLoop.gbs)} GB/s)`);
  console.log(`enqueue N=${o.enqueue.n} into K=${o.enqueue.k} (normalise): ${f(o.enqueue.us, 1)} us`);
  const m = o.memory;
  if (m.growthMB !== undefined) console.log(`memory: fused head K=${m.k} W=${m.w} S=${m.s}, peak RSS growth ${f(m.growthMB)} MB (${f(m.ms)} ms, first call in a fresh process)`);
  else console.log(`memory: ${m.skipped || m.error}`);
  if (o.savedTo) console.log(`\nsaved ${o.savedTo}`);
}

main();
