#!/usr/bin/env node
// `npm run prebuild`: builds the addon with the CPU and the CUDA kernels (static cudart,
// sm_75/80/90 + PTX) through cmake-js and writes it to prebuilds/<platform>-<arch>/ under the
// name node-gyp-build resolves for N-API builds: node.napi.<libc>.node. The build reuses build/
// (an incremental cmake-js configure + build), so after `npm install` it costs seconds.
//
// Why not prebuildify: it can only drive node-gyp, moves build/Release/*.node out of the
// development tree and strips it in place; this script copies, strips the copy, verifies that
// the copy loads and has CUDA compiled in, and only then renames it into place (atomically).
//
// Options: --clean (full rebuild), --allow-cpu-only (accept a build without nvcc),
//          --out <dir> (write <dir>/prebuilds/... instead of the package root).
// Environment: CLSA_CUDA_ARCHITECTURES overrides "75-real;80-real;90".
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const outIdx = args.indexOf('--out');
const outRoot = outIdx >= 0 ? path.resolve(args[outIdx + 1] || '') : root;

const ARCHS = process.env.CLSA_CUDA_ARCHITECTURES || '75-real;80-real;90';
const platform = process.platform;
const arch = process.arch;
const libc = platform === 'linux' ? (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc') : '';
const name = ['node', 'napi', libc, 'node'].filter(Boolean).join('.');
const destDir = path.join(outRoot, 'prebuilds', `${platform}-${arch}`);
const dest = path.join(destDir, name);

function die(msg) {
  console.error(`clsa prebuild: ${msg}`);
  process.exitCode = 1;
  throw new Error(msg); // unwinds through the finally blocks that remove temporary files
}

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) die(`could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) die(`${path.basename(cmd)} ${argv.join(' ')} exited with ${r.status ?? r.signal}`);
  return r;
}

// Loads a .node file in a fresh process and returns its backend() report.
function probe(file) {
  // process.dlopen, not require: the temporary copy does not end in .node.
  const code = `const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(file)});` +
    'process.stdout.write(JSON.stringify(m.exports.backend()));';
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
  if (r.status !== 0) die(`${file} does not load: ${(r.stderr || '').trim()}`);
  return JSON.parse(r.stdout);
}

function main() {
  for (const a of args) {
    if (a.startsWith('--') && !['--clean', '--allow-cpu-only', '--out'].includes(a)) die(`unknown option ${a}`);
  }
  let cmakeJs;
  try {
    cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch {
    die('cmake-js is not installed (it is a devDependency: run `npm install` in the development checkout)');
  }

  const cmakeArgs = ['--CDCLSA_CUDA=ON', `--CDCMAKE_CUDA_ARCHITECTURES=${ARCHS}`, '--CDCMAKE_BUILD_TYPE=Release'];
  if (flag('--clean')) {
    run(process.execPath, [cmakeJs, 'rebuild', ...cmakeArgs, '--log-level', 'warn']);
  } else {
    // configure on an existing build/ is incremental: unchanged flags recompile nothing.
    run(process.execPath, [cmakeJs, 'configure', ...cmakeArgs, '--log-level', 'warn'], { stdio: ['inherit', 'ignore', 'inherit'] });
    run(process.execPath, [cmakeJs, 'build', '--log-level', 'warn']);
  }

  const built = path.join(root, 'build', 'Release', 'clsa.node');
  if (!fs.existsSync(built)) die(`the build finished but ${built} is missing`);
  const cache = fs.readFileSync(path.join(root, 'build', 'CMakeCache.txt'), 'utf8');
  const cachedArchs = /^CMAKE_CUDA_ARCHITECTURES:[A-Z]*=(.*)$/m.exec(cache);
  const b = probe(built);
  if (!b.cudaCompiled) {
    if (!flag('--allow-cpu-only'))
      die('the build has no CUDA back end (nvcc not found by CMake). Install the CUDA toolkit (nvcc) or pass ' +
          '--allow-cpu-only to ship a CPU-only prebuild.');
    console.warn('clsa prebuild: WARNING: CPU-only prebuild (no nvcc)');
  } else if (!cachedArchs || cachedArchs[1] !== ARCHS) {
    die(`build/CMakeCache.txt has CMAKE_CUDA_ARCHITECTURES=${cachedArchs && cachedArchs[1]}, expected ${ARCHS}`);
  }

  // Strip a copy (symbols only; the CUDA fat binary is a loaded section and stays), check that the
  // copy loads, then rename it into place so that no reader ever sees a half-written file.
  fs.mkdirSync(destDir, { recursive: true });
  // The temporary file sits outside <platform>-<arch>/ so that a loader scanning it never sees it.
  const tmp = path.join(outRoot, 'prebuilds', `.clsa-prebuild-${process.pid}.tmp`);
  try {
    const s = spawnSync('strip', ['--strip-unneeded', '-o', tmp, built], { stdio: 'inherit' });
    if (s.error || s.status !== 0) {
      console.warn('clsa prebuild: strip failed or is missing; shipping the unstripped binary');
      fs.copyFileSync(built, tmp);
    }
    const p = probe(tmp);
    if (p.cudaCompiled !== b.cudaCompiled) die('the stripped copy lost its CUDA back end');
    fs.renameSync(tmp, dest);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  for (const f of fs.readdirSync(destDir)) {
    if (f.endsWith('.node') && f !== name) {
      fs.rmSync(path.join(destDir, f));
      console.log(`clsa prebuild: removed stale ${path.join(destDir, f)}`);
    }
  }
  const size = (fs.statSync(dest).size / 1048576).toFixed(1);
  console.log(`clsa prebuild: wrote ${path.relative(process.cwd(), dest) || dest} (${size} MiB, CUDA ${b.cudaCompiled ? `compiled in, archs ${ARCHS}` : 'NOT compiled in'}, CPU kernels ${b.cpuKernel})`);
}

try {
  main();
} catch (err) {
  // die() has printed its message already; anything else is unexpected and printed in full.
  if (!process.exitCode) console.error(err);
  process.exitCode = 1;
}
