#!/usr/bin/env python3
"""PyTorch baseline for the GPU check (bench/gpu.sh).

The same CLSA objective as clsa's fused head (docs/objective.md), written the ordinary way:
logits materialised, autograd for the gradient. Timed eager and with torch.compile, fp32 and
bf16 autocast, at N=256, D=128, K=65536, single-crop (W=S=1) and multi-crop (W=S=5); peak
memory; loss/gradient agreement with ours on the input set exported by run.js; and the EMA
over ResNet-50-sized parameters (_foreach_lerp_ and a per-tensor loop).

Usage: python3 bench/gpu/torch_head.py DATA_DIR [OUT_JSON] [--budget SECONDS]
"""
import json
import os
import sys
import time
import traceback

from torch_common import import_torch_cuda, json_saver


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    data_dir = args[0] if args else "/tmp/clsa-gpu-data"
    out_json = args[1] if len(args) > 1 else None
    budget = 150.0
    if "--budget" in sys.argv:
        budget = float(sys.argv[sys.argv.index("--budget") + 1])
    t_start = time.time()
    res = {"stages": {}, "errors": []}

    save = json_saver(res, out_json)
    torch = import_torch_cuda(res, save)
    if torch is None:
        return 0
    import torch.nn.functional as F
    dev = torch.device("cuda")

    def clsa_loss(weak, strong, keys, queue, tau, tau2, alpha):
        qw = F.normalize(weak, dim=-1)
        qs = F.normalize(strong, dim=-1)
        k = F.normalize(keys, dim=-1)
        x = torch.cat([k, queue], 0)
        n = k.shape[0]
        labels = torch.arange(n, device=weak.device)
        lw = torch.einsum("wnd,cd->wnc", qw, x)
        nce = sum(F.cross_entropy(lw[w] / tau, labels) for w in range(lw.shape[0]))
        pw = torch.softmax(lw / tau2, dim=-1).detach()
        ls = torch.einsum("snd,cd->snc", qs, x)
        logps = torch.log_softmax(ls / tau2, dim=-1)
        ddm = -torch.einsum("wnc,snc->", pw.float(), logps.float()) / n
        acc = (lw.argmax(-1) == labels).float().mean()
        return nce + alpha * ddm, nce, ddm, acc

    def step(fn, weak, strong, keys, queue, tau, tau2, alpha, bf16):
        weak.grad = None
        strong.grad = None
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss, _, _, _ = fn(weak, strong, keys, queue, tau, tau2, alpha)
        loss.backward()
        return loss

    # ---- agreement with ours on run.js's exported set -------------------------------------
    meta = None
    try:
        with open(os.path.join(data_dir, "meta.json")) as f:
            meta = json.load(f)
        W, S, N, D, K = (meta[k] for k in ("W", "S", "N", "D", "K"))

        def load(name, shape):
            with open(os.path.join(data_dir, name + ".f32"), "rb") as f:
                buf = bytearray(f.read())
            return torch.frombuffer(buf, dtype=torch.float32).reshape(shape).to(dev)

        weak = load("weak", (W, N, D)).requires_grad_(True)
        strong = load("strong", (S, N, D)).requires_grad_(True)
        keys = load("keys", (N, D))
        queue = load("queue", (K, D))
        loss, nce, ddm, acc = clsa_loss(weak, strong, keys, queue, meta["tau"], meta["tau2"], meta["alpha"])
        loss.backward()
        agree = {"torch_loss": loss.item(), "torch_nce": nce.item(), "torch_ddm": ddm.item(), "torch_acc": acc.item()}
        ours = meta.get("ours", {})
        for p, r in ours.items():
            if "loss" in r:
                agree[f"rel_loss_{p}"] = abs(r["loss"] - loss.item()) / max(abs(loss.item()), 1e-6)
        gw_path = os.path.join(data_dir, "grad_weak.f32")
        if os.path.exists(gw_path):
            gw = load("grad_weak", (W, N, D))
            gs = load("grad_strong", (S, N, D))
            agree["rel_grad_weak_fp32"] = ((gw - weak.grad).norm() / weak.grad.norm()).item()
            agree["rel_grad_strong_fp32"] = ((gs - strong.grad).norm() / strong.grad.norm()).item()
        res["agreement"] = agree
        print("agreement with ours (multi-crop set):", json.dumps(agree))
        del weak, strong, keys, queue, loss
    except Exception as e:  # noqa: BLE001
        res["errors"].append("agreement: " + repr(e))
        traceback.print_exc()
    save()

    # ---- timings --------------------------------------------------------------------------
    def bench(fn, shape, bf16, iters=10, sets=3):
        W, S, N, D, K = shape
        g = torch.Generator(device=dev).manual_seed(1)
        inputs = []
        for _ in range(sets):
            weak = torch.randn(W, N, D, device=dev, generator=g).requires_grad_(True)
            strong = torch.randn(S, N, D, device=dev, generator=g).requires_grad_(True)
            keys = torch.randn(N, D, device=dev, generator=g)
            queue = F.normalize(torch.randn(K, D, device=dev, generator=g), dim=-1)
            inputs.append((weak, strong, keys, queue))
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        for i in range(3):  # warm-up (and compilation)
            step(fn, *inputs[i % sets], 0.2, 0.2, 1.0, bf16)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        times = []
        for i in range(iters):
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            step(fn, *inputs[i % sets], 0.2, 0.2, 1.0, bf16)
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
        times.sort()
        del inputs
        torch.cuda.empty_cache()
        return times[len(times) // 2], peak

    shapes = {"single": (1, 1, 256, 128, 65536), "multi": (5, 5, 256, 128, 65536)}
    timing = []
    res["timing"] = timing
    for mode in ("eager", "compile"):
        fn = clsa_loss
        if mode == "compile":
            try:
                fn = torch.compile(clsa_loss, dynamic=False)
            except Exception as e:  # noqa: BLE001
                res["errors"].append("torch.compile: " + repr(e))
                continue
        for sname, shape in shapes.items():
            for bf16 in (False, True):
                name = f"{sname} {'bf16' if bf16 else 'fp32'} {mode}"
                if time.time() - t_start > budget:
                    print(f"{name}: skipped (time budget of {budget:.0f} s spent)")
                    timing.append({"name": name, "skipped": "time budget"})
                    continue
                try:
                    t0 = time.time()
                    ms, peak = bench(fn, shape, bf16, iters=10 if mode == "eager" else 8)
                    timing.append({"name": name, "ms": ms, "peak_extra_mb": peak, "wall_s": time.time() - t0})
                    print(f"torch {name:24s} {ms:8.3f} ms  peak +{peak:8.1f} MB  ({time.time() - t0:.1f} s incl. warm-up)")
                except Exception as e:  # noqa: BLE001
                    timing.append({"name": name, "error": repr(e)[:300]})
                    print(f"torch {name}: {e!r}"[:300])
                save()

    # ---- EMA over ResNet-50-sized parameters ----------------------------------------------
    try:
        shapes50 = None
        try:
            import torchvision  # noqa: F401
            from torchvision.models import resnet50
            shapes50 = [tuple(p.shape) for p in resnet50().parameters()]
        except Exception:  # noqa: BLE001
            # ResNet-50's 161 parameter tensors have a long tail of small ones; mimic that mix.
            shapes50 = [(64, 3, 7, 7)] + [(256,)] * 100 + [(512, 512, 3, 3)] * 8 + [(1024, 256)] * 20 + [(2048, 512)] * 4
        total = sum(int(torch.tensor(s).prod()) for s in shapes50)
        kp = [torch.randn(s, device=dev) for s in shapes50]
        qp = [torch.randn(s, device=dev) for s in shapes50]
        flat_k = torch.randn(total, device=dev)
        flat_q = torch.randn(total, device=dev)
        m = 0.999

        def t_ema(f, iters=20):
            for _ in range(3):
                f()
            torch.cuda.synchronize()
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            for _ in range(iters):
                f()
            b.record()
            b.synchronize()
            return a.elapsed_time(b) / iters

        def loop():
            for k, q in zip(kp, qp):
                k.mul_(m).add_(q, alpha=1 - m)

        ema = {
            "params": total,
            "tensors": len(shapes50),
            "foreach_lerp_ms": t_ema(lambda: torch._foreach_lerp_(kp, qp, 1 - m)),
            "loop_ms": t_ema(loop),
            "flat_lerp_ms": t_ema(lambda: flat_k.lerp_(flat_q, 1 - m)),
        }
        for k in ("foreach_lerp_ms", "loop_ms", "flat_lerp_ms"):
            ema[k.replace("_ms", "_gbps")] = 12 * total / (ema[k] * 1e-3) / 1e9
        res["ema"] = ema
        print("torch EMA:", json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in ema.items()}))
    except Exception as e:  # noqa: BLE001
        res["errors"].append("ema: " + repr(e))
        traceback.print_exc()

    # ---- ratios ours / torch --------------------------------------------------------------
    try:
        ours = {t["name"]: t for t in (meta or {}).get("timing", []) if "ms" in t}
        tt = {t["name"]: t for t in timing if "ms" in t}
        ratios = {}
        for sname in ("single", "multi"):
            for dt in ("fp32", "bf16"):
                o = ours.get(f"head {sname} {dt}")
                for mode in ("eager", "compile"):
                    t = tt.get(f"{sname} {dt} {mode}")
                    if o and t:
                        ratios[f"{sname} {dt} vs {mode}"] = o["ms"] / t["ms"]
        o = ours.get("ema 25.6M")
        if o and "ema" in res:
            ratios["ema vs foreach_lerp"] = o["ms"] / res["ema"]["foreach_lerp_ms"]
            ratios["ema vs flat lerp"] = o["ms"] / res["ema"]["flat_lerp_ms"]
        res["ratios_ours_over_torch"] = ratios
        for k, v in ratios.items():
            print(f"ours/torch {k:28s} {v:7.3f}")
    except Exception as e:  # noqa: BLE001
        res["errors"].append("ratios: " + repr(e))
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
