#!/usr/bin/env node
// `npm run prebuild`: prebuildify drives the CMake build (scripts/prebuildify-cmake.js stands in
// for node-gyp and runs an incremental cmake-js configure + build with the CPU and the CUDA
// kernels, static cudart, sm_75/80/90 + PTX), strips the addon and names it the way
// node-gyp-build resolves N-API builds: prebuilds/<platform>-<arch>/node.napi.<libc>.node.
// Around it this script checks that the result loads and has CUDA compiled in, and puts the
// (stripped) addon back into build/Release, which prebuildify moves out of the development tree.
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

// Replaces `file` by a copy of `src` under a new inode (copy to a temporary name, then rename).
// A process that has the old file loaded keeps its mapping intact; writing into the loaded
// inode instead (copyFileSync, or strip, which rewrites in place) crashes that process.
function replaceFile(src, file) {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.copyFileSync(src, tmp);
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
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

async function main() {
  for (const a of args) {
    if (a.startsWith('--') && !['--clean', '--allow-cpu-only', '--out'].includes(a)) die(`unknown option ${a}`);
  }
  let prebuildify;
  try {
    prebuildify = require(require.resolve('prebuildify', { paths: [root] }));
    require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch {
    die('prebuildify and cmake-js are devDependencies: run `npm install` in the development checkout');
  }
  const built = path.join(root, 'build', 'Release', 'clsa.node');
  // prebuildify strips build/Release/clsa.node in place when the build left it unchanged: give
  // it a fresh inode first, so a running process (a test runner) that loaded it is not hit.
  if (fs.existsSync(built)) replaceFile(built, built);
  // prebuildify builds into build/Release and moves the result under <stage>/prebuilds: stage it
  // next to the destination so the final rename into place stays on one file system.
  fs.mkdirSync(path.join(outRoot, 'prebuilds'), { recursive: true });
  const stage = fs.mkdtempSync(path.join(outRoot, 'prebuilds', '.clsa-prebuild-'));
  // prebuildify passes its own process environment to the build: the shim reads these.
  process.env.CLSA_CUDA_ARCHITECTURES = ARCHS;
  process.env.CLSA_PREBUILD_CLEAN = flag('--clean') ? '1' : '0';
  try {
    await new Promise((resolve, reject) => prebuildify({
      cwd: root, out: stage, napi: true, tagLibc: true, name: 'node.napi', strip: true, stripBin: 'strip',
      nodeGyp: path.join(__dirname, 'prebuildify-cmake.js'),
    }, (err) => (err ? reject(err) : resolve())));
    const staged = path.join(stage, 'prebuilds', `${platform}-${arch}`, name);
    if (!fs.existsSync(staged)) die(`prebuildify finished but ${staged} is missing`);
    // The development tree keeps a working addon: the stripped build goes back to build/Release.
    replaceFile(staged, built);
    const cache = fs.readFileSync(path.join(root, 'build', 'CMakeCache.txt'), 'utf8');
    const cachedArchs = /^CMAKE_CUDA_ARCHITECTURES:[A-Z]*=(.*)$/m.exec(cache);
    const b = probe(staged);
    if (!b.cudaCompiled) {
      if (!flag('--allow-cpu-only'))
        die('the build has no CUDA back end (nvcc not found by CMake). Install the CUDA toolkit (nvcc) or pass ' +
            '--allow-cpu-only to ship a CPU-only prebuild.');
      console.warn('clsa prebuild: WARNING: CPU-only prebuild (no nvcc)');
    } else if (!cachedArchs || cachedArchs[1] !== ARCHS) {
      die(`build/CMakeCache.txt has CMAKE_CUDA_ARCHITECTURES=${cachedArchs && cachedArchs[1]}, expected ${ARCHS}`);
    }
    fs.mkdirSync(destDir, { recursive: true });
    fs.renameSync(staged, dest);  // atomic: a loader never sees a half-written prebuild
    for (const f of fs.readdirSync(destDir)) {
      if (f.endsWith('.node') && f !== name) {
        fs.rmSync(path.join(destDir, f));
        console.log(`clsa prebuild: removed stale ${path.join(destDir, f)}`);
      }
    }
    const size = (fs.statSync(dest).size / 1048576).toFixed(1);
    console.log(`clsa prebuild: wrote ${path.relative(process.cwd(), dest) || dest} (${size} MiB, CUDA ${b.cudaCompiled ? `compiled in, archs ${ARCHS}` : 'NOT compiled in'}, CPU kernels ${b.cpuKernel})`);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

main().catch((err) => {
  // die() has printed its message already; anything else is unexpected and printed in full.
  if (!process.exitCode) console.error(err);
  process.exitCode = 1;
});
