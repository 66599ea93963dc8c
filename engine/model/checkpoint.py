"""Model folders on disk: safetensors weights + JSON, checksummed, never unpickled.

    <model>/model.json            config, phases (base rate, temperature, metrics), sha256 of every file
    <model>/base.safetensors      the pre-trained network (DM branch, projections, head init)
    <model>/adapters/<phase>/     peft LoRA adapter + head, `save_pretrained` (safetensors)

A file whose checksum does not match model.json is refused (tampering or a torn copy).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.atomic import atomic_write_text
from engine.errors import ModelError
from engine.model.config import ModelConfig

MODEL_JSON = "model.json"
BASE_WEIGHTS = "base.safetensors"
FORMAT = "cladmop-model"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class PhaseInfo:
    base_rate: float  # success prevalence of the phase's training data
    temperature: float = 1.0  # calibration: probability = sigmoid(logit / temperature + bias)
    bias: float = 0.0
    metrics: dict = field(default_factory=dict)
    trained_on: str = ""


@dataclass
class ModelManifest:
    config: ModelConfig
    phases: dict[str, PhaseInfo] = field(default_factory=dict)
    name: str = "cladmop"
    description: str = ""
    checksums: dict[str, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT, "version": 1, "name": self.name, "description": self.description,
            "config": json.loads(self.config.to_json()),
            "phases": {k: vars(v) for k, v in self.phases.items()},
            "checksums": self.checksums, "extra": self.extra,
        }, indent=2, sort_keys=True)

    @classmethod
    def read(cls, folder: Path) -> "ModelManifest":
        path = Path(folder) / MODEL_JSON
        if not path.is_file():
            raise ModelError(f"{folder}: not a CLaDMoP model folder (no {MODEL_JSON})")
        try:
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT!r}")
            return cls(config=ModelConfig.from_dict(data["config"]),
                       phases={k: PhaseInfo(**v) for k, v in data.get("phases", {}).items()},
                       name=data.get("name", "cladmop"), description=data.get("description", ""),
                       checksums=data.get("checksums", {}), extra=data.get("extra", {}))
        except (ValueError, KeyError, TypeError) as e:
            raise ModelError(f"{path}: unreadable model description ({e})") from e

    def write(self, folder: Path) -> None:
        """Record the checksum of every weight file under `folder`, then write model.json atomically."""
        folder = Path(folder)
        self.checksums = {str(p.relative_to(folder)): sha256_file(p)
                          for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MODEL_JSON
                          and not any(part.startswith(".") for part in p.relative_to(folder).parts)}
        atomic_write_text(folder / MODEL_JSON, self.to_json())

    def verify(self, folder: Path, files: list[str] | None = None) -> None:
        folder = Path(folder)
        for rel in files if files is not None else list(self.checksums):
            path = folder / rel
            if rel not in self.checksums:
                raise ModelError(f"{path}: not listed in {MODEL_JSON}; refusing an unverified file")
            if not path.is_file():
                raise ModelError(f"{path}: missing (listed in {MODEL_JSON})")
            if sha256_file(path) != self.checksums[rel]:
                raise ModelError(f"{path}: checksum mismatch; the file was changed or damaged")


def save_state(module, path: Path) -> None:
    """Save a module's tensors to safetensors atomically."""
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    data = save(state)
    from engine.atomic import atomic_write_bytes

    atomic_write_bytes(Path(path), data)


def load_state(module, path: Path, strict: bool = True) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise ModelError(f"{path}: unreadable weights ({e})") from e
    try:
        module.load_state_dict(state, strict=strict)
    except RuntimeError as e:
        raise ModelError(f"{path}: weights do not fit the model config ({str(e).splitlines()[0]})") from e


def build_model(config: ModelConfig):
    from engine.model.cladmop import CLaDMoP

    return CLaDMoP(config)


def load_base(folder: Path, verify: bool = True):
    """The pre-trained network of a model folder (no adapter), on the CPU, in eval mode."""
    manifest = ModelManifest.read(folder)
    if verify:
        manifest.verify(folder, [BASE_WEIGHTS])
    model = build_model(manifest.config)
    load_state(model, Path(folder) / BASE_WEIGHTS)
    return model.eval(), manifest
