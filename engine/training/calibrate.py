"""Re-fit a phase's calibration (temperature + bias) on labelled validation trials, in place."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.features.types import TrialFeatures
from engine.model.checkpoint import ModelManifest
from engine.training.finetune import fit_calibration
from engine.training.metrics import point_metrics


def recalibrate(predictor, phase: str, features: list[TrialFeatures], labels) -> dict:
    """Fit on the adapter's raw logits for `features`; write model.json; return the new metrics."""
    import torch

    from engine.model.batch import collate

    y = np.asarray(labels, dtype=np.float64)
    with torch.inference_mode():
        predictor.model.set_adapter(phase)
        base = predictor.model.get_base_model()
        logits = []
        for start in range(0, len(features), 64):
            out = predictor.model(collate(features[start:start + 64]).to(predictor.device))
            logits.append(base.head(torch.cat([out.f_c, out.f_dm], -1)).float().cpu().numpy())
    z = np.concatenate(logits)
    temperature, bias = fit_calibration(z, y)
    probs = 1 / (1 + np.exp(-(z / temperature + bias)))
    folder = Path(predictor.folder)
    manifest = ModelManifest.read(folder)
    info = manifest.phases[phase]
    info.temperature, info.bias = temperature, bias
    info.metrics["validation_calibrated"] = point_metrics(y, probs)
    manifest.write(folder)
    predictor.manifest = manifest
    return info.metrics["validation_calibrated"]
