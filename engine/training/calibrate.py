"""Re-fit a phase's calibration (temperature + bias) on labelled validation trials, in place."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.features.types import TrialFeatures
from engine.model.checkpoint import ModelManifest
from engine.training.finetune import apply_calibration, fit_calibration, predict_logits
from engine.training.metrics import point_metrics


def recalibrate(predictor, phase: str, features: list[TrialFeatures], labels) -> dict:
    """Fit on the adapter's raw logits for `features`; write model.json; return the new metrics."""
    y = np.asarray(labels, dtype=np.float64)
    predictor.model.set_adapter(phase)
    z = predict_logits(predictor.model, features, predictor.device)
    temperature, bias = fit_calibration(z, y)
    probs = apply_calibration(z, temperature, bias)
    folder = Path(predictor.folder)
    manifest = ModelManifest.read(folder)
    info = manifest.phases[phase]
    info.temperature, info.bias = temperature, bias
    info.metrics["validation_calibrated"] = point_metrics(y, probs)
    manifest.write(folder)
    predictor.manifest = manifest
    return info.metrics["validation_calibrated"]
