"""benchmarks/frozen_inputs.py: the outcome-history input, and the script end to end on a subsample."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.evidence.history import HISTORY_PRIOR_WEIGHT, outcome_history, trial_names  # noqa: E402
from engine.paths import shared_data_dir  # noqa: E402
from engine.records.trial import Condition, Drug, Trial  # noqa: E402

DATA = shared_data_dir()


def test_history_is_the_smoothed_rate_of_the_other_training_trials():
    names = [{"a"}, {"a"}, {"a", "b"}, {"b"}, {"a"}, {"c"}]
    labels = np.array([1, 1, 0, 1, 0, 1])
    train = np.array([0, 1, 2, 3])
    k, prior = HISTORY_PRIOR_WEIGHT, 0.75
    held_out = outcome_history(names, labels, train, np.array([4, 5]))
    # row 4 ("a") sees the three training trials with "a": 2 successes of 3
    assert held_out[0] == pytest.approx([(2 + k * prior) / (3 + k), np.log1p(3)])
    assert held_out[1] == pytest.approx([prior, 0.0])  # "c" never seen in training: the prior
    own = outcome_history(names, labels, train, np.array([0, 2]))
    # row 0's own success is left out: it sees rows 1 and 2 (1 success of 2)
    assert own[0] == pytest.approx([(1 + k * prior) / (2 + k), np.log1p(2)])
    # row 2: "a" among rows 0, 1 (2 of 2), "b" in row 3 (1 of 1); its own failure left out of both
    assert own[1] == pytest.approx([np.mean([(2 + k * prior) / (2 + k), (1 + k * prior) / (1 + k)]), np.log1p(3)])


def test_names_leave_out_placebo_and_ignore_case():
    trial = Trial("NCT1", drugs=[Drug("Aspirin", kind="small_molecule"), Drug("Placebo", kind="placebo")],
                  conditions=[Condition("Asthma "), Condition("")])
    assert trial_names(trial) == ({"aspirin"}, {"asthma"})


@pytest.mark.slow
@pytest.mark.real_data  # the script reads the development data's TOP files (benchmarks/validation.py)
def test_script_runs_on_a_subsample(tmp_path):
    from engine.model.checkpoint import BASE_WEIGHTS, ModelManifest, save_state
    from engine.model.cladmop import CLaDMoP
    from engine.model.config import ModelConfig

    config = ModelConfig(d_model=16, n_heads=2, enrich_layers=1, group_sizes=(8, 4, 2), group_self_layers=1,
                         proj_dim=8, head_hidden=16)
    base = tmp_path / "base"
    base.mkdir()
    save_state(CLaDMoP(config), base / BASE_WEIGHTS)
    ModelManifest(config=config, name="tiny").write(base)
    out = tmp_path / "inputs.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "frozen_inputs.py"), "--base", str(base),
                           "--limit", "80", "--folds", "2", "--device", "cpu", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = json.loads(out.read_text())
    assert saved["n_rows"] == 80
    for phase, res in saved["results"].items():
        assert set(res) == {"f_c", "f_dm", "f_c + f_dm", "whole text", "history", "text + history"}
        assert all(r["n"] == res["f_c"]["n"] and 0 <= r["roc_auc"]["mean"] <= 1 for r in res.values())
