"""Named regimens ("FOLFOX", "R-CHOP", "gem-cis") resolve to their drugs, each remembering the regimen."""
from __future__ import annotations

import ast
import csv
import re

import pytest

from engine.lookups.drug_regimens import REGIMENS, find_regimen, regimen_key, regimen_lines
from engine.lookups.drug_tables import DrugTable
from engine.lookups.drugs import DrugLookup
from engine.lookups.resolve import Resolver
from engine.paths import shared_data_dir
from engine.records.trial import Drug, Trial

DATA = shared_data_dir()
needs_data = pytest.mark.real_data  # the development data's reference tables and records

#: a small reference table written for these tests (structures are simple stand-ins, not the real ones)
_ROWS = [("leucovorin", "CCO"), ("fluorouracil", "FC1=CNC(=O)NC1=O"), ("oxaliplatin", "CCN"),
         ("irinotecan", "CCCC"), ("capecitabine", "CCCO"), ("bevacizumab", None), ("cyclophosphamide", "CCCl"),
         ("doxorubicin", "CCCN"), ("vincristine", "CCCS"), ("prednisone", "CCC=O")]


@pytest.fixture
def lookup(tmp_path):
    return DrugLookup([DrugTable("tests.csv", _ROWS)], library_path=tmp_path / "library.csv")


def _names(drugs):
    return [(d.name, d.regimen) for d in drugs]


@pytest.mark.parametrize("written", ["FOLFOX", "FOLFOX regimen", "modified FOLFOX6", "folfox-4", "mFOLFOX6",
                                     "FOLFOX 6", "FOLFOX (5-fluorouracil, leucovorin, oxaliplatin)"])
def test_folfox_spellings_are_one_regimen(written):
    assert find_regimen(written).drugs == ("leucovorin", "fluorouracil", "oxaliplatin")


@pytest.mark.parametrize("written, name", [("CHOP-R", "R-CHOP"), ("R-CHOP14 induction regimen", "R-CHOP"),
                                           ("XELOX", "CAPOX"), ("gem/cis", "gem-cis"), ("GemCis", "gem-cis"),
                                           ("carbo-taxol", "carbo-taxol"), ("AC-T", "AC-T"), ("ecf", "ECF"),
                                           ("CMF regimen", "CMF"), ("ABVD", "ABVD"), ("FOLFOXIRI", "FOLFIRINOX")])
def test_common_spellings(written, name):
    assert find_regimen(written).name == name


@pytest.mark.parametrize("name", ["aspirin", "Tc 99", "ice chips", "oxaliplatin", "chopped liver", ""])
def test_other_names_are_no_regimen(name):
    """A cycle number is dropped only from a long enough stem: "Tc 99" does not become the TC regimen."""
    assert find_regimen(name) is None


def test_every_spelling_has_its_own_key():
    keys = [regimen_key(s) for name, (_, spellings) in REGIMENS.items() for s in (name, *spellings)]
    assert all(keys)
    assert len({k: None for k in keys}) >= len(REGIMENS)  # _index() raises on a clash between regimens


def test_lookup_expands_a_regimen_into_tagged_drugs(lookup):
    drugs = lookup.lookup("FOLFOX regimen")
    assert _names(drugs) == [("leucovorin", "FOLFOX"), ("fluorouracil", "FOLFOX"), ("oxaliplatin", "FOLFOX")]
    assert all(d.smiles for d in drugs)
    assert regimen_lines(drugs) == ["FOLFOX → leucovorin, fluorouracil, oxaliplatin"]


def test_regimen_inside_a_combination(lookup):
    drugs = lookup.lookup("FOLFIRI + bevacizumab")
    assert _names(drugs) == [("leucovorin", "FOLFIRI"), ("fluorouracil", "FOLFIRI"), ("irinotecan", "FOLFIRI"),
                             ("bevacizumab", None)]


def test_the_users_library_wins(lookup):
    lookup.add("FOLFOX", "CCO")
    [drug] = lookup.lookup("FOLFOX")
    assert drug.regimen is None and drug.smiles == "CCO"


def test_resolver_tags_and_keeps_the_tag_on_a_second_pass(lookup):
    trial = Trial("NCT00000001", drugs=[Drug("CHOP-R"), Drug("XELOX")])
    resolver = Resolver(lookup, conditions=None)  # no conditions on this trial
    once = resolver.resolve(trial)
    assert [d.regimen for d in once.drugs] == ["R-CHOP"] * 5 + ["CAPOX"] * 2
    assert "rituximab" in [d.name for d in once.drugs]
    twice = resolver.resolve(once)
    assert _names(twice.drugs) == _names(once.drugs)
    assert twice.content_hash() == once.content_hash()


def test_a_saved_trial_keeps_its_regimen(lookup):
    trial = Resolver(lookup, conditions=None).resolve(Trial("NCT00000002", drugs=[Drug("CAPOX")]))
    assert Trial.from_dict(trial.to_dict()).drugs == trial.drugs
    old = {"nct_id": "NCT1", "drugs": [{"name": "x", "smiles": None, "kind": "unknown", "source": None}]}
    assert Trial.from_dict(old).drugs[0].regimen is None  # saved before the field existed


# -- real records ---------------------------------------------------------------------------------------
def _real_intervention_names(limit: int = 40) -> list[str]:
    """Drug names in the TOP benchmark that name a regimen (as the records spell them)."""
    found = []
    pattern = re.compile(r"folf|xelox|capox|chop|gemcis|\becf\b|cmf", re.I)
    for path in sorted((DATA / "top").glob("phase_*.csv")):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if pattern.search(row["drugs"]):
                    found += [n for n in ast.literal_eval(row["drugs"]) if pattern.search(n)]
    return sorted(set(found))[:limit]


@pytest.fixture(scope="module")
def real_lookup(tmp_path_factory):
    library = tmp_path_factory.mktemp("library") / "compound_library.csv"
    return DrugLookup.from_folders([DATA / "lookups"], library_path=library)


@needs_data
def test_regimens_in_real_records_resolve_to_structures(real_lookup):
    names = _real_intervention_names()
    assert len(names) >= 8, names
    for name in names:
        drugs = real_lookup.lookup(name)
        tagged = [d for d in drugs if d.regimen]
        assert tagged, f"{name!r} gave no regimen drugs: {drugs}"
        assert all(d.kind in ("small_molecule", "biologic") for d in tagged), (name, drugs)


@needs_data
def test_folfox_regimen_record(real_lookup):
    """ClinicalTrials.gov XML records name "FOLFOX regimen" as one intervention."""
    from engine.records import read_record

    path = next((p for p in sorted((DATA / "ctgov_xml").glob("*.xml"))
                 if "<intervention_name>FOLFOX regimen<" in p.read_text(encoding="utf-8", errors="ignore")), None)
    if path is None:
        pytest.skip("no FOLFOX record in the shared data")
    trial = read_record(path)[0]
    resolved = Resolver(real_lookup, conditions=None).resolve(trial.replace(conditions=[]))
    folfox = [d for d in resolved.drugs if d.regimen == "FOLFOX"]
    assert [d.name for d in folfox] == ["leucovorin", "fluorouracil", "oxaliplatin"]
    assert all(d.smiles for d in folfox)
    assert not any("FOLFOX" in note for note in resolved.unresolved)
