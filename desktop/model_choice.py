"""Which model folder and device the application uses, remembered in QSettings, and what devices
this machine offers (asked of torch on a worker: importing it takes seconds)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings

MODEL_KEY = "model/folder"
DEVICE_KEY = "model/device"
RECENT_KEY = "model/recent"
MAX_RECENT_MODELS = 10
DEVICES = ("auto", "cpu", "cuda")


def _list(value) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value or []]


def saved_model(settings: QSettings) -> str | None:
    """The model folder chosen last (None: the shipped default)."""
    value = settings.value(MODEL_KEY, "", type=str)
    return value or None


def saved_device(settings: QSettings) -> str:
    value = settings.value(DEVICE_KEY, "auto", type=str)
    return value if value in DEVICES else "auto"


def recent_models(settings: QSettings) -> list[str]:
    return _list(settings.value(RECENT_KEY, []))


def remember_model(settings: QSettings, folder: str | Path | None, device: str) -> None:
    """Store the choice; a folder goes on top of the recent models."""
    settings.setValue(MODEL_KEY, str(folder) if folder else "")
    settings.setValue(DEVICE_KEY, device if device in DEVICES else "auto")
    if folder:
        folder = str(Path(folder).expanduser().resolve())
        recent = [folder] + [f for f in recent_models(settings) if f != folder]
        settings.setValue(RECENT_KEY, recent[:MAX_RECENT_MODELS])


def forget_model(settings: QSettings, folder: str) -> None:
    settings.setValue(RECENT_KEY, [f for f in recent_models(settings) if f != folder])


@dataclass
class DeviceInfo:
    cuda: bool
    gpu_names: list[str]
    torch_version: str
    cuda_version: str | None

    def label(self, device: str) -> str:
        if device == "cpu":
            return "CPU"
        if device == "cuda":
            return f"CUDA: {self.gpu_names[0]}" if self.gpu_names else "CUDA (no GPU found)"
        return f"Auto — {'CUDA: ' + self.gpu_names[0] if self.cuda and self.gpu_names else 'CPU (no CUDA GPU)'}"


def detect_devices() -> DeviceInfo:
    """torch's view of this machine (run on a worker)."""
    import torch

    cuda = bool(torch.cuda.is_available())
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
    return DeviceInfo(cuda, names, torch.__version__, torch.version.cuda)
