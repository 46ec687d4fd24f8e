#!/usr/bin/env node
// clsa's CPU training step beside its PyTorch twin (bench/torch_cpu_step.py), timed alternately in
// one run: per configuration both are built and warmed up, then one clsa step, one PyTorch step,
// one clsa step, ... (the order flips every round), so both see the same moments of a shared
// machine's load. Reports medians of the step time and of each phase (key forward incl. EMA,
// query forward, head, backward, update incl. SGD + enqueue), their ratios, the convolution
// GFLOP/s of both, and the sgemm rate of the same run (2048^3 fp32: torch.mm, and numpy in every
// Python found) as the ceiling.
//
//   node bench/cpu_step.js [--widths=16,32] [--batches=64,256] [--crops=single,multi]
//        [--shapes=quick,reference] [--precisions=fp32,bf16] [--torch-bf16]
//        [--steps=5] [--warmup=3] [--threads=2] [--queue=4096] [--save[=file]] [--no-torch]
//   node bench/cpu_step.js --table=<saved.json>     markdown tables of a saved run
//
// --shapes picks the single-crop views: `quick` is the quick recipe's (key, weak and strong all
// 28 pixels), `reference` the paper's crop preset scaled to 28 (strong view 12 pixels). Multi-crop
// always uses its preset. Every clsa precision and PyTorch (fp32, and bf16 autocast with
// --torch-bf16) is a side of the same alternating run; ratios are against PyTorch's fp32.
// PyTorch: the first of $CLSA_TORCH_PYTHON, python3, /usr/bin/python3 that imports torch (Debian:
// apt-get install -y python3-torch). Without one the clsa side runs alone and the output says why.
// Needs `npm run build` (loads ../dist).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { spawn, spawnSync } = require('child_process');
const { ClsaModel, Rng, setCpuThreads, backend, cropPresets } = require('../dist');
const { convMacs } = require('./train_step');

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const a = argv.find((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  return a === undefined ? dflt : a.includes('=') ? a.slice(name.length + 3) : true;
};
const list = (s) => String(s).split(',').filter(Boolean);
const widths = list(opt('widths', '16,32')).map(Number);
const batches = list(opt('batches', '64,256')).map(Number);
const cropsList = list(opt('crops', 'single,multi'));
const shapesList = list(opt('shapes', 'quick,reference'));
for (const sh of shapesList) if (!['quick', 'reference'].includes(sh)) throw new Error(`--shapes: expected quick or reference but got ${sh}`);
const steps = Number(opt('steps', 5));
// Untimed steps per side first. PyTorch needs several: its first steps on this machine ran 3-4x
// slower than later ones (measured standalone: 4.7, 3.6, 5.2, 4.5, 1.9, 1.3 s at width 16, batch
// 64), from oneDNN primitive creation and glibc's mmap threshold still growing to fit the
// activations (page faults on every large allocation until it does).
const warmup = Number(opt('warmup', 3));
const threads = Number(opt('threads', 2));
const queue = Number(opt('queue', 4096));
const precisions = list(opt('precisions', opt('precision', 'fp32')));
const torchBf16 = Boolean(opt('torch-bf16', false));
const SIZE = 28, CHANNELS = 1;
const PHASES = ['keyForward', 'queryForward', 'head', 'backward', 'update'];

const { median, loadAverage: load } = require('./stats');

// The first Python that imports torch, or the reasons none did.
function findTorchPython() {
  const tried = [];
  for (const py of [process.env.CLSA_TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean)) {
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return { python: py, tried };
    tried.push(`${py}: ${r.error ? r.error.message : (r.stderr || '').trim().split('\n').pop()}`);
  }
  return { python: null, tried };
}

// numpy sgemm in every Python on the path (a pip numpy brings OpenBLAS; Debian's may use the
// reference BLAS): the best of them is the run's ceiling.
function numpySgemm(py) {
  const code = `import json,time,numpy as np
np.show_config if False else None
a=np.random.rand(2048,2048).astype(np.float32); b=np.random.rand(2048,2048).astype(np.float32)
a@b; best=1e9
for _ in range(3):
    t=time.perf_counter(); a@b; best=min(best,time.perf_counter()-t)
print(json.dumps({"numpy": np.__version__, "gflops": 2*2048**3/best/1e9}))`;
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync(py, ['-c', code], { encoding: 'utf8', env });
  if (r.status !== 0) return null;
  try { return { python: py, ...JSON.parse(r.stdout.trim().split('\n').pop()) }; } catch { return null; }
}

class TorchTwin {
  constructor(python) {
    this.child = spawn(python, [path.join(__dirname, 'torch_cpu_step.py')], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
    });
    this.lines = readline.createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  async call(msg) {
    this.child.stdin.write(JSON.stringify(msg) + '\n');
    const { value, done } = await this.lines.next();
    if (done) throw new Error('torch child exited');
    const r = JSON.parse(value);
    if (r.error) throw new Error(r.error);
    return r;
  }
  close() { this.child.stdin.end(); }
}

function images(rng, batch, s) {
  const data = new Float32Array(batch * CHANNELS * s * s);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return { data, shape: [batch, CHANNELS, s, s] };
}

// The views of one configuration: the crop preset, with single-crop's strong view at full size for
// the quick recipe's shapes.
function viewSizes(crops, shape) {
  const preset = cropPresets(crops, SIZE);
  const sizes = { key: preset.key.size, weak: preset.weak.map((v) => v.size), strong: preset.strong.map((v) => v.size) };
  if (crops === 'single' && shape === 'quick') sizes.strong = sizes.strong.map(() => SIZE);
  return sizes;
}

const summarize = (rs) => ({
  msPerStep: median(rs.map((r) => r.seconds)) * 1e3,
  msAll: rs.map((r) => Math.round(r.seconds * 1e4) / 10),
  // CPU time of the process per step (all threads): steadier than wall time under load, but it
  // counts OpenMP's spin-waiting on the PyTorch side.
  cpuMsPerStep: median(rs.map((r) => r.cpuSeconds)) * 1e3,
  phasesMs: Object.fromEntries(PHASES.map((p) => [p, median(rs.map((r) => r.phases[p])) * 1e3])),
  lastLoss: rs[rs.length - 1].loss,
});

// One configuration: every side (clsa per precision, PyTorch fp32, PyTorch bf16) built and warmed
// up, then timed in rounds, one step of each side per round, the order rotating every round.
async function runConfig(twins, width, batch, crops, shape) {
  const sizes = viewSizes(crops, shape);
  const rng = new Rng(1);
  const views = { key: images(rng, batch, sizes.key), weak: sizes.weak.map((s) => images(rng, batch, s)),
    strong: sizes.strong.map((s) => images(rng, batch, s)) };
  const row = { width, batch, crops, shape: crops === 'single' ? shape : 'reference', sizes, loadStart: load() };
  // Convolution multiply-adds: key forward + every query view's forward + its backward (~2x forward).
  const macs = (s) => convMacs('resnet-mini', width, 1, CHANNELS, s);
  const fwdMacs = batch * (macs(sizes.key) + [...sizes.weak, ...sizes.strong].reduce((a, s) => a + macs(s), 0));
  const bwdMacs = batch * 2 * [...sizes.weak, ...sizes.strong].reduce((a, s) => a + macs(s), 0);
  row.convGflop = (2 * (fwdMacs + bwdMacs)) / 1e9;
  const sides = {};
  for (const precision of precisions) {
    const model = ClsaModel.create({ arch: 'resnet-mini', width, inChannels: CHANNELS, queueSize: queue, device: 'cpu',
      ...(precision !== 'fp32' ? { precision } : {}) });
    row.parameters = model.parameterCount;
    sides[`clsa ${precision}`] = {
      step: async () => {
        const t = process.hrtime.bigint(), u = process.cpuUsage();
        const r = await model.step(views, { lr: 0.01 });
        const c = process.cpuUsage(u);
        return { seconds: Number(process.hrtime.bigint() - t) / 1e9, cpuSeconds: (c.user + c.system) / 1e6, phases: r.seconds,
          loss: r.loss };
      },
      close: () => model.dispose(),
    };
  }
  for (const [name, twin] of Object.entries(twins)) {
    await twin.call({ cmd: 'setup', width, batch, channels: CHANNELS, key: sizes.key, weak: sizes.weak,
      strong: sizes.strong, queue, autocast: name === 'torch bf16' });
    sides[name] = { step: () => twin.call({ cmd: 'step' }), close: () => {} };
  }
  const names = Object.keys(sides);
  for (let i = 0; i < warmup; i++) for (const n of names) await sides[n].step();  // activations allocated, pools settled
  const runs = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < steps; i++)
    for (let j = 0; j < names.length; j++) {
      const n = names[(i + j) % names.length];
      runs[n].push(await sides[n].step());
    }
  for (const n of names) sides[n].close();
  row.sides = {};
  for (const n of names) {
    const s = (row.sides[n] = summarize(runs[n]));
    s.imagesPerSecond = batch / (s.msPerStep / 1e3);
    s.convGflopPerSecond = row.convGflop / (s.msPerStep / 1e3);
    const enc = s.phasesMs.keyForward + s.phasesMs.queryForward + s.phasesMs.backward;
    s.encoderConvGflopPerSecond = row.convGflop / (enc / 1e3);  // the same work over the encoder phases only
  }
  const base = runs['torch fp32'];
  if (base)
    for (const n of names.filter((x) => x.startsWith('clsa'))) {
      const s = row.sides[n], t = row.sides['torch fp32'];
      s.speedup = t.msPerStep / s.msPerStep;
      // Paired: each clsa step against the PyTorch step of the same round, then the median.
      s.pairedSpeedup = median(runs[n].map((c, i) => base[i].seconds / c.seconds));
      s.cpuTimeSpeedup = t.cpuMsPerStep / s.cpuMsPerStep;
      s.phaseSpeedup = Object.fromEntries(PHASES.map((p) => [p, t.phasesMs[p] / s.phasesMs[p]]));
    }
  row.loadEnd = load();
  return row;
}

// Rows of runs saved before sides existed had one clsa precision and PyTorch fp32.
const rowSides = (r) => r.sides ?? { [`clsa ${r.precision ?? 'fp32'}`]: { ...r.clsa, speedup: r.speedup, pairedSpeedup: r.pairedSpeedup,
  cpuTimeSpeedup: r.cpuTimeSpeedup }, ...(r.torch ? { 'torch fp32': r.torch } : {}) };
const configName = (r) => `w${r.width} b${r.batch} ${r.crops} ${r.sizes.key}/${r.sizes.weak.join(',')}/${r.sizes.strong.join(',')}`;

function table(file) {
  const d = JSON.parse(fs.readFileSync(file, 'utf8'));
  const f = (x, n = 1) => (x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(n));
  const lines = [`${path.basename(file)}: ${d.date}, ${d.host.cpu} (${d.host.logicalCpus} CPUs), ${d.threads} threads, ` +
    `kernel ${d.cpuKernel}, ${d.steps} alternating steps per side and configuration after ${d.warmup ?? 1} untimed; torch ${d.torch ? d.torch.torch : 'absent'}; ` +
    `load average ${d.loadStart.join(' / ')} at start, ${d.loadEnd.join(' / ')} at end; ` +
    `sgemm ceiling (2048^3, best in run, median of start/end) ${f(d.sgemmCeiling)} GFLOP/s. ` +
    'Views key/weak/strong in pixels; ratio = PyTorch fp32 ms / clsa ms (paired: median over rounds).', '',
  '| config | side | ms/step | img/s | ratio vs torch fp32 (paired) | CPU ms | conv GFLOP/s | % of sgemm | load at end |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|'];
  for (const r of d.rows)
    for (const [n, s] of Object.entries(rowSides(r)))
      lines.push(`| ${configName(r)} | ${n} | ${f(s.msPerStep)} | ${f(s.imagesPerSecond ?? r.batch / (s.msPerStep / 1e3), 0)} | ` +
        `${s.speedup ? `${f(s.speedup, 2)}x (${f(s.pairedSpeedup, 2)}x)` : '–'} | ${f(s.cpuMsPerStep)} | ${f(s.convGflopPerSecond)} | ` +
        `${f(100 * s.convGflopPerSecond / d.sgemmCeiling, 0)}% | ${r.loadEnd[0]} |`);
  lines.push('', '| config | side | key fwd | query fwd | head | backward | update (ms, medians) |', '|---|---|---:|---:|---:|---:|---:|');
  for (const r of d.rows)
    for (const [n, s] of Object.entries(rowSides(r)))
      lines.push(`| ${configName(r)} | ${n} | ${PHASES.map((p) => f(s.phasesMs[p])).join(' | ')} |`);
  return lines.join('\n');
}

async function main() {
  const tableFile = opt('table', false);
  if (tableFile) {
    console.log(table(tableFile));
    return;
  }
  setCpuThreads(threads);
  const b = backend();
  const out = {
    bench: 'cpu_step', date: new Date().toISOString(), host: { cpu: os.cpus()[0] ? os.cpus()[0].model : 'unknown',
      logicalCpus: os.cpus().length, node: process.version }, threads, cpuKernel: b.cpuKernel, bf16: b.cpuBf16, precisions, steps, warmup, queue,
    arch: 'resnet-mini', imageSize: SIZE, channels: CHANNELS, splitBN: 8, loadStart: load(), notes: [],
  };
  let torch = null;
  const twins = {};
  if (opt('no-torch', false)) out.notes.push('PyTorch skipped (--no-torch)');
  else {
    const found = findTorchPython();
    if (!found.python) {
      const msg = `PyTorch not found (apt-get install -y python3-torch, or set CLSA_TORCH_PYTHON); clsa timed alone. Tried: ${found.tried.join('; ')}`;
      console.error(msg);
      out.notes.push(msg);
    } else {
      torch = twins['torch fp32'] = new TorchTwin(found.python);
      out.torch = { python: found.python, ...(await torch.call({ cmd: 'hello', threads })) };
      if (torchBf16) {
        twins['torch bf16'] = new TorchTwin(found.python);
        await twins['torch bf16'].call({ cmd: 'hello', threads });
      }
    }
  }
  const sg = [];
  const sgemm = async (when) => {
    const r = { when, load: load(), numpy: [] };
    for (const py of new Set(['python3', '/usr/bin/python3', process.env.CLSA_TORCH_PYTHON].filter(Boolean))) {
      const n = numpySgemm(py);
      if (n) r.numpy.push(n);
    }
    if (torch) r.torchMm = (await torch.call({ cmd: 'sgemm', size: 2048, reps: 3 })).torch;
    r.best = Math.max(...r.numpy.map((x) => x.gflops), r.torchMm || 0);
    sg.push(r);
    console.error(`sgemm (${when}): best ${r.best.toFixed(1)} GFLOP/s; ${r.numpy.map((x) => `${x.python} numpy ${x.numpy} ${x.gflops.toFixed(1)}`).join(', ')}${torch ? `, torch.mm ${r.torchMm.toFixed(1)}` : ''}`);
  };
  await sgemm('start');
  out.rows = [];
  // With --save the file is rewritten after every configuration (atomically), so a run stopped
  // early keeps what it measured.
  const saveTo = opt('save', false);
  const save = (doc, last) => {
    if (!saveTo) return;
    const file = saveTo === true ? path.join(__dirname, 'results', `cpu-step-${out.date.slice(0, 10)}.json`) : saveTo;
    fs.writeFileSync(file + '.tmp', JSON.stringify(last ? doc : { ...doc, partial: true, loadEnd: load(), sgemm: sg,
      sgemmCeiling: median(sg.map((r) => r.best)) }, null, 1));
    fs.renameSync(file + '.tmp', file);
    if (last) console.error(`saved ${file}`);
  };
  const configs = [];
  // Batch outermost: the small batches, quickest, first.
  for (const batch of batches)
    for (const crops of cropsList)
      for (const shape of crops === 'single' ? shapesList : ['reference'])
        for (const width of widths) configs.push({ crops, shape, width, batch });
  for (const { crops, shape, width, batch } of configs) {
    const row = await runConfig(twins, width, batch, crops, shape);
    out.rows.push(row);
    console.error(`${configName(row)}: ${Object.entries(row.sides).map(([n, s]) => `${n} ${s.msPerStep.toFixed(1)} ms` +
      (s.speedup ? ` (${s.speedup.toFixed(2)}x, paired ${s.pairedSpeedup.toFixed(2)}x)` : '')).join(', ')}; load ${row.loadEnd[0]}`);
    save(out, false);
  }
  await sgemm('end');
  out.sgemm = sg;
  out.sgemmCeiling = median(sg.map((r) => r.best));
  for (const row of out.rows) for (const s of Object.values(row.sides)) s.convShareOfSgemm = s.convGflopPerSecond / out.sgemmCeiling;
  out.loadEnd = load();
  for (const t of Object.values(twins)) t.close();
  const json = JSON.stringify(out, null, 1);
  save(out, true);
  console.log(json);
}

main().catch((e) => { console.error(e); process.exit(1); });
