// binding.gyp builds the same CPU sources (native/sources.json) with node-gyp, and that addon
// computes the fused head like the cmake-js one. Built from a copy of the tracked sources.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { randomFloats, reference, relErr, relNorm } from './helpers/reference';

const root = path.resolve(__dirname, '..');

function findNodeGyp(): string {
  const globalRoot = execFileSync('npm', ['root', '-g'], { encoding: 'utf8' }).trim();
  return require.resolve('node-gyp/bin/node-gyp.js', { paths: [path.join(globalRoot, 'npm'), root] });
}

// Fresh inputs every run; the seed is in the test's name, so a failure shows it.
const seed = Date.now() >>> 0;

test(`node-gyp builds binding.gyp into a working CPU addon (seed ${seed})`, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-gyp-'));
  try {
    const files = execFileSync('git', ['ls-files', 'binding.gyp', 'native'], { cwd: root, encoding: 'utf8' }).trim().split('\n');
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.copyFileSync(path.join(root, f), path.join(dir, f));
    }
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    // Node 20's headers ship in /usr/include/node: never let node-gyp download them.
    const nodedir = path.resolve(path.dirname(process.execPath), '..');
    execFileSync(process.execPath, [findNodeGyp(), 'rebuild', '-j', '2', `--nodedir=${nodedir}`], { cwd: dir, stdio: 'pipe' });
    const addonPath = path.join(dir, 'build', 'Release', 'clsa.node');
    const script = `
      const b = require(${JSON.stringify(addonPath)});
      const a = JSON.parse(require('fs').readFileSync(0, 'utf8'));
      const f = (x) => Float32Array.from(x);
      const args = { ...a, weak: f(a.weak), strong: f(a.strong), keys: f(a.keys), queue: f(a.queue),
        gradWeak: new Float32Array(a.weak.length), gradStrong: new Float32Array(a.strong.length), stats: new Float32Array(4) };
      b.headSync(args);
      process.stdout.write(JSON.stringify({ backend: b.backend(), stats: Array.from(args.stats),
        gradWeak: Array.from(args.gradWeak), gradStrong: Array.from(args.gradStrong) }));`;
    const N = 9, D = 33, K = 101, W = 2, S = 3;
    const x = { weak: randomFloats(W * N * D, seed), strong: randomFloats(S * N * D, seed + 1), keys: randomFloats(N * D, seed + 2), queue: randomFloats(K * D, seed + 3) };
    const input = { n: N, d: D, k: K, w: W, s: S, temperature: 0.2, ddmTemperature: 0.3, ddmWeight: 1, normalize: true, precision: 0,
      weak: Array.from(x.weak), strong: Array.from(x.strong), keys: Array.from(x.keys), queue: Array.from(x.queue) };
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { input: JSON.stringify(input), encoding: 'utf8' }));
    expect(out.backend.cudaCompiled).toBe(false);  // binding.gyp builds the CPU sources only
    const ref = reference({ W, S, N, D, K, ...x }, { tau: 0.2, tau2: 0.3, alpha: 1, normalize: true });
    expect(relErr(out.stats[0], ref.loss)).toBeLessThan(1e-5);
    expect(relNorm(out.gradWeak, ref.gradWeak)).toBeLessThan(1e-4);
    expect(relNorm(out.gradStrong, ref.gradStrong)).toBeLessThan(1e-4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 600000);
