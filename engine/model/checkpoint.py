"""Model folders on disk: safetensors weights + JSON, checksummed, never unpickled.

    <model>/model.json            config, phases (base rate, temperature, metrics), sha256 of every file
    <model>/base.safetensors      the pre-trained network (DM branch, projections, head init)
    <model>/adapters/<phase>/     peft LoRA adapter + head, `save_pretrained` (safetensors)

A file whose checksum does not match model.json is refused (tampering or a torn copy).

A new adapter and model.json cannot be swapped in with one rename, so fine-tuning saves in three steps:
the adapter into `adapters/.<phase>.staged/`, then model.json listing the staged files' checksums, then
the staged folder over `adapters/<phase>/`. A crash before model.json leaves the old, consistent pair
(the staged folder is ignored and overwritten next time); a crash after it is finished by `verify`,
which moves a staged folder whose files match model.json into place (roll forward).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from engine.atomic import atomic_file, atomic_write_text, replace_directory
from engine.errors import ModelError
from engine.model.config import ModelConfig

MODEL_JSON = "model.json"
BASE_WEIGHTS = "base.safetensors"
ADAPTERS = "adapters"
#: the files of one phase adapter (peft's `save_pretrained` names)
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
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

    def write(self, folder: Path, staged_phase: str | None = None) -> None:
        """Record the checksum of every weight file under `folder`, then write model.json atomically.
        With `staged_phase`, that phase's adapter is listed from its staged folder (see the module doc)."""
        folder = Path(folder)
        self.checksums = _checksums(folder)
        if staged_phase is not None:
            rel = f"{ADAPTERS}/{staged_phase}/"
            self.checksums = {k: v for k, v in self.checksums.items() if not k.startswith(rel)}
            self.checksums.update({rel + k: v for k, v in _checksums(staged_folder(folder, staged_phase)).items()})
        atomic_write_text(folder / MODEL_JSON, self.to_json())

    def verify(self, folder: Path, files: list[str] | None = None) -> None:
        folder = Path(folder)
        try:
            self._verify(folder, files)
        except ModelError:
            if not self._finish_staged_saves(folder):
                raise
            self._verify(folder, files)

    def _finish_staged_saves(self, folder: Path) -> bool:
        """Roll forward an adapter save that a crash interrupted after model.json was written."""
        finished = False
        for staged in sorted((folder / ADAPTERS).glob(".*.staged")):
            rel = f"{ADAPTERS}/{staged.name[1:-len('.staged')]}/"
            listed = {k[len(rel):]: v for k, v in self.checksums.items() if k.startswith(rel)}
            if listed and listed == _checksums(staged):
                replace_directory(staged, folder / rel)
                finished = True
        return finished

    def _verify(self, folder: Path, files: list[str] | None) -> None:
        refuse_links(folder)
        for rel in files if files is not None else list(self.checksums):
            path = inside(folder, rel)
            if rel not in self.checksums:
                raise ModelError(f"{path}: not listed in {MODEL_JSON}; refusing an unverified file")
            if not path.is_file():
                raise ModelError(f"{path}: missing (listed in {MODEL_JSON})")
            if sha256_file(path) != self.checksums[rel]:
                raise ModelError(f"{path}: checksum mismatch; the file was changed or damaged")


def inside(folder: Path, rel: str) -> Path:
    """`folder / rel` when `rel` names a place inside `folder`; ModelError for an absolute path or one
    that climbs out ("../../etc/passwd" in a tampered model.json must never be read, let alone trusted)."""
    path = Path(folder) / rel
    if Path(rel).is_absolute() or ".." in Path(rel).parts or not path.resolve().is_relative_to(Path(folder).resolve()):
        raise ModelError(f"{folder / MODEL_JSON}: lists '{rel}', which lies outside the model folder; refused")
    return path


def refuse_links(folder: Path) -> None:
    """ModelError naming the first symbolic link in the model folder: a checksum of a link's target
    says nothing about what the folder ships (a README linked to /etc/passwd), so none is accepted."""
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            if os.path.islink(os.path.join(root, name)):
                raise ModelError(f"{os.path.join(root, name)}: a symbolic link in a model folder; refused "
                                 f"(copy the file itself into the folder)")


def copy_model(source: Path, target: Path) -> None:
    """Every file `source`'s model.json lists, each swapped in whole, and model.json last (an older one
    removed first): a copy killed at any moment leaves no model.json, or a folder that verifies. (Copying
    only the weights left a listed training_summary.json missing: a killed fine-tune failed verify.)"""
    source, target = Path(source), Path(target)
    manifest = ModelManifest.read(source)
    (target / MODEL_JSON).unlink(missing_ok=True)
    for rel in [*manifest.checksums, MODEL_JSON]:
        with open(inside(source, rel), "rb") as original, atomic_file(target / rel) as copy:
            shutil.copyfileobj(original, copy, 1 << 20)


def staged_folder(folder: Path, phase: str) -> Path:
    return Path(folder) / ADAPTERS / f".{phase}.staged"


#: a training run's resumable state, inside the folder it trains in (engine/training/loop.py)
RESUME = ".resume"
RESUME_PROGRESS = "progress.json"


def training_folder(folder: Path, phase: str) -> Path:
    """Where a fine-tuning run of `phase` works (its resumable state in `RESUME`) until it is done."""
    return Path(folder) / ADAPTERS / f".{phase.upper()}.training"


def resume_progress(folder: Path, phase: str) -> Path:
    """The progress file of an interrupted fine-tuning run of `phase` in model `folder`."""
    return training_folder(folder, phase) / RESUME / RESUME_PROGRESS


def resumable_runs(folder: Path) -> list[tuple[str, Path]]:
    """(phase, progress file) of every interrupted fine-tuning run in model `folder`."""
    found = sorted(Path(folder).glob(f"{ADAPTERS}/.*.training/{RESUME}/{RESUME_PROGRESS}"))
    return [(p.parents[1].name[1:].rsplit(".training", 1)[0], p) for p in found]


def commit_staged_adapter(folder: Path, phase: str, manifest: "ModelManifest") -> None:
    """Steps 2 and 3 of an adapter save (module doc): model.json listing the staged adapter, then the swap."""
    manifest.write(folder, staged_phase=phase)
    staged = staged_folder(folder, phase)
    if staged.is_dir():  # (a reader's verify may have rolled it forward already)
        replace_directory(staged, Path(folder) / ADAPTERS / phase)


def _checksums(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` but model.json and hidden (temporary, staged) ones."""
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(Path(root).rglob("*"))
            if p.is_file() and p.name != MODEL_JSON
            and not any(part.startswith(".") for part in p.relative_to(root).parts)}


def save_state(module, path: Path) -> None:
    """Save a module's tensors to safetensors atomically."""
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    data = save(state)
    from engine.atomic import atomic_write_bytes

    atomic_write_bytes(Path(path), data)


def readable_weights(path: Path) -> Path:
    """`path`, when it is a safetensors file (its header read, no tensor loaded); else ModelError naming
    it, so that a pickle or a damaged file in an adapter's place is never a loader's traceback."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as weights:
            weights.keys()
    except (SafetensorError, OSError) as e:
        raise ModelError(f"{path}: unreadable weights, not a safetensors file ({e})") from e
    return path


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
