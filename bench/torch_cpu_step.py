#!/usr/bin/env python3
"""PyTorch CPU twin of clsa's training step, driven line by line by bench/cpu_step.js so that the
two are timed alternately in one run (one clsa step, one PyTorch step, ...) under the same load.

The model and step are bench/gpu/torch_common.py's clsa_twin (resnet-mini: 3 stages of depth 1,
split BN with 8 groups, MLP head, EMA key encoder on a shuffled batch, the reference CLSA loss with
materialised logits, SGD momentum 0.9 + weight decay, enqueue) on the CPU with a fixed thread count.

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout.
  {"cmd": "hello", "threads": 2}                         -> versions, threads in effect
  {"cmd": "setup", "width", "batch", "channels", "key", "weak": [..], "strong": [..], "queue", "autocast": false}
                                                         autocast: the step under torch.autocast("cpu", bfloat16)
  {"cmd": "step"}                                        -> {"seconds", "phases": {...}, "loss"}
  {"cmd": "sgemm", "size": 2048, "reps": 3}              -> torch.mm and numpy GFLOP/s (best of reps)
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu"))


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    try:
        import numpy as np
        import torch
    except Exception as e:  # noqa: BLE001
        reply({"error": f"import torch: {e}"})
        return 0
    from torch_common import clsa_twin

    _, make, step = clsa_twin(torch)
    state = {}
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg["cmd"]
        if cmd == "hello":
            torch.set_num_threads(int(msg["threads"]))
            reply({"torch": torch.__version__, "numpy": np.__version__, "threads": torch.get_num_threads(),
                   "mkldnn": bool(torch.backends.mkldnn.is_available()), "python": sys.version.split()[0]})
        elif cmd == "setup":
            torch.manual_seed(1)
            state.clear()
            dev = torch.device("cpu")
            q, kenc, queue, opt = make(dev, int(msg["queue"]), width=int(msg["width"]), stages=3, depth=1,
                                       in_ch=int(msg["channels"]))
            b, c = int(msg["batch"]), int(msg["channels"])
            img = lambda s: torch.randn(b, c, s, s)  # noqa: E731
            amp = bool(msg.get("autocast", False))
            if amp and not hasattr(torch, "autocast"):
                reply({"error": f"torch {torch.__version__} has no torch.autocast"})
                continue
            state.update(amp=amp, q=q, kenc=kenc, queue=queue, opt=opt, ptr=0, key=img(int(msg["key"])),
                         weak=[img(s) for s in msg["weak"]], strong=[img(s) for s in msg["strong"]])
            reply({"ok": True, "parameters": sum(p.numel() for p in q.parameters())})
        elif cmd == "step":
            s = state
            phases, last = {}, [time.perf_counter()]
            t0, c0 = last[0], time.process_time()

            def mark(name):
                now = time.perf_counter()
                phases[name] = now - last[0]
                last[0] = now

            # autocast covers the whole step: the backward runs in the dtypes the forward recorded.
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=s["amp"]):
                loss, s["ptr"] = step(s["q"], s["kenc"], s["queue"], s["ptr"], s["opt"], s["key"], s["weak"], s["strong"],
                                      mark=mark)
            reply({"seconds": time.perf_counter() - t0, "cpuSeconds": time.process_time() - c0, "phases": phases, "loss": float(loss)})
        elif cmd == "sgemm":
            n, reps = int(msg.get("size", 2048)), int(msg.get("reps", 3))
            a, b = torch.randn(n, n), torch.randn(n, n)
            an, bn = a.numpy(), b.numpy()
            out = {}
            for name, fn in [("torch", lambda: torch.mm(a, b)), ("numpy", lambda: an @ bn)]:
                fn()
                best = float("inf")
                for _ in range(reps):
                    t = time.perf_counter()
                    fn()
                    best = min(best, time.perf_counter() - t)
                out[name] = 2.0 * n ** 3 / best / 1e9
            reply(out)
        elif cmd == "quit":
            break
        else:
            reply({"error": f"unknown command {cmd}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
