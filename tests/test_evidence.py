"""The evidence beside a prediction: similar past trials, novelty, the learning index, ablation baselines."""
from __future__ import annotations

import numpy as np
import pytest

from engine.evidence.index import LearningIndex
from engine.evidence.novelty import UNUSUAL_SCORE, assess, is_vacuous
from engine.evidence.similar import similar_trials, success_rate
from engine.records.trial import Condition, Criterion, Drug, Trial


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@pytest.fixture
def index() -> LearningIndex:
    """40 learning trials in two tight clusters of 20 around two directions, with names and chapters."""
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(2, 16)))
    emb = unit(np.repeat(centres, 20, axis=0) + 0.05 * rng.normal(size=(40, 16)))
    n = len(emb)
    return LearningIndex(
        nct_ids=[f"NCT{i:08d}" for i in range(n)], labels=np.array([1, 0] * 20), phases=["II"] * n,
        start_years=np.full(n, 2008), completion_years=np.full(n, 2011),
        drugs=[["aspirin"] if i < 20 else ["metformin"] for i in range(n)],
        conditions=[["asthma"] if i < 20 else ["diabetes"] for i in range(n)],
        chapters=[[9] if i < 20 else [3] for i in range(n)],  # J00-J99 (respiratory), E00-E89
        n_items=np.arange(5, 5 + n), text_chars=np.arange(100, 100 + 10 * n), embeddings=emb, backbone="test")


def trial(criteria=("Age 18 or older", "No prior chemotherapy", "ECOG 0-1", "Adequate renal function",
                    "Signed consent", "Not pregnant", "Life expectancy over 3 months", "No infection"),
          conditions=(("asthma", "J45.909"),), drugs=("aspirin",)) -> Trial:
    return Trial("NCTNEW", criteria=[Criterion(c) for c in criteria],
                 conditions=[Condition(name, icd10=[code]) for name, code in conditions],
                 drugs=[Drug(d, kind="small_molecule") for d in drugs])


def test_similar_trials_rank_by_text_and_shared_names_and_skip_the_trial_itself(index):
    query = index.embeddings[3]
    found = similar_trials(index, query, {"aspirin"}, {"asthma"}, k=5, exclude="NCT00000003")
    assert len(found) == 5
    assert "NCT00000003" not in [s.nct_id for s in found]
    assert all(int(s.nct_id[3:]) < 20 for s in found)  # the same cluster
    assert [s.similarity for s in found] == sorted((s.similarity for s in found), reverse=True)
    assert found[0].shared_drugs == ["aspirin"] and found[0].shared_conditions == ["asthma"]
    assert found[0].shares == "drug: aspirin; condition: asthma"
    assert success_rate(found) == np.mean([s.label for s in found])


def test_shared_names_lift_a_trial_of_the_same_drug_and_disease(index):
    """Halfway between the clusters, the trial that shares the drug and disease comes first."""
    between = unit(index.embeddings[0] + index.embeddings[25])
    first = similar_trials(index, between, {"metformin"}, {"diabetes"}, k=1)[0]
    assert int(first.nct_id[3:]) >= 20 and first.shared_drugs == ["metformin"]


def test_a_trial_like_the_learning_trials_is_not_flagged(index):
    novelty = assess(index, trial(), index.embeddings[0] * 0.999 + 0.001 * index.embeddings[1])
    assert novelty.reasons == [] and not novelty.unusual
    assert novelty.score < UNUSUAL_SCORE
    assert novelty.summary == "typical of the learning data"


def test_a_trial_unlike_every_learning_trial_is_flagged_in_words(index):
    far = unit(np.random.default_rng(1).normal(size=16))
    novelty = assess(index, trial(), far)
    assert novelty.score == 1.0 and novelty.unusual
    assert "read unlike the learning trials" in novelty.reasons[0]


def test_novelty_names_unresolved_drugs_unseen_chapters_and_counts_outside_the_learned_range(index):
    t = trial(criteria=("Please contact site for information.",), conditions=(("melanoma", "C43.9"),))
    t.unresolved = ["drug 'XYZ-123': no structure found"]
    novelty = assess(index, t, index.embeddings[0])
    reasons = " | ".join(novelty.reasons)
    assert novelty.notes == ["drug 'XYZ-123': no structure found"]
    assert "a disease chapter no learning trial had (C00-D49)" in reasons
    assert "the criteria carry no eligibility content" in reasons
    assert "criteria items: 1, outside the learned range" in reasons


def test_an_unresolved_drug_alone_is_a_note_not_a_warning(index):
    """Forward in time, trials flagged only for an unresolved drug were predicted as well as the rest."""
    t = trial()
    t.unresolved = ["drug 'XYZ-123': no structure found"]
    novelty = assess(index, t, index.embeddings[0] * 0.999 + 0.001 * index.embeddings[1])
    assert not novelty.unusual and novelty.reasons == []
    assert novelty.summary == "typical of the learning data; note: drug 'XYZ-123': no structure found"
    t.unresolved = [f"drug 'X-{n}': no structure found" for n in range(5)]
    assert assess(index, t, index.embeddings[0]).notes[3:] == ["2 more not recognised"]


@pytest.mark.parametrize("text, vacuous", [
    ("Please contact site for information.", True), ("See protocol", True), ("N/A", True), ("", True),
    ("Age 18 or older", False), ("Contact lenses must not be worn during the 2-week run-in period, and "
                                 "patients must have best-corrected visual acuity of 20/40 or better", False)])
def test_content_free_criteria_are_told_apart(text, vacuous):
    assert is_vacuous(text) is vacuous


def test_the_index_round_trips_and_refuses_disagreeing_tables(index, tmp_path):
    index.save(tmp_path)
    back = LearningIndex.load(tmp_path)
    assert back.nct_ids == index.nct_ids and back.drugs == index.drugs and back.chapters == index.chapters
    np.testing.assert_array_equal(back.labels, index.labels)
    np.testing.assert_allclose(back.embeddings, index.embeddings, atol=1e-3)  # float16 on disk
    assert LearningIndex.load(tmp_path / "elsewhere") is None

    index.nct_ids = index.nct_ids[:-1]
    index.save(tmp_path)
    from engine.errors import ModelError

    with pytest.raises(ModelError, match="disagree in length"):
        LearningIndex.load(tmp_path)


def test_leaving_out_the_only_criterion_compares_against_a_neutral_item_not_an_empty_list():
    from engine.predict import NEUTRAL_CRITERION, ablation_variants

    only = trial(criteria=("Please contact site for information.",))
    (key, variant), *_ = ablation_variants(only)
    assert key[0] == "criterion"
    assert [c.text for c in variant.active_criteria] == [NEUTRAL_CRITERION.text]
    many = trial()
    (_, variant), *_ = ablation_variants(many)
    assert len(variant.active_criteria) == len(many.active_criteria) - 1
    assert NEUTRAL_CRITERION.text not in [c.text for c in variant.active_criteria]


# -- the shipped model's index on real records ----------------------------------------------------------
from tests.data_sources import data_dir, real_data_dir, using_own_data, xml_records  # noqa: E402

DATA = real_data_dir()


@pytest.fixture(scope="module")
def shipped():
    from engine.predict import Predictor

    return Predictor.load(device="cpu")


@pytest.mark.real_data
def test_the_shipped_model_gives_similar_trials_and_novelty_for_a_real_record(shipped):
    from engine.cli import prediction_json
    from engine.records import load_records

    record = load_records([DATA / "ctgov_xml" / "NCT00000187.xml"]).trials[0]
    pred = shipped.predict(record, phase="III")
    assert len(pred.similar) == 5 and pred.novelty is not None
    assert all(s.outcome in ("success", "failure") and s.completion_year >= 1999 for s in pred.similar)
    assert "the criteria carry no eligibility content" in pred.novelty.reasons
    only = [a for a in pred.ablations if a.kind == "criterion"]
    assert len(only) == 1 and only[0].content_free
    data = prediction_json(pred)
    assert data["novelty"]["unusual"] is True and len(data["similar"]) == 5
    assert set(data["members"]) == {"cladmop", "probe", "history", "thresholds"}  # the shipped model (v5 on) combines four
    assert data["interval"]["level"] == 0.8
    assert data["interval"]["low"] < data["probability"] < data["interval"]["high"]
    assert data["similar_success_rate"] == pytest.approx(np.mean([s.label for s in pred.similar]))


@pytest.mark.real_data
def test_a_learning_trial_is_never_its_own_neighbour(shipped):
    from engine.records.top_csv import read_top_csv

    trial = next(iter(read_top_csv(DATA / "top" / "phase_II_valid.csv")))
    pred = shipped.predict(trial, phase="II", ablate=False)
    assert trial.nct_id in shipped.evidence.index.nct_ids
    assert trial.nct_id not in [s.nct_id for s in pred.similar]
    assert pred.novelty.score < 1.0


def test_your_own_labelled_trials_join_the_similar_trial_search(shipped, tmp_path, capsys):
    """A TOP file of 'in-house' labelled trials: the trial's own copy comes back first, marked as yours."""
    import pandas as pd

    from engine.cli import main
    from engine.records.top_csv import read_top_csv

    source = data_dir() / "top" / "phase_II_valid.csv"
    record = xml_records(1)[0] if using_own_data() else data_dir() / "ctgov_xml" / "NCT00000187.xml"
    mine = tmp_path / "inhouse.csv"
    frame = pd.read_csv(source).head(20)
    frame["nctid"] = [f"NCT9{i:07d}" for i in range(20)]  # in-house ids: not the learning rows' own
    frame.to_csv(mine, index=False)
    assert shipped.use_own_trials(list(read_top_csv(mine))) == 20
    query = next(iter(read_top_csv(source)))
    pred = shipped.predict(query, phase="II", ablate=False)
    assert pred.similar[0].nct_id == "NCT90000000" and pred.similar[0].is_own
    assert pred.similar[0].text_similarity == pytest.approx(1.0, abs=1e-3)
    assert len(pred.similar) == 5
    assert [s.similarity for s in pred.similar] == sorted((s.similarity for s in pred.similar), reverse=True)
    shipped.use_own_trials([])

    main(["predict", str(record), "--phase", "III", "--no-ablation",
          "--similar-from", str(mine)])
    out = capsys.readouterr()
    assert "20 labelled trial(s) of yours join" in out.err and "similar past trials" in out.out


def test_name_postings_give_each_learning_trial_s_jaccard_overlap():
    """The array form of the name overlap (engine/evidence/similar.py) equals the set form, duplicates,
    empty lists and names no trial has included."""
    import random

    from engine.evidence.similar import NamePostings

    def jaccard(a: set[str], b: set[str]) -> float:
        return len(a & b) / len(a | b) if a and b else 0.0

    rng = random.Random(0)
    vocabulary = [f"drug{i}" for i in range(12)]
    trials = [[rng.choice(vocabulary) for _ in range(rng.randint(0, 4))] for _ in range(300)]
    postings = NamePostings(trials)
    for names in ({"drug1"}, {"drug2", "drug3", "drug3x"}, set(), {"nothing"}, set(vocabulary[:6])):
        expected = [jaccard(names, set(t)) for t in trials]
        assert postings.jaccard(names).tolist() == pytest.approx(expected, abs=1e-12)
