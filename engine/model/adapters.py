"""The phases' LoRA adapters merged into the network's weights, read without peft.

Fine-tuning saves adapters with peft (`engine/training/finetune.py`: LoRA on the attention projections,
the head saved whole). Serving needs none of peft's machinery: W' = W + (alpha / r) B A for every adapted
projection and the adapter's head in place of the base's give the same function with plain modules: no
LoRA branches in the forward, and no `import peft` (about 7 s of a cold start on a 2-core machine).
Each phase keeps only the tensors it changes; switching phase swaps them in by reference.

    <adapter>/adapter_config.json     r, lora_alpha, target_modules, modules_to_save (peft's format)
    <adapter>/adapter_model.safetensors   "base_model.model.<module>.lora_A.weight", ... and the head
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn

from engine.errors import ModelError
from engine.model.checkpoint import ADAPTER_CONFIG, ADAPTER_WEIGHTS, readable_weights

_PREFIX = "base_model.model."
#: peft options that change the arithmetic below; an adapter using them is refused, not misread
_UNSUPPORTED = {"use_dora": False, "lora_bias": False, "fan_in_fan_out": False, "rank_pattern": {},
                "alpha_pattern": {}, "layer_replication": None}


def merged_model(base: nn.Module, adapter_dir: Path) -> nn.Module:
    """`base` itself (in eval mode) with the adapter in `adapter_dir` merged into it."""
    phases = PhaseWeights(base, {"only": adapter_dir})
    return phases.use("only")


class PhaseWeights:
    """One network serving every phase: each phase's merged weights are computed once and swapped in by
    reference (`use`), so no phase costs a copy of the network, and switching costs nothing."""

    def __init__(self, base: nn.Module, adapters: dict[str, Path]):
        self.model = base.eval()
        self._params = dict(base.named_parameters())
        self.weights = {phase: _merged_weights(self._params, Path(folder)) for phase, folder in adapters.items()}
        changed = {name for w in self.weights.values() for name in w}
        self._base = {name: self._params[name].data for name in changed}
        self.active: str | None = None

    def use(self, phase: str) -> nn.Module:
        """The network with `phase`'s weights in place (callers serialise: one phase at a time)."""
        if phase != self.active:
            own = self.weights[phase]
            for name, tensor in self._base.items():
                self._params[name].data = own.get(name, tensor)
            self.active = phase
        return self.model

    def to(self, device) -> "PhaseWeights":
        self.model.to(device)
        self._params = dict(self.model.named_parameters())
        self.weights = {p: {n: t.to(device) for n, t in w.items()} for p, w in self.weights.items()}
        self._base = {n: t.to(device) for n, t in self._base.items()}
        self.active = None
        return self


def _merged_weights(params: dict[str, nn.Parameter], adapter_dir: Path) -> dict[str, torch.Tensor]:
    """The parameters the adapter changes, merged: W + (alpha / r) B A for each adapted projection (none
    where B is still zero), and the adapter's saved modules (the head) whole."""
    config = _adapter_config(adapter_dir)
    saved = _adapter_weights(adapter_dir)
    scale = config["lora_alpha"] / (math.sqrt(config["r"]) if config.get("use_rslora") else config["r"])
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for key, tensor in saved.items():
            name = key.removeprefix(_PREFIX)
            if ".lora_A." in name:
                module = name.split(".lora_A.")[0]
                delta = _delta(params, adapter_dir, module, tensor, saved.get(key.replace(".lora_A.", ".lora_B.")))
                if delta.any():
                    out[f"{module}.weight"] = params[f"{module}.weight"].data + delta * scale
            elif ".lora_B." not in name:
                if name not in params or params[name].shape != tensor.shape:
                    raise ModelError(f"{adapter_dir}: the adapter holds '{name}', which this model does not have")
                out[name] = tensor.to(params[name].dtype)
    return out


def _delta(params: dict, adapter_dir: Path, module: str, a: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    weight = params.get(f"{module}.weight")
    if weight is None or b is None or b.shape[1] != a.shape[0] or (b.shape[0], a.shape[1]) != tuple(weight.shape):
        raise ModelError(f"{adapter_dir}: the adapter's LoRA weights for '{module}' do not fit this model")
    return b.to(weight.dtype) @ a.to(weight.dtype)


def _adapter_config(adapter_dir: Path) -> dict:
    path = adapter_dir / ADAPTER_CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ModelError(f"{path}: not a readable adapter configuration ({e})") from None
    if not isinstance(config, dict) or config.get("peft_type") != "LORA" or \
            not isinstance(config.get("r"), int) or config["r"] <= 0 or \
            not isinstance(config.get("lora_alpha"), (int, float)):
        raise ModelError(f"{path}: not a LoRA adapter configuration (peft_type LORA, r and lora_alpha)")
    for option, plain in _UNSUPPORTED.items():
        if config.get(option, plain) not in (plain, None, {}):
            raise ModelError(f"{path}: adapters with {option}={config[option]!r} are not supported")
    return config


def _adapter_weights(adapter_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    path = adapter_dir / ADAPTER_WEIGHTS
    if not path.is_file():
        raise ModelError(f"{path}: adapter weights missing ({ADAPTER_WEIGHTS})")
    readable_weights(path)  # a pickle in its place: a named ModelError
    return load_file(str(path))
