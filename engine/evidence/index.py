"""The learning index: the labelled trials a model learned from, kept compact and without criteria text.

Similar past trials, novelty and outcome history are all read from it. It lives in the model folder
(`evidence/`, checksummed by model.json like the weights) because it describes that model's learning
data, in that model's language model. It holds NCT ids, outcomes, phases, years, drug and condition
names, ICD-10 chapters, criteria counts and lengths, and the whole-text embedding
(engine/features/document.py): nothing from which a record's criteria could be read back.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from engine.errors import ModelError
from engine.features.document import DOCUMENT

FOLDER = "evidence"
ARRAYS = "learning_index.safetensors"
TABLE = "learning_index.json"


@dataclass
class LearningIndex:
    nct_ids: list[str]
    labels: np.ndarray  # (n,) 1 = success
    phases: list[str]  # "I", "I/II", ...
    start_years: np.ndarray  # (n,) 0 = unknown
    completion_years: np.ndarray  # (n,) 0 = unknown
    drugs: list[list[str]]  # lower-cased names, placebo left out
    conditions: list[list[str]]  # lower-cased names
    chapters: list[list[int]]  # ICD-10-CM chapters of the resolved conditions
    n_items: np.ndarray  # (n,) active criteria items
    text_chars: np.ndarray  # (n,) characters of criteria text
    embeddings: np.ndarray  # (n, H) L2-normalised whole-text embeddings
    backbone: str = ""
    embedding: str = DOCUMENT  # their kind (engine/features/document.py); indexes before v4: "document"

    def __len__(self) -> int:
        return len(self.nct_ids)

    @cached_property
    def name_postings(self):
        """(drug, condition) NamePostings, built on the first search for similar trials."""
        from engine.evidence.similar import NamePostings

        return NamePostings(self.drugs), NamePostings(self.conditions)

    @cached_property
    def learned_chapters(self) -> frozenset[int]:
        """Every ICD-10-CM chapter a learning trial had (novelty asks it of every prediction)."""
        return frozenset(c for chapters in self.chapters for c in chapters)

    def learned_range(self, what: str, quantiles: tuple[float, float]) -> tuple[float, float]:
        """The `quantiles` of the learning trials' `what` ("n_items" or "text_chars"), computed once."""
        if (what, quantiles) not in self._ranges:
            low, high = np.quantile(getattr(self, what), quantiles)
            self._ranges[what, quantiles] = (float(low), float(high))
        return self._ranges[what, quantiles]

    @cached_property
    def _ranges(self) -> dict:
        return {}

    @property
    def nearest_similarity(self) -> np.ndarray:
        """(n,) each learning trial's cosine similarity to its nearest other learning trial: what a
        typical trial's nearest neighbour looks like, against which a new trial is judged."""
        sims = self.embeddings @ self.embeddings.T
        np.fill_diagonal(sims, -np.inf)
        return sims.max(axis=1)

    def save(self, model_folder: Path) -> None:
        """Both files written whole or not at all (engine/atomic.py)."""
        from safetensors.numpy import save

        from engine.atomic import atomic_file, atomic_write_text

        folder = Path(model_folder) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"labels": self.labels.astype(np.int8), "start_years": self.start_years.astype(np.int16),
                  "completion_years": self.completion_years.astype(np.int16),
                  "n_items": self.n_items.astype(np.int32), "text_chars": self.text_chars.astype(np.int32),
                  "embeddings": self.embeddings.astype(np.float16)}
        with atomic_file(folder / ARRAYS) as f:
            f.write(save(arrays))
        atomic_write_text(folder / TABLE, json.dumps(
            {"backbone": self.backbone, "embedding": self.embedding, "nct_ids": self.nct_ids, "phases": self.phases, "drugs": self.drugs,
             "conditions": self.conditions, "chapters": self.chapters}))

    @classmethod
    def load(cls, model_folder: Path) -> "LearningIndex | None":
        """The model's learning index; None when the folder has none (an older or an analyst's model)."""
        from safetensors.numpy import load_file

        folder = Path(model_folder) / FOLDER
        if not (folder / ARRAYS).is_file() or not (folder / TABLE).is_file():
            return None
        try:
            arrays, table = load_file(str(folder / ARRAYS)), json.loads((folder / TABLE).read_text())
            index = cls(table["nct_ids"], arrays["labels"].astype(np.int64), table["phases"],
                        arrays["start_years"].astype(int), arrays["completion_years"].astype(int),
                        table["drugs"], table["conditions"], table["chapters"], arrays["n_items"],
                        arrays["text_chars"], arrays["embeddings"].astype(np.float32), table.get("backbone", ""),
                        table.get("embedding", DOCUMENT))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ModelError(f"{folder}: unreadable learning index ({e})") from e
        if len({len(index.nct_ids), len(index.labels), len(index.embeddings), len(index.drugs)}) != 1:
            raise ModelError(f"{folder}: the learning index's tables disagree in length")
        return index


def build_index(trials, labels, phases: list[str], years: list[tuple[int | None, int | None]],
                embeddings: np.ndarray, backbone: str, embedding: str = DOCUMENT) -> LearningIndex:
    """The index of *resolved* labelled `trials` (their drugs and conditions looked up)."""
    from engine.evidence.history import trial_names
    from engine.lookups.icd_chapters import icd10_chapter

    names = [trial_names(t) for t in trials]
    chapters = [sorted({c for cond in t.conditions for code in cond.icd10
                        if (c := icd10_chapter(code)) is not None}) for t in trials]
    return LearningIndex(
        nct_ids=[t.nct_id for t in trials], labels=np.asarray(labels, dtype=np.int64), phases=list(phases),
        start_years=np.array([s or 0 for s, _ in years]), completion_years=np.array([c or 0 for _, c in years]),
        drugs=[sorted(d) for d, _ in names], conditions=[sorted(c) for _, c in names], chapters=chapters,
        n_items=np.array([len(t.active_criteria) for t in trials]),
        text_chars=np.array([len(criteria_text(t)) for t in trials]),
        embeddings=np.asarray(embeddings, dtype=np.float32), backbone=backbone, embedding=embedding)


def criteria_text(trial) -> str:
    """The criteria text a trial's length is measured on: the record's, else its items joined."""
    return trial.criteria_text or "\n".join(c.text for c in trial.active_criteria)
