#!/usr/bin/env node
// The ablation of issue 7: MoCo v2 (ddmWeight 0, weak views only) vs CLSA single-crop vs CLSA
// multi-crop under one budget (same architecture, epochs, batch and seed), each evaluated on the
// test split with the kNN monitor (k = 200, t = 0.1) and a linear probe, beside two baselines:
// raw pixels, and the same encoder at random initialisation.
//
//   node bench/ablation.js [--data fashion-mnist] [--limit N] [--epochs E] [--batch B]
//                          [--width W] [--seeds 0,1] [--arms moco,single,multi] [--out FILE.json]
//
// Needs `npm install` (dist/ and the addon). The full Fashion-MNIST comes from the Debian
// package (scripts/install-fashion-mnist.sh); without it the shipped subset is used and the
// table says so. Results: one JSON document (config, seeds, per-arm numbers, wall time, machine)
// plus a Markdown table next to it.
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
  data: arg('data', 'fashion-mnist'),
  limit: arg('limit') ? Number(arg('limit')) : undefined,
  testLimit: arg('test-limit') ? Number(arg('test-limit')) : undefined,
  epochs: Number(arg('epochs', '5')),
  batchSize: Number(arg('batch', '256')),
  width: arg('width') ? Number(arg('width')) : undefined,
  arch: arg('arch', 'resnet-mini'),
  temperature: Number(arg('temperature', '0.2')),
  ddmTemperature: Number(arg('ddm-temperature', '0.2')),
  probeEpochs: Number(arg('probe-epochs', '30')),
  seeds: arg('seeds', '0').split(',').map(Number),
  arms: arg('arms', 'moco,single,multi').split(','),
};
// trainClsa's device: 'auto' uses a usable GPU only once the CUDA step is verified on one.
const trainsOnGpu = (b) => b.cudaUsable && b.cudaVerified.step;
const out = arg('out', path.join(__dirname, 'results', `ablation-${trainsOnGpu(clsa.backend()) ? 'gpu' : 'cpu'}-${new Date().toISOString().slice(0, 10)}.json`));
const ARMS = {
  moco: { label: 'MoCo v2 (ddmWeight 0, weak views)', ddmWeight: 0, crops: 'single' },
  single: { label: 'CLSA single-crop', ddmWeight: 1, crops: 'single' },
  multi: { label: 'CLSA multi-crop', ddmWeight: 1, crops: 'multi' },
};

function slice(ds, n) {
  if (n === undefined || n >= ds.images.shape[0]) return ds;
  const [, h, w, c] = ds.images.shape;
  return { ...ds, images: { data: ds.images.data.subarray(0, n * h * w * c), shape: [n, h, w, c] }, labels: ds.labels.subarray(0, n) };
}

async function evaluate(trainFeat, testFeat, train, test, seed) {
  const tr = { features: trainFeat, labels: train.labels }, te = { features: testFeat, labels: test.labels };
  const knn = await clsa.knnAccuracy(tr, te, { k: 200, t: 0.1 });
  const lin = await clsa.linearProbe(tr, te, { epochs: cfg.probeEpochs, seed });
  return { knn: knn.accuracy, linear: lin.testAccuracy };
}

(async () => {
  const t0 = Date.now();
  const train = slice(await clsa.loadDataset(cfg.data, { split: 'train' }), cfg.limit);
  const test = slice(await clsa.loadDataset(cfg.data, { split: 'test' }), cfg.testLimit);
  const memory = { images: train.images, labels: train.labels };
  const rows = [];
  const log = (s) => process.stderr.write(s + '\n');
  log(`data ${train.source}: ${train.images.shape[0]} train, ${test.images.shape[0]} test; ${JSON.stringify(cfg)}`);

  const raw = await evaluate(clsa.imagesToFeatures(train.images), clsa.imagesToFeatures(test.images), train, test, 0);
  rows.push({ arm: 'raw', label: 'raw pixels', seed: null, ...raw, seconds: 0 });
  log(`raw pixels: kNN ${(raw.knn * 100).toFixed(2)}%, linear ${(raw.linear * 100).toFixed(2)}%`);

  for (const seed of cfg.seeds) {
    // Random initialisation: the same encoder, no training step.
    {
      const norm = clsa.imageStatistics(train.images);
      const model = clsa.ClsaModel.create({ arch: cfg.arch, width: cfg.width, inChannels: train.images.shape[3], seed });
      const enc = new clsa.Encoder(model, norm, [train.images.shape[1], train.images.shape[2]]);
      const r = await evaluate(await enc.embed(train.images), await enc.embed(test.images), train, test, seed);
      enc.dispose();
      rows.push({ arm: 'random', label: 'random init (same encoder)', seed, ...r, seconds: 0 });
      log(`random init seed ${seed}: kNN ${(r.knn * 100).toFixed(2)}%, linear ${(r.linear * 100).toFixed(2)}%`);
    }
    for (const name of cfg.arms) {
      const a = ARMS[name];
      if (!a) throw new Error(`--arms: unknown arm ${name} (moco, single, multi)`);
      const ts = Date.now();
      const res = await clsa.trainClsa({
        data: memory, evaluate: false, epochs: cfg.epochs, batchSize: cfg.batchSize, arch: cfg.arch, width: cfg.width,
        temperature: cfg.temperature, ddmTemperature: cfg.ddmTemperature, ddmWeight: a.ddmWeight, crops: a.crops, seed,
        onEpochEnd: (e) => log(`  ${name} seed ${seed} epoch ${e.epoch + 1}/${e.epochs}: loss ${e.loss.toFixed(3)} ${e.imagesPerSecond.toFixed(0)} img/s`),
      });
      const seconds = (Date.now() - ts) / 1000;
      const r = await evaluate(await res.encoder.embed(train.images), await res.encoder.embed(test.images), train, test, seed);
      res.encoder.dispose();
      rows.push({ arm: name, label: a.label, seed, ...r, seconds, finalLoss: res.history[res.history.length - 1].loss });
      log(`${a.label} seed ${seed}: kNN ${(r.knn * 100).toFixed(2)}%, linear ${(r.linear * 100).toFixed(2)}% (${seconds.toFixed(0)} s)`);
    }
  }

  const b = clsa.backend();
  const device = trainsOnGpu(b) ? `cuda (${b.devices[0].name})` : 'cpu';
  const doc = {
    date: new Date().toISOString(), machine: { cpu: os.cpus()[0]?.model, threads: b.cpuThreads, kernel: b.cpuKernel, device },
    data: train.source, trainImages: train.images.shape[0], testImages: test.images.shape[0], config: cfg, rows,
    wallSeconds: (Date.now() - t0) / 1000,
  };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out + '.tmp', JSON.stringify(doc, null, 2) + '\n');
  fs.renameSync(out + '.tmp', out);
  // Markdown: mean and spread over seeds per arm.
  const arms = [...new Set(rows.map((r) => r.arm))];
  const pct = (v) => (v * 100).toFixed(2);
  const lines = [`# Ablation (${doc.date.slice(0, 10)}, ${device === 'cpu' ? `${doc.machine.cpu}, ${doc.machine.threads} threads, CPU` : device})`, '',
    `Data: ${doc.data}, ${doc.trainImages} train / ${doc.testImages} test images. Config: \`${JSON.stringify(cfg)}\`. Wall time ${doc.wallSeconds.toFixed(0)} s.`, '',
    '| arm | seeds | kNN (k=200, t=0.1) | linear probe | train s/seed |', '|---|---|---|---|---|'];
  for (const a of arms) {
    const rs = rows.filter((r) => r.arm === a);
    const stat = (k) => {
      const v = rs.map((r) => r[k]);
      const m = v.reduce((x, y) => x + y, 0) / v.length;
      return v.length > 1 ? `${pct(m)} (${pct(Math.min(...v))}–${pct(Math.max(...v))})` : pct(m);
    };
    lines.push(`| ${rs[0].label} | ${rs.map((r) => r.seed ?? '-').join(',')} | ${stat('knn')} | ${stat('linear')} | ${(rs.reduce((x, r) => x + r.seconds, 0) / rs.length).toFixed(0)} |`);
  }
  fs.writeFileSync(out.replace(/\.json$/, '.md'), lines.join('\n') + '\n');
  process.stdout.write(lines.join('\n') + '\n');
})().catch((e) => { process.stderr.write(`ablation: ${e.stack}\n`); process.exit(1); });
