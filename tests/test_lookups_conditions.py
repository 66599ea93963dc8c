"""Condition name -> ICD-10-CM (simple-icd-10-cm's CDC data), on wording taken from real trial records."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from engine.lookups.condition_names import CONDITION_SYNONYMS, bag_key, is_healthy_volunteers
from engine.lookups.conditions import FUZZY_THRESHOLD, ConditionLookup, agreement_with_top, category
from engine.lookups.icd_codes import load_code_list
from engine.paths import shared_data_dir
from engine.records.errors import RecordError

DATA = shared_data_dir()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """The session's cache folder (as tests/conftest.py sets it): code list and index are built once."""
    base = os.environ.get("CLADMOP_TEST_CACHE") or tmp_path_factory.getbasetemp() / "cladmop-cache"
    return Path(base) / "lookups"


@pytest.fixture(scope="module")
def codes(cache):
    return load_code_list(cache)


@pytest.fixture(scope="module")
def lookup(codes, cache, tmp_path_factory):
    return ConditionLookup(codes, tmp_path_factory.mktemp("user") / "condition_map.csv", index_cache_folder=cache)


def test_code_list_is_the_full_release(codes):
    assert len(codes.descriptions) > 70000
    assert codes.descriptions["J45.909"] == "Unspecified asthma, uncomplicated"
    assert "B20" in codes  # a category that is also a one-code block
    assert ("C34.90", "Lung cancer NOS") in codes.inclusion_terms


def test_curated_synonyms_point_at_real_codes(codes):
    missing = {name: c for name, cs in CONDITION_SYNONYMS.items() for c in cs if c not in codes}
    assert not missing


@pytest.mark.parametrize("name, code", [
    ("Asthma", "J45"), ("Schizophrenia", "F20"), ("Alzheimer's Disease", "G30"), ("J45.909", "J45.909"),
    ("J45909", "J45.909"), ("Multiple sclerosis", "G35"),
])
def test_exact(lookup, name, code):
    found = lookup.lookup(name)
    assert (found.icd10, found.match) == ([code], "exact")
    assert found.candidates[0].code == code and found.candidates[0].score == 1.0


@pytest.mark.parametrize("name, expected_category", [
    ("breast cancer", "C50"), ("Breast Neoplasms", "C50"), ("metastatic breast cancer", "C50"),
    ("prostatic neoplasms", "C61"), ("pancreatic cancer", "C25"), ("NSCLC", "C34"),
    ("Carcinoma, Non-Small-Cell Lung", "C34"), ("COPD", "J44"), ("Pulmonary Disease, Chronic Obstructive", "J44"),
    ("HIV Infections", "B20"), ("AML", "C92"), ("T2DM", "E11"), ("Diabetes Mellitus, Type 2", "E11"),
    ("hypertension", "I10"), ("hepatocellular carcinoma", "C22"), ("Non-Hodgkin's Lymphoma", "C85"),
    ("adult giant cell glioblastoma", "C71"),
])
def test_synonyms(lookup, name, expected_category):
    found = lookup.lookup(name)
    assert found.match == "synonym", found
    assert category(found.icd10[0]) == expected_category
    assert found.candidates and found.candidates[0].description


def test_ambiguous_abbreviations_need_capitals_brackets_or_the_last_word(lookup):
    assert category(lookup.lookup("ALL").icd10[0]) == "C91"
    assert category(lookup.lookup("recurrent pediatric all").icd10[0]) == "C91"
    assert category(lookup.lookup("acute myeloid leukemia (aml)").icd10[0]) == "C92"
    assert not any(c.startswith("C91") for c in lookup.lookup("all solid tumors").icd10)


def test_a_cancer_name_never_maps_to_a_non_cancer_code(lookup):
    found = lookup.lookup("Urethral Cancer")
    assert all(c.startswith(("C", "D")) for c in found.icd10), found  # not N36.9 "Urethral disorder"


def test_fuzzy_assigns_above_the_threshold_and_keeps_candidates(lookup):
    found = lookup.lookup("chronic obstructive pulmonry disease")  # typo
    assert found.match == "fuzzy"
    assert category(found.icd10[0]) == "J44"
    assert 1 < len(found.candidates) <= 5
    assert found.candidates[0].score >= FUZZY_THRESHOLD
    assert [c.score for c in found.candidates] == sorted((c.score for c in found.candidates), reverse=True)


def test_below_the_threshold_stays_unresolved_with_candidates(lookup):
    found = lookup.lookup("idiopathic parkinson disorder of movement")
    assert found.match == "unresolved" and found.icd10 == []
    assert found.candidates and found.candidates[0].score < FUZZY_THRESHOLD
    assert "fuzzy threshold" in lookup.unresolved_reason("idiopathic parkinson disorder of movement")


@pytest.mark.parametrize("name", ["healthy", "Healthy Volunteers", "healthy subjects", "Normal Volunteers"])
def test_healthy_volunteers_are_unresolved_on_purpose(lookup, name):
    assert is_healthy_volunteers(name)
    found = lookup.lookup(name)
    assert (found.match, found.icd10, found.candidates) == ("unresolved", [], [])
    assert "healthy volunteers" in lookup.unresolved_reason(name)


def test_bag_key_rules():
    assert bag_key("Carcinoma, Non-Small-Cell Lung") == bag_key("non small cell lung cancer")
    assert bag_key("Diabetes Mellitus, Type 2") == bag_key("type 2 diabetes mellitus")
    assert bag_key("benign neoplasm of breast") != bag_key("breast cancer")


def test_user_mapping_wins_and_persists(codes, cache, tmp_path):
    path = tmp_path / "condition_map.csv"
    lookup = ConditionLookup(codes, path, index_cache_folder=cache)
    assert lookup.lookup("breast cancer").icd10 == ["C50.919"]
    chosen = lookup.remember("Breast cancer", ["c50911", "C50.912"])
    assert (chosen.icd10, chosen.match) == (["C50.911", "C50.912"], "user")
    assert [p.name for p in tmp_path.iterdir()] == ["condition_map.csv"]
    again = ConditionLookup(codes, path, index_cache_folder=cache).lookup("BREAST CANCER")
    assert (again.icd10, again.match) == (["C50.911", "C50.912"], "user")
    with pytest.raises(ValueError, match="not an ICD-10 code"):
        lookup.remember("x", ["banana"])


def test_a_broken_user_mapping_names_the_file_and_line(codes, tmp_path):
    path = tmp_path / "condition_map.csv"
    path.write_text("name,codes\nasthma,J45\nflu,not-a-code\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"condition_map.csv: line 3: 'NOT-A-CODE' is not an ICD-10 code"):
        ConditionLookup(codes, path)
    path.write_text("condition;icd\nasthma;J45\n", encoding="utf-8")
    with pytest.raises(RecordError, match="needs the columns 'name,codes'"):
        ConditionLookup(codes, path)


def test_a_damaged_code_list_or_index_cache_is_built_again(codes, lookup, cache, tmp_path):
    import shutil

    copy = tmp_path / "lookups"
    shutil.copytree(cache, copy)
    files = sorted(copy.glob("icd10cm-*"))
    assert [f.suffix for f in files] == [".json", ".json"]  # the code list and the index, data only
    for damaged in files:
        damaged.write_bytes(damaged.read_bytes()[:100])  # a cut-off write from an older crash
    older = copy / "icd10cm-1.4.0-f3.pickle"  # an older release's list, from before caches were JSON
    older.write_bytes(b"pickled once")
    again = load_code_list(copy)
    assert not older.exists()
    assert again.descriptions == codes.descriptions and again.inclusion_terms == codes.inclusion_terms
    assert ConditionLookup(again, None, index_cache_folder=copy).lookup("type 2 diabetes").icd10 == ["E11.9"]


def test_the_index_cache_gives_the_same_answers_as_a_fresh_build(lookup, codes, cache):
    assert len(list(cache.glob("icd10cm-index-*"))) == 1
    fresh = ConditionLookup(codes, None, index_cache_folder=None)
    assert fresh._exact == lookup._exact and fresh._bag == lookup._bag


@pytest.mark.real_data
def test_agreement_with_top_mapping_at_category_level(lookup):
    report = agreement_with_top(lookup, DATA / "lookups" / "top_derived_disease_to_icd10.csv")
    assert report["names"] > 1000
    # TOP's own mapping is noisy (lymphoma -> S33, AML without C92); exact matches still agree
    exact = report["summary"]["  exact: agree"]
    agreed, total = (int(x) for x in exact.split(" (")[0].split(" of "))
    assert agreed / total > 0.85


@pytest.mark.real_data
def test_most_xml_corpus_conditions_get_a_code(lookup):
    with open(DATA / "ctgov_xml" / "index.csv", newline="", encoding="utf-8") as f:
        names = {n for row in csv.DictReader(f) for n in row["conditions"].split("|") if n}
    resolved = sum(lookup.lookup(n).match != "unresolved" for n in sorted(names)[::4])
    assert resolved / len(sorted(names)[::4]) > 0.6  # measured 0.72 on all names, see docs/lookups.md


def test_the_fuzzy_index_can_be_built_ahead_and_is_then_used(codes):
    fresh = ConditionLookup(codes, None, index_cache_folder=None)
    assert fresh._matcher is None  # built on first use, or ahead of it
    fresh.prepare_fuzzy_search()
    built = fresh._matcher
    assert built is not None
    assert fresh.lookup("idiopathic parkinsons disease of movement").candidates
    assert fresh._matcher is built
