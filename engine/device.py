"""Which torch device to run on, and the mixed precision that goes with it.

One place decides so the CLI (`--device auto|cpu|cuda`), the GUI and training agree: CUDA when asked
for or available, the CPU otherwise; bf16 autocast on CUDA where supported (fp16 on older cards),
plain fp32 on the CPU (CPU autocast is slower than fp32 for these small models).
"""
from __future__ import annotations

import contextlib

from engine.errors import CladmopError


def resolve_device(choice: str = "auto"):
    """`"auto"` -> CUDA when available else CPU; `"cpu"`; `"cuda"` / `"cuda:N"` (an error without CUDA).
    Under torchrun/accelerate, "auto" and "cuda" are each process's own GPU (engine/distributed.py)."""
    import torch

    from engine.distributed import local_device

    if isinstance(choice, torch.device):
        return choice
    name = local_device((choice or "auto").strip().lower())  # under a launcher: this process's own GPU
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            built = "without CUDA" if torch.version.cuda is None else f"with CUDA {torch.version.cuda}"
            raise CladmopError(
                f"device '{choice}' was requested but no CUDA GPU is usable here "
                f"(torch {torch.__version__} built {built}); use --device cpu or auto")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise CladmopError(f"device '{choice}': only {torch.cuda.device_count()} CUDA device(s) present")
        return dev
    raise CladmopError(f"unknown device '{choice}': use auto, cpu, cuda or cuda:N")


def autocast_dtype(device):
    """The half-precision type for inference on `device`, or None for fp32 (the CPU)."""
    import torch

    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device):
    """A context manager running the block in the device's mixed precision (no-op on the CPU)."""
    import torch

    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def training_autocast(device):
    """bf16 autocast for a training step on a CUDA card that supports it; fp32 elsewhere (fp16 would
    need loss scaling, and CPU autocast is slower). The backward pass runs outside it, as torch advises."""
    import torch

    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
