"""Legacy XML reader: fields of a known record, and hostile or broken files refused clearly."""
from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from lxml import etree

from engine.paths import resources_dir
from engine.records import NotADrugTrial, RecordError, read_record, require_drug_trial
from engine.records.xml_reader import MAX_XML_BYTES, hardened_parser, read_ctgov_xml

EXAMPLE = resources_dir() / "examples" / "NCT09990001.xml"


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def minimal(body: str = "", criteria: str | None = "Inclusion Criteria:\n\n  -  Adults\n") -> str:
    eligibility = (f"<eligibility><criteria><textblock>{criteria}</textblock></criteria></eligibility>"
                   if criteria is not None else "")
    return (f"<clinical_study><id_info><nct_id>NCT00000001</nct_id></id_info>"
            f"<brief_title>Café trial</brief_title><phase>Phase 2</phase>"
            f"<study_type>Interventional</study_type>"
            f"<intervention><intervention_type>Drug</intervention_type>"
            f"<intervention_name>aspirin</intervention_name></intervention>{body}{eligibility}</clinical_study>")


def test_example_record_fields():
    trial = read_ctgov_xml(EXAMPLE)
    assert trial.nct_id == "NCT09990001"
    assert trial.title.startswith("Metformin Extended Release Versus Placebo")
    assert trial.phases == ("II",) and trial.status == "Completed" and trial.study_type == "Interventional"
    assert trial.sponsor == "Example Research Hospital"
    assert (trial.start_date, trial.completion_date, trial.enrollment) == ("March 2009", "June 2011", 180)
    assert [c.name for c in trial.conditions] == ["Type 2 Diabetes Mellitus", "Obesity"]
    assert all(c.icd10 == [] and c.match == "" for c in trial.conditions)
    # the behavioural intervention is not a drug; placebo is still listed (lookups classify it)
    assert [d.name for d in trial.drugs] == ["Metformin hydrochloride", "Placebo"]
    assert all(d.kind == "unknown" and d.smiles is None for d in trial.drugs)
    assert [c.kind for c in trial.criteria] == ["inclusion"] * 5 + ["exclusion"] * 4
    assert trial.criteria[3].text == ("Adequate kidney function, defined as: estimated glomerular filtration rate "
                                      "of 45 mL/min/1.73 m2 or more; no dialysis in the past 12 months")
    assert trial.criteria_text.startswith("Inclusion Criteria:\n\n  -  Adults aged 40 to 75")
    assert "\r" not in trial.criteria_text
    assert trial.source_format == "ctgov-xml" and trial.source_path == str(EXAMPLE)
    assert trial.label is None and trial.warnings == []
    assert require_drug_trial(trial) is trial


def test_external_entity_to_a_local_file_is_refused_and_never_read(tmp_path):
    xxe = ('<?xml version="1.0"?>\n<!DOCTYPE clinical_study [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
           + minimal().replace("Café trial", "&xxe;"))
    with pytest.raises(RecordError, match="DOCTYPE") as info:
        read_record(write(tmp_path, "xxe.xml", xxe))
    assert "root:" not in str(info.value)
    # the parser itself (behind the DOCTYPE refusal) does not resolve it either
    root = etree.fromstring(xxe.encode(), hardened_parser())
    assert "root:" not in etree.tostring(root, encoding="unicode")


def test_billion_laughs_is_refused_fast(tmp_path):
    levels = "".join(f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{levels}]><clinical_study>&lol9;</clinical_study>'
    start = time.perf_counter()
    with pytest.raises(RecordError, match="DOCTYPE"):
        read_record(write(tmp_path, "bomb.xml", bomb))
    assert time.perf_counter() - start < 2
    try:  # behind the refusal, the parser neither expands it ...
        root = etree.fromstring(bomb.encode(), hardened_parser())
        assert len(etree.tostring(root)) < 1000
    except etree.XMLSyntaxError as exc:  # ... or libxml2's amplification guard stops it
        assert "amplification" in str(exc) or "entity" in str(exc).lower()


def test_any_doctype_is_refused_even_in_utf16(tmp_path):
    plain = '<?xml version="1.0"?><!DOCTYPE clinical_study SYSTEM "http://example.org/x.dtd">' + minimal()
    with pytest.raises(RecordError, match="DOCTYPE"):
        read_record(write(tmp_path, "dtd.xml", plain))
    utf16 = plain.replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")
    with pytest.raises(RecordError, match="DOCTYPE"):
        read_record(write(tmp_path, "dtd16.xml", utf16))


def test_truncated_record_names_the_line(tmp_path):
    lines = EXAMPLE.read_text().splitlines(keepends=True)
    path = write(tmp_path, "cut.xml", "".join(lines[:40]))
    with pytest.raises(RecordError, match=r"truncated at line (39|40|41)") as info:
        read_record(path)
    assert str(path) in str(info.value)


def test_malformed_record_names_the_line(tmp_path):
    broken = minimal().replace("<phase>Phase 2</phase>", "\n\n<phase>Phase 2</phhase>")
    with pytest.raises(RecordError, match=r"malformed XML at line 3"):
        read_record(write(tmp_path, "bad.xml", broken))


def test_wrong_root_element(tmp_path):
    with pytest.raises(RecordError) as info:
        read_record(write(tmp_path, "foo.xml", "<?xml version='1.0'?><foo><bar/></foo>"))
    assert info.value.problem == "not a ClinicalTrials.gov <clinical_study> record (root is <foo>)"


def test_empty_criteria_is_a_warning_not_an_error(tmp_path):
    trial = read_ctgov_xml(write(tmp_path, "nocrit.xml", minimal(criteria=None)))
    assert trial.criteria == [] and trial.criteria_text == ""
    assert "no eligibility criteria in the record" in trial.warnings
    empty_items = read_ctgov_xml(write(tmp_path, "dash.xml", minimal(criteria="Inclusion Criteria:\n\n-\n")))
    assert empty_items.criteria == [] and empty_items.warnings


def test_binary_garbage_and_empty_files(tmp_path):
    garbage = bytes(random.Random(7).getrandbits(8) for _ in range(4096))
    with pytest.raises(RecordError, match="binary"):
        read_record(write(tmp_path, "garbage.xml", garbage))
    with pytest.raises(RecordError, match="empty"):
        read_record(write(tmp_path, "empty.xml", b"  \n"))


@pytest.mark.parametrize("encoding,declared", [
    ("utf-16", True), ("utf-16", False), ("utf-16-le", False), ("utf-16-be", True),
    ("latin-1", True), ("latin-1", False), ("utf-8-sig", False),
])
def test_encodings_declared_or_not(tmp_path, encoding, declared):
    name = {"latin-1": "ISO-8859-1", "utf-8-sig": "UTF-8"}.get(encoding, "UTF-16")
    prolog = f'<?xml version="1.0" encoding="{name}"?>\n' if declared else ""
    trial = read_ctgov_xml(write(tmp_path, "enc.xml", (prolog + minimal()).encode(encoding)))
    assert trial.title == "Café trial" and trial.phases == ("II",)
    assert [c.text for c in trial.criteria] == ["Adults"]
    undeclared_legacy = encoding == "latin-1" and not declared
    assert bool(trial.warnings) == undeclared_legacy  # "read as Windows-1252"


def test_file_size_cap(tmp_path):
    path = tmp_path / "huge.xml"
    with path.open("wb") as handle:
        handle.write(b"<clinical_study>" + b"<condition>x</condition>\n" * (MAX_XML_BYTES // 24 + 1))
    assert path.stat().st_size > MAX_XML_BYTES
    with pytest.raises(RecordError, match="over the 20 MB limit"):
        read_record(path)


def test_schema_drift_namespaces_and_missing_id_are_read(tmp_path):
    drift = minimal("<eligibility_extra/>").replace(
        "</eligibility>", "<minimum_age>0 Years</minimum_age></eligibility>")
    assert read_ctgov_xml(write(tmp_path, "drift.xml", drift)).nct_id == "NCT00000001"
    namespaced = minimal().replace("<clinical_study>", '<clinical_study xmlns="urn:example">')
    assert read_ctgov_xml(write(tmp_path, "ns.xml", namespaced)).phases == ("II",)
    anonymous = read_ctgov_xml(write(tmp_path, "NCT12345678.xml", minimal().replace("NCT00000001", "")))
    assert anonymous.nct_id == "NCT12345678" and any("nct_id" in w for w in anonymous.warnings)


def test_observational_and_non_drug_records_are_read_with_a_warning_and_refused_for_scoring(tmp_path):
    observational = minimal().replace("Interventional", "Observational")
    trial = read_ctgov_xml(write(tmp_path, "obs.xml", observational))
    assert any("Observational study" in w for w in trial.warnings)
    with pytest.raises(NotADrugTrial, match="Observational"):
        require_drug_trial(trial)
    device = minimal().replace("<intervention_type>Drug", "<intervention_type>Device")
    trial = read_ctgov_xml(write(tmp_path, "device.xml", device))
    assert trial.drugs == [] and any("no drug" in w for w in trial.warnings)
    with pytest.raises(NotADrugTrial, match="no drug"):
        require_drug_trial(trial)
