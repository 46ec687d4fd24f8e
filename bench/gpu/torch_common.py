"""What the PyTorch baselines (torch_head.py, torch_step.py, bench/torch_cpu_step.py) share: an atomic
JSON writer, the import of torch with a usable CUDA device (recording why not when there is none),
and the PyTorch twin of clsa's encoder and step."""
import json
import os


def json_saver(res, out_json):
    """A save() that writes `res` to out_json atomically (temp + rename); a no-op without a path."""

    def save():
        if out_json:
            with open(out_json + ".tmp", "w") as f:
                json.dump(res, f, indent=1)
            os.replace(out_json + ".tmp", out_json)

    return save


def import_torch_cuda(res, save):
    """torch when it imports and sees a CUDA device, else None (the reason in res['errors'], saved)."""
    try:
        import torch
    except Exception as e:  # noqa: BLE001
        print(f"torch not available: {e}")
        res["errors"].append(f"import torch: {e}")
        save()
        return None
    if not torch.cuda.is_available():
        print("torch: no CUDA device, skipping")
        res["errors"].append("no CUDA device")
        save()
        return None
    res["torch"] = torch.__version__
    res["gpu"] = torch.cuda.get_device_name(0)
    print(f"torch {torch.__version__} on {res['gpu']}")
    return torch


def clsa_twin(torch):
    """The PyTorch twin of clsa's encoder and training step, shared by the GPU baseline
    (torch_step.py) and the CPU side-by-side benchmark (bench/cpu_step.js via bench/torch_cpu_step.py).

    Returns (Encoder, make, step). Encoder(width, stages, depth, in_ch, hidden, dim, groups) is
    resnet18 (stages 4, depth 2) or resnet-mini (stages 3, depth 1) with the small-image stem, split
    BN in every layer (the MoCo CIFAR demo's SplitBatchNorm) and the MLP projection head.
    step(..., mark) calls mark(name) at the end of each phase (keyForward, queryForward, head,
    backward, update), the names of clsa's step result, so both sides split a step alike."""
    import torch.nn as nn
    import torch.nn.functional as F

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
        def __init__(self, width=64, stages=4, depth=2, in_ch=3, hidden=None, dim=128, groups=8):
            super().__init__()
            self.stem = nn.Conv2d(in_ch, width, 3, 1, 1, bias=False)
            self.bn = SplitBatchNorm(width, groups)
            layers, cin = [], width
            for i in range(stages):
                cout = width << i
                for b in range(depth):
                    layers.append(Block(cin, cout, 2 if (i > 0 and b == 0) else 1, groups))
                    cin = cout
            self.layers = nn.Sequential(*layers)
            hidden = hidden or cin
            self.head = nn.Sequential(nn.Linear(cin, hidden), nn.ReLU(), nn.Linear(hidden, dim))

        def forward(self, x):
            x = F.relu(self.bn(self.stem(x)))
            x = self.layers(x)
            return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def make(dev, k, dim=128, **arch):
        q = Encoder(dim=dim, **arch).to(dev)
        kenc = Encoder(dim=dim, **arch).to(dev)
        kenc.load_state_dict(q.state_dict())
        for p in kenc.parameters():
            p.requires_grad_(False)
        queue = F.normalize(torch.randn(k, dim, device=dev), dim=1)
        opt = torch.optim.SGD(q.parameters(), lr=0.03, momentum=0.9, weight_decay=5e-4)
        return q, kenc, queue, opt

    def step(q, kenc, queue, ptr, opt, key, weak, strong, tau=0.2, tau2=0.2, alpha=1.0, m=0.99, mark=None):
        mark = mark or (lambda name: None)
        dev = key.device
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
        mark("keyForward")
        x = torch.cat([keys, queue], 0)
        labels = torch.arange(n, device=dev)
        qw = [F.normalize(q(v), dim=1) for v in weak]
        qs = [F.normalize(q(v), dim=1) for v in strong]
        mark("queryForward")
        loss = 0.0
        for w in qw:
            lw = w @ x.t()
            loss = loss + F.cross_entropy(lw / tau, labels)
            pw = F.softmax(lw.detach() / tau2, dim=1)
            for s in qs:
                loss = loss + alpha * torch.mean(torch.sum(-pw * F.log_softmax(s @ x.t() / tau2, dim=1), dim=1))
        mark("head")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        mark("backward")
        opt.step()
        with torch.no_grad():
            idx = (torch.arange(n, device=dev) + ptr) % queue.shape[0]
            queue[idx] = keys.to(queue.dtype)  # bf16 under autocast
        mark("update")
        return loss, (ptr + n) % queue.shape[0]

    return Encoder, make, step
