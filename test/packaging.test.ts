// The package as a new user gets it: `npm run prebuild`, `npm pack`, then `npm install <tarball>`
// into an empty folder (npm cache first, the registry for what the cache lacks) with a PATH that
// holds no compiler, no cmake and no nvcc; the installed package must load its prebuilt binary, run the fused head on the CPU (checked here
// against a float64 computation) and report the CUDA back end as compiled in. Also: the tarball's
// contents, the install step's messages, the TypeScript usage example under `strict`, and the
// glibc / libstdc++ symbol versions and CUDA architectures of the prebuilt binary.
// Where CMake finds no CUDA toolkit (most contributors' machines), the same tests run on the
// CPU-only package (prebuild --allow-cpu-only): the binary must then say CUDA is not compiled in
// and hold no GPU code, and a plain prebuild must refuse it. Which of the two the package is, the
// configured build says (its CMake cache), not a guess at where CMake looks for nvcc.
import { spawnSync, SpawnSyncOptions } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const PREBUILD = path.join('prebuilds', 'linux-x64', 'node.napi.glibc.node');
// The newest symbol versions the prebuilt binary may need (README "Install", docs/c-api.md "Binary compatibility"):
// built on Debian 12 (glibc 2.36, GCC 12), it needs glibc >= 2.34 and libstdc++ >= GCC 12's.
const MAX_GLIBC = '2.34';
const MAX_GLIBCXX = '3.4.30';

const linuxX64 = process.platform === 'linux' && process.arch === 'x64';
const describeLinux = linuxX64 ? describe : describe.skip;

/**
 * What the configured build found: the CUDA compiler CMake cached in build/CMakeCache.txt when the
 * prebuild configured build/ (check_language(CUDA)), or null with the reason. Asked of the build
 * rather than guessed from the PATH: CMake's search is its own (and CLSA_CUDA=OFF skips it).
 */
function cmakeCuda(): { nvcc: string | null; why: string } {
  const file = path.join(root, 'build', 'CMakeCache.txt');
  if (!fs.existsSync(file)) return { nvcc: null, why: 'build/CMakeCache.txt is missing (the prebuild did not configure build/)' };
  const cache = fs.readFileSync(file, 'utf8');
  const entry = (name: string) => new RegExp(`^${name}:[A-Z]*=(.*)$`, 'm').exec(cache)?.[1];
  if (/^(OFF|0|FALSE|NO)$/i.test(entry('CLSA_CUDA') ?? 'ON')) return { nvcc: null, why: 'build/ is configured with CLSA_CUDA=OFF' };
  const nvcc = entry('CMAKE_CUDA_COMPILER');
  if (!nvcc || nvcc.endsWith('NOTFOUND')) return { nvcc: null, why: `CMake found no nvcc (CMAKE_CUDA_COMPILER=${nvcc ?? 'unset'})` };
  return { nvcc, why: `CMake found ${nvcc}` };
}

// Set once the prebuild has configured and built build/ (beforeAll): every check below asserts
// what a package of that build must do, with CUDA or without.
let cuda: { nvcc: string | null; why: string } = { nvcc: null, why: 'not configured yet' };

interface Run { status: number | null; stdout: string; stderr: string }
function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}
function ok(r: Run, what: string): Run {
  if (r.status !== 0) throw new Error(`${what} exited with ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r;
}

/** Compares dotted version strings numerically. */
function versionCmp(a: string, b: string): number {
  const x = a.split('.').map(Number), y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Highest `PREFIX_x.y` version among the dynamic symbols of `file` (objdump -T). */
function maxSymbolVersion(file: string, prefix: string): string {
  const out = ok(run('objdump', ['-T', file]), 'objdump -T').stdout;
  const versions = [...out.matchAll(new RegExp(`\\b${prefix}_([0-9.]+)\\b`, 'g'))].map((m) => m[1]);
  if (versions.length === 0) throw new Error(`no ${prefix}_ symbol versions in ${file}`);
  return versions.sort(versionCmp)[versions.length - 1];
}

/**
 * The CUDA fat binaries embedded in an ELF file: each is a 16-byte header (magic 0xBA55ED50,
 * u16 version, u16 header size, u64 payload size) followed by entries whose header starts with
 * u16 kind (1 = PTX, 2 = ELF/SASS), u16 version, u32 header size, u64 payload size, and holds
 * the SM architecture at byte 28.
 */
function fatbinEntries(file: string): { kind: 'ptx' | 'sass'; sm: number }[] {
  const buf = fs.readFileSync(file);
  const entries: { kind: 'ptx' | 'sass'; sm: number }[] = [];
  let at = buf.indexOf(Buffer.from([0x50, 0xed, 0x55, 0xba]));
  while (at >= 0) {
    const headerSize = buf.readUInt16LE(at + 6);
    const end = at + headerSize + Number(buf.readBigUInt64LE(at + 8));
    let p = at + headerSize;
    while (p < end) {
      const kind = buf.readUInt16LE(p);
      const entryHeader = buf.readUInt32LE(p + 4);
      const size = Number(buf.readBigUInt64LE(p + 8));
      if (kind === 1 || kind === 2) entries.push({ kind: kind === 1 ? 'ptx' : 'sass', sm: buf.readUInt32LE(p + 28) });
      p += entryHeader + size;
    }
    at = buf.indexOf(Buffer.from([0x50, 0xed, 0x55, 0xba]), end);
  }
  return entries;
}

/** The head's loss, nce, ddm and accuracy from the definition, in float64 (docs/objective.md). */
function headFloat64(weak: number[][][], strong: number[][][], keys: number[][], queue: number[][],
                     tau: number, tau2: number, alpha: number) {
  const unit = (v: number[]) => { const n = Math.hypot(...v); return v.map((x) => x / n); };
  const X = [...keys.map(unit), ...queue];
  const N = keys.length;
  const logits = (q: number[], t: number) => X.map((x) => x.reduce((s, xc, c) => s + xc * q[c], 0) / t);
  const lse = (l: number[]) => { const m = Math.max(...l); return m + Math.log(l.reduce((s, v) => s + Math.exp(v - m), 0)); };
  let nce = 0, ddm = 0, correct = 0;
  for (let i = 0; i < N; i++) {
    const pw: number[][] = [];
    for (const crop of weak) {
      const q = unit(crop[i]);
      const l = logits(q, tau);
      nce += (lse(l) - l[i]) / N;
      if (l.indexOf(Math.max(...l)) === i) correct++;
      const l2 = logits(q, tau2), z2 = lse(l2);
      pw.push(l2.map((v) => Math.exp(v - z2)));
    }
    for (const crop of strong) {
      const l = logits(unit(crop[i]), tau2), z = lse(l);
      for (const p of pw) ddm -= p.reduce((s, pj, j) => s + pj * (l[j] - z), 0) / N;
    }
  }
  return { loss: nce + alpha * ddm, nce, ddm, accuracy: correct / (weak.length * N) };
}

/** True when some lib/*.ts is newer than its dist/*.js (or that is missing). */
function distIsStale(): boolean {
  return fs.readdirSync(path.join(root, 'lib')).filter((f) => f.endsWith('.ts')).some((f) => {
    const js = path.join(root, 'dist', f.replace(/\.ts$/, '.js'));
    return !fs.existsSync(js) || fs.statSync(js).mtimeMs < fs.statSync(path.join(root, 'lib', f)).mtimeMs;
  });
}

describeLinux('the npm package, installed as a new user would', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-pack-'));
  const app = path.join(tmp, 'app');
  const stubBin = path.join(tmp, 'bin');
  const prebuildPath = path.join(root, PREBUILD);
  const hadPrebuild = fs.existsSync(prebuildPath);
  let tarball = '';
  let packedFiles: string[] = [];
  let installed = '';
  let env: NodeJS.ProcessEnv = {};

  beforeAll(() => {
    const t0 = Date.now();
    // 1. The prebuild: an incremental build of build/ after `npm install`, then strip + copy.
    // --allow-cpu-only: the build decides whether CUDA is in; a plain prebuild's refusal of a
    // CPU-only build is checked below.
    ok(run(process.execPath, [path.join(root, 'scripts', 'prebuild.js'), '--allow-cpu-only'], { cwd: root }), 'npm run prebuild --allow-cpu-only');
    cuda = cmakeCuda();
    if (!cuda.nvcc) console.log(`packaging: the build has no CUDA back end (${cuda.why}), so this tests the CPU-only package.`);
    // 2. npm pack. Its `prepare` step (the TypeScript build) is skipped: rewriting dist/ could
    // race with other test files reading it. `npm install` built dist/; rebuild only if stale.
    if (distIsStale()) ok(run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: root }), 'tsc -p tsconfig.build.json');
    const npmCache = ok(run('npm', ['config', 'get', 'cache'], { cwd: root }), 'npm config get cache').stdout.trim();
    const pack = ok(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { cwd: root }), 'npm pack');
    const info = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0] as { filename: string; files: { path: string }[] };
    tarball = path.join(tmp, info.filename);
    packedFiles = info.files.map((f) => f.path);
    // 3. A PATH with node, npm and a shell only.
    fs.mkdirSync(stubBin);
    const which = (c: string) => ok(run('sh', ['-c', `command -v ${c}`]), `command -v ${c}`).stdout.trim();
    fs.symlinkSync(process.execPath, path.join(stubBin, 'node'));
    for (const c of ['npm', 'sh', 'env', 'ls', 'cat', 'mkdir', 'rm', 'cp', 'mv']) fs.symlinkSync(which(c), path.join(stubBin, c));
    // Only what a clean environment has: no npm_* variables inherited from `npm test`.
    env = { HOME: process.env.HOME, PATH: stubBin, TMPDIR: tmp, LANG: 'C.UTF-8', npm_config_cache: npmCache, npm_config_update_notifier: 'false' };
    // 4. npm install <tarball>: dependencies from the npm cache where it has them. Not --offline:
    // a fresh machine's cache holds the tarballs of the root's lock-file install but not the
    // registry documents needed to resolve the tarball's version ranges (ENOTCACHED).
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    ok(run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: app, env }), 'npm install --prefer-offline <tarball>');
    installed = path.join(app, 'node_modules', 'clsa');
    console.log(`packaging: prebuild + pack + install took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 600_000);

  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!hadPrebuild) {
      fs.rmSync(prebuildPath, { force: true });
      for (const d of [path.dirname(prebuildPath), path.join(root, 'prebuilds')]) {
        try { fs.rmdirSync(d); } catch { /* not empty: someone else's files */ }
      }
    }
  });

  test('the tarball holds the prebuild, dist/, types, headers, sources and notices, and no build outputs or tests', () => {
    for (const f of [PREBUILD, 'dist/index.js', 'dist/index.d.ts', 'native/include/clsa/clsa.h', 'scripts/install.js',
      'CMakeLists.txt', 'native/sources.json', 'NOTICE.md', 'LICENSE', 'README.md', 'package.json', 'docs/c-api.md',
      'docs/objective.md', 'docs/augmentations.md', 'docs/architecture.md'])
      expect(packedFiles).toContain(f);
    for (const h of fs.readdirSync(path.join(root, 'native', 'include', 'clsa')))
      expect(packedFiles).toContain(`native/include/clsa/${h}`);
    const bad = packedFiles.filter((f) => /^(build|build-[^/]*|test|bench|coverage|node_modules|examples|\.ci|\.gpu|lib)\//.test(f) ||
      /\.(map|tgz|o|a|so)$/.test(f) || f.includes('/.') || f.startsWith('.'));
    expect(bad).toEqual([]);
    expect(packedFiles.filter((f) => f.endsWith('.node'))).toEqual([PREBUILD]);
  });

  test('the install PATH has no compiler, cmake or nvcc', () => {
    for (const tool of ['g++', 'gcc', 'cc', 'c++', 'clang', 'cmake', 'nvcc', 'make', 'ninja'])
      expect(run('/usr/bin/which', [tool], { env }).status).not.toBe(0);
    expect(run('/usr/bin/which', ['node'], { env }).status).toBe(0);
  });

  test('require("clsa") loads the prebuild, runs the fused head on the CPU and reports CUDA compiled in exactly when CMake found nvcc', () => {
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
    const W = 2, S = 1, N = 3, D = 5, K = 11;
    const rnd = (...shape: number[]): any => shape.length === 1
      ? Array.from({ length: shape[0] }, () => Math.fround(Math.random() * 2 - 1))
      : Array.from({ length: shape[0] }, () => rnd(...shape.slice(1)));
    const weak: number[][][] = rnd(W, N, D), strong: number[][][] = rnd(S, N, D), keys: number[][] = rnd(N, D);
    const queue: number[][] = (rnd(K, D) as number[][]).map((r) => { const n = Math.hypot(...r); return r.map((x) => Math.fround(x / n)); });
    const opts = { temperature: 0.2, ddmTemperature: 0.1, ddmWeight: 0.5, device: 'cpu' };
    const script = `
      const clsa = require('clsa');
      const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
      const t = (a, shape) => ({ data: Float32Array.from(a.flat(2)), shape });
      const r = clsa.clsaHeadSync({ weak: t(input.weak, [${W}, ${N}, ${D}]), strong: t(input.strong, [${S}, ${N}, ${D}]),
        keys: t(input.keys, [${N}, ${D}]), queue: t(input.queue, [${K}, ${D}]) }, input.opts);
      const dir = require('path').dirname(require.resolve('clsa/package.json'));
      process.stdout.write(JSON.stringify({ loss: r.loss, nce: r.nceLoss, ddm: r.ddmLoss, accuracy: r.accuracy,
        backend: clsa.backend(), binary: require('node-gyp-build').resolve(dir) }));`;
    const r = ok(run('node', ['-e', script], { cwd: app, env, input: JSON.stringify({ weak, strong, keys, queue, opts }) }), 'node -e require("clsa")');
    const got = JSON.parse(r.stdout);
    expect(path.relative(installed, got.binary)).toBe(PREBUILD);
    const want = headFloat64(weak, strong, keys, queue, opts.temperature, opts.ddmTemperature, opts.ddmWeight);
    for (const k of ['loss', 'nce', 'ddm', 'accuracy'] as const)
      expect(Math.abs(got[k] - want[k])).toBeLessThan(1e-4 * Math.max(1, Math.abs(want[k])));
    const b = got.backend;
    // Where CMake found no nvcc the package is CPU-only and must say so, not claim a GPU back end.
    expect({ cudaCompiled: b.cudaCompiled, cmake: cuda.why }).toEqual({ cudaCompiled: cuda.nvcc !== null, cmake: cuda.why });
    if (!cuda.nvcc) {
      expect(b.cudaState).toBe('not-compiled');
      expect(b.cudaUsable).toBe(false);
    } else if (b.cudaUsable) {
      expect(b.devices.length).toBeGreaterThan(0);
    } else {
      // No GPU here: the binary still loads, and says why CUDA is not usable.
      expect(['no-driver', 'driver-too-old', 'no-device', 'error']).toContain(b.cudaState);
      expect(b.cudaMessage.length).toBeGreaterThan(0);
    }
  });

  test('the install step finds the prebuild without compiling', () => {
    const r = ok(run('node', [path.join(installed, 'scripts', 'install.js')], { cwd: installed, env }), 'install.js');
    expect(r.stdout).toMatch(/using the prebuilt native addon prebuilds\/linux-x64\/node\.napi\.glibc\.node/);
  });

  test('without a matching prebuild the install step says what it looked for and how to build from source', () => {
    const copy = path.join(app, 'node_modules', 'clsa-without-prebuild');
    fs.cpSync(installed, copy, { recursive: true });
    fs.rmSync(path.join(copy, 'prebuilds'), { recursive: true });
    const r = run('node', [path.join(copy, 'scripts', 'install.js')], { cwd: copy, env });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(path.join(copy, 'prebuilds', 'linux-x64'));
    expect(r.stderr).toMatch(/no prebuilt native addon matches this system/);
    expect(r.stderr).toMatch(/N-API \d+, glibc/);
    expect(r.stderr).toMatch(/cmake-js is not installed/);
    expect(r.stderr).toMatch(/To build from source: install CMake >= 3\.19 and a C\+\+17 compiler/);

    // The loader, at require time (when no install script ran), explains the same.
    const load = run('node', ['-e', `require(${JSON.stringify(copy)}).backend()`], { cwd: app, env });
    expect(load.status).not.toBe(0);
    expect(load.stderr).toContain('clsa: could not load the native addon for linux-x64');
    expect(load.stderr).toContain(path.join(copy, 'prebuilds', 'linux-x64', '*.node'));
    expect(load.stderr).toMatch(/build from source: `cd .* && npx cmake-js@~8\.0\.0 rebuild`/);

    // A prebuild that exists but does not load (here: not an ELF file) is reported as such.
    fs.mkdirSync(path.join(copy, 'prebuilds', 'linux-x64'), { recursive: true });
    fs.writeFileSync(path.join(copy, PREBUILD), 'not a shared object');
    const bad = run('node', [path.join(copy, 'scripts', 'install.js')], { cwd: copy, env });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(`${path.join(copy, PREBUILD)} exists but does not load on this system`);
    // Asking for a source build where none is possible fails with the recipe, not a crash.
    const forced = run('node', [path.join(copy, 'scripts', 'install.js')], { cwd: copy, env: { ...env, CLSA_BUILD_FROM_SOURCE: '1' } });
    expect(forced.status).toBe(1);
    expect(forced.stderr).toMatch(/CLSA_BUILD_FROM_SOURCE is set, and cmake-js is not installed/);
  });

  test('examples/node/usage.ts type-checks under strict against the installed types, and runs', () => {
    fs.copyFileSync(path.join(root, 'examples', 'node', 'usage.ts'), path.join(app, 'usage.ts'));
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, target: 'ES2022', module: 'node16', moduleResolution: 'node16', lib: ['ES2022', 'ESNext.Disposable'],
        typeRoots: [path.join(root, 'node_modules', '@types')], types: ['node'], outDir: 'out', skipLibCheck: false,
      },
      files: ['usage.ts'],
    }));
    ok(run('node', [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: app, env }), 'tsc (strict)');
    const r = ok(run('node', [path.join('out', 'usage.js')], { cwd: app, env }), 'node usage.js');
    const last = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    expect(Number.isFinite(last.loss)).toBe(true);
    expect(last.queuePointer).toBe(8);
    expect(last.keyParam0).toBeCloseTo(0.99, 6);
  });

  test(`the prebuilt binary needs at most GLIBC_${MAX_GLIBC} and GLIBCXX_${MAX_GLIBCXX}`, () => {
    const bin = path.join(installed, PREBUILD);
    const glibc = maxSymbolVersion(bin, 'GLIBC');
    const glibcxx = maxSymbolVersion(bin, 'GLIBCXX');
    console.log(`prebuilt binary: newest symbol versions GLIBC_${glibc}, GLIBCXX_${glibcxx}`);
    expect(versionCmp(glibc, MAX_GLIBC)).toBeLessThanOrEqual(0);
    expect(versionCmp(glibcxx, MAX_GLIBCXX)).toBeLessThanOrEqual(0);
    // Only the C and C++ runtimes: the CUDA runtime is linked in statically.
    const needed = ok(run('objdump', ['-p', bin]), 'objdump -p').stdout.match(/NEEDED\s+\S+/g)?.map((l) => l.split(/\s+/)[1]) ?? [];
    expect(needed.filter((n) => !/^(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|librt|ld-linux-x86-64)\.so/.test(n))).toEqual([]);
  });

  test('with CUDA, the prebuilt binary carries SASS for sm_75, sm_80, sm_90 and PTX for compute_90; without, no GPU code, and a plain prebuild refuses it', () => {
    if (!cuda.nvcc) return cpuOnlyPackage();
    const entries = fatbinEntries(path.join(installed, PREBUILD));
    const sass = new Set(entries.filter((e) => e.kind === 'sass').map((e) => e.sm));
    const ptx = new Set(entries.filter((e) => e.kind === 'ptx').map((e) => e.sm));
    expect([...sass].sort()).toEqual([75, 80, 90]);
    expect([...ptx]).toEqual([90]);
  });

  function cpuOnlyPackage(): void {
    const bin = path.join(installed, PREBUILD);
    expect(fatbinEntries(bin)).toEqual([]);
    // A CUDA build has the sections nvcc's registration code reads (.nv_fatbin, .nvFatBinSegment).
    expect(ok(run('objdump', ['-h', bin]), 'objdump -h').stdout).not.toMatch(/\.nv_?[Ff]at[Bb]in/);
    // What a user without the toolkit gets by default: the prebuild script refuses a CPU-only
    // package unless asked, so a release cannot ship one by accident.
    const refused = run(process.execPath, [path.join(root, 'scripts', 'prebuild.js'), '--out', path.join(tmp, 'refused')], { cwd: root });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/the build has no CUDA back end \(nvcc not found by CMake\)\. Install the CUDA toolkit \(nvcc\) or pass --allow-cpu-only/);
    expect(fs.existsSync(path.join(tmp, 'refused', PREBUILD))).toBe(false);
  }
});
