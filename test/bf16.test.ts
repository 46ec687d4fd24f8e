// precision 'bf16' on the CPU through the public API: ClsaModel, trainClsa and `clsa train
// --precision bf16`. Where the CPU has AVX512-BF16 (backend().cpuBf16) the bf16 model steps and
// embeds beside an fp32 one (close, not equal) and keeps its precision through state(); where it
// has not, every entry point refuses, naming its option. The refusal is also reached on a bf16 CPU
// through a child process with AVX-512 turned off (CLSA_CPU_KERNEL=avx2). The kernels' float64
// bounds and determinism are checked natively (test/native/nn_bf16_check.cpp, model_api.cpp).
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { backend, ClsaModel, Rng, trainClsa } from '../lib';
import type { HostTensor } from '../lib/validate';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli.js');
const cpuBf16 = backend().cpuBf16;
const onBf16 = cpuBf16 ? test : test.skip;
const withoutBf16 = cpuBf16 ? test.skip : test;
if (!cpuBf16) {
  // eslint-disable-next-line no-console
  console.log('bf16: SKIPPED the bf16 model and training checks: this CPU has no AVX512-BF16 (the refusals run instead)');
}

function images(rng: Rng, n: number, c: number, h: number, w = h): HostTensor {
  const data = new Float32Array(n * c * h * w);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return { data, shape: [n, c, h, w] };
}

function relDiff(x: Float32Array, ref: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < x.length; i++) {
    num += (x[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num / den);
}

const small = { width: 8, queueSize: 64, splitBN: 4, seed: 5, inChannels: 1, device: 'cpu' as const };

beforeAll(() => {
  const src = fs.readdirSync(path.join(root, 'lib'), { recursive: true }) as string[];
  const newest = Math.max(...src.filter((f) => f.endsWith('.ts')).map((f) => fs.statSync(path.join(root, 'lib', f)).mtimeMs));
  if (!fs.existsSync(cli) || fs.statSync(cli).mtimeMs < newest)
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root });
});

onBf16("a bf16 CPU model steps and embeds beside fp32 (close, not equal) and keeps 'bf16' through state()", async () => {
  const rng = new Rng(3);
  const views = { key: images(rng, 8, 1, 12), weak: [images(rng, 8, 1, 12)], strong: [images(rng, 8, 1, 9)] };
  const a = ClsaModel.create(small);
  const b = ClsaModel.create({ ...small, precision: 'bf16' });
  expect(b.config.precision).toBe('bf16');
  const ra = await a.step(views), rb = await b.step(views);
  expect(Math.abs(rb.loss - ra.loss)).toBeLessThan(0.01 * Math.abs(ra.loss));
  const x = images(rng, 5, 1, 12);
  const fa = await a.embed(x), fb = await b.embed(x);
  // Each layer's products carry ~2^-8 relative rounding: features a few 1e-3 apart, never equal.
  const d = relDiff(fb.data, fa.data);
  expect(d).toBeGreaterThan(1e-5);
  expect(d).toBeLessThan(3e-2);
  const st = b.state();
  expect(st.config.precision).toBe('bf16');
  const same = ClsaModel.fromState(st), sameDevice = ClsaModel.fromState(st, { device: 'cpu' });
  const asFp32 = ClsaModel.fromState(st, { precision: 'fp32' });
  expect([same.config.precision, sameDevice.config.precision, asFp32.config.precision]).toEqual(['bf16', 'bf16', 'fp32']);
  expect(Array.from((await same.embed(x)).data)).toEqual(Array.from(fb.data));  // restored bit-exactly, still bf16
  expect(relDiff((await asFp32.embed(x)).data, fb.data)).toBeGreaterThan(1e-5);
  for (const m of [a, b, same, sameDevice, asFp32]) m.dispose();
});

withoutBf16("ClsaModel refuses 'bf16' on a CPU without AVX512-BF16, naming config.precision", () => {
  expect(() => ClsaModel.create({ ...small, precision: 'bf16' })).toThrow(/config\.precision: 'bf16' on the CPU needs AVX512-BF16 \(vdpbf16ps\)/);
});

// A small labelled set: class c is a bright bar at row 2c + 3.
function makeData(n: number, size = 16) {
  const data = new Uint8Array(n * size * size);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 4;
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) data[(i * size + y) * size + x] = Math.abs(y - (3 + 3 * (i % 4))) <= 1 ? 200 : 30 + ((i * 7 + x * 3 + y) % 40);
  }
  return { images: { data, shape: [n, size, size, 1] as [number, number, number, number] }, labels };
}
const trainBase = { data: makeData(32), epochs: 1, batchSize: 16, width: 8, queueSize: 32, seed: 2, evaluate: false as const, device: 'cpu' as const };

onBf16("trainClsa({ precision: 'bf16' }) trains a bf16 CPU model", async () => {
  const r = await trainClsa({ ...trainBase, precision: 'bf16' });
  expect(r.model.config.precision).toBe('bf16');
  expect(r.history).toHaveLength(1);
  expect(Number.isFinite(r.history[0].loss)).toBe(true);
  r.model.dispose();
});

withoutBf16("trainClsa refuses precision 'bf16' on a CPU without AVX512-BF16, naming options.precision", async () => {
  await expect(trainClsa({ ...trainBase, precision: 'bf16' })).rejects.toThrow(/options\.precision: 'bf16' on the CPU needs AVX512-BF16/);
});

test('`clsa info` says whether bf16 can run here, as backend().cpuBf16 does', () => {
  const r = spawnSync(process.execPath, [cli, 'info'], { encoding: 'utf8', timeout: 60000 });
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(cpuBf16 ? /CPU: .*, bf16 yes \(AVX512-BF16: --precision bf16\)/ : /CPU: .*, bf16 no/);
});

test("with AVX-512 turned off (CLSA_CPU_KERNEL=avx2), backend() says no bf16 and every entry point refuses it, naming its option", () => {
  const env = { ...process.env, CLSA_CPU_KERNEL: 'avx2' };
  const probe = spawnSync(process.execPath, ['-e', `
    const { backend, ClsaModel, trainClsa } = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
    const out = { cpuBf16: backend().cpuBf16 };
    try { ClsaModel.create({ device: 'cpu', precision: 'bf16' }); } catch (e) { out.create = e.message; }
    const data = { train: { images: { data: new Uint8Array(32 * 16 * 16), shape: [32, 16, 16, 1] } } };
    trainClsa({ data, evaluate: false, device: 'cpu', precision: 'bf16' }).then(() => { out.train = 'trained'; }, (e) => { out.train = e.message; })
      .finally(() => process.stdout.write(JSON.stringify(out)));
  `], { env, encoding: 'utf8', timeout: 60000 });
  expect(probe.status).toBe(0);
  const out = JSON.parse(probe.stdout);
  expect(out.cpuBf16).toBe(false);
  expect(out.create).toMatch(/^config\.precision: 'bf16' on the CPU needs AVX512-BF16 \(vdpbf16ps\), which CLSA_CPU_KERNEL=avx2 turns off here/);
  expect(out.train).toMatch(/^options\.precision: 'bf16' on the CPU needs AVX512-BF16/);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-bf16-'));
  try {
    const r = spawnSync(process.execPath, [cli, 'train', '--out', tmp, '--device', 'cpu', '--precision', 'bf16'], { env, encoding: 'utf8', timeout: 60000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--precision: 'bf16' on the CPU needs AVX512-BF16/);
    const bad = spawnSync(process.execPath, [cli, 'train', '--out', tmp, '--precision', 'bf17'], { encoding: 'utf8', timeout: 60000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--precision: expected fp32, bf16, tf32 or fp16 but got "bf17"/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
