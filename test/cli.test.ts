// The CLI end to end, through the compiled dist/cli.js (built here if missing or stale).
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli.js');

beforeAll(() => {
  const src = fs.readdirSync(path.join(root, 'lib'), { recursive: true }) as string[];
  const newest = Math.max(...src.filter((f) => f.endsWith('.ts')).map((f) => fs.statSync(path.join(root, 'lib', f)).mtimeMs));
  if (!fs.existsSync(cli) || fs.statSync(cli).mtimeMs < newest)
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root });
});

function run(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 60000 });
}

test('dist/cli.js keeps its shebang', () => {
  expect(fs.readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
});

test('clsa info reports the build and the CUDA state', () => {
  const r = run(['info']);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^clsa \d+\.\d+\.\d+/);
  expect(r.stdout).toMatch(/CPU: \d+ threads, kernel (avx512|avx2|generic)/);
  expect(r.stdout).toMatch(/CUDA compiled: (yes|no)/);
  expect(r.stdout).toMatch(/CUDA state: /);
  // Which CUDA paths a GPU run has verified, and what 'auto' does about the others.
  const verified = /^CUDA verified on a GPU: (.*)$/m.exec(r.stdout);
  expect(verified?.[1]).toBe("head, ema, queue, augment, knn; not yet: encoder, step (device 'auto' runs these on the CPU)");
  expect(r.stdout).toMatch(/GPUs: /);
  const j = JSON.parse(run(['info', '--json']).stdout);
  expect(typeof j.cpuThreads).toBe('number');
  expect(typeof j.cudaCompiled).toBe('boolean');
  expect(j.cudaVerified).toEqual({ head: true, ema: true, queue: true, augment: true, knn: true, encoder: false, step: false });
});

test('clsa eval --raw on an IDX folder; --model with a missing directory is a clear error', () => {
  const r = run(['eval', '--data', path.join(root, 'data', 'fashion-mnist-subset'), '--raw', '--k', '20', '--json']);
  expect(r.status).toBe(0);
  const j = JSON.parse(r.stdout);
  expect(j.bankSize).toBe(6000);
  expect(j.querySize).toBe(1000);
  expect(j.k).toBe(20);
  expect(j.pixels.knn.raw).toBeGreaterThan(0.6);   // raw-pixel kNN on Fashion-MNIST is ~0.8
  // Centring removes the mean image every pair of raw images shares: it must not lose to raw.
  expect(j.pixels.knn.centred).toBeGreaterThan(j.pixels.knn.raw);
  const forms = j.pixels.knn as Record<string, number>;
  // The form is chosen on held-out training images (a fifth, per class), not on the test split.
  expect(j.pixels.selection.heldOut).toBe(1200);
  const sel = j.pixels.selection.knn as Record<string, number>;
  expect(sel[j.pixels.best.name]).toBe(Math.max(...Object.values(sel)));
  expect(forms[j.pixels.best.name]).toBe(j.pixels.best.accuracy);
  expect(j.testSource).toMatch(/fashion-mnist-subset/);
  expect(j.encoder).toBeUndefined();
  const m = run(['eval', '--data', 'fashion-mnist', '--model', 'some/dir']);
  expect(m.status).not.toBe(0);
  expect(m.stderr).toMatch(/some\/dir: no such model directory/);
  const bad = run(['eval', '--data', 'fashion-mnist', '--raw', '--k', '0']);
  expect(bad.status).not.toBe(0);
  expect(bad.stderr).toMatch(/--k: expected an integer in \[1, /);
});

test('unknown commands fail with help', () => {
  const r = run(['nope']);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/unknown command 'nope'/);
});
