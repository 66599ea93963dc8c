"""Shared pieces of the GUI tests: records (tests/data_sources.py), the tiny model's recipe (its fixtures and
the window factory are in conftest.py), and a small predictor double for exercising the prediction
plumbing (debounce, cache, threads) without a model."""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import numpy as np
from engine.paths import shared_data_dir
from engine.prediction import Ablation, LevelAttention, Prediction
from tests.data_sources import top_csv, xml_records


def real_xml_files(count: int = 3) -> list[Path]:
    """Legacy ClinicalTrials.gov records of phased drug trials with criteria: from the development data
    when it is here, else the suite's own (tests/data/ctgov_xml)."""
    return xml_records(count)


class ActiveCriteriaPredictor:
    """Stands in for engine.predict.Predictor: the probability is a function of the active criteria
    (so edits move it), attention is uniform, ablations are exact for that function. As the real one,
    `ablate=False` returns no ablations, and an ablation takes longer (`ablation_delay_s`) and can be
    cancelled through `state` while it runs."""

    model_name = "active-criteria double"
    device_name = "CPU"

    def __init__(self, delay_s: float = 0.0, ablation_delay_s: float = 0.0):
        self.calls: list[str] = []
        self.ablation_calls: list[str] = []
        self.cancelled_ablations = 0
        self.delay_s = delay_s
        self.ablation_delay_s = ablation_delay_s
        self.threads: set[str] = set()

    @staticmethod
    def score(trial) -> float:
        return round(min(0.95, 0.2 + 0.05 * len(trial.active_criteria)), 4)

    @staticmethod
    def choose_phase(trial, phase=None):
        """The record's (later) phase, as the real one chooses; without one, the double still scores."""
        return phase or (trial.phases[-1] if trial.phases else None), []

    def predict_many(self, trials, phase=None, ablate=False, state=None):
        """As the real one: one result per trial, an error in place of a trial that cannot be scored."""
        from engine.errors import CladmopError
        from engine.predict import phases_of

        results = []
        for trial, chosen in zip(trials, phases_of(trials, phase)):
            if state is not None:
                state.check()
            try:
                results.append(self.predict(trial, phase=chosen, ablate=ablate, state=state))
            except CladmopError as e:
                results.append(e)
        return results

    def predict(self, trial, phase=None, ablate=True, state=None):
        import time

        from engine.errors import Cancelled

        (self.ablation_calls if ablate else self.calls).append(trial.content_hash())
        self.threads.add(threading.current_thread().name)
        if self.delay_s:
            time.sleep(self.delay_s)
        deadline = time.monotonic() + (self.ablation_delay_s if ablate else 0.0)
        while time.monotonic() < deadline:  # the real one checks `state` between model chunks
            time.sleep(0.005)
            if state is not None and state.cancelled:
                self.cancelled_ablations += 1
                raise Cancelled("cancelled by the user")
        n = len(trial.active_criteria)
        p = self.score(trial)
        ablations = []
        for k, c in enumerate(trial.active_criteria if ablate else []):
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


# -- a tiny real model for the GUI tests (model manager, wizard, attention, export) ---------------------
TINY_OVERRIDES = dict(d_model=32, n_heads=4, enrich_layers=1, group_sizes=(16, 8, 4), group_self_layers=1,
                      head_hidden=32, proj_dim=16)


def top_rows_csv(folder: Path, split: str = "phase_I_train.csv", per_class: int = 15, skip: int = 0) -> Path:
    """`per_class` successes and failures of a TOP file as a TOP-format CSV (the development data's, else
    the suite's own tests/data/top)."""
    import pandas as pd

    df = pd.read_csv(top_csv(split))
    rows = pd.concat([df[df.label == 1].iloc[skip:skip + per_class], df[df.label == 0].iloc[skip:skip + per_class]])
    assert len(rows) == 2 * per_class, f"{split} has too few rows for {per_class} x 2 after {skip}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{Path(split).stem}-{per_class}x2-{skip}.csv"
    rows.to_csv(path, index=False)
    return path


def icd10cm_codes() -> list[str]:
    """ICD-10-CM codes of up to five characters (categories and subcategories): the development data's
    hierarchy when it is here, else the simple-icd-10-cm package the application depends on."""
    data = shared_data_dir()
    hierarchy = (data / "lookups" / "icd10cm_2021" / "icd10cm_2021_hierarchy.csv.gz") if data else None
    if hierarchy is not None and hierarchy.is_file():
        import pandas as pd

        codes = pd.read_csv(hierarchy, usecols=["code_dotted", "kind"])
        return [c for c in codes[codes["kind"] != "chapter"]["code_dotted"].dropna()
                if "-" not in c and len(c.replace(".", "")) <= 5]
    import simple_icd_10_cm as cm

    return [c for c in cm.get_all_codes(True)
            if not (cm.is_chapter(c) or cm.is_block(c)) and len(c.replace(".", "")) <= 5]


def test_resources(folder: Path) -> Path:
    """A resources folder with an ICD-10 table: the shipped one when it exists, else the ICD-10-CM
    code list with random vectors (like the tiny model, it exercises the code, not the science)."""
    from engine.paths import resources_dir

    shipped = resources_dir() / "icd10_embeddings.safetensors"
    if shipped.is_file():
        return resources_dir()
    table = folder / "icd10_embeddings.safetensors"
    if not table.is_file():
        from safetensors.numpy import save_file

        codes = icd10cm_codes()
        folder.mkdir(parents=True, exist_ok=True)
        vectors = np.random.default_rng(0).normal(size=(len(codes), 16)).astype(np.float16)
        save_file({"vectors": vectors}, str(table), metadata={"codes": ",".join(codes)})
    return folder


test_resources.__test__ = False  # a helper, not a test


@contextlib.contextmanager
def env_vars(**values):
    """Environment variables set inside the block only (no other test sees them)."""
    old = {name: os.environ.get(name) for name in values}
    os.environ.update({name: str(value) for name, value in values.items()})
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def session_env(basetemp: Path, resources: Path):
    """What session-scoped fixtures run under: they start before conftest's per-test private user
    folders are set, so they get the same ones here (never the real ~/.cladmop, whose cache another
    test run may be writing to) and the tiny model's resources."""
    return env_vars(CLADMOP_HOME=basetemp / "cladmop-home",
                    CLADMOP_CACHE=os.environ.get("CLADMOP_TEST_CACHE") or basetemp / "cladmop-cache",
                    CLADMOP_RESOURCES=resources)


def build_tiny_model(root: Path, basetemp: Path) -> dict:
    """A model with phase I and phase II adapters, trained in about a minute on 30 + 30 TOP rows with the
    MiniLM backbone; built once per test session under `root` (reused when complete)."""
    import json

    resources = test_resources(root / "resources")
    model = root / "model"
    rows_1 = top_rows_csv(root / "rows", "phase_I_train.csv")
    rows_2 = top_rows_csv(root / "rows", "phase_II_valid.csv")
    manifest = model / "model.json"
    if not (manifest.is_file() and set(json.loads(manifest.read_text())["phases"]) == {"I", "II"}):
        with session_env(basetemp, resources):
            _train_tiny(model, rows_1, rows_2)
    return {"model": model, "resources": resources, "rows_I": rows_1, "rows_II": rows_2}


def _train_tiny(model: Path, rows_1: Path, rows_2: Path) -> None:
    from engine.training.pipeline import make_featurizer, run_pretraining
    from engine.finetune_job import finetune_from_files

    featurizer = make_featurizer("minilm", "criterion", "cpu")
    run_pretraining([rows_1, rows_2], model, epochs=1, batch_size=16, device="cpu", featurizer=featurizer,
                    model_overrides=TINY_OVERRIDES)
    finetune_from_files(model, "I", [rows_1], featurizer, device="cpu", epochs=2, batch_size=16)
    finetune_from_files(model, "II", [rows_2], featurizer, device="cpu", epochs=2, batch_size=16)
