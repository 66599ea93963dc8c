"""`cladmop evaluate`: predictions of a model on labelled trials, scored the paper's way."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from engine.errors import CladmopError
from engine.tasks import TaskState
from engine.training.dataset import load_labelled
from engine.training.metrics import bootstrap_metrics


def evaluate_files(predictor, data: Sequence[str | Path], phase: str, labels_csv: Path | None = None,
                   bootstrap: int = 10, seed: int = 0, state: TaskState | None = None) -> dict:
    labelled, notes = load_labelled(data, labels_csv, phase=phase)
    if len(labelled) == 0:
        raise CladmopError(f"no labelled phase {phase} trials in {', '.join(map(str, data))}")
    preds = predictor.predict_many(labelled.trials, phase=phase, ablate=False, state=state)
    rows = _scored_rows(labelled, preds)
    if len(rows) < len(labelled):
        notes.append(f"{len(labelled) - len(rows)} trial(s) could not be scored and were left out")
    ys = np.array([r["label"] for r in rows])
    probs = np.array([r["probability"] for r in rows])
    metrics = bootstrap_metrics(ys, probs, n=bootstrap, seed=seed)
    return {"phase": phase, "model": predictor.model_name, "metrics": metrics, "notes": notes,
            "predictions": rows}


def _scored_rows(labelled, preds) -> list[dict]:
    """One row per scored trial, its id, label and probability kept together so that a trial left out
    (its prediction is an error) cannot shift the later rows onto other trials' ids."""
    return [{"nct_id": t.nct_id, "label": int(y), "probability": float(pred.probability)}
            for t, y, pred in zip(labelled.trials, labelled.labels, preds)
            if not isinstance(pred, Exception)]
