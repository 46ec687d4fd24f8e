#!/usr/bin/env python3
"""The numpy/OpenBLAS float32 baseline of the CLSA head, timed for bench/run.js.

Straightforward form of the same objective (docs/objective.md): normalise, materialise the
logits L = Q X^T, softmax per row, the CE and DDM terms, the gradient coefficients, then
G = coef X and the normalisation backward. Reads the inputs bench/run.js wrote (raw float32
files + meta.json in the directory given as argv[1]) and prints one JSON object: the median
time, the losses (run.js compares them with the fused kernel's on the same data) and which
BLAS kernel ran.
"""
import ctypes
import glob
import json
import os
import sys
import time

import numpy as np


def blas_info():
    info = {"numpy": np.__version__}
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = cfg.get("name")
        info["blasVersion"] = cfg.get("version")
    except Exception as e:  # pragma: no cover - depends on the numpy build
        info["blas"] = "unknown (%s)" % e
    # The runtime core OpenBLAS picked (DYNAMIC_ARCH builds choose at load time).
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "*openblas*"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
                if hasattr(lib, name):
                    f = getattr(lib, name)
                    f.restype = ctypes.c_char_p
                    info["blasCore"] = f().decode()
                    break
            for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads"):
                if hasattr(lib, name):
                    info["blasThreads"] = int(getattr(lib, name)())
                    break
        except OSError:
            pass
    if "blasCore" not in info:
        info["blasCore"] = "unknown"
    info["env"] = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS") if k in os.environ}
    return info


def head(weak, strong, keys, queue, tau, tau2, alpha, normalize):
    W, N, D = weak.shape
    S = strong.shape[0]

    def unit(z):
        n = np.sqrt((z * z).sum(-1, keepdims=True)) if normalize else np.ones(z.shape[:-1] + (1,), np.float32)
        return z / n, n

    qw, nw = unit(weak.reshape(W * N, D))
    qs, ns = unit(strong.reshape(S * N, D))
    kn, _ = unit(keys)
    X = np.concatenate([kn, queue])  # [C, D]
    C = X.shape[0]
    Q = np.concatenate([qw, qs])
    L = Q @ X.T  # [M, C] float32 logits
    WN = W * N
    idx = np.tile(np.arange(N), W)

    def softmax(z, t):
        # softmax(z / t) row-wise, in place in a fresh array; returns (p, lse)
        p = z / t
        m = p.max(1, keepdims=True)
        np.subtract(p, m, out=p)
        np.exp(p, out=p)
        s = p.sum(1, keepdims=True)
        p /= s
        return p, (m + np.log(s))[:, 0]

    Lw = L[:WN]
    own = Lw[np.arange(WN), idx]
    acc = float((own >= Lw.max(1)).mean())
    pw, lse_w = softmax(Lw, tau)
    nce = float((lse_w - own / tau).sum() / N)
    ddm = 0.0
    coef = np.empty_like(L)
    if S > 0:
        pw2 = pw if tau2 == tau else softmax(Lw, tau2)[0]
        sum_pw = pw2.reshape(W, N, C).sum(0)  # [N, C]: sum over weak crops of p_tau2
        Ls = L[WN:].reshape(S, N, C)
        ps, lse_s = softmax(L[WN:], tau2)
        cross = np.einsum("snc,nc->sn", Ls, sum_pw).reshape(-1)
        ddm = float((W * lse_s - cross / tau2).sum() / N)
        ps3 = ps.reshape(S, N, C)
        ps3 *= W
        ps3 -= sum_pw
        ps3 *= alpha / (tau2 * N)
        coef[WN:] = ps
    pw /= tau * N
    coef[:WN] = pw
    coef[np.arange(WN), idx] -= 1.0 / (tau * N)
    G = coef @ X  # [M, D]
    if normalize:
        Qn = Q
        norms = np.concatenate([nw, ns])
        G = (G - Qn * (Qn * G).sum(1, keepdims=True)) / norms
    return nce + alpha * ddm, nce, ddm, acc, G[:WN].reshape(W, N, D), G[WN:].reshape(S, N, D)


def main():
    src = sys.argv[1]
    meta = json.load(open(os.path.join(src, "meta.json")))
    n, d, k, w, s = (meta[x] for x in ("n", "d", "k", "w", "s"))

    def load(name, shape):
        return np.fromfile(os.path.join(src, name + ".f32"), dtype=np.float32).reshape(shape)

    weak = load("weak", (w, n, d))
    strong = load("strong", (s, n, d)) if s > 0 else np.zeros((0, n, d), np.float32)
    keys = load("keys", (n, d))
    queue = load("queue", (k, d))
    args = (weak, strong, keys, queue, np.float32(meta["tau"]), np.float32(meta["tau2"]), np.float32(meta["alpha"]),
            meta["normalize"])
    out = head(*args)  # warm-up (page cache, BLAS threads)
    times = []
    cpu0 = time.process_time()  # all threads of this process (OpenBLAS's included)
    for _ in range(meta.get("reps", 5)):
        t = time.perf_counter()
        out = head(*args)
        times.append((time.perf_counter() - t) * 1e3)
    cpu_ms = (time.process_time() - cpu0) * 1e3 / len(times)
    times.sort()
    print(json.dumps({
        "ms": times[len(times) // 2], "msMin": times[0], "cpuMs": cpu_ms, "times": times,
        "loss": float(out[0]), "nceLoss": float(out[1]), "ddmLoss": float(out[2]), "accuracy": float(out[3]),
        **blas_info(),
    }))


if __name__ == "__main__":
    main()
