#!/usr/bin/env node
// The method's claim, measured: MoCo v2 (ddmWeight 0, weak views only) vs CLSA single-crop vs
// CLSA multi-crop, each given the same wall time (--minutes; the epochs of each arm follow from
// its measured throughput, so multi-crop gets fewer), over several seeds, scored on the test
// split with the kNN monitor (k = 200, t = 0.1) and a converged linear probe, beside the floors:
// the best of raw / centred / standardised pixels under the same kNN, and the same encoder at
// random initialisation. The recipe is a named preset chosen on a validation split (bench/recipe.js).
//
//   node bench/ablation.js [--preset quick] [--minutes 10] [--seeds 0,1,2] [--arms moco,single,multi]
//                          [--arm-options '{"multi":{"lr":0.08}}'] [--limit N] [--validation 10000]
//                          [--out FILE.json] [--no-linear] [--continue FILE.json]
//
// --continue FILE.json finishes an ablation that was stopped (or extends it to more seeds): the
// epochs of each arm are FILE's calibrated ones (so every run has the same budget), the runs FILE
// has are kept, not rerun, and the results go to FILE unless --out says otherwise. The pixel
// baselines are fitted again (they are not stored whole); random init is scored for new seeds only.
//
// --arm-options gives an arm its own settings over the recipe's (chosen on validation, e.g. multi-crop's
// learning rate from bench/recipe/multi10.json). Per seed, CLSA minus MoCo v2 is reported as a paired
// difference: the arms share the seed, hence the initialisation and the data order.
//
// Results are written after every run (JSON, then a Markdown table next to it), so a stopped
// ablation keeps what it measured. Needs `npm install` (dist/ and the addon).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const clsa = require('../dist');

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const cfg = {
  preset: arg('preset', 'quick'),
  minutes: Number(arg('minutes', '10')),
  limit: arg('limit') ? Number(arg('limit')) : undefined,
  validation: Number(arg('validation', String(1 / 6))),
  seeds: arg('seeds', '0,1,2').split(',').map(Number),
  arms: arg('arms', 'moco,single,multi').split(','),
  linear: !process.argv.includes('--no-linear'),
  armOptions: JSON.parse(arg('arm-options', '{}')),
};
// trainClsa's device: 'auto' uses a usable GPU only once the CUDA step is verified on one.
const trainsOnGpu = (b) => b.cudaUsable && b.cudaVerified.step;
const earlier = arg('continue') ? JSON.parse(fs.readFileSync(arg('continue'), 'utf8')) : undefined;
const out = arg('out', arg('continue') ?? path.join(__dirname, 'results', `ablation-${trainsOnGpu(clsa.backend()) ? 'gpu' : 'cpu'}-${new Date().toISOString().slice(0, 10)}.json`));
// The arms share the recipe's views: MoCo v2 drops the strong view (ddmWeight 0), single-crop
// CLSA keeps the recipe's, multi-crop replaces them with the reference's 5 + 5 crops.
const ARMS = {
  moco: { label: 'MoCo v2 (ddmWeight 0, weak views)', options: { ddmWeight: 0, ...cfg.armOptions.moco } },
  single: { label: 'CLSA single-crop', options: { ddmWeight: 1, ...cfg.armOptions.single } },
  multi: { label: 'CLSA multi-crop', options: { ddmWeight: 1, crops: 'multi', ...cfg.armOptions.multi } },
};
for (const k of Object.keys(cfg.armOptions)) if (!ARMS[k]) throw new Error(`--arm-options: unknown arm ${k} (moco, single, multi)`);
const log = (s) => process.stderr.write(s + '\n');

/** Images per second of an arm on this machine: wall time over 40 steps after a warm-up, everything
 * a training epoch spends included (augmentation waits, callbacks). The median of single steps
 * overstated what whole epochs reach by 25-35% (2026-12-05: single-crop 790 img/s against ~590 over
 * an epoch), which gave every arm 3-4 more minutes than --minutes. */
async function throughput(options, train) {
  if (!options.batchSize) throw new Error('ablation: the recipe must set batchSize (the calibration counts images per step)');
  const ac = new AbortController();
  const warm = 3, steps = 40;
  let t0 = 0, images = 0, ips = 0;
  await clsa.trainClsa({
    ...options, data: { train: { images: train.images, labels: train.labels } }, epochs: 1000, evaluate: false, signal: ac.signal,
    onProgress: (p) => {
      const n = p.globalStep + 1;
      if (n === warm) t0 = Date.now();
      else if (n > warm) images += options.batchSize;
      if (n >= warm + steps) { ips = images / ((Date.now() - t0) / 1000); ac.abort(); }
    },
  }).catch((e) => { if (!(e instanceof clsa.AbortError)) throw e; });
  return ips;
}

function pairedDifferences(rows) {
  const out = [];
  const moco = new Map(rows.filter((r) => r.arm === 'moco').map((r) => [r.seed, r]));
  for (const arm of ['single', 'multi']) {
    const rs = rows.filter((r) => r.arm === arm && moco.has(r.seed));
    if (!rs.length) continue;
    for (const metric of ['knn', 'linear']) {
      const both = rs.filter((r) => r[metric] !== undefined && moco.get(r.seed)[metric] !== undefined);
      if (both.length) out.push({ arm, label: both[0].label, metric, seeds: both.map((r) => r.seed), diffs: both.map((r) => r[metric] - moco.get(r.seed)[metric]) });
    }
  }
  return out;
}

function write(doc) {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const pct = (v) => (v * 100).toFixed(2);
  const stat = (v) => {
    if (!v.length) return '–';
    const m = v.reduce((x, y) => x + y, 0) / v.length;
    const sd = v.length > 1 ? Math.sqrt(v.reduce((x, y) => x + (y - m) ** 2, 0) / (v.length - 1)) : 0;
    return v.length > 1 ? `${pct(m)} ± ${pct(sd)} (${pct(Math.min(...v))}–${pct(Math.max(...v))})` : pct(m);
  };
  const rows = doc.rows;
  const lines = [`# Ablation at equal wall time (${doc.date.slice(0, 10)}, ${doc.machine.device === 'cpu' ? `${doc.machine.cpu}, ${doc.machine.threads} threads, CPU` : doc.machine.device})`, '',
    `Data: ${doc.data}; ${doc.trainImages} training images (kNN bank and probe training set), ${doc.testImages} test images.`,
    `Recipe: preset \`${cfg.preset}\` (${JSON.stringify(doc.recipe)}), ${cfg.minutes} min of training per run.`,
    `Arm settings over the recipe: ${Object.entries(ARMS).filter(([k]) => cfg.arms.includes(k)).map(([k, a]) => `${k} ${JSON.stringify(a.options)}`).join('; ')}.`,
    `Command: \`${doc.command}\`${doc.continued ? ` (continuing the ablation of ${doc.continued}: its calibrated epochs, its runs kept)` : ''}`, '',
    '| arm | seeds | epochs | kNN (mean ± sd, range) | linear probe (converged) | train s/run |', '|---|---|---:|---|---|---:|'];
  for (const a of [...new Set(rows.map((r) => r.arm))]) {
    const rs = rows.filter((r) => r.arm === a);
    lines.push(`| ${rs[0].label} | ${rs.map((r) => r.seed ?? '-').join(',')} | ${rs[0].epochs ?? '–'} | ${stat(rs.map((r) => r.knn))} | ${stat(rs.map((r) => r.linear).filter((x) => x !== undefined))} | ${(rs.reduce((x, r) => x + (r.seconds ?? 0), 0) / rs.length).toFixed(0)} |`);
  }
  const paired = pairedDifferences(rows);
  doc.paired = paired;
  if (paired.length) {
    lines.push('', 'Paired by seed (same initialisation and data order): arm minus MoCo v2, in points.', '',
      '| arm | metric | per seed | mean ± sd | range |', '|---|---|---|---|---|');
    const pts = (v) => (v >= 0 ? '+' : '') + (v * 100).toFixed(2);
    for (const p of paired) {
      const m = p.diffs.reduce((x, y) => x + y, 0) / p.diffs.length;
      const sd = p.diffs.length > 1 ? Math.sqrt(p.diffs.reduce((x, y) => x + (y - m) ** 2, 0) / (p.diffs.length - 1)) : 0;
      lines.push(`| ${p.label} | ${p.metric} | ${p.seeds.map((sd0, i) => `${sd0}: ${pts(p.diffs[i])}`).join(', ')} | ${pts(m)} ± ${(sd * 100).toFixed(2)} | ${pts(Math.min(...p.diffs))} to ${pts(Math.max(...p.diffs))} |`);
    }
  }
  if (doc.throughput) {
    lines.push('', `Calibrated throughput (${doc.continued ? 'of the continued ablation' : 'wall time over 40 steps after a warm-up, before any run'}): ${Object.entries(doc.throughput).map(([a, ips]) => `${a} ${ips.toFixed(0)} img/s -> ${doc.epochs[a]} epochs`).join('; ')}.`);
  }
  fs.writeFileSync(out + '.tmp', JSON.stringify(doc, null, 2) + '\n');
  fs.renameSync(out + '.tmp', out);
  fs.writeFileSync(out.replace(/\.json$/, '.md.tmp'), lines.join('\n') + '\n');
  fs.renameSync(out.replace(/\.json$/, '.md.tmp'), out.replace(/\.json$/, '.md'));
  return lines;
}

(async () => {
  const t0 = Date.now();
  const recipe = clsa.recipeOptions({ preset: cfg.preset });
  delete recipe.preset;
  const full = await clsa.loadDataset('fashion-mnist', { split: 'train' });
  const test = await clsa.loadDataset('fashion-mnist', { split: 'test' });
  const { train: trainPart } = clsa.validationSplit(full, cfg.validation);
  const limit = cfg.limit ?? recipe.limit;
  const train = limit ? clsa.sliceDataset(trainPart, limit) : trainPart;
  delete recipe.limit;
  const b = clsa.backend();
  const doc = {
    date: new Date().toISOString(), command: `node bench/ablation.js ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cpu: os.cpus()[0]?.model, threads: b.cpuThreads, kernel: b.cpuKernel, device: trainsOnGpu(b) ? `cuda (${b.devices[0].name})` : 'cpu' },
    data: full.source, trainImages: train.images.shape[0], testImages: test.images.shape[0], config: cfg, recipe, rows: [],
  };
  log(`data ${full.source}: ${train.images.shape[0]} train, ${test.images.shape[0]} test; ${JSON.stringify(cfg)}`);

  // Equal wall time: each arm's epochs from its own throughput, measured once, first (while the machine
  // is as quiet as it will be), so that the run lengths do not depend on what shares the machine later.
  const epochs = {};
  doc.throughput = {};
  if (earlier) {
    for (const name of cfg.arms) if (earlier.epochs?.[name] === undefined) throw new Error(`--continue: ${arg('continue')} has no calibrated epochs for arm ${name}`);
    Object.assign(epochs, earlier.epochs);
    Object.assign(doc, { throughput: earlier.throughput, calibrationLoad: earlier.calibrationLoad, continued: earlier.date });
    doc.rows = earlier.rows.filter((r) => r.arm !== 'pixels');
  }
  for (const name of earlier ? [] : cfg.arms) {
    const a = ARMS[name];
    if (!a) throw new Error(`--arms: unknown arm ${name} (moco, single, multi)`);
    const ips = await throughput({ ...recipe, ...a.options, seed: 0 }, train);
    epochs[name] = Math.max(1, Math.round((cfg.minutes * 60 * ips) / train.images.shape[0]));
    doc.throughput[name] = ips;
    doc.calibrationLoad = os.loadavg()[0];
    log(`${name}: ${ips.toFixed(0)} img/s -> ${epochs[name]} epochs in ${cfg.minutes} min`);
  }
  doc.epochs = epochs;
  // The floors: pixels (no seed; fitted once, every card reuses them) and the random-init encoder (per seed).
  const pixels = await clsa.pixelBaselines(train, test, { knn: { k: 200, t: 0.1 }, linear: cfg.linear ? {} : false });
  const card = (encoder, extra = {}) => clsa.scorecard(encoder, train, test, { linear: cfg.linear, pixels, ...extra });
  const floors = await card(undefined);
  doc.rows.unshift({ arm: 'pixels', label: `best pixel baseline (${floors.pixels.best.name})`, seed: null, knn: floors.pixels.best.accuracy,
    linear: floors.pixels.linear?.testAccuracy, pixels: floors.pixels });
  write(doc);
  const done = (arm, seed) => doc.rows.some((r) => r.arm === arm && r.seed === seed);
  for (const seed of cfg.seeds) {
    if (done('random', seed)) continue;
    const rc = await card(undefined, { randomInit: { arch: recipe.arch, width: recipe.width, depth: recipe.depth, seed } });
    doc.rows.push({ arm: 'random', label: 'random init (same encoder)', seed, knn: rc.randomInit.knn, linear: rc.randomInit.linear?.testAccuracy });
    write(doc);
  }
  for (const seed of cfg.seeds) {
    for (const name of cfg.arms) {
      if (done(name, seed)) continue;
      const a = ARMS[name];
      const ts = Date.now();
      const res = await clsa.trainClsa({
        ...recipe, ...a.options, epochs: epochs[name], seed, data: { train: { images: train.images, labels: train.labels } }, evaluate: false,
        onEpochEnd: (e) => log(`  ${name} seed ${seed} epoch ${e.epoch + 1}/${e.epochs}: loss ${e.loss.toFixed(3)} ${e.imagesPerSecond.toFixed(0)} img/s`),
      });
      const seconds = (Date.now() - ts) / 1000;
      const scored = await card(res.encoder);
      res.model.dispose();
      doc.rows.push({ arm: name, label: a.label, seed, epochs: epochs[name], knn: scored.encoder.knn, linear: scored.encoder.linear?.testAccuracy,
        probe: scored.encoder.linear, seconds, finalLoss: res.history[res.history.length - 1].loss, load: os.loadavg()[0] });
      doc.wallSeconds = (Date.now() - t0) / 1000;
      write(doc);
      log(`${a.label} seed ${seed}: kNN ${(scored.encoder.knn * 100).toFixed(2)}%${scored.encoder.linear ? `, linear ${(scored.encoder.linear.testAccuracy * 100).toFixed(2)}%` : ''} (${seconds.toFixed(0)} s)`);
    }
  }
  process.stdout.write(write(doc).join('\n') + '\n');
})().catch((e) => { process.stderr.write(`ablation: ${e.stack}\n`); process.exit(1); });
