// What device: 'auto' picks on a machine with a usable GPU, simulated by bench/gpu/dryrun-shim.js
// (backend() reports CUDA usable; device buffers live in host memory): the paths verified on a GPU
// (head, EMA, queue, augmentations, kNN) take the GPU; models, training and `clsa train` stay on
// the CPU and say so once, until the CUDA training step is verified (CUDA_VERIFIED in lib/backend.ts).
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { backend, clsaHeadSync, ClsaModel, CUDA_VERIFIED, Queue, Rng, trainClsa } from '../lib';
import type { CudaPath } from '../lib';
import { resetDeviceNotices, resolveDevice, unverifiedNotice } from '../lib/device';
import { encodeIdx } from '../lib/idx';
import { native } from '../lib/native';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const installDryRun = require('../bench/gpu/dryrun-shim') as (n: unknown) => { uninstall(): void; live(): number };
const shim = installDryRun(native());
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-auto-'));
afterAll(() => {
  shim.uninstall();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const ALL_PATHS: CudaPath[] = ['head', 'ema', 'queue', 'augment', 'knn', 'encoder', 'step'];

/** The CLSA_CUDA_UNVERIFIED warnings lib code emits while `fn` runs. A spy on process.emitWarning,
 * not a 'warning' listener: jest's sandboxed process object does not receive Node's events. */
async function noticesDuring(fn: () => unknown): Promise<string[]> {
  const spy = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
  try {
    await fn();
    return spy.mock.calls
      .filter(([, opts]) => typeof opts === 'object' && opts !== null && (opts as { code?: string }).code === 'CLSA_CUDA_UNVERIFIED')
      .map(([w]) => String(w));
  } finally {
    spy.mockRestore();
  }
}

// 16x16 grey images with a bright bar whose row is the class: enough structure for a short run.
// `offset` shifts the noise, so that sets made with different offsets share no image (an offset
// of 1 pairs each row's noise with a row of another class).
function makeImages(n: number, size = 16, offset = 0) {
  const data = new Uint8Array(n * size * size);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 4;
    for (let p = 0; p < size * size; p++) data[i * size * size + p] = Math.abs(Math.floor(p / size) - (3 + 3 * (i % 4))) <= 1 ? 200 : 30 + (p * 7 + i + offset) % 40;
  }
  return { images: { data, shape: [n, size, size, 1] as [number, number, number, number] }, labels };
}

test('backend() reports which CUDA paths are verified on a GPU: a copy of CUDA_VERIFIED', () => {
  const b = backend();
  expect(b.cudaUsable).toBe(true);  // the shim's GPU
  expect(Object.keys(b.cudaVerified).sort()).toEqual([...ALL_PATHS].sort());
  expect(b.cudaVerified).toEqual({ head: true, ema: true, queue: true, augment: true, knn: true, encoder: false, step: false });
  expect(b.cudaVerified).toEqual(CUDA_VERIFIED);
  b.cudaVerified.step = true;  // the report is the caller's to change; the table is not
  expect(CUDA_VERIFIED.step).toBe(false);
  expect(backend().cudaVerified.step).toBe(false);
  expect(Object.isFrozen(CUDA_VERIFIED)).toBe(true);
});

test("'auto' takes the usable GPU for verified paths only; 'cuda' takes it for any path", async () => {
  resetDeviceNotices();
  const seen = await noticesDuring(() => {
    for (const p of ALL_PATHS) {
      expect([p, resolveDevice('options.device', 'auto', 0, p)]).toEqual([p, CUDA_VERIFIED[p] ? 'cuda' : 'cpu']);
      expect(resolveDevice('options.device', 'cuda', 0, p)).toBe('cuda');
      expect(resolveDevice('options.device', 'cpu', 0, p)).toBe('cpu');
    }
    // A caller that names no path gets the least verified one's answer.
    expect(resolveDevice('options.device', 'auto')).toBe('cpu');
  });
  // One notice per unverified path, none for the default path's second fallback.
  expect(seen).toEqual([unverifiedNotice('encoder'), unverifiedNotice('step')]);
  expect(seen[0]).toMatch(/device 'auto' runs the encoder on the CPU: the CUDA encoder layers have not been verified on a GPU yet/);
});

test("ClsaModel.create with 'auto' lives on the CPU and says so once, naming device: 'cuda'", async () => {
  resetDeviceNotices();
  const small = { width: 8, queueSize: 32, splitBN: 4, seed: 1, inChannels: 1 };
  const seen = await noticesDuring(() => {
    for (let i = 0; i < 3; i++) {
      const m = ClsaModel.create(small);
      expect(m.config.device).toBe('cpu');
      expect(m.config.precision).toBe('fp32');
      m.dispose();
    }
    const st = ClsaModel.create({ ...small, device: 'cpu' });
    const moved = ClsaModel.fromState(st.state(), { device: 'auto' });
    expect(moved.config.device).toBe('cpu');
    st.dispose();
    moved.dispose();
  });
  expect(seen).toEqual([unverifiedNotice('step')]);
  expect(seen[0]).toMatch(/^clsa: device 'auto' trains on the CPU: the CUDA training step has not been verified on a GPU yet; pass device: 'cuda' to use the GPU anyway \(experimental\)$/);
});

test("trainClsa with 'auto' trains on the CPU with one notice for the whole run", async () => {
  resetDeviceNotices();
  const data = makeImages(32), evalData = makeImages(16, 16, 1);
  let steps = 0;
  let result: Awaited<ReturnType<typeof trainClsa>> | undefined;
  const seen = await noticesDuring(async () => {
    result = await trainClsa({ data: { train: data }, evalData, epochs: 2, batchSize: 8, width: 8, queueSize: 16, seed: 3,
      evaluate: { every: 1, k: 5 }, onProgress: () => { steps++; } });
  });
  expect(steps).toBe(8);
  expect(result!.model.config.device).toBe('cpu');
  expect(seen).toEqual([unverifiedNotice('step')]);
  result!.encoder.dispose();
  result!.model.dispose();
});

test("verified paths keep the GPU under 'auto', without a notice: the head and the queue", async () => {
  resetDeviceNotices();
  const n = native();
  const realHead = n.headSync;
  let onDevice: boolean | undefined;
  n.headSync = (a) => { onDevice = typeof (a.weak as { upload?: unknown }).upload === 'function'; return realHead(a); };
  const rng = new Rng(2);
  const t = (shape: number[]) => ({ data: Float32Array.from({ length: shape.reduce((x, y) => x * y) }, () => rng.normal()), shape });
  let q: Queue | undefined;
  try {
    const seen = await noticesDuring(() => {
      const r = clsaHeadSync({ weak: t([1, 4, 8]), strong: t([1, 4, 8]), keys: t([4, 8]), queue: t([16, 8]) });
      expect(Number.isFinite(r.loss)).toBe(true);
      q = new Queue(16, 8, { device: 'auto' });
    });
    expect(onDevice).toBe(true);
    expect(q!.device).toBe('cuda');
    expect(seen).toEqual([]);
  } finally {
    n.headSync = realHead;
    q?.dispose();
  }
  expect(shim.live()).toBe(0);
});

test("clsa train --device auto (the default) trains on the CPU and prints the notice once", () => {
  const cli = path.join(__dirname, '..', 'dist', 'cli.js');
  if (!fs.existsSync(cli)) execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: path.join(__dirname, '..') });
  const dataDir = path.join(tmp, 'idx');
  fs.mkdirSync(dataDir);
  const tr = makeImages(64), te = makeImages(16, 16, 1);
  const write = (name: string, buf: Uint8Array) => fs.writeFileSync(path.join(dataDir, name), buf);
  write('train-images-idx3-ubyte', encodeIdx([64, 16, 16], tr.images.data));
  write('train-labels-idx1-ubyte', encodeIdx([64], Uint8Array.from(tr.labels)));
  write('t10k-images-idx3-ubyte', encodeIdx([16, 16, 16], te.images.data));
  write('t10k-labels-idx1-ubyte', encodeIdx([16], Uint8Array.from(te.labels)));
  const out = path.join(tmp, 'run');
  const r = spawnSync(process.execPath, ['-r', path.join(__dirname, 'helpers', 'dryrun-preload.js'), cli, 'train', '--data', dataDir,
    '--out', out, '--epochs', '2', '--batch-size', '16', '--queue-size', '32', '--eval-every', '2', '--quiet'], { encoding: 'utf8', timeout: 240000 });
  expect(r.stderr).toBe(`(node:${r.pid}) [CLSA_CUDA_UNVERIFIED] Warning: ${unverifiedNotice('step')}\n` +
    '(Use `node --trace-warnings ...` to show where the warning was created)\n');
  expect(r.status).toBe(0);
  const model = JSON.parse(fs.readFileSync(path.join(out, 'model', 'config.json'), 'utf8'));
  expect(model.model.device).toBe('cpu');
}, 300000);
