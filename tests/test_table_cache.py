"""Keyed reference tables come back from the cache only when they were built from the very same file."""
import json
import os
from pathlib import Path

import pytest

from engine.lookups import drug_names, drug_tables, table_cache
from engine.lookups.drug_tables import DrugTable, tables_in_folder

KEYING_CODE = (Path(drug_tables.__file__), Path(drug_names.__file__))


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CLADMOP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write_table(folder, rows):
    folder.mkdir(exist_ok=True)
    path = folder / "drugs.csv"
    path.write_text("name,smiles\n" + "".join(f"{n},{s}\n" for n, s in rows))
    return path


def cached(path, build):
    return table_cache.cached(path, DrugTable, build, KEYING_CODE)


def counting_build(path, calls):
    def build():
        calls.append(path)
        return DrugTable.from_csv(path)
    return build


def test_second_read_comes_from_the_cache(tmp_path, own_cache):
    path = write_table(tmp_path / "ref", [("Metformin hydrochloride", "CN(C)C(=N)N=C(N)N")])
    calls = []
    first = cached(path, counting_build(path, calls))
    again = cached(path, counting_build(path, calls))
    assert len(calls) == 1
    assert again.entries == first.entries and again.get("metformin").name == "Metformin hydrochloride"
    assert again.fuzzy_keys == first.fuzzy_keys and again.path == first.path == path


def test_a_table_restored_from_its_state_matches_the_one_keyed_from_rows():
    rows = [("Metformin", None), ("METFORMIN", "CN(C)C(=N)N=C(N)N"), ("Abciximab", None),
            ("Warfarin sodium", "CC(=O)CC(c1ccccc1)c1c(O)c2ccccc2oc1=O")]
    keyed = DrugTable("t.csv", rows)
    restored = DrugTable.from_state(json.loads(json.dumps(keyed.state())))
    assert restored.entries == keyed.entries and restored.rows == keyed.rows
    assert restored.get("metformin").smiles == "CN(C)C(=N)N=C(N)N"  # a structure beats none
    assert restored.fuzzy_candidates("warfarinx", 0.8) == keyed.fuzzy_candidates("warfarinx", 0.8) != []


def test_a_changed_keying_rule_keys_the_table_again(tmp_path, own_cache):
    path = write_table(tmp_path / "ref", [("aspirin", "CC(=O)Oc1ccccc1C(=O)O")])
    rule = tmp_path / "rule.py"
    rule.write_text("RULE = 1")
    calls = []
    table_cache.cached(path, DrugTable, counting_build(path, calls), (rule,))
    rule.write_text("RULE = 2")
    table_cache.cached(path, DrugTable, counting_build(path, calls), (rule,))
    assert calls == [path, path]


def test_an_edited_table_is_keyed_again(tmp_path, own_cache):
    path = write_table(tmp_path / "ref", [("aspirin", "CC(=O)Oc1ccccc1C(=O)O")])
    cached(path, lambda: DrugTable.from_csv(path))
    write_table(tmp_path / "ref", [("aspirin", "CC(=O)Oc1ccccc1C(=O)O"), ("caffeine", "Cn1cnc2c1c(=O)n(C)c(=O)n2C")])
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later modification time
    assert cached(path, lambda: DrugTable.from_csv(path)).get("caffeine") is not None


def test_a_damaged_entry_is_rebuilt(tmp_path, own_cache):
    path = write_table(tmp_path / "ref", [("aspirin", "CC(=O)Oc1ccccc1C(=O)O")])
    cached(path, lambda: DrugTable.from_csv(path))
    entry = table_cache.entry_path(path, KEYING_CODE)
    entry.write_bytes(b"\x80\x05 not JSON")
    calls = []
    assert cached(path, counting_build(path, calls)).get("aspirin") is not None
    assert calls == [path]


def test_an_unwritable_cache_still_gives_the_table(tmp_path, monkeypatch):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("CLADMOP_CACHE", str(blocker))
    path = write_table(tmp_path / "ref", [("aspirin", "CC(=O)Oc1ccccc1C(=O)O")])
    assert cached(path, lambda: DrugTable.from_csv(path)).get("aspirin") is not None


def test_reference_folders_read_through_the_cache(tmp_path, own_cache):
    write_table(tmp_path / "ref", [("aspirin", "CC(=O)Oc1ccccc1C(=O)O")])
    first = tables_in_folder(tmp_path / "ref")
    assert list((own_cache / table_cache.FOLDER).glob("*.json"))
    again = tables_in_folder(tmp_path / "ref")
    assert [t.label for t in again] == [t.label for t in first] == ["drugs.csv"]
    assert again[0].get("aspirin").smiles == "CC(=O)Oc1ccccc1C(=O)O"


def test_an_edited_table_leaves_one_entry_and_no_pickles(tmp_path, own_cache):
    path = write_table(tmp_path / "ref", [("aspirin", "CC(=O)Oc1ccccc1C(=O)O")])
    folder = own_cache / table_cache.FOLDER
    folder.mkdir(parents=True)
    (folder / "0123456789abcdef.pickle").write_bytes(b"an entry from before entries were JSON")
    other = write_table(tmp_path / "other", [("caffeine", "Cn1cnc2c1c(=O)n(C)c(=O)n2C")])
    cached(other, lambda: DrugTable.from_csv(other))
    cached(path, lambda: DrugTable.from_csv(path))
    write_table(tmp_path / "ref", [("aspirin", "CC(=O)Oc1ccccc1C(=O)O"), ("ibuprofen", "CC(C)Cc1ccc(cc1)C(C)C(=O)O")])
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert cached(path, lambda: DrugTable.from_csv(path)).get("ibuprofen") is not None
    kept = sorted(folder.iterdir())
    assert kept == sorted([table_cache.entry_path(path, KEYING_CODE), table_cache.entry_path(other, KEYING_CODE)])
