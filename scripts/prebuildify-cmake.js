#!/usr/bin/env node
// Stands in for node-gyp when prebuildify builds the addon (`--node-gyp` / `nodeGyp`):
// prebuildify calls `<this> rebuild --target=... --devdir=... --arch=... --release` and then
// takes build/Release/*.node. We ignore node-gyp's arguments and run the CMake build instead:
// an incremental cmake-js configure + build with the CUDA back end (static cudart) for the
// architectures in CLSA_CUDA_ARCHITECTURES (set by scripts/prebuild.js).
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const archs = process.env.CLSA_CUDA_ARCHITECTURES || '75-real;80-real;90';
const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
const cmakeArgs = ['--CDCLSA_CUDA=ON', `--CDCMAKE_CUDA_ARCHITECTURES=${archs}`, '--CDCMAKE_BUILD_TYPE=Release'];
const clean = process.env.CLSA_PREBUILD_CLEAN === '1';
const steps = clean ? [['rebuild', ...cmakeArgs]] : [['configure', ...cmakeArgs], ['build']];
for (const step of steps) {
  const r = spawnSync(process.execPath, [cmakeJs, ...step, '--log-level', 'warn'], {
    cwd: root, stdio: step[0] === 'configure' ? ['inherit', 'ignore', 'inherit'] : 'inherit',
  });
  if (r.status !== 0) process.exit(r.status || 1);
}
