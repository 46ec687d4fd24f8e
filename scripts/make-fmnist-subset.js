#!/usr/bin/env node
// Builds data/fashion-mnist-subset/: a deterministic, class-balanced subset of Fashion-MNIST
// (default 600 train + 100 test images per class = 6000 + 1000) as gzipped IDX files, from the
// full set of the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
//
//   node scripts/make-fmnist-subset.js [--src DIR] [--out DIR] [--train-per-class N] [--test-per-class N] [--seed S]
//
// Selection: for each class, the indices of that class are shuffled with a seeded xorshift32
// Fisher-Yates and the first N kept; the kept indices are then sorted, so the subset keeps the
// original order. gzip level 9 with a fixed mtime (0) makes the bytes reproducible.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : def;
}
const src = arg('--src', '/usr/share/datasets/fashion-mnist');
const out = arg('--out', path.join(__dirname, '..', 'data', 'fashion-mnist-subset'));
const perClass = { train: Number(arg('--train-per-class', 600)), t10k: Number(arg('--test-per-class', 100)) };
const seed = Number(arg('--seed', 20210415)) >>> 0;

function readIdx(file) {
  const b = zlib.gunzipSync(fs.readFileSync(file));
  if (b[0] !== 0 || b[1] !== 0 || b[2] !== 8) throw new Error(`${file}: bad IDX magic`);
  const nd = b[3];
  const dims = [];
  for (let i = 0; i < nd; i++) dims.push(b.readUInt32BE(4 + 4 * i));
  const start = 4 + 4 * nd;
  const count = dims.reduce((a, c) => a * c, 1);
  if (b.length !== start + count) throw new Error(`${file}: size does not match dims ${dims}`);
  return { dims, data: b.subarray(start) };
}

function writeIdxGz(file, dims, data) {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 8;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  const gz = zlib.gzipSync(Buffer.concat([head, Buffer.from(data)]), { level: 9 });
  gz.writeUInt32LE(0, 4);  // mtime 0: reproducible bytes
  gz[9] = 255;             // OS unknown: the same on every platform
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, gz);
  fs.renameSync(tmp, file);
  return gz.length;
}

function rng(s) {
  let x = s || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

fs.mkdirSync(out, { recursive: true });
let total = 0;
for (const split of ['train', 't10k']) {
  const im = readIdx(path.join(src, `${split}-images-idx3-ubyte.gz`));
  const lb = readIdx(path.join(src, `${split}-labels-idx1-ubyte.gz`));
  const [n, h, w] = im.dims;
  if (lb.dims[0] !== n) throw new Error(`${split}: ${lb.dims[0]} labels for ${n} images`);
  const next = rng(seed ^ (split === 'train' ? 0x9e3779b9 : 0x7f4a7c15));
  const keep = [];
  for (let c = 0; c < 10; c++) {
    const idx = [];
    for (let i = 0; i < n; i++) if (lb.data[i] === c) idx.push(i);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = next() % (i + 1);
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    if (idx.length < perClass[split]) throw new Error(`${split}: class ${c} has only ${idx.length} images`);
    keep.push(...idx.slice(0, perClass[split]));
  }
  keep.sort((a, b) => a - b);
  const px = h * w;
  const images = new Uint8Array(keep.length * px), labels = new Uint8Array(keep.length);
  keep.forEach((i, r) => {
    images.set(im.data.subarray(i * px, (i + 1) * px), r * px);
    labels[r] = lb.data[i];
  });
  total += writeIdxGz(path.join(out, `${split}-images-idx3-ubyte.gz`), [keep.length, h, w], images);
  total += writeIdxGz(path.join(out, `${split}-labels-idx1-ubyte.gz`), [keep.length], labels);
  console.log(`${split}: ${keep.length} images (${perClass[split]} per class) of ${n}`);
}
console.log(`wrote ${out} (${(total / 1e6).toFixed(2)} MB)`);
