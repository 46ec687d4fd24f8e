#!/usr/bin/env bash
# The GPU check, run on the GPU machine by the lead. Uses only node (on PATH), the prebuilt
# build/Release/clsa.node, dist/, node_modules/node-gyp-build, and python3 with PyTorch.
#   1. backend()  2. parity of every CUDA kernel vs its CPU twin  3. CUDA-event timings
#   4. PyTorch baseline (eager + torch.compile) and agreement  5. compute-sanitizer
#   6. a short summary (last lines of the output); full logs/JSON under $OUT when set.
# Each stage runs on its own; a failing stage does not stop the rest. Exit 1 on a parity failure.
# Budget: under 4 minutes on an H100 (each stage has a timeout).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/clsa-gpu-out}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
exec > >(tee "$OUT/gpu.log") 2>&1
status=0

echo "== clsa GPU check ($(date -u +%FT%TZ), node $(node --version 2>/dev/null || echo missing))"
if [ ! -f build/Release/clsa.node ] || [ ! -f dist/index.js ]; then
  echo "missing build/Release/clsa.node or dist/: build first (npx cmake-js rebuild && npx tsc -p tsconfig.build.json)"
  exit 1
fi

echo "== 1-3. backend, parity, timings (node)"
timeout 100 node bench/gpu/run.js --out "$OUT" --data "$WORK/data"
rc=$?
if [ $rc -eq 2 ]; then
  echo "== no usable GPU on this machine: parity, timings, torch and sanitizer stages skipped"
  node bench/gpu/summary.js "$OUT"
  exit 0
fi
[ $rc -ne 0 ] && status=1 && echo "node stage exit status $rc (124 = timed out)"

echo "== 4. PyTorch baseline"
if command -v python3 >/dev/null; then
  timeout 100 python3 bench/gpu/torch_head.py "$WORK/data" "$OUT/torch.json" --budget 65 || echo "torch stage exit status $?"
else
  echo "python3 not found"
fi

echo "== 5. compute-sanitizer (quick parity)"
. bench/gpu/sanitizer.sh
if [ -z "$SAN" ]; then
  echo "compute-sanitizer not found: skipped"
else
  for tool in memcheck racecheck; do
    if [ "$SECONDS" -gt 190 ]; then echo "$tool: skipped (time budget)"; continue; fi
    log="$OUT/sanitizer-$tool.log"
    timeout 45 "$SAN" --tool "$tool" --print-limit 20 node bench/gpu/run.js --quick --out "$WORK/san-$tool" > "$log" 2>&1
    echo "clsa-sanitizer-status: exit $? (124 = timed out)" >> "$log"
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|parity:" "$log" | sed "s/^/$tool: /"
  done
fi

echo "== 6. summary (elapsed ${SECONDS} s)"
node bench/gpu/summary.js "$OUT"
exit $status
