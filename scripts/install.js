#!/usr/bin/env node
// install step: use a matching prebuilt binary when one ships with the package; otherwise
// build from source with cmake-js when this is a development checkout, or explain what to do.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const tag = `${process.platform}-${process.arch}`;
const prebuildDir = path.join(root, 'prebuilds', tag);
const hasPrebuild = fs.existsSync(prebuildDir) && fs.readdirSync(prebuildDir).some((f) => f.endsWith('.node'));
const forceBuild = process.env.CLSA_BUILD_FROM_SOURCE === '1';

if (hasPrebuild && !forceBuild) {
  console.log(`clsa: using the prebuilt binary in prebuilds/${tag} (set CLSA_BUILD_FROM_SOURCE=1 to compile instead)`);
  process.exit(0);
}

let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
} catch {
  cmakeJs = null;
}
if (!cmakeJs) {
  console.error(
    `clsa: no prebuilt binary for ${tag} (looked in ${prebuildDir}) and cmake-js is not installed.\n` +
      `To build from source: install cmake (>= 3.19) and a C++17 compiler (nvcc as well for the CUDA back end), ` +
      `then run \`npm install cmake-js && npx cmake-js rebuild\` in ${root}.`,
  );
  process.exit(1);
}
const r = spawnSync(process.execPath, [cmakeJs, 'rebuild', '--log-level', 'warn'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('clsa: building the native addon failed (see the compiler output above).');
  process.exit(r.status || 1);
}
