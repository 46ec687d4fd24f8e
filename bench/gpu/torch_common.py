"""What the PyTorch baselines (torch_head.py, torch_step.py) share: an atomic JSON writer and the
import of torch with a usable CUDA device, recording why not when there is none."""
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
