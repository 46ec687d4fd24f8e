#!/usr/bin/env node
// GPU check of the kNN top-k kernel: CUDA (native/src/cuda/knn.cu) against its CPU twin on random
// data of several odd shapes, plus one timing at monitor scale. Needs only node, the built addon
// (build/Release/clsa.node) and dist/ (npm run build). Exits 0 with "SKIP" when no GPU is usable.
//
//   node bench/gpu/knn_check.js [--big]     (--big: 50000 x 10000 x 128, k = 200 timing)
'use strict';
const path = require('path');
const root = path.resolve(__dirname, '..', '..');
const clsa = require(path.join(root, 'dist', 'index.js'));

function rand(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

function check(nTrain, nTest, d, k, seed) {
  const train = { data: rand(nTrain * d, seed), shape: [nTrain, d] };
  const test = { data: rand(nTest * d, seed + 1), shape: [nTest, d] };
  const t0 = process.hrtime.bigint();
  const cpu = clsa.knnTopkSync(train, test, { k });
  const t1 = process.hrtime.bigint();
  const gpu = clsa.knnTopkSync(train, test, { k, device: 'cuda' });
  const t2 = process.hrtime.bigint();
  let maxDiff = 0, indexDiff = 0, setDiff = 0;
  for (let i = 0; i < nTest * k; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(cpu.sim[i] - gpu.sim[i]));
    if (cpu.index[i] !== gpu.index[i]) indexDiff++;
  }
  for (let r = 0; r < nTest; r++) {
    // Rows may order near-equal neighbours differently; the sets may differ only at the boundary.
    const a = new Set(cpu.index.subarray(r * k, (r + 1) * k));
    for (const j of gpu.index.subarray(r * k, (r + 1) * k)) if (!a.has(j)) setDiff++;
  }
  const sorted = (() => {
    for (let r = 0; r < nTest; r++)
      for (let j = 1; j < k; j++) if (gpu.sim[r * k + j] > gpu.sim[r * k + j - 1]) return false;
    return true;
  })();
  const ok = maxDiff < 1e-4 && sorted && setDiff <= Math.max(1, nTest * k * 1e-3);
  const res = {
    shape: { nTrain, nTest, d, k }, maxSimDiff: maxDiff, indexMismatches: indexDiff, setMismatches: setDiff,
    gpuSortedDescending: sorted, cpuMs: Number(t1 - t0) / 1e6, gpuMs: Number(t2 - t1) / 1e6, ok,
  };
  console.log(JSON.stringify(res));
  return ok;
}

const b = clsa.backend();
if (!b.cudaUsable) {
  console.log(`SKIP knn_check: CUDA not usable (${b.cudaState}${b.cudaMessage ? ': ' + b.cudaMessage : ''})`);
  process.exit(0);
}
console.log(`knn_check on ${b.devices.map((x) => x.name).join(', ')}; CPU ${b.cpuKernel} x ${b.cpuThreads}`);
let ok = true;
for (const [nTrain, nTest, d, k, seed] of [
  [37, 5, 3, 7, 1], [1000, 67, 129, 200, 2], [513, 33, 17, 513, 3], [300, 41, 64, 1, 4], [4099, 257, 128, 200, 5],
  [2000, 9, 1000, 50, 6],
]) ok = check(nTrain, nTest, d, k, seed) && ok;
if (process.argv.includes('--big')) ok = check(50000, 10000, 128, 200, 7) && ok;
console.log(ok ? 'PASS knn_check' : 'FAIL knn_check');
process.exit(ok ? 0 : 1);
