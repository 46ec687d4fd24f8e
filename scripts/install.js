#!/usr/bin/env node
// The package's install step. In order:
//   1. CLSA_BUILD_FROM_SOURCE=1 (or npm's --build-from-source): compile with cmake-js.
//   2. A development checkout (a git work tree): compile, so build/ matches the sources.
//   3. A binary the loader (node-gyp-build, as lib/native.ts uses it) resolves and that loads:
//      nothing to do, no compiler needed.
//   4. Otherwise compile when cmake-js is installed, else fail with what was looked for and how
//      to build from source.
// npm 11 does not run dependencies' install scripts by default, so nothing here may be needed
// for the package to work: the loader finds prebuilds/ on its own. This step only reports early
// and builds from source where that was asked for or is the only way.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const tag = `${process.platform}-${process.arch}`;
const libc = process.platform === 'linux' ? (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc') : '';
const truthy = (v) => v !== undefined && v !== '' && v !== '0' && v !== 'false';
const forceBuild = truthy(process.env.CLSA_BUILD_FROM_SOURCE) || truthy(process.env.npm_config_build_from_source);
const devCheckout = fs.existsSync(path.join(root, '.git'));
const haveSources = fs.existsSync(path.join(root, 'CMakeLists.txt')) && fs.existsSync(path.join(root, 'native', 'src'));

function log(msg) {
  console.log(`clsa: ${msg}`);
}

// The file node-gyp-build would load, or null. Falls back to a plain scan when node-gyp-build
// itself cannot be resolved (it is a dependency, so that means a broken install).
function resolveBinary() {
  try {
    const ngb = require(require.resolve('node-gyp-build', { paths: [root] }));
    return ngb.resolve(root);
  } catch (err) {
    if (!/No native build was found/.test(String(err && err.message))) {
      const dir = path.join(root, 'prebuilds', tag);
      const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
      return files.length ? path.join(dir, files[0]) : null;
    }
    return null;
  }
}

function howToBuild() {
  const where = haveSources ? root : 'a clone of the clsa repository';
  return (
    `To build from source: install CMake >= 3.19 and a C++17 compiler (g++ >= 10 or clang >= 12; the CUDA ` +
    `toolkit's nvcc as well for the GPU back end), then run \`npx cmake-js@~8.0.0 rebuild\` in ${where}, ` +
    `or reinstall with CLSA_BUILD_FROM_SOURCE=1 and cmake-js installed.`
  );
}

function build(reason) {
  let cmakeJs = null;
  try {
    cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch {
    cmakeJs = null;
  }
  if (!cmakeJs || !haveSources) {
    console.error(
      `clsa: ${reason}, and ${!haveSources ? 'this copy of the package has no native sources' : 'cmake-js is not installed'}, ` +
        `so the native addon cannot be compiled here.\n${howToBuild()}`,
    );
    process.exit(1);
  }
  log(`${reason}: compiling the native addon with cmake-js (a few minutes with CUDA)`);
  const r = spawnSync(process.execPath, [cmakeJs, 'rebuild', '--log-level', 'warn'], { cwd: root, stdio: 'inherit' });
  if (r.error || r.status !== 0) {
    console.error(
      `clsa: building the native addon failed (${r.error ? r.error.message : `cmake-js exited with ${r.status ?? r.signal}`}; ` +
        `see the compiler output above).\n${howToBuild()}`,
    );
    process.exit(r.status || 1);
  }
}

if (forceBuild) {
  build('CLSA_BUILD_FROM_SOURCE is set');
} else if (devCheckout && haveSources) {
  build('development checkout');
} else {
  const file = resolveBinary();
  if (file) {
    try {
      require(file);
      const rel = path.relative(root, file);
      const kind = rel.startsWith('prebuilds') ? 'prebuilt native addon' : 'native addon built earlier,';
      log(`using the ${kind} ${rel} (set CLSA_BUILD_FROM_SOURCE=1 to compile instead)`);
      process.exit(0);
    } catch (err) {
      console.error(`clsa: ${file} exists but does not load on this system: ${err.message}`);
      build(`the binary for ${tag} does not load`);
    }
  } else {
    console.error(
      `clsa: no prebuilt native addon matches this system: looked for ` +
        `${path.join(root, 'prebuilds', tag)}/*.napi${libc ? `[.${libc}]` : ''}.node ` +
        `(Node ${process.versions.node}, N-API ${process.versions.napi}${libc ? `, ${libc}` : ''}) ` +
        `and ${path.join(root, 'build', 'Release')}/*.node. Prebuilt binaries ship for linux-x64 (glibc).`,
    );
    build(`no prebuilt binary for ${tag}`);
  }
}
