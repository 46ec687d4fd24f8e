// One rank of test/distributed.test.ts, started by mpirun: `node distributed-rank.js DIR [train|resume|abort|fail]`.
// DIR/cases.json lists the cases; each case's global batches are DIR/<case>-<step>-<view>.f32
// (NCHW floats, written by the test). This rank takes its rows of every global batch, trains an
// attached model and writes DIR/<case>-rank<r>.json (per-step results, counters, error) and
// DIR/<case>-rank<r>-<buffer>.f32 (its final state), for the test to compare with one process.
// With `train`: trainClsa with the options in DIR/train.json, each rank checkpointing to its own
// DIR/ckpt-rank<r> (only rank 0 should write one); DIR/train-rank<r>.json and -<buffer>.f32 hold
// its history and final state; rank 0's checkpoint after the first epoch is copied for `resume`,
// which continues from it on every rank (DIR/resumed-rank<r>*). With `fail`: rank 1 throws while rank 0 waits in a collective.
'use strict';
const fs = require('fs');
const path = require('path');
const { ClsaModel, openDistributed, setCpuThreads, trainClsa } = require('../../dist');

const dir = process.argv[2];

function slice(file, shape, rank, size) {
  const all = new Float32Array(fs.readFileSync(file).buffer.slice(0));
  const [n, c, h, w] = shape, rows = n / size, per = c * h * w;
  return { data: all.slice(rank * rows * per, (rank + 1) * rows * per), shape: [rows, c, h, w] };
}

async function runCase(comm, cs) {
  const { rank, size } = comm;
  const out = { rank, size, steps: [], error: null };
  // Rank 1 may be given a different config, to see the mismatch refused on every rank.
  const config = { ...cs.config, ...(rank === 1 ? cs.rank1Config ?? {} : {}) };
  const model = ClsaModel.create(config);
  try {
    await model.attach(comm, { checkEvery: cs.checkEvery });
    if (cs.perturbRank1 && rank === 1) {
      // The replica changed behind the job's back, as a bug or a stray set_buffer would.
      const h = model.handle, p = h.getBuffer(0);
      p[0] += 1e-3;
      h.setBuffer(0, p);
    }
    for (let s = 0; s < cs.steps; s++) {
      const view = (name, i) => slice(path.join(dir, `${cs.name}-${s}-${name}${i}.f32`), cs.shapes[name][i], rank, size);
      const res = await model.step({
        key: view('key', 0),
        weak: cs.shapes.weak.map((_, i) => view('weak', i)),
        strong: cs.shapes.strong.map((_, i) => view('strong', i)),
      }, { lr: cs.lr });
      out.steps.push({ loss: res.loss, nceLoss: res.nceLoss, ddmLoss: res.ddmLoss, accuracy: res.accuracy, commSeconds: res.seconds.comm });
    }
  } catch (err) {
    out.error = { message: err.message, code: err.code };
  }
  const state = model.state();
  out.queuePointer = state.queuePointer;
  out.step = state.step;
  out.rng = state.rng;
  writeState(path.join(dir, `${cs.name}-rank${rank}`), state);
  fs.writeFileSync(path.join(dir, `${cs.name}-rank${rank}.json`), JSON.stringify(out));
  await model.detach();
  model.dispose();
}

// The collectives alone, on values that say which rank sent them.
async function collectives(comm) {
  const { rank } = comm;
  const mine = Float32Array.from([rank + 1, 10 * (rank + 1), 0.5]);
  const bcast = Float32Array.from([rank + 100, rank + 200]);
  await comm.broadcast(bcast, 1);
  await comm.barrier();
  const out = {
    rank, size: comm.size, localRank: comm.localRank, localSize: comm.localSize, library: comm.library, version: comm.version,
    sum: Array.from(await comm.allReduce(mine, 'sum')), mean: Array.from(await comm.allReduce(mine, 'mean')),
    gather: Array.from(await comm.allGather(mine)), broadcast: Array.from(bcast), mineAfter: Array.from(mine),
  };
  fs.writeFileSync(path.join(dir, `collectives-rank${rank}.json`), JSON.stringify(out));
}

function writeState(prefix, state) {
  for (const [name, data] of Object.entries(state.buffers))
    fs.writeFileSync(`${prefix}-${name}.f32`, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

// `resume`: from the copy of rank 0's checkpoint after the first epoch, which `train` keeps.
async function train(comm, resume) {
  const options = JSON.parse(fs.readFileSync(path.join(dir, 'train.json'), 'utf8'));
  const ckpt = path.join(dir, `ckpt-rank${comm.rank}`), after1 = path.join(dir, 'ckpt-after-epoch1');
  const r = await trainClsa(resume ? { ...options, distributed: 'mpi', resume: after1 } : {
    ...options, distributed: 'mpi', checkpoint: { dir: ckpt },
    onEpochEnd: (e) => { if (e.epoch === 0 && fs.existsSync(ckpt)) fs.cpSync(ckpt, after1, { recursive: true }); },
  });
  const name = `${resume ? 'resumed' : 'train'}-rank${comm.rank}`;
  writeState(path.join(dir, name), r.model.state());
  fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify({ history: r.history, distributed: r.distributed }));
  r.model.dispose();
}

// `abort`: rank 1 alone aborts after its second step; every rank must stop before the same step.
async function abort(comm) {
  const options = JSON.parse(fs.readFileSync(path.join(dir, 'train.json'), 'utf8'));
  const controller = new AbortController();
  let steps = 0, error = null;
  try {
    await trainClsa({ ...options, distributed: 'mpi', signal: controller.signal,
      checkpoint: { dir: path.join(dir, `abort-ckpt-rank${comm.rank}`), onAbort: true },
      onProgress: () => { steps++; if (comm.rank === 1 && steps === 2) controller.abort(); } });
  } catch (err) {
    error = err.name;
  }
  fs.writeFileSync(path.join(dir, `abort-rank${comm.rank}.json`), JSON.stringify({ steps, error }));
}

(async () => {
  const comm = openDistributed('mpi');
  setCpuThreads(1);  // the test's single process runs one thread too (dW sums follow the thread count)
  if (process.argv[3] === 'train' || process.argv[3] === 'resume') return train(comm, process.argv[3] === 'resume');
  if (process.argv[3] === 'abort') return abort(comm);
  if (process.argv[3] === 'fail') {
    await comm.barrier();
    if (comm.rank === 1) throw new Error('rank 1 fails on purpose');
    await comm.barrier();  // rank 0 waits here for a rank that is gone: the launcher must end it
    return;
  }
  await collectives(comm);
  const cases = JSON.parse(fs.readFileSync(path.join(dir, 'cases.json'), 'utf8'));
  for (const cs of cases) await runCase(comm, cs);
})().catch((err) => {
  process.stderr.write(`rank failed: ${err.stack}\n`);
  process.exitCode = 1;
});
