"""From record files to predictions, through real lookups, the MiniLM backbone and a model trained
here in seconds (a small config; the shipped model has the paper's sizes)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.finetune_job import finetune_from_files
from tests.data_sources import data_dir

DATA = data_dir()  # the development data, else tests/data (the same layout)
EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"
SMALL = dict(d_model=32, n_heads=4, enrich_layers=1, group_sizes=(16, 8, 4), group_self_layers=1,
             head_hidden=32, proj_dim=16)


@pytest.fixture(scope="module")
def top_rows(tmp_path_factory):
    """60 phase I rows (30 per outcome) from a TOP training file, as a TOP-format CSV."""
    import pandas as pd

    df = pd.read_csv(DATA / "top" / "phase_I_train.csv")
    rows = pd.concat([df[df.label == 1].head(30), df[df.label == 0].head(30)])
    path = tmp_path_factory.mktemp("top") / "rows.csv"
    rows.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model_dir(top_rows, tmp_path_factory):
    from engine.training.pipeline import make_featurizer, run_pretraining

    out = tmp_path_factory.mktemp("model") / "tiny"
    featurizer = make_featurizer("minilm", "criterion", "cpu")
    pre = run_pretraining([top_rows], out, epochs=2, batch_size=16, device="cpu", featurizer=featurizer,
                          model_overrides=SMALL)
    assert pre.best_epoch >= 1
    # LoRA from the first step (no head-first stage, tests/test_model_choices.py has that), so the adapter
    # tests below always see trained LoRA matrices
    ft = finetune_from_files(out, "I", [top_rows], featurizer, device="cpu", epochs=2, head_epochs=0,
                             batch_size=16)
    assert ft.fit.best_epoch >= 1
    return out


def test_model_folder_is_complete_and_checksummed(model_dir):
    manifest = json.loads((model_dir / "model.json").read_text())
    assert set(manifest["phases"]) == {"I"}
    assert "adapters/I/adapter_model.safetensors" in manifest["checksums"]
    assert 0 < manifest["phases"]["I"]["base_rate"] < 1
    assert not (model_dir / ".resume").exists()


def test_predict_a_legacy_xml_record_with_attention_and_ablation(model_dir):
    from engine.predict import Predictor
    from engine.records import read_record

    predictor = Predictor.load(model_dir, device="cpu")
    trial = read_record(EXAMPLES / "NCT09990001.xml")[0]
    pred = predictor.predict(trial, phase="I")
    assert 0.0 < pred.probability < 1.0
    n_items = len(trial.active_criteria)
    assert [a.level for a in pred.attention] == ["coarse", "medium", "fine"]
    for level in pred.attention:
        assert level.criteria.shape == (n_items,)
        total = level.criteria.sum() + level.molecules.sum() + level.diseases.sum() + level.previous
        assert total == pytest.approx(1.0, abs=1e-4)
    kinds = [a.kind for a in pred.ablations]
    assert kinds.count("criterion") == n_items
    assert kinds.count("drug") == len(trial.drugs) and kinds.count("disease") == len(trial.conditions)
    # an ablation delta is exactly the prediction of the trial without that item
    first = pred.ablations[0]
    without = trial.replace()
    [c for c in without.criteria if c.enabled and c.text.strip()][first.index].enabled = False
    p_without = predictor.predict(without, phase="I", ablate=False).probability
    assert p_without - pred.probability == pytest.approx(first.delta, abs=1e-5)


def test_editing_a_criterion_changes_the_prediction_and_undo_restores_it(model_dir):
    from engine.predict import Predictor
    from engine.records import read_record

    predictor = Predictor.load(model_dir, device="cpu")
    trial = read_record(EXAMPLES / "NCT09990001.xml")[0]
    before = predictor.predict(trial, phase="I", ablate=False).probability
    edited = trial.replace()
    edited.criteria[0].text = "Pregnant or breast-feeding women with severe hepatic impairment"
    after = predictor.predict(edited, phase="I", ablate=False).probability
    assert after != pytest.approx(before, abs=1e-7)
    assert predictor.predict(trial, phase="I", ablate=False).probability == pytest.approx(before, abs=1e-7)


def test_phase_choice_is_explicit(model_dir):
    from engine.errors import CladmopError
    from engine.predict import Predictor
    from engine.records.trial import Trial

    predictor = Predictor.load(model_dir, device="cpu")
    phase, notes = predictor.choose_phase(Trial("NCT0", phases=("I",)))
    assert phase == "I" and not notes
    with pytest.raises(CladmopError, match="no phase II model"):
        predictor.choose_phase(Trial("NCT0", phases=("I", "II")))
    with pytest.raises(CladmopError, match="states no phase"):
        predictor.choose_phase(Trial("NCT0"))


def test_cli_predict_prints_probability_top_criteria_and_unresolved(model_dir, capsys):
    from engine.cli import main

    assert main(["predict", str(EXAMPLES / "NCT09990001.xml"), "--model", str(model_dir), "--phase", "I",
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "P(success) =" in out and "top criteria by attention" in out
    assert "top items by ablation" in out and "unresolved:" in out
    assert main(["predict", str(EXAMPLES / "NCT09990001.xml"), "--model", str(model_dir), "--phase", "I",
                 "--json", "--no-ablation"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 < line["probability"] < 1 and line["ablation"] == []


def test_cli_reports_a_bad_file_by_name_and_goes_on(model_dir, tmp_path, capsys):
    from engine.cli import main

    bad = tmp_path / "NCT_bad.xml"
    bad.write_text("<clinical_study><brief_title>cut here")
    code = main(["predict", str(bad), str(EXAMPLES / "NCT09990001.xml"), "--model", str(model_dir),
                 "--phase", "I", "--no-ablation"])
    captured = capsys.readouterr()
    assert code == 0 and "NCT_bad.xml" in captured.err and "P(success)" in captured.out


def test_cli_evaluate_prints_the_paper_table(model_dir, top_rows, capsys, tmp_path):
    from engine.cli import main

    out_json = tmp_path / "eval.json"
    assert main(["evaluate", "--data", str(top_rows), "--phase", "I", "--model", str(model_dir),
                 "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "PR-AUC" in out and "ROC-AUC" in out and "±" in out and "(prevalence)" in out
    result = json.loads(out_json.read_text())
    assert result["metrics"]["n"] == 60 and result["metrics"]["prevalence"]["mean"] == pytest.approx(0.5, abs=0.1)


def test_adapter_round_trip_is_bit_exact(model_dir):
    from engine.predict import Predictor

    from safetensors.torch import load_file

    from engine.model.checkpoint import load_base

    a = Predictor.load(model_dir, device="cpu").models.use("I").state_dict()
    b = Predictor.load(model_dir, device="cpu").models.use("I").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    saved = load_file(str(model_dir / "adapters" / "I" / "adapter_model.safetensors"))
    assert any("lora_B" in k and float(v.abs().sum()) > 0 for k, v in saved.items())  # LoRA learned
    base = load_base(model_dir)[0].state_dict()
    changed = [k for k in a if not torch.equal(a[k], base[k])]
    assert any(".attn.q." in k for k in changed) and any(k.startswith("head.") for k in changed)


def test_interrupted_finetuning_keeps_the_best_adapter_and_resumes(model_dir, top_rows, tmp_path):
    import shutil

    from engine.model.checkpoint import ModelManifest
    from engine.tasks import TaskState
    from engine.training.pipeline import make_featurizer

    work = tmp_path / "m"
    shutil.copytree(model_dir, work)
    before = (work / "adapters" / "I" / "adapter_model.safetensors").read_bytes()
    featurizer, state = make_featurizer("minilm", "criterion", "cpu"), TaskState()
    result = finetune_from_files(work, "I", [top_rows], featurizer, device="cpu", state=state, epochs=3,
                                 head_epochs=0, batch_size=16, on_epoch=lambda r: state.cancel())  # after epoch 1
    assert result.fit.stopped == "cancelled" and result.cancelled_in == "lora"
    ModelManifest.read(work).verify(work)  # what is on disk is still a complete, verified model
    assert (work / "adapters" / "I" / "adapter_model.safetensors").is_file()
    resumed = finetune_from_files(work, "I", [top_rows], featurizer, device="cpu", epochs=3, head_epochs=0,
                                  batch_size=16)
    assert resumed.fit.stopped in ("epochs", "patience")
    assert resumed.fit.history[0].epoch == 1 and len(resumed.fit.history) >= 2
    ModelManifest.read(work).verify(work)
    assert before  # the original adapter existed before


def test_a_model_that_gives_no_finite_probability_is_an_error_not_nan(model_dir, tmp_path, capsys):
    """A damaged calibration in model.json (NaN temperature) must not reach the analyst as 'nan'."""
    import shutil

    from engine.cli import main

    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    manifest = json.loads((broken / "model.json").read_text())
    manifest["phases"]["I"]["temperature"] = float("nan")
    (broken / "model.json").write_text(json.dumps(manifest))
    record = str(EXAMPLES / "NCT09990001.xml")
    assert main(["predict", record, "--model", str(broken), "--phase", "I", "--no-ablation", "--json"]) != 0
    err = capsys.readouterr().err
    assert "no finite probability" in err and "broken" in err and "Traceback" not in err


def test_batched_scoring_gives_each_trial_its_own_prediction():
    """predict_many runs trials of several phases together through the encoder and the models; each
    trial's number, ablations, attention, members and similar trials are those of predicting it alone,
    and a record that cannot be scored keeps its error in its place."""
    from engine.predict import Predictor
    from engine.records import load_records
    from engine.records.scorable import scorable_problem

    files = sorted((DATA / "ctgov_xml").glob("NCT*.xml"))[:40]
    trials = [t for t in load_records(files).trials if scorable_problem(t) is None and t.phases][:7]
    assert len({t.phases[-1] for t in trials}) >= 2
    no_phase = trials[0].replace()
    no_phase.phases = []
    batch = trials[:3] + [no_phase] + trials[3:]
    predictor = Predictor.load(device="cpu")
    together = predictor.predict_many(batch, ablate=True, batch_size=5)
    assert isinstance(together[3], Exception) and "states no phase" in str(together[3])
    for trial, got in zip(trials, together[:3] + together[4:]):
        alone = predictor.predict(trial, ablate=True)
        assert got.probability == pytest.approx(alone.probability, abs=1e-5)
        assert got.interval == pytest.approx(alone.interval, abs=1e-5)
        assert [a.label for a in got.ablations] == [a.label for a in alone.ablations]
        np.testing.assert_allclose([a.delta for a in got.ablations], [a.delta for a in alone.ablations], atol=1e-5)
        for a, b in zip(got.attention, alone.attention):
            np.testing.assert_allclose(a.criteria, b.criteria, atol=1e-5)
        assert got.members == pytest.approx(alone.members, abs=1e-5)
        assert [s.nct_id for s in got.similar] == [s.nct_id for s in alone.similar]
