#!/usr/bin/env node
// `clsa search` at Fashion-MNIST scale: a 60000-image index built and 10000 queries searched
// through the same calls the command makes (SearchIndex.build: embed every index image; then
// index.search: embed the queries, fused cosine top-k against the index), printed as one JSON
// document. Issue 22's target: seconds, not minutes, for the search.
//
//   node bench/search.js [--index=60000] [--queries=10000] [--k=8] [--model=DIR] [--width=16]
//        [--synthetic] [--features] [--dim=64] [--threads=2] [--seed=0] [--save=file.json]
//
// Images: Fashion-MNIST's train split as the index and its test split as the queries where the
// full set is installed (scripts/install-fashion-mnist.sh) and large enough; otherwise synthetic
// 28x28 greyscale images of the same shape, seeded (always with --synthetic), and `data` says which. The encoder is --model
// DIR (OUT/model of `clsa train`) or, without one, a random-init resnet-mini of --width (the
// quick recipe's 16): the cost of a search does not depend on the weights.
// --features skips the encoder: random ReLU-like features of --dim columns go straight into
// SearchIndex.fromEmbeddings and searchFeatures, timing the top-k alone.
// Needs `npm run build` (loads ../dist). Timings are only worth comparing on a quiet machine:
// os.loadavg() before and after is in the output.
'use strict';
const fs = require('fs');
const os = require('os');
const { ClsaModel, Encoder, FASHION_MNIST_MEAN, FASHION_MNIST_STD, loadDataset, loadEncoder, resolveFashionMnist, Rng, SearchIndex,
  setCpuThreads, backend } = require('../dist');

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const a = argv.find((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  return a === undefined ? dflt : a.includes('=') ? a.slice(name.length + 3) : true;
};
function int(name, dflt, min) {
  const v = Number(opt(name, dflt));
  if (!Number.isInteger(v) || v < min) throw new RangeError(`--${name}: expected an integer >= ${min} but got ${JSON.stringify(opt(name, dflt))}`);
  return v;
}
const nIndex = int('index', 60000, 1), nQueries = int('queries', 10000, 1), k = int('k', 8, 1);
const width = int('width', 16, 1), dim = int('dim', 64, 1), threads = int('threads', 2, 0), seed = int('seed', 0, 0);
const model = opt('model', undefined), featuresOnly = opt('features', false) === true, save = opt('save', undefined);
const synthetic = opt('synthetic', false) === true;
if (k > nIndex) throw new RangeError(`--k: expected at most --index (${nIndex}) but got ${k}`);
const SIZE = 28;

const { loadAverage: load } = require('./stats');
const seconds = (t0) => Number(((performance.now() - t0) / 1000).toFixed(3));

/** `n` seeded 28x28 greyscale images with some structure (a bright band whose height and
 * brightness vary), so that features are not all alike. */
function syntheticImages(n, rng, source) {
  const data = new Uint8Array(n * SIZE * SIZE);
  for (let i = 0; i < n; i++) {
    const row = 2 + (rng.nextU32() % 24), level = 120 + (rng.nextU32() % 130);
    for (let p = 0; p < SIZE * SIZE; p++) {
      const y = Math.floor(p / SIZE);
      data[i * SIZE * SIZE + p] = Math.abs(y - row) <= 2 ? level : rng.nextU32() & 63;
    }
  }
  return { images: { data, shape: [n, SIZE, SIZE, 1] }, source };
}

/** The first `n` rows of a split when the installed Fashion-MNIST has them, else synthetic ones. */
async function images(split, n, rng) {
  const fm = resolveFashionMnist();
  if (fm.full && !synthetic) {
    const ds = await loadDataset('fashion-mnist', { split });
    if (ds.images.shape[0] >= n) {
      const [, h, w, c] = ds.images.shape;
      return { images: { data: ds.images.data.subarray(0, n * h * w * c), shape: [n, h, w, c] }, source: `${ds.source}, ${split} rows 0-${n - 1}` };
    }
  }
  return syntheticImages(n, rng, `synthetic ${SIZE}x${SIZE}x1 (${synthetic ? '--synthetic' : fm.full ? 'Fashion-MNIST too small' : 'full Fashion-MNIST not installed'}), seed ${seed}`);
}

function randomFeatures(n, rng) {
  const data = new Float32Array(n * dim);
  for (let i = 0; i < data.length; i++) data[i] = Math.max(0, rng.normal());
  return { data, shape: [n, dim] };
}

async function main() {
  if (threads > 0) setCpuThreads(threads);
  const rng = new Rng(seed);
  const out = {
    bench: 'search', date: new Date().toISOString(), mode: featuresOnly ? 'features' : 'images', index: nIndex, queries: nQueries, k,
    threads: threads || 'default', cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? null, node: process.version,
    kernel: backend().cpuKernel ?? null, loadavgBefore: load(),
  };
  let build, search, topk, featureDim, hits;
  if (featuresOnly) {
    const f = randomFeatures(nIndex, rng), q = randomFeatures(nQueries, rng);
    let t = performance.now();
    const index = SearchIndex.fromEmbeddings({ features: f, source: 'random features', split: 'train' }, 'random');
    build = seconds(t);
    t = performance.now();
    const results = await index.searchFeatures(q, k);
    search = seconds(t);
    topk = search;
    featureDim = dim;
    hits = results.length * k;
    Object.assign(out, { data: `random ReLU-like features, ${dim} columns, seed ${seed}`, encoder: null });
  } else {
    const indexImages = await images('train', nIndex, rng), queryImages = await images('test', nQueries, rng);
    const encoder = model ? loadEncoder(model)
      : new Encoder(ClsaModel.create({ arch: 'resnet-mini', width, inChannels: 1, device: 'cpu', seed }),
        { channels: 1, mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD }, [SIZE, SIZE]);
    try {
      let t = performance.now();
      const index = await SearchIndex.build(encoder, indexImages);
      build = seconds(t);
      t = performance.now();
      const results = await index.search(encoder, queryImages, k);
      search = seconds(t);
      // The top-k alone, on the queries' features: how much of the search is the embedding.
      const q = await encoder.embed(queryImages.images);
      t = performance.now();
      await index.searchFeatures(q, k);
      topk = seconds(t);
      featureDim = encoder.featureDim;
      hits = results.length * k;
      Object.assign(out, { data: { index: indexImages.source, queries: queryImages.source },
        encoder: model ? { model, arch: encoder.config.arch, width: encoder.config.width } : { randomInit: true, arch: 'resnet-mini', width } });
    } finally {
      encoder.dispose();
    }
  }
  Object.assign(out, {
    featureDim, neighbours: hits,
    seconds: { indexBuild: build, search, topkOnly: topk },
    queriesPerSecond: Number((nQueries / search).toFixed(1)),
    loadavgAfter: load(),
  });
  const json = JSON.stringify(out, null, 2);
  if (typeof save === 'string') fs.writeFileSync(save, json + '\n');
  process.stdout.write(json + '\n');
}

main().catch((err) => { process.stderr.write(`bench/search.js: ${err.stack || err}\n`); process.exit(1); });
