"""API v2 JSON reader: fields, multi-study files, wrong types named by field."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from engine.paths import resources_dir
from engine.records import RecordError, read_record
from engine.records.json_reader import read_ctgov_json

EXAMPLE = resources_dir() / "examples" / "NCT09990002.json"


def study() -> dict:
    return json.loads(EXAMPLE.read_text())


def write(tmp_path: Path, name: str, document) -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_example_study_fields():
    [trial] = read_record(EXAMPLE)
    assert trial.nct_id == "NCT09990002"
    assert trial.phases == ("I", "II")
    assert trial.status == "Terminated" and trial.study_type == "Interventional"
    assert trial.sponsor == "Example Cardiology Network"
    assert (trial.start_date, trial.completion_date, trial.enrollment) == ("2012-04", "2013-11", 42)
    assert [c.name for c in trial.conditions] == ["Coronary Artery Disease", "Hypercholesterolemia"]
    assert [d.name for d in trial.drugs] == ["Aspirin", "Atorvastatin"]  # not the procedure
    assert [(c.kind, c.text) for c in trial.criteria][2:5] == [
        ("inclusion", "LDL cholesterol > 100 mg/dL at screening"),
        ("inclusion", "Adequate organ function: platelets >= 100,000/mm^3; ALT < 3 times the upper limit of normal"),
        ("exclusion", "Known allergy to aspirin or to any statin"),
    ]
    assert trial.source_format == "ctgov-json" and trial.warnings == []
    assert "whyStopped" not in json.dumps(trial.to_dict())  # never carried along


def test_list_and_api_page_files_hold_several_studies(tmp_path):
    second = study()
    second["protocolSection"]["identificationModule"]["nctId"] = "NCT09990099"
    for document in ([study(), second], {"studies": [study(), second], "nextPageToken": "abc"}):
        trials = read_record(write(tmp_path, "many.json", document))
        assert [t.nct_id for t in trials] == ["NCT09990002", "NCT09990099"]


@pytest.mark.parametrize("field,value,message", [
    ("conditionsModule.conditions", "Asthma", "'protocolSection.conditionsModule.conditions' should be a list, not a string"),
    ("designModule.phases", [2], "'protocolSection.designModule.phases' should be a list of strings, holds a number"),
    ("eligibilityModule.eligibilityCriteria", ["a"], "'protocolSection.eligibilityModule.eligibilityCriteria' should be a string, not a list"),
    ("identificationModule", "NCT1", "field 'protocolSection.identificationModule.nctId': 'nctId' sits in a string"),
    ("armsInterventionsModule.interventions", {"type": "DRUG"}, "'protocolSection.armsInterventionsModule.interventions' should be a list"),
    ("designModule.enrollmentInfo.count", {"n": 3}, "'protocolSection.designModule.enrollmentInfo.count' should be a number"),
])
def test_wrong_types_name_the_field(tmp_path, field, value, message):
    document = study()
    node = document["protocolSection"]
    *parents, last = field.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    with pytest.raises(RecordError) as info:
        read_record(write(tmp_path, "bad.json", document))
    assert message in str(info.value)


def test_one_bad_study_in_a_list_is_collected_and_the_rest_read(tmp_path):
    bad = study()
    bad["protocolSection"]["conditionsModule"]["conditions"] = 7
    errors: list[RecordError] = []
    trials = read_ctgov_json(write(tmp_path, "mixed.json", [study(), bad, study()]), errors)
    assert len(trials) == 2 and len(errors) == 1 and "study 2:" in str(errors[0])
    with pytest.raises(RecordError, match="study 2"):
        read_ctgov_json(tmp_path / "mixed.json")


@pytest.mark.parametrize("document,message", [
    ('{"protocolSection": {', "invalid JSON at line 1, column"),
    ("[]", "holds no studies"),
    ('"just text"', "top level is a string"),
    ('{"FullStudiesResponse": {}}', "no 'protocolSection' object"),
    ('{"studies": {"a": 1}}', "'studies' should be a list"),
])
def test_malformed_or_foreign_json(tmp_path, document, message):
    with pytest.raises(RecordError, match=re.escape(message)):
        read_record(write(tmp_path, "x.json", document))


def test_missing_modules_read_as_empty_fields(tmp_path):
    document = {"protocolSection": {"identificationModule": {"nctId": "NCT09990077"},
                                    "designModule": {"studyType": "OBSERVATIONAL"}}}
    [trial] = read_record(write(tmp_path, "bare.json", document))
    assert (trial.phases, trial.drugs, trial.conditions, trial.criteria) == ((), [], [], [])
    assert trial.study_type == "Observational"
    assert any("no eligibility criteria" in w for w in trial.warnings)
    assert any("Observational study" in w for w in trial.warnings)


def test_utf16_and_bom(tmp_path):
    text = json.dumps(study(), ensure_ascii=False)
    for encoding in ("utf-16", "utf-8-sig"):
        path = tmp_path / f"{encoding}.json"
        path.write_bytes(text.encode(encoding))
        assert read_record(path)[0].nct_id == "NCT09990002"


def test_early_phase_1_reads_as_phase_one_with_a_warning(tmp_path):
    document = copy.deepcopy(study())
    document["protocolSection"]["designModule"]["phases"] = ["EARLY_PHASE1"]
    [trial] = read_record(write(tmp_path, "early.json", document))
    assert trial.phases == ("I",) and any("EARLY_PHASE1" in w for w in trial.warnings)
