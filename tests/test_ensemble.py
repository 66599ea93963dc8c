"""The combined model: its file, its fit forward in time, and the Predictor serving it."""
from __future__ import annotations

import numpy as np
import pytest

from engine.features.document import DOCUMENT, POOLED_ITEMS
from engine.model.ensemble import Ensemble, LinearModel
from engine.records.trial import Condition, Criterion, Drug, Trial
from engine.records.trial import year_of
from engine.training.temporal import completion_years, latest_year_split, rolling_origins


def linear(coef, intercept=0.0, mean=None, scale=None) -> LinearModel:
    n = len(coef)
    return LinearModel(list(mean or [0.0] * n), list(scale or [1.0] * n), list(coef), intercept)


def test_the_stack_weighs_the_members_logits_and_each_phase_calibrates_it(tmp_path):
    ensemble = Ensemble(probe=linear([2.0, 0.0]), history=linear([0.0, 0.0, 1.0, 0.0], intercept=-0.5),
                        stack=linear([0.5, 1.0, 2.0], intercept=0.1, mean=[0, 0, 1], scale=[1, 2, 1]),
                        calibration={"II": [2.0, -0.3]})
    logits = ensemble.member_logits(np.array([1.0]), np.array([[0.25, 9.0]]), np.array([[0, 0, 3.0, 0]]))
    np.testing.assert_allclose(logits, [[1.0, 0.5, 2.5]])
    stacked = 0.5 * 1.0 + 1.0 * 0.5 / 2 + 2.0 * (2.5 - 1) + 0.1
    assert ensemble.probabilities(logits, "II")[0] == pytest.approx(1 / (1 + np.exp(-(stacked / 2.0 - 0.3))))
    assert ensemble.probabilities(logits, "I")[0] == pytest.approx(1 / (1 + np.exp(-stacked)))  # identity

    ensemble.save(tmp_path)
    back = Ensemble.load(tmp_path)
    assert back == ensemble
    assert Ensemble.load(tmp_path / "none") is None
    (tmp_path / "ensemble.json").write_text('{"probe": 1}')
    from engine.errors import ModelError

    with pytest.raises(ModelError, match="ensemble.json: unreadable"):
        Ensemble.load(tmp_path)


def test_rolling_origins_learn_from_earlier_years_only():
    years = np.array([2009, 2010, 2011, 2011, 2012, 2013, 2013])
    origins = rolling_origins(years, (2012, 2013))
    assert [(y, tr.tolist(), va.tolist()) for y, tr, va in origins] == [
        (2012, [0, 1, 2, 3], [4]), (2013, [0, 1, 2, 3, 4], [5, 6])]
    learn, last = latest_year_split(years)
    assert learn.tolist() == [0, 1, 2, 3, 4] and last.tolist() == [5, 6]
    assert year_of("March 1999") == 1999 and year_of("2004-01-31") == 2004 and year_of("") is None


def test_a_learning_trial_without_a_completion_date_is_named():
    from engine.errors import CladmopError

    dated = Trial("NCT1", start_date="May 2001", completion_date="June 2003")
    assert (dated.start_year, dated.completion_year) == (2001, 2003)
    assert completion_years([dated]).tolist() == [2003]
    with pytest.raises(CladmopError, match="no completion date for 1 learning trial.*NCT2"):
        completion_years([dated, Trial("NCT2")])


def labelled(n: int, seed: int = 0):
    """Trials whose outcome follows a drug's history and a text direction, over two 'years'."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    trials = [Trial(f"NCT{i:08d}", drugs=[Drug("goodmab" if (y and rng.random() < 0.8) else f"drug{i % 7}")],
                    conditions=[Condition("asthma")], criteria=[Criterion("Adults")]) for i, y in enumerate(labels)]
    embeddings = rng.normal(size=(n, 8)) + np.outer(labels - 0.5, np.eye(8)[0]) * 1.5
    member = [{"I"} if i % 3 else {"II"} for i in range(n)]
    return trials, labels, member, embeddings


def test_the_fit_stacks_out_of_time_and_serves_members_refitted_on_every_trial():
    from engine.training.ensemble_fit import fit_ensemble
    from engine.training.linear import fit_linear

    trials, labels, member, emb = labelled(300)
    learn, last = np.arange(200), np.arange(200, 300)
    cladmop = np.random.default_rng(1).normal(size=100)  # an uninformative member
    ensemble = fit_ensemble(trials, labels, member, emb, cladmop, learn, last, how="stack")
    coef = np.asarray(ensemble.stack.coef)
    assert abs(coef[0]) < min(abs(coef[1]), abs(coef[2]))  # the noise member weighs least
    np.testing.assert_allclose(ensemble.probe.coef, fit_linear(emb, labels).coef)  # refitted on all 300
    assert set(ensemble.calibration) == {"I", "II", "III"}


def test_the_mean_combination_averages_the_members_standardized_on_the_latest_year():
    from engine.training.ensemble_fit import fit_ensemble

    trials, labels, member, emb = labelled(300)
    learn, last = np.arange(200), np.arange(200, 300)
    cladmop = np.random.default_rng(1).normal(loc=2.0, scale=3.0, size=100)
    ensemble = fit_ensemble(trials, labels, member, emb, cladmop, learn, last)  # how="mean", v3's choice
    assert ensemble.stack.coef == [1 / 3] * 3 and ensemble.stack.intercept == 0.0
    assert ensemble.stack.mean[0] == pytest.approx(cladmop.mean()) and ensemble.stack.scale[0] == pytest.approx(
        cladmop.std(), rel=1e-6)
    with pytest.raises(ValueError, match="combination must be one of mean, stack"):
        fit_ensemble(trials, labels, member, emb, cladmop, learn, last, how="median")


# -- the Predictor serving a combined model (the shipped model's branch, adapters and index) -------------
@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory):
    """A copy of the shipped model serving CLaDMoP alone (no ensemble.json)."""
    from engine.model.checkpoint import ModelManifest, copy_model
    from engine.predict import default_model_dir

    folder = tmp_path_factory.mktemp("combined") / "model"
    copy_model(default_model_dir(), folder)
    (folder / "ensemble.json").unlink(missing_ok=True)
    ModelManifest.read(folder).write(folder)
    return folder


def serve(folder, stack_coef, calibration):
    from engine.model.checkpoint import ModelManifest
    from engine.predict import Predictor

    dim = 384
    Ensemble(probe=linear(list(np.linspace(-1, 1, dim))), history=linear([1.0, 0.0, 0.0, 0.0]),
             stack=linear(stack_coef), calibration=calibration, embedding=POOLED_ITEMS).save(folder)
    ModelManifest.read(folder).write(folder)
    return Predictor.load(folder, device="cpu")


def record() -> Trial:
    return Trial("NCT09990001", phases=("II",), drugs=[Drug("metformin")], conditions=[Condition("type 2 diabetes")],
                 criteria=[Criterion("Adults aged 40 to 75 years with type 2 diabetes"),
                           Criterion("HbA1c between 7.0% and 10.0%"), Criterion("Pregnancy", "exclusion")])


def test_a_stack_that_keeps_only_cladmop_serves_cladmop_alone(shipped_copy):
    from engine.model.checkpoint import ModelManifest
    from engine.predict import Predictor

    alone = Predictor.load(shipped_copy, device="cpu")
    assert alone.ensemble is None
    want = alone.predict(record(), ablate=False)
    assert want.members == {}
    info = ModelManifest.read(shipped_copy).phases["II"]
    got = serve(shipped_copy, [1.0, 0.0, 0.0], {"II": [info.temperature, info.bias]}).predict(record(), ablate=False)
    assert set(got.members) == {"cladmop", "probe", "history"}
    assert got.probability == pytest.approx(want.probability, abs=1e-6)
    assert got.members["cladmop"] == pytest.approx(want.probability, abs=1e-6)


def test_ablation_goes_through_the_whole_combination(shipped_copy):
    predictor = serve(shipped_copy, [0.0, 1.0, 0.0], {})
    pred = predictor.predict(record())
    assert pred.probability == pytest.approx(pred.members["probe"], abs=1e-9)
    first = next(a for a in pred.ablations if a.kind == "criterion" and a.index == 0)
    without = record()
    without.criteria[0].enabled = False
    assert first.delta == pytest.approx(predictor.predict(without, ablate=False).probability - pred.probability,
                                        abs=1e-6)
    assert first.delta != 0.0


def test_the_interval_widens_with_the_members_disagreement_and_stays_within_0_and_1():
    ensemble = Ensemble(probe=linear([0.0]), history=linear([0.0] * 4), stack=linear([1.0, 0.0, 0.0]),
                        interval={"level": 0.8, "floor": 0.05, "scale": {"II": 2.0}})
    agree = ensemble.interval_for(0.6, {"cladmop": 0.6, "probe": 0.6, "history": 0.6}, "II")
    assert agree == pytest.approx((0.5, 0.7))  # 2 x the floor
    split = ensemble.interval_for(0.6, {"cladmop": 0.4, "probe": 0.6, "history": 0.8}, "II")
    half = 2.0 * (np.std([0.4, 0.6, 0.8]) + 0.05)
    assert split == pytest.approx((0.6 - half, 1.0))  # 0.6 + half > 1: clipped
    assert ensemble.interval_for(0.95, {"a": 0.5, "b": 0.99}, "II")[1] == 1.0
    assert ensemble.interval_for(0.6, {}, "III") is None  # no scale fitted for the phase


def test_the_interval_scale_is_the_conformal_quantile_of_distances_to_the_observed_rate():
    from engine.training.ensemble_fit import conformal_scale, fit_interval, observed_rates

    probs = np.linspace(0.1, 0.9, 80)
    labels = (np.arange(80) % 2 == 0).astype(int)  # every bin succeeds half the time
    np.testing.assert_allclose(observed_rates(probs, labels, min_rows=40), 0.5)
    scores = np.arange(1, 11, dtype=float)
    assert conformal_scale(scores, 0.8) == 9.0  # the ceil(11 x 0.8) = 9th smallest
    interval = fit_interval({"I": (probs, labels, np.zeros(80))}, floor=0.1)
    distances = np.abs(0.5 - probs) / 0.1
    assert interval["scale"]["I"] == pytest.approx(conformal_scale(distances, 0.8))
    covered = np.abs(0.5 - probs) <= interval["scale"]["I"] * 0.1
    assert covered.mean() >= 0.8


def test_a_combined_model_refuses_an_index_of_another_embedding_kind(shipped_copy):
    """ensemble.json and the learning index name their whole-text embedding's kind; a v3-style
    ensemble (whole text) over a pooled-items index would read one kind as the other."""
    from engine.errors import ModelError
    from engine.model.checkpoint import ModelManifest
    from engine.predict import Predictor

    Ensemble(probe=linear([0.0] * 384), history=linear([1.0, 0.0, 0.0, 0.0]), stack=linear([1.0, 0.0, 0.0]),
             embedding=DOCUMENT).save(shipped_copy)
    ModelManifest.read(shipped_copy).write(shipped_copy)
    try:
        with pytest.raises(ModelError, match="reads 'document' embeddings but the learning index holds 'pooled-items'"):
            Predictor.load(shipped_copy, device="cpu")
    finally:
        (shipped_copy / "ensemble.json").unlink()
        ModelManifest.read(shipped_copy).write(shipped_copy)
