"""Shared pieces of the GUI tests: real records from the shared data, a window factory, and a small
predictor double for exercising the prediction plumbing (debounce, cache, threads) without a model."""
from __future__ import annotations

import csv
import threading
from pathlib import Path

import numpy as np
import pytest

from engine.paths import shared_data_dir
from engine.prediction import Ablation, LevelAttention, Prediction


def real_xml_files(count: int = 3) -> list[Path]:
    """Legacy ClinicalTrials.gov records of phased drug trials with criteria (skip if no data)."""
    data = shared_data_dir()
    if data is None or not (data / "ctgov_xml" / "index.csv").is_file():
        pytest.skip("shared data (../shared/data/ctgov_xml) is not available")
    folder = data / "ctgov_xml"
    with open(folder / "index.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle)
                if r["interventional_drug_with_criteria"] == "1" and r["phase"].startswith("Phase")
                and r["xsd_valid_2020_05_08"] == "1"]
    return [folder / r["file"] for r in rows[:count]]


class ActiveCriteriaPredictor:
    """Stands in for engine.predict.Predictor: the probability is a function of the active criteria
    (so edits move it), attention is uniform, ablations are exact for that function."""

    model_name = "active-criteria double"
    device_name = "CPU"

    def __init__(self, delay_s: float = 0.0):
        self.calls: list[str] = []
        self.delay_s = delay_s
        self.threads: set[str] = set()

    @staticmethod
    def score(trial) -> float:
        return round(min(0.95, 0.2 + 0.05 * len(trial.active_criteria)), 4)

    def predict(self, trial, phase=None, ablate=True, state=None):
        import time

        self.calls.append(trial.content_hash())
        self.threads.add(threading.current_thread().name)
        if self.delay_s:
            time.sleep(self.delay_s)
        n = len(trial.active_criteria)
        p = self.score(trial)
        ablations = []
        for k, c in enumerate(trial.active_criteria):
            without = trial.replace()
            [x for x in without.criteria if x.enabled and x.text.strip()][k].enabled = False
            ablations.append(Ablation("criterion", k, c.text, self.score(without) - p))
        uniform = [LevelAttention(level, np.full(n, 1.0 / max(n, 1)), np.zeros(len(trial.drugs)),
                                  np.zeros(len(trial.conditions)))
                   for level in ("coarse", "medium", "fine")]
        return Prediction(nct_id=trial.nct_id, trial_hash=trial.content_hash(), phase=(trial.phases or ("II",))[-1],
                          probability=p, base_rate=0.56, model_name=self.model_name, attention=uniform,
                          ablations=ablations, criteria_labels=[c.text for c in trial.active_criteria])


def make_settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
