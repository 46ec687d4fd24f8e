#!/usr/bin/env bash
# Prepares a device run (on the build machine, after `npm install`): everything the GPU machine
# needs that git does not carry, in git-ignored places, small enough for one transfer (64 MiB).
#   build/Release/clsa.node   the addon, CUDA for sm_90 only (the H100/H200; smaller, faster to build)
#   dist/                     the compiled TypeScript
#   .gpu/node.xz              this machine's node (the GPU image has none)
#   .gpu/node-gyp-build/      the loader (node_modules/ is not carried)
#   .gpu/nn_check             test/gpu/nn_check.cpp: every CUDA layer against its CPU twin
# Then, on the device (carry: .gpu, build/Release, dist):
#   bash bench/gpu/remote.sh
# Afterwards `npx cmake-js rebuild` restores the development build (all architectures).
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
npx cmake-js configure --CDCLSA_CUDA=ON --CDCMAKE_CUDA_ARCHITECTURES=90 --CDCMAKE_BUILD_TYPE=Release --log-level warn >/dev/null
npx cmake-js build --log-level warn
npx tsc -p tsconfig.build.json
cmake -S . -B build-gpucheck -DCLSA_BUILD_GPU_CHECKS=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
cmake --build build-gpucheck -j2 --target nn_check
rm -rf .gpu && mkdir -p .gpu
xz -T2 -c "$(command -v node)" > .gpu/node.xz
cp -r node_modules/node-gyp-build .gpu/node-gyp-build
strip -o .gpu/nn_check build-gpucheck/nn_check
du -sh .gpu build/Release/clsa.node dist | sed 's/^/carry: /'
