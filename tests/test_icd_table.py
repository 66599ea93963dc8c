"""The shipped ICD-10-CM embedding table (resources/icd10_embeddings.safetensors) and its reader."""
from __future__ import annotations

import ast
import csv
import random

import numpy as np
import pytest

from engine.features.icd import IcdTable, ancestors, category
from engine.paths import resources_dir, shared_data_dir
from engine.records.errors import RecordError

DATA = shared_data_dir()


@pytest.fixture(scope="module")
def table():
    return IcdTable.load()


def test_table_loads(table):
    assert table.path == resources_dir() / "icd10_embeddings.safetensors"
    assert table.dim == 64
    assert len(table) > 40000
    assert table.vectors.dtype == np.float16
    assert table.params["seed"] and table.params["dimensions"] == 64
    assert table.path.stat().st_size < 8 * 2**20  # "a few MB"
    v = table.vector("E11.9")
    assert v.dtype == np.float32 and v.shape == (64,) and np.isfinite(v).all() and np.abs(v).sum() > 0


def test_dotted_or_undotted(table):
    assert np.array_equal(table.vector("J45909"), table.vector("J45.909"))
    assert np.array_equal(table.vector(" j45.909 "), table.vector("J45.909"))


def test_category_and_ancestors():
    assert category("J45.909") == "J45" == category("j45909")
    assert ancestors("J45.909") == ["J45.909", "J45.90", "J45.9", "J45"]


def test_unknown_leaf_falls_back_to_nearest_known_ancestor_and_says_so(table):
    assert "S72.001A" not in table  # 7th-character extensions are left out of the shipped table
    notes: list[str] = []
    v = table.vector("S72.001A", notes)
    assert np.array_equal(v, table.vector("S72.001"))
    assert notes == ["ICD-10 code S72.001A is not in the embedding table; using its ancestor S72.001"]
    hit = table.lookup("J45.909")
    assert not hit.is_fallback and hit.note == ""
    assert table.vector("not a code") is None and table.vector("") is None
    assert table.vector("U99.99") is None  # no ancestor in the table either


def test_fallback_walks_the_whole_chain():
    codes = ["J45", "J45.9"]
    small = IcdTable(codes, np.eye(2, dtype=np.float16))
    hit = small.lookup("J45.909")
    assert hit.used == "J45.9" and hit.is_fallback  # J45.909 -> J45.90 (absent) -> J45.9
    assert small.lookup("J45.2").used == "J45"


def test_a_missing_or_damaged_table_is_a_clear_error(tmp_path):
    with pytest.raises(RecordError, match="ICD-10 embedding table not found"):
        IcdTable.load(tmp_path / "none.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    with pytest.raises(RecordError, match="bad.safetensors: not a readable safetensors ICD table"):
        IcdTable.load(bad)


@pytest.mark.real_data
def test_codes_of_the_top_data_are_found(table):
    codes = set()
    for path in (DATA / "top").glob("*.csv"):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                for group in ast.literal_eval(row["icdcodes"]):
                    codes.update(ast.literal_eval(group))
    exact = sum(c in table for c in codes) / len(codes)
    with_fallback = sum(table.lookup(c) is not None for c in codes) / len(codes)
    assert exact > 0.9, exact  # measured: see docs/lookups.md
    assert with_fallback > 0.99, with_fallback


def test_sibling_codes_are_closer_than_random_pairs(table):
    rng = random.Random(0)
    by_parent: dict[str, list[str]] = {}
    for code in table.codes:
        if len(code.replace(".", "")) >= 5:
            by_parent.setdefault(code[:-1], []).append(code)
    groups = [g for g in by_parent.values() if len(g) >= 2]
    unit = table.vectors.astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    row = {c: i for i, c in enumerate(table.codes)}

    def cos(a, b):
        return float(unit[row[a]] @ unit[row[b]])

    siblings = [cos(*rng.sample(g, 2)) for g in rng.sample(groups, 500)]
    randoms = [cos(*rng.sample(table.codes, 2)) for _ in range(500)]
    assert np.mean(siblings) > np.mean(randoms) + 0.3, (np.mean(siblings), np.mean(randoms))
    assert np.median(siblings) > np.percentile(randoms, 95)
