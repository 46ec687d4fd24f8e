#!/usr/bin/env bash
# GPU check for the packaging issue (run on a machine with an NVIDIA GPU, from the repo root,
# after `npm install`): the prebuilt binary finds and reports the GPU, and the installed libclsa
# (CUDA build) runs examples/native on the GPU and agrees with its float64 computation.
# Exit status 0 only when both pass. Takes ~2-3 minutes (one CUDA build of libclsa).
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== prebuilt binary"
node scripts/prebuild.js
node -e '
  const m = { exports: {} };
  process.dlopen(m, require("path").resolve("prebuilds/linux-x64/node.napi.glibc.node"));
  const b = m.exports.backend();
  console.log(JSON.stringify({ cudaCompiled: b.cudaCompiled, cudaState: b.cudaState, cudaMessage: b.cudaMessage,
    runtime: b.cudaRuntimeVersion, driver: b.cudaDriverVersion, devices: b.devices.map((d) => d.name + " sm_" + d.computeCapability) }));
  if (!b.cudaCompiled || b.cudaState !== "usable") { console.error("prebuilt binary: GPU not usable"); process.exit(1); }'

echo "== libclsa (CUDA) installed, examples/native on the GPU"
cmake -S . -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release ${CLSA_CUDA_ARCHITECTURES:+-DCMAKE_CUDA_ARCHITECTURES=$CLSA_CUDA_ARCHITECTURES} > "$tmp/configure.log"
cmake --build "$tmp/build" --parallel > "$tmp/build.log"
cmake --install "$tmp/build" --prefix "$tmp/prefix" > /dev/null
cmake -S examples/native -B "$tmp/example" -DCMAKE_PREFIX_PATH="$tmp/prefix" | grep 'clsa '
cmake --build "$tmp/example" > /dev/null
"$tmp/example/clsa_example"
"$tmp/example/clsa_example_static" | tail -1
