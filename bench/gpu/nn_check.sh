#!/usr/bin/env bash
# Runs test/gpu/nn_check: every CUDA layer kernel of native/src/cuda/nn against its CPU twin, then
# conv timings at ResNet-18 shapes (batch 256). Output is teed to $OUT/nn_check.log (OUT defaults
# to /tmp/clsa-gpu-out). Then, when compute-sanitizer is found (and NN_CHECK_SANITIZE is not 0),
# memcheck and racecheck over `nn_check --quick` (small shapes), logs in $OUT/nn_check-<tool>.log.
#   bench/gpu/nn_check.sh [path/to/nn_check] [nn_check args, e.g. --seed S, --no-bench, --quick]
# Exit status: nn_check's (0 pass, 1 a check failed, 3 no usable GPU), or 1 when a sanitizer
# reported errors. Build first (repo root):
#   cmake -S . -B build-gpucheck -DCLSA_BUILD_GPU_CHECKS=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90
#   cmake --build build-gpucheck -j --target nn_check   (or bench/gpu/prepare.sh)
set -u
cd "$(dirname "$0")/../.."
bin=${1:-build-gpucheck/nn_check}
[ $# -gt 0 ] && shift
OUT=${OUT:-/tmp/clsa-gpu-out}
mkdir -p "$OUT"
if [ ! -x "$bin" ]; then
  echo "nn_check.sh: $bin not found or not executable (build it: see the top of this script)" | tee "$OUT/nn_check.log"
  exit 1
fi
set -o pipefail
timeout 300 "$bin" "$@" 2>&1 | tee "$OUT/nn_check.log"
status=$?
[ $status -eq 124 ] && echo "nn_check.sh: nn_check timed out (300 s)"
[ $status -eq 3 ] && exit 3   # no GPU: nothing for the sanitizers either

if [ "${NN_CHECK_SANITIZE:-1}" != 0 ]; then
  . bench/gpu/sanitizer.sh
  if [ -z "$SAN" ]; then
    echo "== compute-sanitizer not found: sanitizer stage skipped"
  else
    for tool in memcheck racecheck; do
      log="$OUT/nn_check-$tool.log"
      timeout 120 "$SAN" --tool "$tool" --print-limit 20 "$bin" --quick --seed 1 > "$log" 2>&1
      rc=$?
      summary=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$log" | tail -1)
      echo "== $tool (nn_check --quick): exit $rc${summary:+, $summary} (124 = timed out; log $log)"
      if [ $rc -ne 0 ] && [ $rc -ne 124 ]; then status=1; fi
      if echo "$summary" | grep -qE "[1-9][0-9]* (errors|hazards)"; then status=1; fi
    done
  fi
fi
exit $status
