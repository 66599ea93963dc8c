"""The combined model's optional fourth member, on the numeric eligibility thresholds
(engine/features/thresholds.py): its file, its fit, and the Predictor serving it; three-member files unchanged."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine.features.document import POOLED_ITEMS
from engine.features.thresholds import FEATURE_NAMES, NAMES, threshold_matrix
from engine.model.ensemble import MEMBER_LABELS, MEMBERS, Ensemble, LinearModel
from engine.records.trial import Condition, Criterion, Drug, Trial


def linear(coef, intercept=0.0, mean=None, scale=None) -> LinearModel:
    n = len(coef)
    return LinearModel(list(mean or [0.0] * n), list(scale or [1.0] * n), list(coef), intercept)


#: an ensemble.json as v4 wrote it (three members, no "thresholds" key), shortened
V4_FILE = {"probe": {"mean": [0.0, 0.0], "scale": [1.0, 1.0], "coef": [2.0, 0.0], "intercept": 0.0},
           "history": {"mean": [0.0] * 4, "scale": [1.0] * 4, "coef": [0.0, 0.0, 1.0, 0.0], "intercept": -0.5},
           "stack": {"mean": [0.0, 0.0, 1.0], "scale": [1.0, 2.0, 1.0], "coef": [0.5, 1.0, 2.0], "intercept": 0.1},
           "calibration": {"II": [2.0, -0.3]}, "fitted_on": "v4", "interval": {}, "embedding": "pooled-items"}


def test_a_three_member_file_loads_serves_and_saves_as_before(tmp_path):
    (tmp_path / "ensemble.json").write_text(json.dumps(V4_FILE, indent=1))
    old = Ensemble.load(tmp_path)
    assert old.thresholds is None and old.members == MEMBERS
    logits = old.member_logits(np.array([1.0]), np.array([[0.25, 9.0]]), np.array([[0, 0, 3.0, 0]]))
    np.testing.assert_allclose(logits, [[1.0, 0.5, 2.5]])  # thresholds given or not: three members
    np.testing.assert_allclose(old.member_logits(np.array([1.0]), np.array([[0.25, 9.0]]), np.array([[0, 0, 3.0, 0]]),
                                                 np.zeros((1, len(FEATURE_NAMES)))), logits)
    stacked = 0.5 * 1.0 + 1.0 * 0.5 / 2 + 2.0 * (2.5 - 1) + 0.1
    assert old.probabilities(logits, "II")[0] == pytest.approx(1 / (1 + np.exp(-(stacked / 2.0 - 0.3))))
    old.save(tmp_path)
    assert json.loads((tmp_path / "ensemble.json").read_text()) == V4_FILE  # no "thresholds": null added


def test_a_four_member_ensemble_needs_the_thresholds_and_round_trips(tmp_path):
    k = len(FEATURE_NAMES)
    four = Ensemble(probe=linear([2.0, 0.0]), history=linear([0.0, 0.0, 1.0, 0.0]),
                    stack=linear([0.0, 0.0, 0.0, 1.0]), thresholds=linear([0.1] + [0.0] * (k - 1), intercept=-2.0),
                    embedding=POOLED_ITEMS)
    assert four.members == MEMBERS + ("thresholds",) and MEMBER_LABELS["thresholds"] == "eligibility thresholds"
    x = np.zeros((2, k))
    x[:, 0] = [18.0, 65.0]  # age_min
    logits = four.member_logits(np.zeros(2), np.zeros((2, 2)), np.zeros((2, 4)), x)
    np.testing.assert_allclose(logits[:, 3], [-0.2, 4.5])
    p = four.probabilities(logits, "I")
    assert p[1] > p[0]
    with pytest.raises(ValueError, match="eligibility-thresholds member"):
        four.member_logits(np.zeros(2), np.zeros((2, 2)), np.zeros((2, 4)))
    four.save(tmp_path)
    assert Ensemble.load(tmp_path) == four


def labelled(n: int, seed: int = 0):
    """Trials whose outcome follows their minimum age (a threshold the text members cannot see here)."""
    rng = np.random.default_rng(seed)
    ages = rng.choice([18, 30, 50, 65], n)
    labels = (rng.random(n) < np.where(ages >= 50, 0.85, 0.2)).astype(int)
    trials = [Trial(f"NCT{i:08d}", drugs=[Drug(f"drug{i % 7}")], conditions=[Condition("asthma")],
                    criteria=[Criterion(f"Age >= {a} years")]) for i, a in enumerate(ages)]
    embeddings = rng.normal(size=(n, 8))
    member = [{"I"} if i % 3 else {"II"} for i in range(n)]
    return trials, labels, member, embeddings


def test_the_fit_adds_the_thresholds_member_only_when_asked_and_weighs_it_where_it_informs():
    from engine.training.ensemble_fit import fit_ensemble
    from engine.training.linear import fit_linear

    trials, labels, member, emb = labelled(400)
    learn, last = np.arange(250), np.arange(250, 400)
    cladmop = np.random.default_rng(1).normal(size=150)
    x = threshold_matrix(trials)
    assert x[:, NAMES.index("age_min")].tolist()[:3] == [float(t.criteria[0].text.split()[2]) for t in trials[:3]]
    three = fit_ensemble(trials, labels, member, emb, cladmop, learn, last, how="stack")
    assert three.thresholds is None and len(three.stack.coef) == 3
    four = fit_ensemble(trials, labels, member, emb, cladmop, learn, last, how="stack", thresholds=x)
    coef = np.abs(four.stack.coef)
    assert len(coef) == 4 and coef[3] > 2 * coef[:3].max()  # the informative member weighs most
    np.testing.assert_allclose(four.thresholds.coef, fit_linear(x, labels).coef)  # refitted on all 400
    mean = fit_ensemble(trials, labels, member, emb, cladmop, learn, last, thresholds=x)
    assert mean.stack.coef == [0.25] * 4


# -- the Predictor serving a four-member combined model (the shipped model's branch, adapters and index) ---
@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory):
    from engine.model.checkpoint import ModelManifest, copy_model
    from engine.predict import default_model_dir

    folder = tmp_path_factory.mktemp("four") / "model"
    copy_model(default_model_dir(), folder)
    k = len(FEATURE_NAMES)
    coef = [0.0] * k
    coef[NAMES.index("age_min")] = 0.05  # an older minimum age: more likely to succeed, in this test only
    Ensemble(probe=linear([0.0] * 384), history=linear([0.0] * 4), stack=linear([0.0, 0.0, 0.0, 1.0]),
             thresholds=linear(coef, intercept=-1.0), embedding=POOLED_ITEMS).save(folder)
    ModelManifest.read(folder).write(folder)
    return folder


def record(age: int = 18) -> Trial:
    return Trial("NCT09990002", phases=("II",), drugs=[Drug("metformin")], conditions=[Condition("type 2 diabetes")],
                 criteria=[Criterion(f"Adults aged {age} years or older with type 2 diabetes"),
                           Criterion("HbA1c between 7.0% and 10.0%"), Criterion("Pregnancy", "exclusion")])


def test_the_predictor_serves_the_thresholds_member_and_an_edited_threshold_moves_the_number(shipped_copy):
    from engine.predict import Predictor

    predictor = Predictor.load(shipped_copy, device="cpu")
    assert predictor.ensemble.members[-1] == "thresholds"
    young, old = predictor.predict(record(18), ablate=False), predictor.predict(record(65), ablate=False)
    assert set(young.members) == {"cladmop", "probe", "history", "thresholds"}
    assert young.members["thresholds"] == pytest.approx(1 / (1 + np.exp(-(0.05 * 18 - 1.0))), abs=1e-9)
    assert young.probability == pytest.approx(young.members["thresholds"], abs=1e-9)  # identity calibration
    assert old.probability - young.probability == pytest.approx(
        1 / (1 + np.exp(-(0.05 * 65 - 1.0))) - 1 / (1 + np.exp(-(0.05 * 18 - 1.0))), abs=1e-9)
    assert f"eligibility thresholds {young.members['thresholds']:.3f}" in young.members_text
    ablated = predictor.predict(record(65))
    first = next(a for a in ablated.ablations if a.kind == "criterion" and a.index == 0)
    assert first.delta == pytest.approx(  # without the age item: the neutral 18 and its indicator 0
        1 / (1 + np.exp(-(0.05 * 18 - 1.0))) - old.probability, abs=1e-6)
