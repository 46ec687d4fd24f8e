#!/usr/bin/env bash
# The device side of bench/gpu/prepare.sh: unpacks node and the loader, then runs every GPU check
# (bench/gpu/all.sh), then the one-rank NCCL check. Output files go to $OUT (the device tool returns them).
set -u
cd "$(dirname "$0")/../.."
mkdir -p "$HOME/bin" node_modules
xz -dc .gpu/node.xz > "$HOME/bin/node" && chmod +x "$HOME/bin/node"
export PATH="$HOME/bin:$PATH"
[ -d node_modules/node-gyp-build ] || cp -r .gpu/node-gyp-build node_modules/node-gyp-build
export NN_CHECK=${NN_CHECK:-.gpu/nn_check}
bash bench/gpu/all.sh "$@"
status=$?
# The NCCL back end on one rank (bench/gpu/nccl_check.js): it skips itself where Open MPI or NCCL
# is missing, and never changes the status of the checks above.
echo "== NCCL back end, one rank (skips without Open MPI or NCCL)"
timeout 120 node bench/gpu/nccl_check.js 2>&1 | tee "${OUT:-/tmp/clsa-gpu-out}/nccl.log" | tail -8 || true
exit $status
