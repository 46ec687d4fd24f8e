#!/usr/bin/env node
// The recipe study: trains one configuration per line of a plan and scores it on a validation
// split carved from the end of the training data (never the test split), beside the pixel
// baselines on the same bank, k and t. The test split is scored too, for the table, but nothing
// is chosen on it.
//
//   node bench/recipe.js --plan PLAN.json [--out FILE.jsonl] [--only NAME,NAME] [--validation 10000]
//
// PLAN.json: [{ "name": "...", "options": { trainClsa options } }, ...]. "limit" in the options
// counts images from the start of the training part (what is left after the validation split);
// "bank" (default: the training images) is the number of those first images that form the labelled
// kNN bank, so that a run on more unlabelled images is compared with the same bank and baselines.
// One JSON line per run is appended to --out as soon as it finishes, so a stopped study keeps
// what it measured.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const clsa = require('../dist');

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const planFile = arg('plan');
if (!planFile) { process.stderr.write('usage: node bench/recipe.js --plan PLAN.json [--out FILE.jsonl] [--only A,B]\n'); process.exit(2); }
const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
const only = arg('only') ? new Set(arg('only').split(',')) : undefined;
const out = arg('out', path.join(__dirname, 'results', `recipe-cpu-${new Date().toISOString().slice(0, 10)}.jsonl`));
const validation = Number(arg('validation', '10000'));

(async () => {
  const full = await clsa.loadDataset('fashion-mnist', { split: 'train' });
  const test = await clsa.loadDataset('fashion-mnist', { split: 'test' });
  const split = clsa.validationSplit(full, validation);
  // The pixel baselines depend only on the bank (the first `limit` training images): once per size.
  const pixelsBySize = new Map();
  for (const entry of plan) {
    if (only && !only.has(entry.name)) continue;
    const o = { ...entry.options };
    const train = o.limit ? clsa.sliceDataset(split.train, o.limit) : split.train;
    const bankSet = o.bank ? clsa.sliceDataset(split.train, o.bank) : train;
    delete o.limit;
    delete o.bank;
    const t0 = Date.now();
    let lastLog = 0;
    const res = await clsa.trainClsa({
      ...o, data: { train: { images: train.images, labels: train.labels } }, evalData: { images: split.validation.images, labels: split.validation.labels },
      evaluate: o.evaluate ?? false,
      onProgress: (p) => {
        if (Date.now() - lastLog > 30000) {
          lastLog = Date.now();
          process.stderr.write(`${entry.name}: epoch ${p.epoch + 1}/${p.epochs} step ${p.step + 1}/${p.steps} loss ${p.loss.toFixed(3)} ${p.imagesPerSecond.toFixed(0)} img/s\n`);
        }
      },
    });
    const seconds = (Date.now() - t0) / 1000;
    // The encoder's kNN in each feature form (bank statistics), as the pixels are offered them.
    const fb = await res.encoder.embed(bankSet.images);
    const fv = await res.encoder.embed(split.validation.images), ft = await res.encoder.embed(test.images);
    const valForms = {}, testForms = {};
    for (const form of clsa.FEATURE_FORMS) {
      const v = clsa.inForm(fb, fv, form), t = clsa.inForm(fb, ft, form);
      valForms[form] = (await clsa.knnAccuracy({ features: v.bank, labels: bankSet.labels }, { features: v.query, labels: split.validation.labels })).accuracy;
      testForms[form] = (await clsa.knnAccuracy({ features: t.bank, labels: bankSet.labels }, { features: t.query, labels: test.labels })).accuracy;
    }
    const val = { accuracy: valForms.raw }, tst = { accuracy: testForms.raw };
    const n = bankSet.images.shape[0];
    if (!pixelsBySize.has(n)) pixelsBySize.set(n, await clsa.pixelBaselines(bankSet, split.validation, { linear: false }));
    const pix = pixelsBySize.get(n);
    // The study's bar is the best pixel form *on the validation split* itself: the harder of the two.
    const pixForms = Object.fromEntries(Object.entries(pix.knn).map(([f, r]) => [f, r.accuracy]));
    const pixMax = Object.entries(pixForms).reduce((a, [name, accuracy]) => (accuracy > a.accuracy ? { name, accuracy } : a), { name: 'raw', accuracy: -1 });
    const row = {
      name: entry.name, plan: path.relative(path.join(__dirname, '..'), path.resolve(planFile)), options: entry.options, trainImages: train.images.shape[0], bankImages: n, seconds,
      validationKnn: val.accuracy, testKnn: tst.accuracy, validationKnnForms: valForms, testKnnForms: testForms, bestPixelValidationKnn: pixMax.accuracy, bestPixel: pixMax.name, pixelValidationKnnForms: pixForms,
      history: res.history.map((h) => ({ epoch: h.epoch + 1, loss: h.loss, knn: h.knnAccuracy })),
      load: os.loadavg()[0], date: new Date().toISOString(),
    };
    res.model.dispose();
    fs.appendFileSync(out, JSON.stringify(row) + '\n');
    process.stderr.write(`${entry.name}: val kNN ${(val.accuracy * 100).toFixed(2)}% (standardised ${(valForms.standardised * 100).toFixed(2)}%) (best pixels ${pixMax.name} ${(pixMax.accuracy * 100).toFixed(2)}%), test ${(tst.accuracy * 100).toFixed(2)}%, ${seconds.toFixed(0)} s\n`);
  }
})().catch((e) => { console.error(e); process.exit(1); });
