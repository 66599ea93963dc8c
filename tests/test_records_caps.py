"""Issue 20: fields that used to hang, crash or eat gigabytes are cut at read time (limits.py `KEPT_*`,
`MAX_NAME_CHARS`, `MAX_LINE_CHARS`) with a warning on the Trial, or refused with a RecordError naming
the file; never a traceback."""
from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import pytest

from engine.paths import resources_dir
from engine.records import RecordError, load_records, read_record
from engine.records.limits import KEPT_CONDITIONS, KEPT_DRUGS, MAX_LINE_CHARS, MAX_NAME_CHARS, MB

EXAMPLE_JSON = resources_dir() / "examples" / "NCT09990002.json"


def study_with(tmp_path: Path, **module_fields) -> Path:
    """The example API v2 study with fields replaced ("identificationModule.briefTitle": ...)."""
    study = json.loads(EXAMPLE_JSON.read_text())
    for dotted, value in module_fields.items():
        node = study["protocolSection"]
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path = tmp_path / "study.json"
    path.write_text(json.dumps(study))
    return path


def xml_with(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "record.xml"
    path.write_text(f"<clinical_study><id_info><nct_id>NCT00000001</nct_id></id_info><phase>Phase 2</phase>"
                    f"<study_type>Interventional</study_type>{body}</clinical_study>")
    return path


def test_a_2_million_character_drug_name_is_cut_with_a_warning(tmp_path):
    drug = {"type": "DRUG", "name": "d" * 2_000_000}
    path = study_with(tmp_path, armsInterventionsModule__interventions=[drug])
    [trial] = read_record(path)
    assert [len(d.name) for d in trial.drugs] == [MAX_NAME_CHARS]
    assert any("1 drug name(s) cut to their first 1,000 characters (longest: 2,000,000)" in w for w in trial.warnings)


def test_conditions_and_drugs_beyond_the_kept_counts_are_left_out_with_a_warning(tmp_path):
    body = ("".join(f"<condition>disease {i}</condition>" for i in range(999))
            + "".join(f"<intervention><intervention_type>Drug</intervention_type><intervention_name>drug {i}"
                      f"</intervention_name></intervention>" for i in range(100)))
    [trial] = read_record(xml_with(tmp_path, body))
    assert len(trial.conditions) == KEPT_CONDITIONS and trial.conditions[-1].name == f"disease {KEPT_CONDITIONS - 1}"
    assert len(trial.drugs) == KEPT_DRUGS
    assert any(f"lists 999 conditions: the first {KEPT_CONDITIONS} are read" in w for w in trial.warnings)
    assert any(f"lists 100 drug interventions: the first {KEPT_DRUGS} are read" in w for w in trial.warnings)


def test_a_huge_title_is_cut_before_it_is_tidied_so_memory_stays_bounded(tmp_path):
    path = study_with(tmp_path, identificationModule__briefTitle="ab cd " * (10 * MB // 6))
    size = path.stat().st_size
    tracemalloc.start()
    try:
        [trial] = read_record(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(trial.title) <= MAX_LINE_CHARS and trial.title.startswith("ab cd ab")
    assert any(w.startswith(f"title cut to its first {MAX_LINE_CHARS:,} of") for w in trial.warnings)
    assert peak < 4 * size + 16 * MB, f"heap peak {peak / MB:.0f} MB for a {size / MB:.0f} MB file"


@pytest.mark.parametrize("raw", ["inf", "1e400", "-inf", "nan"])
def test_an_infinite_enrollment_is_ignored_with_a_warning(tmp_path, raw):
    [trial] = read_record(xml_with(tmp_path, f"<enrollment>{raw}</enrollment>"))
    assert trial.enrollment is None
    assert any(f"enrollment '{raw}' is not a finite number" in w for w in trial.warnings)


def test_an_infinite_json_enrollment_is_ignored(tmp_path):
    path = study_with(tmp_path)
    path.write_text(path.read_text().replace('"count": 42', '"count": 1e400'))
    [trial] = read_record(path)
    assert trial.enrollment is None and any("not a finite number" in w for w in trial.warnings)


def test_a_json_integer_of_5000_digits_is_a_record_error_naming_the_file(tmp_path):
    path = study_with(tmp_path)
    path.write_text(path.read_text().replace('"count": 42', '"count": ' + "9" * 5000))
    with pytest.raises(RecordError) as caught:
        read_record(path)
    assert str(caught.value).startswith(f"{path}: invalid JSON: a number of over 4,300 digits")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_json_without_a_byte_order_mark_reads_the_same(tmp_path, codec):
    path = tmp_path / "study.json"
    path.write_bytes(EXAMPLE_JSON.read_text("utf-8").encode(codec))
    [trial] = read_record(path)
    assert trial == read_record(EXAMPLE_JSON)[0].replace(source_path=str(path))


def test_a_device_is_reported_as_not_a_regular_file():
    result = load_records("/dev/null")
    assert [e.problem for e in result.errors] == ["is not a regular file (a device, pipe or socket): not a record"]


def test_name_rules_on_cut_names_take_milliseconds(tmp_path):
    """The whole read of a 2,000,000-character drug name, then its lookup keys: well under a second."""
    from engine.lookups.drug_names import looks_biologic, name_keys

    path = study_with(tmp_path, armsInterventionsModule__interventions=[{"type": "DRUG", "name": "x" * 2_000_000}])
    started = time.perf_counter()
    name = read_record(path)[0].drugs[0].name
    name_keys(name), looks_biologic(name)
    assert time.perf_counter() - started < 1.0
