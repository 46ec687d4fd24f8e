#!/usr/bin/env node
// Data-parallel throughput on one machine: `mpirun -np 2` ranks of one thread each against one
// process with two threads, at the same global batch, the quick recipe's model and views, training
// on Fashion-MNIST through trainClsa (augmentation, the step, the collectives; no evaluation).
// The two modes alternate (one, ranks, one, ranks, ...) so that both see the same machine; each
// run's first epoch is a warm-up and the rest are timed by trainClsa's own epoch records.
//
//   node bench/distributed.js [--runs 2] [--epochs 3] [--limit 6000] [--out FILE.json]
//
// Needs Open MPI's mpirun (scripts/install-openmpi.sh) and `npm run build` (loads ../dist).
// Run it with nothing else on the machine: the target (ranks within 15% of one process) is a ratio
// of two wall-clock throughputs.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const { median, loadAverage: load } = require('./stats');

// A rank (or the single process): train, then rank 0 writes its epochs to `file`.
async function rank(file, epochs, limit, ranks) {
  const clsa = require('../dist');
  if (ranks === 1) clsa.setCpuThreads(os.cpus().length);
  const data = await clsa.loadDataset('fashion-mnist', { split: 'train' });
  const t0 = Date.now();
  const res = await clsa.trainClsa({ preset: 'quick', data: { train: { images: data.images, labels: data.labels } }, limit, epochs,
    evaluate: false, distributed: ranks === 1 ? 'none' : 'mpi' });
  if ((res.distributed?.rank ?? 0) !== 0) return;
  const out = { ranks, threads: clsa.backend().cpuThreads, batchSize: clsa.recipeOptions({ preset: 'quick' }).batchSize, wallSeconds: (Date.now() - t0) / 1000,
    epochs: res.history.map((e) => ({ epoch: e.epoch, seconds: e.seconds, imagesPerSecond: e.imagesPerSecond, loss: e.loss })) };
  fs.writeFileSync(file, JSON.stringify(out));
}

function run(mode, epochs, limit, dir, i) {
  const file = path.join(dir, `${mode}-${i}.json`);
  const self = [__filename, '--rank', file, '--epochs', String(epochs), '--limit', String(limit)];
  const r = mode === 'one'
    ? spawnSync(process.execPath, [...self, '--ranks', '1'], { encoding: 'utf8' })
    : spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '--bind-to', 'none', '-np', '2', process.execPath, ...self,
      '--ranks', '2'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${mode} run ${i} exited with ${r.status}: ${r.error ?? ''}\n${r.stdout}\n${r.stderr}`);
  const res = JSON.parse(fs.readFileSync(file, 'utf8'));
  const timed = res.epochs.slice(1);
  return { ...res, imagesPerSecond: timed.reduce((a, e) => a + e.imagesPerSecond * e.seconds, 0) / timed.reduce((a, e) => a + e.seconds, 0) };
}

async function main() {
  if (arg('rank')) return rank(arg('rank'), Number(arg('epochs')), Number(arg('limit')), Number(arg('ranks')));
  const runs = Number(arg('runs', 2)), epochs = Number(arg('epochs', 3)), limit = Number(arg('limit', 6000));
  if (!(epochs >= 2)) throw new Error(`--epochs: expected at least 2 (the first is a warm-up) but got ${arg('epochs')}`);
  const mpi = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (mpi.error || !/Open MPI/.test(mpi.stdout + mpi.stderr)) throw new Error(`Open MPI's mpirun not found (scripts/install-openmpi.sh): ${mpi.error ?? mpi.stdout}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-dist-bench-'));
  const doc = { bench: 'distributed', date: new Date().toISOString(), host: { cpu: os.cpus()[0]?.model, logicalCpus: os.cpus().length },
    mpi: mpi.stdout.split('\n')[0], command: `node bench/distributed.js --runs ${runs} --epochs ${epochs} --limit ${limit}`,
    recipe: 'quick', loadStart: load(), runs: [] };
  for (let i = 0; i < runs; i++)
    for (const mode of i % 2 ? ['ranks', 'one'] : ['one', 'ranks']) {
      const r = { mode, run: i, loadStart: load(), ...run(mode, epochs, limit, dir, i) };
      r.loadEnd = load();
      doc.runs.push(r);
      console.error(`${mode} run ${i}: ${r.imagesPerSecond.toFixed(0)} img/s (${r.ranks} x ${r.threads} threads, batch ${r.batchSize}), load ${r.loadEnd[0]}`);
    }
  doc.loadEnd = load();
  const ips = (m) => median(doc.runs.filter((r) => r.mode === m).map((r) => r.imagesPerSecond));
  doc.onePerSecond = ips('one');
  doc.ranksPerSecond = ips('ranks');
  doc.ratio = doc.ranksPerSecond / doc.onePerSecond;
  doc.withinTarget = doc.ratio >= 0.85;
  fs.rmSync(dir, { recursive: true, force: true });
  const out = arg('out', path.join(__dirname, 'results', `distributed-cpu-${doc.date.slice(0, 10)}.json`));
  fs.writeFileSync(out + '.tmp', JSON.stringify(doc, null, 1));
  fs.renameSync(out + '.tmp', out);
  console.log(`one process (2 threads) ${doc.onePerSecond.toFixed(0)} img/s, 2 ranks x 1 thread ${doc.ranksPerSecond.toFixed(0)} img/s: ` +
    `ratio ${doc.ratio.toFixed(3)} (target >= 0.85); load ${doc.loadStart.join(' / ')} -> ${doc.loadEnd.join(' / ')}; ${out}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
