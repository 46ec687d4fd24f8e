#!/usr/bin/env node
// A user's own images, end to end: a class-sorted folder of PNGs without split sub-folders (the
// layout most users have), trained with `clsa train --data FOLDER` and with trainClsa on the same
// images as in-memory arrays. Checks what the reports claim, independently of the library's own
// split code: the scored split shares no image with the kNN bank (by the PNGs' decoded pixels),
// every class is in the validation split, and the outputs name their splits and sizes.
//
//   node bench/own-folder.js [--per-class 300] [--out bench/results/own-folder-cpu-DATE.json] [--keep DIR]
//
// Needs `npm install` (dist/ and the addon). Uses the full Fashion-MNIST where it is installed,
// else the shipped subset. Results (JSON, then a Markdown summary) are written atomically.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const clsa = require('../dist');

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const perClass = Number(arg('per-class', '300'));
const date = new Date().toISOString().slice(0, 10);
const out = arg('out', path.join(__dirname, 'results', `own-folder-cpu-${date}.json`));
const root = arg('keep', fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-own-')));
const log = (s) => process.stderr.write(s + '\n');
const hash = (u8) => crypto.createHash('sha256').update(u8).digest('hex');

/** ROOT/<class>/<nnnn>.png, the first `perClass` images of each class, sorted by class. */
async function writeFolder(dir) {
  const sharp = require('sharp');
  const fm = await clsa.loadDataset('fashion-mnist', { split: 'train' });
  const per = 28 * 28;
  for (let c = 0; c < 10; c++) {
    const cdir = path.join(dir, clsa.FASHION_MNIST_CLASSES[c].replace(/[^A-Za-z0-9-]/g, '_'));
    fs.mkdirSync(cdir, { recursive: true });
    let j = 0;
    for (let i = 0; i < fm.labels.length && j < perClass; i++) {
      if (fm.labels[i] !== c) continue;
      const px = Buffer.from(fm.images.data.subarray(i * per, (i + 1) * per));
      await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(cdir, `${String(j++).padStart(4, '0')}.png`));
    }
  }
  return fm.source;
}

/** Pixel hashes of every image of a data set (rows of its images tensor). */
function rowHashes(ds) {
  const [n] = ds.images.shape, per = ds.images.data.length / n;
  return Array.from({ length: n }, (_, i) => hash(ds.images.data.subarray(i * per, (i + 1) * per)));
}

function classCounts(ds) {
  const c = {};
  for (const l of ds.labels) c[l] = (c[l] ?? 0) + 1;
  return c;
}

function shared(a, b) {
  const s = new Set(a);
  return b.filter((h) => s.has(h)).length;
}

(async () => {
  const doc = { date: new Date().toISOString(), command: `node bench/own-folder.js ${process.argv.slice(2).join(' ')}`.trim(), perClass, checks: {} };
  doc.from = await writeFolder(root);
  log(`wrote ${perClass * 10} PNGs under ${root} (from ${doc.from})`);
  // The folder's images as read by the library, and duplicates within the folder (identical pixels in
  // two files would count as shared without being the same image).
  const all = await clsa.loadDataset(root, { split: 'train', holdOut: false });
  const allHashes = rowHashes(all);
  doc.images = allHashes.length;
  doc.duplicatePixels = allHashes.length - new Set(allHashes).size;

  // 1. The CLI on the folder, with its defaults.
  const cliOut = path.join(root, '..', `${path.basename(root)}-run`);
  const t0 = Date.now();
  const stdout = execFileSync(process.execPath, [path.join(__dirname, '..', 'dist', 'cli.js'), 'train', '--data', root, '--out', cliOut],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  doc.cliSeconds = (Date.now() - t0) / 1000;
  const lines = fs.readFileSync(path.join(cliOut, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const final = lines.find((l) => l.final);
  const report = fs.readFileSync(path.join(cliOut, 'report.html'), 'utf8');
  // Independently of the CLI: the folder's test split against everything on the training side.
  const test = await clsa.loadDataset(root, { split: 'test' });
  const trainSide = await clsa.loadDataset(root, { split: 'train' });
  doc.cli = {
    summary: stdout.trim().split('\n').slice(-12), splits: final.splits, scorecard: final.scorecard,
    testSharedWithTrainingSide: shared(rowHashes(trainSide), rowHashes(test)),
    validationClasses: Object.keys(final.splits.validation?.perClass ?? {}).length,
    testClasses: Object.keys(final.splits.test?.perClass ?? {}).length,
    reportNamesSplits: /validation, \d+ images/.test(report) && /test, \d+ images|test split/.test(report),
  };
  doc.checks.cli = doc.cli.testSharedWithTrainingSide === 0 && doc.cli.validationClasses === 10 && doc.cli.testClasses === 10 && doc.cli.reportNamesSplits
    && final.splits.train.images + (final.splits.validation?.images ?? 0) + final.splits.test.images === doc.images;
  log(`cli: ${JSON.stringify(doc.checks.cli)} ${JSON.stringify(final.splits)}`);

  // 2. trainClsa on the same images as in-memory arrays (no test split given: a hold-out of its own).
  const t1 = Date.now();
  const res = await clsa.trainClsa({ preset: 'quick', data: { train: { images: all.images, labels: all.labels } } });
  doc.apiSeconds = (Date.now() - t1) / 1000;
  const bank = res.data.train, val = res.data.validation;
  const last = res.history[res.history.length - 1];
  doc.api = {
    bank: bank.images.shape[0], validation: val?.images.shape[0] ?? 0,
    validationSharedWithBank: val ? shared(rowHashes(bank), rowHashes(val)) : null,
    validationClasses: val ? Object.keys(classCounts(val)).length : 0,
    monitored: { split: last.knnSplit, size: last.knnSplitSize, knn: last.knnAccuracy },
  };
  doc.checks.api = doc.api.validationSharedWithBank === 0 && doc.api.validationClasses === 10 && last.knnSplit === 'validation';
  res.model.dispose();
  log(`api: ${JSON.stringify(doc.checks.api)} ${JSON.stringify(doc.api)}`);
  doc.load = os.loadavg();

  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out + '.tmp', JSON.stringify(doc, null, 2) + '\n');
  fs.renameSync(out + '.tmp', out);
  const pct = (x) => (x == null ? '–' : `${(x * 100).toFixed(2)}%`);
  const sc = final.scorecard;
  const md = [`# A class-sorted folder of ${doc.images} PNGs without split sub-folders (${doc.date.slice(0, 10)})`, '',
    `From ${doc.from}, ${perClass} images per class; ${doc.duplicatePixels} files with identical pixels. Command: \`${doc.command}\``, '',
    '## `clsa train --data FOLDER` (defaults)', '',
    `Splits: train (kNN bank) ${final.splits.train.images}, validation ${final.splits.validation?.images ?? 0} (${doc.cli.validationClasses} classes), test ${final.splits.test.images} (${doc.cli.testClasses} classes); ${doc.cliSeconds.toFixed(0)} s.`,
    `Test images sharing pixels with any training-side image: ${doc.cli.testSharedWithTrainingSide}. Report names its splits: ${doc.cli.reportNamesSplits}.`,
    `Test kNN ${pct(sc?.encoder?.knn)} against ${pct(sc?.pixels?.best?.accuracy)} for the best pixel form (${sc?.pixels?.best?.name}), random init ${pct(sc?.randomInit?.knn)} (bank ${sc?.bankSize}, test ${sc?.querySize}).`, '',
    '## `trainClsa` with the same images in memory', '',
    `Bank ${doc.api.bank}, validation ${doc.api.validation} (${doc.api.validationClasses} classes), shared with the bank: ${doc.api.validationSharedWithBank}; monitored split: ${doc.api.monitored.split} (${doc.api.monitored.size} images), kNN ${pct(doc.api.monitored.knn)}; ${doc.apiSeconds.toFixed(0)} s.`, '',
    `All checks passed: ${doc.checks.cli && doc.checks.api}. Load average at the end: ${doc.load.map((x) => x.toFixed(2)).join(' ')}.`];
  fs.writeFileSync(out.replace(/\.json$/, '.md.tmp'), md.join('\n') + '\n');
  fs.renameSync(out.replace(/\.json$/, '.md.tmp'), out.replace(/\.json$/, '.md'));
  process.stdout.write(md.join('\n') + '\n');
  if (!(doc.checks.cli && doc.checks.api)) process.exit(1);
})().catch((e) => { process.stderr.write(`own-folder: ${e.stack}\n`); process.exit(1); });
