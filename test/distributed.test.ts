// Data-parallel training over MPI (docs/distributed.md). `mpirun -np 2` ranks of batch 32 each
// must train the model one process trains on the same batches of 64 with split-BN groups that
// coincide with the ranks' halves; the ranks run test/helpers/distributed-rank.js on batches this
// file writes, and this file computes the single process beside them.
//
// Tolerance: 1e-5, relative (a loss to the loss, a buffer's largest difference to its largest
// magnitude). The two runs add the same float32 terms in different orders (the gradient as the
// mean of two half-batch means rather than one mean, rank 1's candidates in another order), which
// moves a result by a few ulps (~1e-7) per step, while a real difference (a wrong key, group or
// positive) moves it by 1e-3 or more (the control with other BN groups below checks that the
// comparison sees one). One more effect sets the learning rate: a ReLU input a few ulps from zero
// can land on the other side under another summation order, which changes that pixel's gradient
// entirely: a jump, not an ulp. On this small network at lr 0.02 that moved the parameters by up
// to 1.5e-5 in 1 of 12 seeded runs (and one process with 1 against 2 threads shows the same
// jumps); at lr 0.01, 18 seeded runs stayed at rounding (<= 1.2e-6 on every buffer).
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ClsaModel, encodeIdx, ModelConfig, openDistributed, Rng, setCpuThreads, trainClsa, TrainOptions } from '../lib';
import type { HostTensor } from '../lib/validate';

const root = path.resolve(__dirname, '..');
const rankScript = path.join(__dirname, 'helpers', 'distributed-rank.js');
const TOLERANCE = 1e-5;
// The batches' seed (printed); CLSA_TEST_SEED runs the comparison on others.
const SEED = Number(process.env.CLSA_TEST_SEED ?? 2023);

function mpirunMissing(): string | undefined {
  const r = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (r.error) return `mpirun is not installed (${(r.error as NodeJS.ErrnoException).code}; scripts/install-openmpi.sh installs Open MPI)`;
  if (!/Open MPI/.test(r.stdout + r.stderr)) return `mpirun is not Open MPI's (${(r.stdout + r.stderr).split('\n')[0]})`;
  return undefined;
}
const missing = mpirunMissing();
const withMpirun = missing ? test.skip : test;
const because = missing ? ` (skipped: ${missing})` : '';

beforeAll(() => {
  if (missing) console.warn(`distributed.test: the mpirun tests are skipped: ${missing}`);
  // The ranks (plain node under mpirun) and the child processes load dist/: rebuilt when lib/ is newer.
  const src = fs.readdirSync(path.join(root, 'lib'), { recursive: true }) as string[];
  const newest = Math.max(...src.filter((f) => f.endsWith('.ts')).map((f) => fs.statSync(path.join(root, 'lib', f)).mtimeMs));
  const built = path.join(root, 'dist', 'index.js');
  if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < newest)
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root });
});

interface Case {
  name: string;
  config: ModelConfig;
  rank1Config?: ModelConfig;
  perturbRank1?: boolean;
  checkEvery: number;
  steps: number;
  lr: number;
  batch: number;
  /** [N, C, H, W] of the global batch's views */
  shapes: { key: number[][]; weak: number[][]; strong: number[][] };
}

interface RankOut {
  rank: number; size: number; error: { message: string; code: string } | null;
  steps: { loss: number; nceLoss: number; ddmLoss: number; accuracy: number; commSeconds: number }[];
  queuePointer: number; step: number; rng: number[];
}

const BUFFERS = ['query_params', 'key_params', 'sgd_momentum', 'query_bn_stats', 'key_bn_stats', 'queue'];

function shapes(batch: number, c: number, key: number, weak: number[], strong: number[]) {
  return { key: [[batch, c, key, key]], weak: weak.map((s) => [batch, c, s, s]), strong: strong.map((s) => [batch, c, s, s]) };
}

const small: ModelConfig = { width: 8, inChannels: 3, queueSize: 256, seed: 7, splitBN: 2, encoderMomentum: 0.99 };
const CASES: Case[] = [
  // Single crop, the reference's loss: 2 BN groups of 16 per rank = 4 groups of 16 in one process.
  { name: 'single', config: small, checkEvery: 2, steps: 5, lr: 0.01, batch: 64, shapes: shapes(64, 3, 12, [12], [8]) },
  // Two weak and two strong crops of other sizes, the symmetric term (two key passes, two
  // enqueues) and the mean reduction; a queue of 96 rows wraps inside every step.
  { name: 'multi', config: { ...small, queueSize: 96, splitBN: 4, symmetric: true, lossReduction: 'mean', seed: 8 }, checkEvery: 1,
    steps: 5, lr: 0.01, batch: 64, shapes: shapes(64, 3, 12, [12, 10], [10, 8]) },
  { name: 'mismatch', config: small, rank1Config: { splitBN: 4 }, checkEvery: 2, steps: 1, lr: 0.1, batch: 64, shapes: shapes(64, 3, 16, [16], [12]) },
  { name: 'diverged', config: small, perturbRank1: true, checkEvery: 1, steps: 2, lr: 0.1, batch: 64, shapes: shapes(64, 3, 16, [16], [12]) },
];

function views(dir: string, cs: Case, step: number, rng: Rng) {
  const make = (name: string, shape: number[], i: number): HostTensor => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let j = 0; j < data.length; j++) data[j] = rng.normal();
    fs.writeFileSync(path.join(dir, `${cs.name}-${step}-${name}${i}.f32`), Buffer.from(data.buffer));
    return { data, shape };
  };
  return {
    key: make('key', cs.shapes.key[0], 0),
    weak: cs.shapes.weak.map((s, i) => make('weak', s, i)),
    strong: cs.shapes.strong.map((s, i) => make('strong', s, i)),
  };
}

/** Largest |a - b| over the largest |b|: a difference relative to the buffer's scale. */
function relDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}


function readF32(file: string): Float32Array {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

// One process on the whole global batches, with the groups of every rank's halves (splitBN x 2).
// One thread, as each rank: the CPU's dW sums are partitioned by the pool's thread count.
async function singleProcess(cs: Case, batches: ReturnType<typeof views>[], splitBN: number) {
  setCpuThreads(1);
  try {
    const m = ClsaModel.create({ ...cs.config, splitBN });
    const steps = [];
    for (const v of batches) steps.push(await m.step(v, { lr: cs.lr }));
    const state = m.state();
    m.dispose();
    return { steps, state };
  } finally {
    setCpuThreads(0);
  }
}

describe(`mpirun -np 2 ranks of batch 32 = one process of batch 64${because}`, () => {
  let dir = '';
  let run: ReturnType<typeof spawnSync> | undefined;
  const batches = new Map<string, ReturnType<typeof views>[]>();
  const out = (cs: string, rank: number) => JSON.parse(fs.readFileSync(path.join(dir, `${cs}-rank${rank}.json`), 'utf8')) as RankOut;
  const buffer = (cs: string, rank: number, name: string) => readF32(path.join(dir, `${cs}-rank${rank}-${name}.f32`));

  beforeAll(() => {
    if (missing) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-mpi-'));
    console.log(`distributed.test: seed ${SEED}, batches in ${dir}`);
    const rng = new Rng(SEED);
    for (const cs of CASES) batches.set(cs.name, Array.from({ length: cs.steps }, (_, s) => views(dir, cs, s, rng)));
    fs.writeFileSync(path.join(dir, 'cases.json'), JSON.stringify(CASES));
    // As root Open MPI wants --allow-run-as-root; --oversubscribe lets 2 ranks start on a machine
    // with fewer free slots; --bind-to none leaves scheduling to the OS on a shared CI machine.
    run = spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '--bind-to', 'none', '-np', '2',
      process.execPath, rankScript, dir], { cwd: root, encoding: 'utf8', timeout: 50000 });
    if (run.status !== 0) console.log(`mpirun exited with ${run.status}:\n${run.stdout}\n${run.stderr}`);
  });
  afterAll(() => {
    if (dir && !process.env.CLSA_KEEP_MPI_DIR) fs.rmSync(dir, { recursive: true, force: true });
  });

  withMpirun('mpirun ran both ranks to a clean exit', () => {
    expect(run?.error).toBeUndefined();
    expect(run?.status).toBe(0);
  });

  withMpirun('the collectives: sum, mean, gather in rank order, broadcast from rank 1', () => {
    for (const rank of [0, 1]) {
      const c = JSON.parse(fs.readFileSync(path.join(dir, `collectives-rank${rank}.json`), 'utf8'));
      expect(c).toMatchObject({ rank, size: 2, localRank: rank, localSize: 2, library: 'libmpi.so.40' });
      expect(c.version).toMatch(/^Open MPI v\d/);
      expect(c.sum).toEqual([3, 30, 1]);
      expect(c.mean).toEqual([1.5, 15, 0.5]);
      expect(c.gather).toEqual([1, 10, 0.5, 2, 20, 0.5]);
      expect(c.broadcast).toEqual([101, 201]);
      expect(c.mineAfter).toEqual([rank + 1, 10 * (rank + 1), 0.5]);  // the inputs are left alone
    }
  });

  for (const name of ['single', 'multi']) {
    withMpirun(`${name}: the same losses, parameters, BN statistics and queue after 5 steps, within ${TOLERANCE} relative`, async () => {
      const cs = CASES.find((c) => c.name === name)!;
      const r0 = out(name, 0), r1 = out(name, 1);
      expect(r0.error).toBeNull();
      expect(r1.error).toBeNull();
      expect(r0.size).toBe(2);
      const one = await singleProcess(cs, batches.get(name)!, cs.config.splitBN! * 2);
      const lossDiffs: number[] = [];
      for (let s = 0; s < cs.steps; s++) {
        // The ranks' results are averaged over the ranks: identical on both.
        expect(r1.steps[s]).toEqual({ ...r0.steps[s], commSeconds: r1.steps[s].commSeconds });
        for (const k of ['loss', 'nceLoss', 'ddmLoss'] as const) {
          const d = Math.abs(r0.steps[s][k] - one.steps[s][k]) / Math.abs(one.steps[s][k]);
          lossDiffs.push(d);
          expect(d).toBeLessThanOrEqual(TOLERANCE);
        }
        // A fraction of 64 rows: a rounding difference may at most flip one row's arg-max.
        expect(Math.abs(r0.steps[s].accuracy - one.steps[s].accuracy)).toBeLessThanOrEqual(1 / 64 + 1e-6);
      }
      // Learning happened: the parameters moved, so agreeing on them means something.
      const fresh = ClsaModel.create(cs.config);
      expect(relDiff(one.state.buffers.query_params, fresh.state().buffers.query_params)).toBeGreaterThan(1e-3);
      fresh.dispose();
      const diffs: Record<string, number> = {};
      for (const b of BUFFERS) {
        // Every rank holds the same replica, bit for bit.
        expect(Buffer.from(buffer(name, 1, b).buffer).equals(Buffer.from(buffer(name, 0, b).buffer))).toBe(true);
        diffs[b] = relDiff(buffer(name, 0, b), one.state.buffers[b]);
      }
      console.log(`${name}: largest relative difference from one process: losses ${Math.max(...lossDiffs).toExponential(2)}, ` +
        Object.entries(diffs).map(([b, d]) => `${b} ${d.toExponential(2)}`).join(', ') +
        `; time in collectives per step ${(r0.steps.reduce((a, s) => a + s.commSeconds, 0) / cs.steps * 1000).toFixed(2)} ms`);
      expect(BUFFERS.filter((b) => !(diffs[b] <= TOLERANCE)).map((b) => `${b}: ${diffs[b]}`)).toEqual([]);
      // The queue in the same order: the same pointer, and row for row the same keys above.
      expect(r0.queuePointer).toBe(one.state.queuePointer);
      expect(r0.step).toBe(cs.steps);
      expect(r0.rng).toEqual(one.state.rng);
    });
  }

  withMpirun('the comparison sees a real difference: one process with other BN groups is far outside the tolerance', async () => {
    const cs = CASES[0];
    // splitBN 2 in one process: groups of 32 rows, not the ranks' groups of 16.
    const other = await singleProcess(cs, batches.get(cs.name)!, cs.config.splitBN!);
    expect(relDiff(buffer(cs.name, 0, 'query_params'), other.state.buffers.query_params)).toBeGreaterThan(100 * TOLERANCE);
  });

  withMpirun('ranks built from different configurations are refused on every rank, naming the field', () => {
    for (const rank of [0, 1]) {
      const r = out('mismatch', rank);
      expect(r.error?.code).toBe('CLSA_ERR_COMM');
      expect(r.error?.message).toMatch(/config->split_bn: rank 1 has 4 but rank 0 has 2; every rank must build the same model/);
      expect(r.step).toBe(0);
    }
  });

  withMpirun('a rank that fails ends the job with its message while the other waits in a collective: no hang', () => {
    const t0 = Date.now();
    const r = spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '--bind-to', 'none', '-np', '2', process.execPath,
      rankScript, dir, 'fail'], { cwd: root, encoding: 'utf8', timeout: 30000 });
    expect(r.error).toBeUndefined();  // not killed by the timeout
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Error: rank 1 fails on purpose/);
    expect(Date.now() - t0).toBeLessThan(25000);
  });

  withMpirun('replicas that diverge fail the checked step on every rank, naming the buffer and the rank', () => {
    for (const rank of [0, 1]) {
      const r = out('diverged', rank);
      expect(r.error?.code).toBe('CLSA_ERR_COMM');
      expect(r.error?.message).toMatch(/step 1: the replicas have diverged: query_params of rank 1 \(hash [0-9a-f]{16}\) differs from rank 0's/);
      expect(r.steps).toHaveLength(0);
    }
  });
});

// Labelled 16 x 16 images, a bar whose row is the class, with noise: enough for trainClsa and `clsa train`.
function writeIdxData(dir: string, seed: number) {
  const rng = new Rng(seed);
  const write = (prefix: string, n: number) => {
    const images = new Uint8Array(n * 16 * 16), labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 4;
      for (let p = 0; p < 256; p++)
        images[i * 256 + p] = Math.max(0, Math.min(255, (Math.abs((p >> 4) - 3 - 3 * labels[i]) <= 1 ? 200 : 30) + Math.round(rng.normal() * 20)));
    }
    fs.writeFileSync(path.join(dir, `${prefix}-images-idx3-ubyte`), encodeIdx([n, 16, 16], images));
    fs.writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte`), encodeIdx([n], labels));
  };
  write('train', 256);
  write('t10k', 64);
}

describe(`trainClsa and clsa train under mpirun -np 2${because}`, () => {
  let dir = '', data = '';
  let trained: ReturnType<typeof spawnSync> | undefined, resumed: ReturnType<typeof spawnSync> | undefined;
  let cli: ReturnType<typeof spawnSync> | undefined;
  // The global batch of 64 is 2 x 32 rows; 4 groups per rank = 8 groups in one process. lr 0.04
  // per 256 images is 0.01 at this batch (the test above says why that small).
  const options: TrainOptions = { epochs: 2, batchSize: 64, splitBN: 4, queueSize: 64, lr: 0.04, seed: 3, width: 8,
    evaluate: false, validation: false };
  beforeAll(() => {
    if (missing) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-mpi-train-'));
    data = path.join(dir, 'idx');
    fs.mkdirSync(data);
    writeIdxData(data, SEED);
    fs.writeFileSync(path.join(dir, 'train.json'), JSON.stringify({ ...options, data }));
    const mpirun = ['--allow-run-as-root', '--oversubscribe', '--bind-to', 'none', '-np', '2'];
    trained = spawnSync('mpirun', [...mpirun, process.execPath, rankScript, dir, 'train'], { cwd: root, encoding: 'utf8', timeout: 50000 });
    if (trained.status !== 0) console.log(`mpirun (trainClsa) exited with ${trained.status}:\n${trained.stdout}\n${trained.stderr}`);
    resumed = spawnSync('mpirun', [...mpirun, process.execPath, rankScript, dir, 'resume'], { cwd: root, encoding: 'utf8', timeout: 50000 });
    if (resumed.status !== 0) console.log(`mpirun (resume) exited with ${resumed.status}:\n${resumed.stdout}\n${resumed.stderr}`);
    // The command as users type it, --distributed left at 'auto'.
    cli = spawnSync('mpirun', [...mpirun, process.execPath, path.join(root, 'dist', 'cli.js'), 'train', '--data', data, '--out',
      path.join(dir, 'out'), '--epochs', '1', '--batch-size', '64', '--queue-size', '64', '--width', '8', '--eval-every', '1'],
    { cwd: root, encoding: 'utf8', timeout: 50000 });
    if (cli.status !== 0) console.log(`mpirun (clsa train) exited with ${cli.status}:\n${cli.stdout}\n${cli.stderr}`);
  });
  afterAll(() => {
    if (dir && !process.env.CLSA_KEEP_MPI_DIR) fs.rmSync(dir, { recursive: true, force: true });
  });

  withMpirun('trainClsa: each rank steps on its rows of every global batch, and the run is one process\'s with splitBN x 2', async () => {
    expect(trained?.status).toBe(0);
    setCpuThreads(1);
    let one;
    try {
      one = await trainClsa({ ...options, data, splitBN: 8, distributed: 'none' });
    } finally {
      setCpuThreads(0);
    }
    const ranks = [0, 1].map((r) => JSON.parse(fs.readFileSync(path.join(dir, `train-rank${r}.json`), 'utf8')));
    expect(ranks.map((r) => r.distributed)).toEqual([{ rank: 0, size: 2 }, { rank: 1, size: 2 }]);
    expect(one.distributed).toBeUndefined();
    for (const [e, h] of one.history.entries())
      for (const k of ['loss', 'nceLoss', 'ddmLoss'] as const) {
        expect(ranks[1].history[e][k]).toBe(ranks[0].history[e][k]);
        expect(Math.abs(ranks[0].history[e][k] - h[k]) / Math.abs(h[k])).toBeLessThanOrEqual(TOLERANCE);
      }
    const state = one.model.state();
    one.model.dispose();
    const diffs = Object.fromEntries(BUFFERS.map((b) => [b, relDiff(readF32(path.join(dir, `train-rank0-${b}.f32`)), state.buffers[b])]));
    console.log(`trainClsa over 2 ranks against one process, 2 epochs of 4 steps: ${Object.entries(diffs).map(([b, d]) => `${b} ${d.toExponential(2)}`).join(', ')}`);
    expect(BUFFERS.filter((b) => !(diffs[b] <= TOLERANCE)).map((b) => `${b}: ${diffs[b]}`)).toEqual([]);
    // Rank 0 alone checkpoints.
    expect(fs.existsSync(path.join(dir, 'ckpt-rank0', 'checkpoint.json'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'ckpt-rank1'))).toBe(false);
  });

  withMpirun('a run resumed on the same number of ranks from the first epoch\'s checkpoint is bit-identical to the uninterrupted one', () => {
    expect(resumed?.status).toBe(0);
    for (const rank of [0, 1])
      for (const b of BUFFERS) {
        const x = readF32(path.join(dir, `resumed-rank${rank}-${b}.f32`)), y = readF32(path.join(dir, `train-rank${rank}-${b}.f32`));
        expect([b, Buffer.from(x.buffer).equals(Buffer.from(y.buffer))]).toEqual([b, true]);
      }
    const h = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')).history.map((e: { loss: number }) => e.loss);
    expect(h('resumed-rank0.json')).toEqual(h('train-rank0.json'));
  });

  withMpirun('an abort on one rank stops every rank before the same step; rank 0 alone checkpoints', () => {
    const r = spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '--bind-to', 'none', '-np', '2', process.execPath,
      rankScript, dir, 'abort'], { cwd: root, encoding: 'utf8', timeout: 50000 });
    expect(r.status).toBe(0);
    const ranks = [0, 1].map((k) => JSON.parse(fs.readFileSync(path.join(dir, `abort-rank${k}.json`), 'utf8')));
    expect(ranks).toEqual([{ steps: 2, error: 'AbortError' }, { steps: 2, error: 'AbortError' }]);
    expect(fs.existsSync(path.join(dir, 'abort-ckpt-rank0', 'checkpoint.json'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'abort-ckpt-rank1'))).toBe(false);
  });

  withMpirun('clsa train under mpirun: rank 0 alone reports, writes metrics, the model and the report', () => {
    expect(cli?.status).toBe(0);
    const stdout = String(cli?.stdout), stderr = String(cli?.stderr);
    expect(stderr.match(/clsa: data-parallel over 2 ranks \(Open MPI v/g)).toHaveLength(1);
    expect(stderr.match(/^epoch 1\/1: loss/gm)).toHaveLength(1);
    expect(stdout.match(/^trained 1 epochs in/gm)).toHaveLength(1);
    const out = path.join(dir, 'out');
    const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => (l.final ? 'final' : l.epoch))).toEqual([1, 'final']);
    for (const f of ['report.html', 'model', 'checkpoint']) expect(fs.existsSync(path.join(out, f))).toBe(true);
  });
});

describe('without MPI', () => {
  test("'none', and 'auto' outside mpirun, are one process: no MPI is loaded", () => {
    expect(openDistributed('none')).toBeUndefined();
    const size = process.env.OMPI_COMM_WORLD_SIZE;
    delete process.env.OMPI_COMM_WORLD_SIZE;
    try {
      expect(openDistributed('auto')).toBeUndefined();
    } finally {
      if (size !== undefined) process.env.OMPI_COMM_WORLD_SIZE = size;
    }
    expect(() => openDistributed('gloo' as never, 'options.distributed')).toThrow(
      /options.distributed: expected one of 'none', 'mpi', 'nccl', 'auto' but got the string "gloo"/);
  });

  test('a missing MPI library gives an error naming what was looked for and how to get it', () => {
    // In a child process: a loader that did find a library would start MPI in this one.
    const script = `const { openDistributed } = require(${JSON.stringify(path.join(root, 'dist'))});
      try { openDistributed('mpi', 'options.distributed'); console.log('opened'); } catch (e) { console.log(e.code + ' ' + e.message); }`;
    const r = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8', env: { ...process.env, CLSA_MPI_LIBRARY: '/nonexistent/libmpi.so.40', OMPI_COMM_WORLD_SIZE: '' },
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^CLSA_ERR_UNSUPPORTED options.distributed: 'mpi' could not start MPI: /);
    expect(r.stdout).toMatch(/could not load the MPI library "\/nonexistent\/libmpi.so.40" \(\$CLSA_MPI_LIBRARY\): .*No such file/);
    expect(r.stdout).toMatch(/apt-get install openmpi-bin libopenmpi-dev/);
    // Single-process training is untouched by the missing library.
    const one = spawnSync(process.execPath, ['-e', `const { ClsaModel } = require(${JSON.stringify(path.join(root, 'dist'))});
      const m = ClsaModel.create({ width: 8, queueSize: 16, splitBN: 1 }); console.log(m.parameterCount > 0); m.dispose();`],
    { encoding: 'utf8', env: { ...process.env, CLSA_MPI_LIBRARY: '/nonexistent/libmpi.so.40' } });
    expect(one.stdout.trim()).toBe('true');
  });
});

// The NCCL back end (native/src/comm/nccl.cpp) without a GPU: a stand-in libnccl.so.2 on host
// memory over MPI (test/fake-nccl, built here with mpicc, never shipped) exercises the loading,
// the bootstrap over MPI (rank 0's unique id broadcast; the stand-in checks every rank got it),
// the calls, the error mapping and the facade; a real NCCL on GPUs is not exercised (docs/distributed.md).
function ncclFakeMissing(): string | undefined {
  if (missing) return missing;
  const r = spawnSync('mpicc', ['--showme:version'], { encoding: 'utf8' });
  if (r.error) return `mpicc is not installed (${(r.error as NodeJS.ErrnoException).code}; it builds the stand-in libnccl.so.2: apt-get install libopenmpi-dev)`;
  return undefined;
}
const ncclMissing = ncclFakeMissing();
const withFake = ncclMissing ? test.skip : test;
const ncclBecause = ncclMissing ? ` (skipped: ${ncclMissing})` : '';

/** Runs `script` in a child node process (so that MPI, which starts once, starts there) with `env`. */
function child(script: string, env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, ['-e', `const clsa = require(${JSON.stringify(path.join(root, 'dist'))}); ${script}`],
    { encoding: 'utf8', env: { ...process.env, OMPI_COMM_WORLD_SIZE: '', ...env } });
}
const openNccl = `try { const c = clsa.openDistributed('nccl', 'options.distributed'); console.log('opened ' + c.backend + ' ' + c.library); }
  catch (e) { console.log(e.code + ' ' + e.message); }`;

describe('NCCL without its library', () => {
  test('a missing libnccl.so.2 gives CLSA_ERR_UNSUPPORTED naming what was looked for and the loader\'s reason', () => {
    const r = child(openNccl, { CLSA_NCCL_LIBRARY: '/nonexistent/libnccl.so.2' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^CLSA_ERR_UNSUPPORTED options.distributed: 'nccl' could not start NCCL: /);
    expect(r.stdout).toMatch(/could not load the NCCL library "\/nonexistent\/libnccl.so.2" \(\$CLSA_NCCL_LIBRARY\): .*No such file/);
    expect(r.stdout).toMatch(/CLSA_NCCL_LIBRARY set to the path of its libnccl.so.2; single-process training does not need it/);
  });

  test('the default soname, then where CUDA and PyTorch keep NCCL: every place is named when none has it', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-no-nccl-'));
    try {
      const r = child(openNccl, { CLSA_NCCL_LIBRARY: '', VIRTUAL_ENV: empty, CONDA_PREFIX: '', HOME: empty });
      if (/^opened/.test(r.stdout)) {
        // A machine with NCCL on the loader's path: nothing to see about the search.
        console.warn(`distributed.test: libnccl.so.2 is on this machine's loader path; the search-path message was not checked (${r.stdout.trim()})`);
        return;
      }
      expect(r.stdout).toMatch(/could not load the NCCL library "libnccl.so.2" \(the default soname\): libnccl.so.2: cannot open shared object file/);
      expect(r.stdout).toContain(`also looked for /usr/local/cuda/lib64/libnccl.so.2, ${empty}/lib/python3*/site-packages/nvidia/nccl/lib/libnccl.so.2, ` +
        `${empty}/.local/lib/python3*/site-packages/nvidia/nccl/lib/libnccl.so.2`);
      expect(r.stdout).not.toContain('$CONDA_PREFIX');  // unset variables are left out, not printed
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe(`NCCL over a host-memory stand-in${ncclBecause}`, () => {
  let dir = '', fake = '';
  let main: ReturnType<typeof spawnSync> | undefined, auto: ReturnType<typeof spawnSync> | undefined;
  const out = (mode: string, rank: number) => JSON.parse(fs.readFileSync(path.join(dir, `${mode}-rank${rank}.json`), 'utf8'));
  const mpirun = ['--allow-run-as-root', '--oversubscribe', '--bind-to', 'none', '-np', '2'];
  const ncclRank = path.join(__dirname, 'helpers', 'nccl-rank.js');

  beforeAll(() => {
    if (ncclMissing) {
      console.warn(`distributed.test: the NCCL stand-in tests are skipped: ${ncclMissing}`);
      return;
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-nccl-'));
    fake = path.join(dir, 'libnccl.so.2');
    execFileSync('mpicc', ['-shared', '-fPIC', '-Wall', '-o', fake, path.join(root, 'test', 'fake-nccl', 'fake_nccl.c')]);
    fs.mkdirSync(path.join(dir, 'idx'));
    writeIdxData(path.join(dir, 'idx'), SEED);
    const env = { ...process.env, CLSA_NCCL_LIBRARY: fake };
    main = spawnSync('mpirun', [...mpirun, process.execPath, ncclRank, dir, fake, 'main'], { cwd: root, encoding: 'utf8', timeout: 60000, env });
    if (main.status !== 0) console.log(`mpirun (nccl main) exited with ${main.status}:\n${main.stdout}\n${main.stderr}`);
    auto = spawnSync('mpirun', [...mpirun, process.execPath, ncclRank, dir, fake, 'auto'], { cwd: root, encoding: 'utf8', timeout: 60000, env });
    if (auto.status !== 0) console.log(`mpirun (nccl auto) exited with ${auto.status}:\n${auto.stdout}\n${auto.stderr}`);
  });
  afterAll(() => {
    if (dir && !process.env.CLSA_KEEP_MPI_DIR) fs.rmSync(dir, { recursive: true, force: true });
  });

  withFake('both ranks ran to a clean exit', () => {
    expect([main?.error, main?.status, auto?.error, auto?.status]).toEqual([undefined, 0, undefined, 0]);
    for (const rank of [0, 1]) expect(out('main', rank).fatal).toBeUndefined();
  });

  withFake('the communicator: MPI\'s world, the local rank\'s GPU, the library and its version', () => {
    for (const rank of [0, 1])
      expect(out('main', rank).info).toEqual({ backend: 'nccl', rank, size: 2, localRank: rank, localSize: 2, deviceIndex: rank,
        library: fake, version: 'NCCL 2.20.5' });
  });

  withFake('the collectives through nccl.cpp: sum, mean (ncclAvg), gather of floats and 64-bit words in rank order, broadcast from rank 1', () => {
    for (const rank of [0, 1]) {
      const c = out('main', rank).collectives;
      expect(c.sum).toEqual([3, 30, 1]);
      expect(c.mean).toEqual([1.5, 15, 0.5]);
      expect(c.gather).toEqual([1, 10, 0.5, 2, 20, 0.5]);
      expect(c.words).toEqual(['0', '7', String(1n << 40n), '7']);
      expect(c.broadcast).toEqual([101, 201]);
      expect(c.mineAfter).toEqual([rank + 1, 10 * (rank + 1), 0.5]);
      expect(c.hostSum).toEqual([3]);  // the facade's host collectives, over MPI
    }
  });

  withFake('creation fails on every rank together: a rank without the library, rank 0\'s unique id, ncclCommInitRank', () => {
    const [r0, r1] = [out('main', 0), out('main', 1)];
    expect(r1.missingOnRank1.code).toBe('CLSA_ERR_UNSUPPORTED');
    expect(r1.missingOnRank1.message).toMatch(/could not load the NCCL library "\/nonexistent\/libnccl.so.2" \(options.library\): .*No such file/);
    expect(r0.missingOnRank1).toEqual({ code: 'CLSA_ERR_UNSUPPORTED',
      message: 'CLSA_ERR_UNSUPPORTED: NCCL back end: rank 1 of 2 could not load the NCCL library (its own error says why); every rank needs it' });
    expect(r0.uniqueIdFails).toEqual({ code: 'CLSA_ERR_COMM',
      message: 'CLSA_ERR_COMM: ncclGetUniqueId failed on rank 0 of 2: internal error (fake) (ncclInternalError, NCCL error 3)' });
    expect(r1.uniqueIdFails.message).toMatch(/rank 0 could not create the NCCL unique id/);
    for (const [rank, r] of [r0, r1].entries()) {
      expect(r.initFails.code).toBe('CLSA_ERR_COMM');
      expect(r.initFails.message).toMatch(new RegExp(`^CLSA_ERR_COMM: ncclCommInitRank failed on rank ${rank} of 2: unhandled system error \\(fake\\) \\(ncclSystemError, NCCL error 2\\)`));
      expect(r.created).toBeUndefined();  // the three failed attempts created no communicator
    }
  });

  withFake('a failed collective names the call, the rank, NCCL\'s text and last error; bad usage is CLSA_ERR_INVALID_ARGUMENT', () => {
    for (const rank of [0, 1]) {
      const r = out('main', rank);
      expect(r.allReduceFails).toEqual({ code: 'CLSA_ERR_INVALID_ARGUMENT', message: `CLSA_ERR_INVALID_ARGUMENT: ncclAllReduce failed on rank ${rank} of 2: ` +
        'invalid usage (fake) (ncclInvalidUsage, NCCL error 5); NCCL says: fake NCCL: ncclAllReduce failed on purpose' });
      expect(r.broadcastFails.code).toBe('CLSA_ERR_COMM');
      expect(r.broadcastFails.message).toMatch(/ncclBroadcast failed on rank \d of 2: unhandled system error \(fake\) \(ncclSystemError, NCCL error 2\)/);
    }
  });

  withFake('NCCL serves GPU models only: a CPU model is refused by attach, clsa_model_set_comm and trainClsa, each naming the back end it needs', () => {
    for (const rank of [0, 1]) {
      const r = out('main', rank);
      expect(r.attachCpu.message).toBe("attach(comm): the NCCL back end serves models on a GPU, but this model's config.device is 'cpu'; CPU models need a communicator from openDistributed('mpi')");
      expect(r.setCommCpu.code).toBe('CLSA_ERR_UNSUPPORTED');
      expect(r.setCommCpu.message).toMatch(/comm: the NCCL back end exchanges GPU memory, but the model lives on the CPU; CPU models need the MPI \(CLSA_COMM_MPI\) back end/);
      expect(r.trainCpu.message).toMatch(/^options.device: NCCL ranks train on GPUs, so expected 'cuda' with 2 ranks but got 'cpu' \(resolved to 'cpu'\); CPU ranks need options.distributed 'mpi'/);
      expect(r.sameComm).toBe(true);
      expect(r.otherBackend.message).toBe("options.distributed: 'mpi' was asked for, but this process already runs the NCCL communicator (one per process)");
    }
  });

  withFake("'auto' for a GPU model where one rank lacks NCCL: every rank falls back to MPI, keeping the reason", () => {
    for (const rank of [0, 1]) {
      const r = out('auto', rank);
      expect(r.fatal).toBeUndefined();
      expect(r.info).toEqual({ backend: 'mpi', rank, size: 2 });
      expect(r.sum).toEqual([3]);
      expect(r.why).toMatch(rank === 1 ? /could not load the NCCL library "\/nonexistent\/libnccl.so.2" \(\$CLSA_NCCL_LIBRARY\)/
        : /rank 1 of 2 could not load the NCCL library/);
    }
  });

  withFake('NCCL older than 2.10 (no ncclAvg) is refused by version', () => {
    const r = child(openNccl, { CLSA_NCCL_LIBRARY: fake, CLSA_FAKE_NCCL_VERSION: '2708' });
    expect(r.stdout).toMatch(/^CLSA_ERR_UNSUPPORTED options.distributed: 'nccl' could not start NCCL: (CLSA_ERR_UNSUPPORTED: )?NCCL back end: ".*libnccl.so.2" is NCCL version code 2708 but clsa needs 2.10 or later/);
  });

  withFake('found where PyTorch\'s wheel keeps it when nothing names a library (a world of one)', () => {
    const venv = path.join(dir, 'venv');
    const lib = path.join(venv, 'lib', 'python3.11', 'site-packages', 'nvidia', 'nccl', 'lib');
    fs.mkdirSync(lib, { recursive: true });
    fs.copyFileSync(fake, path.join(lib, 'libnccl.so.2'));
    const r = child(openNccl, { CLSA_NCCL_LIBRARY: '', VIRTUAL_ENV: venv });
    if (r.stdout.startsWith('opened nccl libnccl.so.2')) {
      console.warn(`distributed.test: a libnccl.so.2 on the loader's path comes before the wheel's; the search was not checked`);
      return;
    }
    expect(r.stdout).toBe(`opened nccl ${path.join(lib, 'libnccl.so.2')}\n`);
  });
});
