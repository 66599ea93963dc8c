"""A phase's LoRA adapter merged into its own copy of the network, read without peft.

Fine-tuning saves adapters with peft (`engine/training/finetune.py`: LoRA on the attention projections,
the head saved whole). Serving needs none of peft's machinery: W' = W + (alpha / r) B A for every adapted
projection and the adapter's head in place of the base's give the same function, one plain module per
phase. No adapter switching at run time, no LoRA branches in the forward, and no `import peft` (about
7 s of a cold start on a 2-core machine).

    <adapter>/adapter_config.json     r, lora_alpha, target_modules, modules_to_save (peft's format)
    <adapter>/adapter_model.safetensors   "base_model.model.<module>.lora_A.weight", ... and the head
"""
from __future__ import annotations

import copy
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
    """A copy of `base` (in eval mode) with the adapter in `adapter_dir` merged in; `base` is untouched."""
    adapter_dir = Path(adapter_dir)
    config = _adapter_config(adapter_dir)
    weights = _adapter_weights(adapter_dir)
    model = copy.deepcopy(base).eval()
    modules = dict(model.named_modules())
    scale = config["lora_alpha"] / (math.sqrt(config["r"]) if config.get("use_rslora") else config["r"])
    plain: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for key, tensor in weights.items():
            name = key.removeprefix(_PREFIX)
            if ".lora_B." in name:
                continue
            if ".lora_A." in name:
                _merge(modules, adapter_dir, name.split(".lora_A.")[0], tensor,
                       weights.get(key.replace(".lora_A.", ".lora_B.")), scale)
            else:
                plain[name] = tensor
        _load_plain(model, adapter_dir, plain)
    return model


def _merge(modules: dict, adapter_dir: Path, name: str, a: torch.Tensor, b: torch.Tensor | None, scale: float):
    layer = modules.get(name)
    if not isinstance(layer, nn.Linear) or b is None or b.shape[1] != a.shape[0] or \
            (b.shape[0], a.shape[1]) != tuple(layer.weight.shape):
        raise ModelError(f"{adapter_dir}: the adapter's LoRA weights for '{name}' do not fit this model")
    layer.weight += (b.to(layer.weight.dtype) @ a.to(layer.weight.dtype)) * scale


def _load_plain(model: nn.Module, adapter_dir: Path, plain: dict[str, torch.Tensor]) -> None:
    """The adapter's saved modules (the head) replace the base's; every tensor must have its place."""
    state = model.state_dict()
    for name, tensor in plain.items():
        if name not in state or state[name].shape != tensor.shape:
            raise ModelError(f"{adapter_dir}: the adapter holds '{name}', which this model does not have")
        state[name].copy_(tensor)


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
