#!/usr/bin/env bash
# Every GPU check in one call (the lead's device runs): the encoder's CUDA layers against their
# CPU twins (nn_check), the CUDA training step against the CPU step and its throughput beside
# PyTorch's (model_check.js, torch_step.py), the fused head, EMA and queue (bench/gpu.sh: parity,
# CUDA-event timings, PyTorch, compute-sanitizer), the augmentation pipelines (CUDA vs CPU on the
# same draws, throughput), the kNN kernel. Needs node on PATH, build/Release/clsa.node, dist/ and
# node_modules/node-gyp-build; python3 with PyTorch for the baselines; $NN_CHECK (default
# build-gpucheck/nn_check). `--quick`: the layer and step parity checks only; by default also the
# step timings and PyTorch's (~8 min); `--full`: then also the head, augmentation and kNN checks
# (verified on an H200 before; ~5 min more).
set -u -o pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/clsa-gpu-out}
mkdir -p "$OUT"
status=0
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /'
echo "== encoder layers: CUDA vs CPU (nn_check)"
NN=${NN_CHECK:-build-gpucheck/nn_check}
# compute-sanitizer over the layers only with --full (minutes).
[ "${1:-}" = "--full" ] || export NN_CHECK_SANITIZE=0
NNARGS=""
[ "${1:-}" = "--quick" ] && NNARGS="--no-bench"
bash bench/gpu/nn_check.sh "$NN" $NNARGS | tail -45 || status=1
echo "== training step: CUDA vs CPU, then throughput"
if [ "${1:-}" = "--quick" ]; then
  timeout 120 node bench/gpu/model_check.js --quick --out "$OUT" 2>&1 | tee "$OUT/model.log" | tail -40 || status=1
  exit $status
fi
timeout 240 node bench/gpu/model_check.js --out "$OUT" 2>&1 | tee "$OUT/model.log" | tail -40 || status=1
echo "== training step: PyTorch (eager, cuDNN), same model and batch"
timeout 150 python3 bench/gpu/torch_step.py "$OUT/torch_step.json" --budget 120 2>&1 | tee "$OUT/torch_step.log" | tail -8
[ "${1:-}" = "--full" ] || exit $status
echo "== augmentations: CUDA vs CPU"
timeout 120 node bench/gpu/augment_check.js 2>&1 | tee "$OUT/augment.log" | tail -40 || status=1
echo "== kNN: CUDA vs CPU"
timeout 90 node bench/gpu/knn_check.js --big 2>&1 | tee "$OUT/knn.log" | tail -20 || status=1
echo "== fused head, EMA, queue (bench/gpu.sh)"
bash bench/gpu.sh || status=1
exit $status
