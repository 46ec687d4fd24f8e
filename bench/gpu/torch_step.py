#!/usr/bin/env python3
"""PyTorch baseline for clsa's training step (bench/gpu/model_check.js times ours in the same run).

The same step as clsa_model_step (native/include/clsa/model.h), written the ordinary PyTorch way
(eager, cuDNN): ResNet-18 with the small-image stem (3x3 conv stride 1, no max-pool), split
batch norm (8 groups, the MoCo CIFAR demo's SplitBatchNorm) in both encoders, MLP projection
head (512 -> 512 -> 128), momentum encoder (EMA with _foreach ops before the key forward), key
batch shuffled and un-shuffled, one query-encoder pass per view, the CLSA loss with logits
materialised (all batch keys + queue as candidates, DDM over every weak x strong pair, weak
distribution detached), SGD momentum 0.9 + weight decay, enqueue. Batch 256 at 32x32 RGB,
single-crop (key 32, weak 32, strong 14) and multi-crop (5 weak + 5 strong, 32/27/23/18/14),
K = 4096. Timed with CUDA events after warm-up, in two arithmetic modes: PyTorch's defaults
(cuDNN convolutions may use TF32) and strict fp32 (TF32 off everywhere).

Usage: python3 bench/gpu/torch_step.py [OUT_JSON] [--steps N] [--budget SECONDS]
"""
import sys
import time
import traceback

from torch_common import clsa_twin, import_torch_cuda, json_saver


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out_json = args[0] if args else None
    steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 5
    budget = float(sys.argv[sys.argv.index("--budget") + 1]) if "--budget" in sys.argv else 150.0
    t_start = time.time()
    res = {"timing": [], "errors": []}

    save = json_saver(res, out_json)
    torch = import_torch_cuda(res, save)
    if torch is None:
        return 0
    dev = torch.device("cuda")
    _, make_twin, twin_step = clsa_twin(torch)

    def make(batch, k):
        return make_twin(dev, k)  # resnet18, width 64, RGB: the Encoder's defaults

    def step(q, kenc, queue, ptr, opt, key, weak, strong):
        return twin_step(q, kenc, queue, ptr, opt, key, weak, strong)

    def views(batch, sizes):
        return [torch.randn(batch, 3, s, s, device=dev) for s in sizes]

    single = {"key": 32, "weak": [32], "strong": [14]}
    multi = {"key": 32, "weak": [32, 27, 23, 18, 14], "strong": [32, 27, 23, 18, 14]}
    batch, k = 256, 4096
    for mode in ["default", "strict-fp32"]:
        torch.backends.cudnn.allow_tf32 = mode == "default"
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        for label, v in [("single", single), ("multi", multi)]:
            if time.time() - t_start > budget:
                res["errors"].append(f"budget: skipped {mode} {label}")
                continue
            try:
                q, kenc, queue, opt = make(batch, k)
                key = views(batch, [v["key"]])[0]
                weak, strong = views(batch, v["weak"]), views(batch, v["strong"])
                ptr = 0
                for _ in range(3):  # warm-up (cuDNN autotuning)
                    _, ptr = step(q, kenc, queue, ptr, opt, key, weak, strong)
                torch.cuda.synchronize()
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                e0.record()
                for _ in range(steps):
                    loss, ptr = step(q, kenc, queue, ptr, opt, key, weak, strong)
                e1.record()
                torch.cuda.synchronize()
                ms = e0.elapsed_time(e1) / steps
                row = {"label": f"resnet18 32x32 {label}", "mode": mode, "batch": batch, "msPerStep": ms,
                       "imagesPerSecond": batch * 1000.0 / ms, "loss": float(loss)}
                res["timing"].append(row)
                print(f"torch {row['label']} {mode}: {row['imagesPerSecond']:.0f} images/s, {ms:.1f} ms/step")
                del q, kenc, queue, opt
                torch.cuda.empty_cache()
            except Exception as e:  # noqa: BLE001
                res["errors"].append(f"{mode} {label}: {e}")
                traceback.print_exc()
            save()
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
