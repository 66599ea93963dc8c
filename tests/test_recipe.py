"""The default model's recipe: pre-training corpus, learning rows, pooled adapters served per phase."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.paths import shared_data_dir
from engine.records.trial import Criterion, Drug, Trial
from engine.training.corpus import drug_key, marketed_drug_trials, read_atc_names
from tests.model_fixtures import make_features, small_config

DATA = shared_data_dir()
needs_data = pytest.mark.real_data  # claims about the development data's TOP files, records and lookups


def trial(nct, start="March 2008", drugs=("Metformin Hydrochloride",), criteria=("Adults",)):
    return Trial(nct_id=nct, start_date=start, drugs=[Drug(name=d) for d in drugs],
                 criteria=[Criterion(text=c) for c in criteria])


def test_marketed_corpus_keeps_only_old_marketed_drug_trials_outside_the_learning_rows():
    atc = {drug_key("metformin hydrochloride"), drug_key("aspirin")}
    trials = [trial("NCT1"), trial("NCT2", start="2014-02-01"), trial("NCT3", drugs=("ABC-123",)),
              trial("NCT4"), trial("NCT1"), trial("NCT5", criteria=()), trial("NCT6", start=""),
              trial("NCT7", start="2013-12", drugs=("placebo", "Aspirin"))]
    kept, report = marketed_drug_trials(trials, atc, exclude={"NCT4"})
    assert [t.nct_id for t in kept] == ["NCT1", "NCT7"]
    assert report.read == 8 and report.kept == 2
    assert report.skipped == {"started 2014 or later (or no start date)": 2, "no drug with an ATC code": 1,
                              "in the TOP learning rows": 1, "duplicate": 1, "no criteria": 1}
    assert trial("X", start="January 1999").start_year == 1999


@needs_data
def test_marketed_corpus_from_real_records():
    from engine.records import load_records
    from engine.training.recipe import learning_ids

    files = sorted((DATA / "ctgov_xml").glob("NCT*.xml"))[:400]
    learning = learning_ids(DATA / "top")
    kept, report = marketed_drug_trials(load_records(files).trials,
                                        read_atc_names(DATA / "lookups" / "pytrial_atc_drug.csv"), learning)
    assert report.read == 400 and 50 < len(kept) < 400, report
    assert all(t.start_year < 2014 and t.nct_id not in learning and t.active_criteria for t in kept)


@needs_data
def test_learning_rows_hold_every_phase_file_row_once_with_its_phases():
    import csv

    from engine.training.recipe import learning_rows

    rows, member = learning_rows(DATA / "top")
    expected: dict[str, tuple[int, set]] = {}
    for path in sorted((DATA / "top").glob("phase_*.csv")):
        phase = path.name.split("_")[1]
        with open(path, newline="", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                label, phases = expected.get(row["nctid"], (int(row["label"]), set()))
                expected[row["nctid"]] = (label, phases | {phase})
    ids = [t.nct_id for t in rows.trials]
    assert len(ids) == len(set(ids)) == len(expected)
    for nct, y, m in zip(ids, rows.labels, member):
        assert (int(y), set(m)) == expected[nct]
    assert sum(len(m) > 1 for m in member) > 400  # the mixed-phase trials are there, once each


def test_pooled_adapter_is_served_per_phase_with_its_own_calibration(tmp_path):
    from engine.model.checkpoint import ModelManifest
    from engine.training.finetune import adapter_logits, finetune, share_adapter
    from engine.training.config import FinetuneConfig, FitConfig, PretrainConfig
    from engine.training.pretrain import pretrain

    config = small_config()
    y = np.array([i % 2 for i in range(40)])
    feats = [make_features(config, seed=i, signal=2.0 * y[i]) for i in range(40)]
    pretrain(feats[:30], feats[30:], config, tmp_path, PretrainConfig(FitConfig(epochs=1, batch_size=8)),
             device="cpu")
    finetune(tmp_path, "I", feats[:30], y[:30], feats[30:], y[30:], device="cpu",
             config=FinetuneConfig(fit=FitConfig(epochs=2, batch_size=8), lr_head=1e-2, lr_lora=1e-2))
    logits = adapter_logits(tmp_path, "I", feats[30:], "cpu")
    labels_ii = np.array([1, 1, 1, 1, 1, 1, 1, 0, 1, 0])  # a phase with another base rate
    share_adapter(tmp_path, "I", "II", logits, labels_ii, base_rate=0.8, trained_on="pooled")

    manifest = ModelManifest.read(tmp_path)
    manifest.verify(tmp_path)  # the copied adapter is checksummed like the rest
    assert (tmp_path / "adapters" / "II" / "adapter_model.safetensors").read_bytes() == \
           (tmp_path / "adapters" / "I" / "adapter_model.safetensors").read_bytes()
    np.testing.assert_allclose(adapter_logits(tmp_path, "II", feats[30:], "cpu"), logits, rtol=1e-6)
    one, two = manifest.phases["I"], manifest.phases["II"]
    assert two.base_rate == 0.8 and (one.temperature, one.bias) != (two.temperature, two.bias)
    calibrated = 1 / (1 + np.exp(-(logits / two.temperature + two.bias)))
    assert abs(calibrated.mean() - labels_ii.mean()) < 0.1  # the phase's own base rate comes back


def test_recipe_stamp_names_the_model_and_records_every_setting(tmp_path):
    import torch

    from engine.model.checkpoint import BASE_WEIGHTS, ModelManifest, save_state
    from engine.model.cladmop import CLaDMoP
    from engine.training.recipe import RECIPE_VERSION, finetune_choices, stamp_recipe

    config = small_config()
    save_state(CLaDMoP(config), tmp_path / BASE_WEIGHTS)
    ModelManifest(config=config, name=tmp_path.name).write(tmp_path)
    stamp_recipe(tmp_path, dict(seed=3, pretrain_epochs=12, pretrain_lr=3e-4, mode="pooled", finetune_epochs=2,
                                granularity="criterion"))
    manifest = ModelManifest.read(tmp_path)
    manifest.verify(tmp_path)
    recipe = manifest.extra["recipe"]
    assert manifest.name == f"CLaDMoP default {RECIPE_VERSION}" and recipe["seed"] == 3
    assert recipe["packages"]["torch"] == torch.__version__ and recipe["packages"]["python"].startswith("3.11")
    expected = finetune_choices(2, 3)
    assert recipe["finetune"]["head_epochs"] == expected.head_epochs and recipe["finetune"]["fit"]["epochs"] == 2
