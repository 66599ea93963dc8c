"""Where the drug reference tables are: a list of folders the user chooses (kept in lookups.json).

Resolution order: `$CLADMOP_LOOKUP_FOLDERS` (os.pathsep-separated), then `user_data_dir()/lookups.json`
("reference_folders"), then the development default `shared_data_dir()/lookups` when it exists.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from engine.records.errors import RecordError

SETTINGS_FILE = "lookups.json"


def settings_path() -> Path:
    from engine.paths import user_data_dir

    return user_data_dir() / SETTINGS_FILE


def _read_settings(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(path, f"not a readable JSON settings file ({exc})") from None
    if not isinstance(data, dict):
        raise RecordError(path, "must hold a JSON object")
    return data


def reference_folders() -> list[Path]:
    env = os.environ.get("CLADMOP_LOOKUP_FOLDERS")
    if env is not None:
        return [Path(p) for p in env.split(os.pathsep) if p.strip()]
    configured = _read_settings(settings_path()).get("reference_folders")
    if configured is not None:
        if not isinstance(configured, list) or not all(isinstance(p, str) for p in configured):
            raise RecordError(settings_path(), "'reference_folders' must be a list of folder paths")
        return [Path(p) for p in configured]
    from engine.paths import shared_data_dir

    shared = shared_data_dir()
    default = shared / "lookups" if shared is not None else None
    return [default] if default is not None and default.is_dir() else []


def set_reference_folders(folders: list[Path | str]) -> None:
    """Save the user's choice (other keys of the file are kept); written atomically."""
    from engine.atomic import atomic_write_text

    path = settings_path()
    data = _read_settings(path)
    data["reference_folders"] = [str(Path(f)) for f in folders]
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
