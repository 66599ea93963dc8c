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
    probs, ys, failed = [], [], 0
    for pred, y in zip(predictor.predict_many(labelled.trials, phase=phase, ablate=False, state=state),
                       labelled.labels):
        if isinstance(pred, Exception):
            failed += 1
            continue
        probs.append(pred.probability)
        ys.append(int(y))
    if failed:
        notes.append(f"{failed} trial(s) could not be scored and were left out")
    metrics = bootstrap_metrics(np.array(ys), np.array(probs), n=bootstrap, seed=seed)
    return {"phase": phase, "model": predictor.model_name, "metrics": metrics, "notes": notes,
            "predictions": [{"nct_id": t.nct_id, "label": int(y), "probability": float(p)}
                            for t, y, p in zip(labelled.trials, ys, probs)]}
