"""benchmarks/cv_margins.py: margins over several CV seeds, from cv_model.py's JSON files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import cv_margins  # noqa: E402
from engine.errors import CladmopError  # noqa: E402


def cv_run(seed: int, cladmop: float, probe: float, gbt: float, sd: float = 0.01, **settings) -> dict:
    """A cv_model.py JSON with the same PR-AUC and ROC-AUC per model in every phase."""
    cell = lambda mean: {"pr_auc": {"mean": mean, "sd": sd}, "roc_auc": {"mean": mean, "sd": sd}}  # noqa: E731
    run = {"seed": seed, "mode": "pooled", "folds": 5, "base": "base", "granularity": "criterion",
           "n_rows": 1913, "finetune": {"lr_head": 1e-4, "fit": {"epochs": 3, "seed": seed}},
           "results": {p: {"CLaDMoP": cell(cladmop), "linear probe": cell(probe), "gbt": cell(gbt)}
                       for p in ("I", "II", "III")}}
    run.update(settings)
    return run


def write(tmp_path: Path, runs: list[dict]) -> list[Path]:
    paths = []
    for run in runs:
        path = tmp_path / f"cv_seed{run['seed']}.json"
        path.write_text(json.dumps(run))
        paths.append(path)
    return paths


def test_margins_are_read_over_seeds(tmp_path):
    """Seed 0 beats the probe by .03, seed 1 by .005 (under its sd): level, not beats; the GBT is beaten
    by more than the sd in both runs; a model .05 behind is behind."""
    paths = write(tmp_path, [cv_run(0, 0.73, 0.70, 0.68), cv_run(1, 0.715, 0.71, 0.69)])
    summary = cv_margins.main([str(p) for p in paths])
    probe = summary["III"]["pr_auc"]["margins"]["linear probe"]
    assert probe["mean"] == pytest.approx(0.0175) and probe["min"] == pytest.approx(0.005)
    assert probe["runs_beaten"] == 1 and probe["verdict"] == "level"
    gbt = summary["I"]["roc_auc"]["margins"]["gbt"]
    assert gbt["runs_beaten"] == 2 and gbt["verdict"] == "beats" and gbt["mean"] == pytest.approx(0.0375)
    assert summary["II"]["pr_auc"]["models"]["CLaDMoP"]["mean"] == pytest.approx(0.7225)

    behind = cv_margins.main([str(p) for p in write(tmp_path, [cv_run(2, 0.65, 0.70, 0.70),
                                                              cv_run(3, 0.66, 0.71, 0.70)])])
    assert behind["I"]["pr_auc"]["margins"]["linear probe"]["verdict"] == "behind"


def test_runs_must_differ_only_in_the_seed(tmp_path):
    """The fine-tuning seed inside `finetune` follows --seed and may differ; every other setting may not."""
    [first] = write(tmp_path, [cv_run(0, .7, .7, .7)])
    twice = tmp_path / "twice.json"
    twice.write_text(first.read_text())
    with pytest.raises(CladmopError, match="seed 0 again"):
        cv_margins.main([str(first), str(twice)])
    other_mode = tmp_path / "per_phase.json"
    other_mode.write_text(json.dumps(cv_run(1, .7, .7, .7, mode="per-phase")))
    with pytest.raises(CladmopError, match="mode is 'per-phase'"):
        cv_margins.main([str(first), str(other_mode)])
    other_rate = tmp_path / "other_rate.json"
    run = cv_run(2, .7, .7, .7)
    run["finetune"]["lr_head"] = 3e-5
    other_rate.write_text(json.dumps(run))
    with pytest.raises(CladmopError, match="finetune.lr_head is 3e-05"):
        cv_margins.main([str(first), str(other_rate)])


def test_a_bad_file_is_named_on_the_command_line(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"seed": 0, "results": {"I": {}}}')
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "cv_margins.py"), str(broken),
                           str(tmp_path / "missing.json")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert str(broken) in done.stderr and "not a cv_model.py JSON file" in done.stderr
