"""Resolver: fills drugs and conditions of a Trial copy, keeps the user's choices, lists what failed."""
from __future__ import annotations

import ast
import csv
import os
import time
from pathlib import Path

import pytest

from engine.lookups.conditions import ConditionLookup
from engine.lookups.drugs import DrugLookup
from engine.lookups.icd_codes import load_code_list
from engine.lookups.resolve import Resolver
from engine.lookups.settings import reference_folders, set_reference_folders
from engine.paths import shared_data_dir
from engine.records.trial import Condition, Drug, Trial
from engine.tasks import TaskState

DATA = shared_data_dir()
pytestmark = pytest.mark.real_data  # resolution through the development data's reference tables


@pytest.fixture(scope="module")
def resolver(tmp_path_factory):
    cache = Path(os.environ.get("CLADMOP_TEST_CACHE") or tmp_path_factory.getbasetemp() / "cladmop-cache") / "lookups"
    user = tmp_path_factory.mktemp("user")
    drugs = DrugLookup.from_folders([DATA / "lookups"], library_path=user / "compound_library.csv")
    conditions = ConditionLookup(load_code_list(cache), user / "condition_map.csv", index_cache_folder=cache)
    return Resolver(drugs, conditions)


def _trial(**kw) -> Trial:
    return Trial(nct_id="NCT00000000", **kw)


def test_resolve_fills_a_copy(resolver):
    trial = _trial(drugs=[Drug("carboplatin"), Drug("cisplatin / pemetrexed"), Drug("placebo"), Drug("TD-1211")],
                   conditions=[Condition("Non-small cell lung cancer"), Condition("healthy")],
                   unresolved=["drug 'stale': no structure found", "note from the reader"])
    resolved = resolver.resolve(trial)
    assert trial.drugs[0].smiles is None and trial.conditions[0].icd10 == []  # the original is untouched
    assert [d.name for d in resolved.drugs] == ["carboplatin", "cisplatin", "pemetrexed", "placebo", "TD-1211"]
    assert [d.kind for d in resolved.drugs] == ["small_molecule"] * 3 + ["placebo", "unresolved"]
    assert all(d.smiles for d in resolved.drugs[:3])
    lung, healthy = resolved.conditions
    assert lung.icd10 == ["C34.90"] and lung.match == "synonym"
    assert healthy.match == "unresolved"
    assert resolved.unresolved[0] == "note from the reader"  # stale lookup lines replaced, others kept
    assert "drug 'TD-1211': no structure found" in resolved.unresolved
    assert any(line.startswith("condition 'healthy': no ICD-10 code") for line in resolved.unresolved)
    assert not any("stale" in line for line in resolved.unresolved)


def test_resolver_keeps_user_choices(resolver):
    trial = _trial(drugs=[Drug("aspirin", smiles="OC(=O)c1ccccc1O", kind="small_molecule", source="user"),
                          Drug("XYZ-9", smiles=None, kind="biologic", source="user"),
                          Drug("aspirin", smiles="C", kind="small_molecule", source="top-csv")],
                   conditions=[Condition("asthma", icd10=["J45.50"], match="user"),
                               Condition("asthma", icd10=["Z00.00"], match="fuzzy")])
    resolved = resolver.resolve(trial)
    assert resolved.drugs[0] == trial.drugs[0]
    assert resolved.drugs[1] == trial.drugs[1]
    assert resolved.drugs[2].source == "drugbank_name_to_smiles_lifted.csv"  # not the user's: re-resolved
    assert resolved.conditions[0].icd10 == ["J45.50"] and resolved.conditions[0].match == "user"
    assert resolved.conditions[1].icd10 == ["J45"] and resolved.conditions[1].match == "exact"


def test_record_codes_survive_when_the_lookup_fails(resolver):
    trial = _trial(conditions=[Condition("zzqx syndrome", icd10=["Q87.89"], match="record")])
    [condition] = resolver.resolve(trial).conditions
    assert (condition.icd10, condition.match) == (["Q87.89"], "record")


def _top_trials(limit: int) -> list[Trial]:
    trials = []
    with open(DATA / "top" / "phase_I_train.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            trials.append(_trial(drugs=[Drug(n) for n in ast.literal_eval(row["drugs"])],
                                 conditions=[Condition(n) for n in ast.literal_eval(row["diseases"])]))
            if len(trials) == limit:
                break
    return trials


def test_batch_with_progress_on_real_trials(resolver):
    trials = _top_trials(300)
    seen = []
    state = TaskState(lambda done, total, text: seen.append((done, total)))
    resolved = resolver.resolve_many(trials, state)
    assert len(resolved) == 300 and seen[-1] == (300, 300)
    drugs = [d for t in resolved for d in t.drugs]
    assert sum(d.kind != "unresolved" for d in drugs) / len(drugs) > 0.75
    conditions = [c for t in resolved for c in t.conditions]
    assert sum(bool(c.icd10) for c in conditions) / len(conditions) > 0.7
    started = time.perf_counter()  # cached names: a second pass is a dictionary walk
    resolver.resolve_many(trials)
    names = sum(len(t.drugs) + len(t.conditions) for t in trials)
    assert names / (time.perf_counter() - started) > 2000


def test_reference_folders_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("CLADMOP_LOOKUP_FOLDERS", raising=False)
    monkeypatch.setenv("CLADMOP_HOME", str(tmp_path / "home"))  # the setting written below stays this test's
    assert reference_folders() == [DATA / "lookups"]  # development default
    set_reference_folders([tmp_path])
    assert reference_folders() == [tmp_path]
    monkeypatch.setenv("CLADMOP_LOOKUP_FOLDERS", os.pathsep.join([str(tmp_path), str(DATA / "lookups")]))
    assert reference_folders() == [tmp_path, DATA / "lookups"]
