#!/usr/bin/env bash
# The device side of bench/gpu/prepare.sh: unpacks node and the loader, then runs every GPU check
# (bench/gpu/all.sh). Output files go to $OUT (the device tool returns them).
set -u
cd "$(dirname "$0")/../.."
mkdir -p "$HOME/bin" node_modules
xz -dc .gpu/node.xz > "$HOME/bin/node" && chmod +x "$HOME/bin/node"
export PATH="$HOME/bin:$PATH"
[ -d node_modules/node-gyp-build ] || cp -r .gpu/node-gyp-build node_modules/node-gyp-build
export NN_CHECK=${NN_CHECK:-.gpu/nn_check}
bash bench/gpu/all.sh "$@"
