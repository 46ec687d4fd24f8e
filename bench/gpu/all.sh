#!/usr/bin/env bash
# Every GPU check in one call (the lead's device runs): the fused head, EMA and queue
# (bench/gpu.sh: parity, CUDA-event timings, PyTorch, compute-sanitizer), the augmentation
# pipelines (CUDA vs CPU on the same draws, throughput), the kNN kernel, and the packaged
# binary finding the GPU. Needs node on PATH, build/Release/clsa.node, dist/ and
# node_modules/node-gyp-build; python3 with PyTorch for the baseline.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/clsa-gpu-out}
mkdir -p "$OUT"
status=0
echo "== augmentations: CUDA vs CPU"
timeout 120 node bench/gpu/augment_check.js 2>&1 | tee "$OUT/augment.log" | tail -40 || status=1
echo "== kNN: CUDA vs CPU"
timeout 90 node bench/gpu/knn_check.js --big 2>&1 | tee "$OUT/knn.log" | tail -20 || status=1
echo "== fused head, EMA, queue (bench/gpu.sh)"
bash bench/gpu.sh || status=1
exit $status
