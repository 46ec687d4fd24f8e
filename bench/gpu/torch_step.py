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

from torch_common import import_torch_cuda, json_saver


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
    import torch.nn as nn
    import torch.nn.functional as F
    dev = torch.device("cuda")

    class SplitBatchNorm(nn.BatchNorm2d):
        """The MoCo CIFAR demo's split-BN: statistics per group of N/G images."""

        def __init__(self, c, groups):
            super().__init__(c)
            self.groups = groups

        def forward(self, x):
            n, c, h, w = x.shape
            g = self.groups
            if self.training:
                rm = self.running_mean.repeat(g)
                rv = self.running_var.repeat(g)
                y = F.batch_norm(x.view(-1, c * g, h, w), rm, rv, self.weight.repeat(g), self.bias.repeat(g),
                                 True, self.momentum, self.eps).view(n, c, h, w)
                self.running_mean.data.copy_(rm.view(g, c).mean(0))
                self.running_var.data.copy_(rv.view(g, c).mean(0))
                return y
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, self.momentum,
                                self.eps)

    class Block(nn.Module):
        def __init__(self, cin, cout, stride, groups):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = SplitBatchNorm(cout, groups)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = SplitBatchNorm(cout, groups)
            self.sc = None
            if stride != 1 or cin != cout:
                self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), SplitBatchNorm(cout, groups))

        def forward(self, x):
            y = F.relu(self.b1(self.c1(x)))
            y = self.b2(self.c2(y))
            return F.relu(y + (self.sc(x) if self.sc is not None else x))

    class Encoder(nn.Module):
        def __init__(self, width=64, groups=8, dim=128):
            super().__init__()
            self.stem = nn.Conv2d(3, width, 3, 1, 1, bias=False)
            self.bn = SplitBatchNorm(width, groups)
            layers, cin = [], width
            for i, blocks in enumerate([2, 2, 2, 2]):
                cout = width << i
                for b in range(blocks):
                    layers.append(Block(cin, cout, 2 if (i > 0 and b == 0) else 1, groups))
                    cin = cout
            self.layers = nn.Sequential(*layers)
            self.head = nn.Sequential(nn.Linear(cin, cin), nn.ReLU(), nn.Linear(cin, dim))

        def forward(self, x):
            x = F.relu(self.bn(self.stem(x)))
            x = self.layers(x)
            return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def make(batch, k, dim=128):
        q = Encoder().to(dev)
        kenc = Encoder().to(dev)
        kenc.load_state_dict(q.state_dict())
        for p in kenc.parameters():
            p.requires_grad_(False)
        queue = F.normalize(torch.randn(k, dim, device=dev), dim=1)
        opt = torch.optim.SGD(q.parameters(), lr=0.03, momentum=0.9, weight_decay=5e-4)
        return q, kenc, queue, opt

    def step(q, kenc, queue, ptr, opt, key, weak, strong, tau=0.2, tau2=0.2, alpha=1.0, m=0.99):
        n = key.shape[0]
        with torch.no_grad():  # MoCo: EMA of the key encoder, then the shuffled key forward
            kp, qp = list(kenc.parameters()), list(q.parameters())
            torch._foreach_mul_(kp, m)
            torch._foreach_add_(kp, qp, alpha=1 - m)
            perm = torch.randperm(n, device=dev)
            kz = kenc(key[perm])
            keys = torch.empty_like(kz)
            keys[perm] = kz
            keys = F.normalize(keys, dim=1)
        x = torch.cat([keys, queue], 0)
        labels = torch.arange(n, device=dev)
        qw = [F.normalize(q(v), dim=1) for v in weak]
        qs = [F.normalize(q(v), dim=1) for v in strong]
        loss = 0.0
        for w in qw:
            lw = w @ x.t()
            loss = loss + F.cross_entropy(lw / tau, labels)
            pw = F.softmax(lw.detach() / tau2, dim=1)
            for s in qs:
                loss = loss + alpha * torch.mean(torch.sum(-pw * F.log_softmax(s @ x.t() / tau2, dim=1), dim=1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            idx = (torch.arange(n, device=dev) + ptr) % queue.shape[0]
            queue[idx] = keys
        return loss, (ptr + n) % queue.shape[0]

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
