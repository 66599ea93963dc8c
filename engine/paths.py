"""Where things live: shipped resources, the user's data folder and the encoder cache."""
from __future__ import annotations

import os
import sys
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[1]


def resources_dir() -> Path:
    """Shipped files: `$CLADMOP_RESOURCES`, else the source tree, else the installed share dir."""
    env = os.environ.get("CLADMOP_RESOURCES")
    if env:
        return Path(env)
    for candidate in (_REPO_ROOT / "resources", Path(sys.prefix) / "share" / "cladmop" / "resources"):
        if candidate.is_dir():
            return candidate
    return _REPO_ROOT / "resources"


def user_data_dir() -> Path:
    """Per-user state (compound library, model store, settings): `$CLADMOP_HOME` or ~/.cladmop."""
    return Path(os.environ.get("CLADMOP_HOME") or Path.home() / ".cladmop")


def cache_dir() -> Path:
    """Encoder-state cache: `$CLADMOP_CACHE` or <user data>/cache."""
    return Path(os.environ.get("CLADMOP_CACHE") or user_data_dir() / "cache")


def shared_data_dir() -> Path | None:
    """Development data beside the clone (`../shared/data`), or `$CLADMOP_SHARED_DATA`; None if absent."""
    env = os.environ.get("CLADMOP_SHARED_DATA")
    p = Path(env) if env else _REPO_ROOT.parent / "shared" / "data"
    return p if p.is_dir() else None
