"""Name -> SMILES tables: the user's compound library and the reference CSVs the user points at.

A table is read once into a dict keyed by `drug_names.table_keys` (exact name first, then the name
without its salt), so a lookup is a few dict probes; reference tables are kept keyed in the cache folder
(engine/lookups/table_cache.py). SMILES are not parsed here (RDKit is slow to
import); the user library validates what it stores, reference tables are trusted as curated.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from engine.lookups.drug_names import has_digits, table_keys
from engine.records.errors import RecordError

#: reference tables read first when a folder holds them (cleanest first)
PREFERRED_TABLES = ("drugbank_name_to_smiles_lifted.csv", "pytrial_drug_smiles.csv")
NAME_COLUMNS = ("name", "drug_name", "drug", "compound", "compound_name", "generic_name")
SMILES_COLUMNS = ("smiles", "moldb_smiles", "canonical_smiles", "isomeric_smiles")
_ATOM = re.compile(r"\[[^\]]+\]|Cl|Br|[BCNOPSFI]|[bcnops]")


@dataclass(frozen=True)
class TableEntry:
    name: str
    smiles: str | None  # None: the table knows the name but has no structure (DrugBank biotech)


def heavy_atom_count(smiles: str) -> int:
    """Cheap size estimate without RDKit (bracket atoms count once, explicit [H] not at all)."""
    return sum(1 for a in _ATOM.findall(smiles) if not re.fullmatch(r"\[\d*H\d*[+-]?\]", a))


def _header_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def _key_rows(rows: list[tuple[str, str | None]]) -> dict[str, int]:
    """Key -> row: every row's exact key first, then the keys without salt; a row with a structure
    beats one without."""
    ranked = sorted(range(len(rows)), key=lambda i: rows[i][1] is None)
    keyed: dict[str, int] = {}
    for pass_index in (0, 1):
        for i in ranked:
            keys = table_keys(rows[i][0])
            for key in keys[:1] if pass_index == 0 else keys[1:]:
                keyed.setdefault(key, i)
    return keyed


def _fuzzy_keys(rows: list[tuple[str, str | None]], keyed: dict[str, int]) -> list[str]:
    """Keys for fuzzy matching: exact names only, no codes (digits), long enough to be safe;
    those with a structure first."""
    keys = [k for k, i in keyed.items() if len(k) >= 7 and not has_digits(k) and table_keys(rows[i][0])[0] == k]
    return [k for k in keys if rows[keyed[k]][1] is not None] + [k for k in keys if rows[keyed[k]][1] is None]


class DrugTable:
    """One name -> SMILES table; `label` is what `Drug.source` shows (normally the file name)."""

    def __init__(self, label: str, rows: list[tuple[str, str | None]], path: Path | None = None):
        self.label = label
        self.path = path
        self.rows = list(rows)
        keyed = _key_rows(self.rows)
        self._index(keyed, _fuzzy_keys(self.rows, keyed))

    def _index(self, keyed: dict[str, int], fuzzy_keys: list[str]) -> None:
        self.entries: dict[str, TableEntry] = {k: TableEntry(*self.rows[i]) for k, i in keyed.items()}
        self._keyed = keyed
        self.fuzzy_keys = fuzzy_keys
        self._by_length: dict[int, list[str]] = {}
        for key in fuzzy_keys:
            self._by_length.setdefault(len(key), []).append(key)

    def state(self) -> dict:
        """Plain JSON data from which `from_state` rebuilds this table without keying it again."""
        return {"label": self.label, "rows": self.rows, "keyed": self._keyed, "fuzzy_keys": self.fuzzy_keys}

    @classmethod
    def from_state(cls, state: dict, path: Path | None = None) -> "DrugTable":
        table = cls.__new__(cls)
        table.label, table.path = str(state["label"]), path
        table.rows = [(str(name), None if smiles is None else str(smiles)) for name, smiles in state["rows"]]
        table._index({str(k): int(i) for k, i in state["keyed"].items()}, [str(k) for k in state["fuzzy_keys"]])
        return table

    def fuzzy_candidates(self, key: str, similarity: float) -> list[str]:
        """Keys whose length allows a normalized Levenshtein similarity >= `similarity` with `key`."""
        low, high = int(len(key) * similarity), int(len(key) / similarity) + 1
        return [k for n in range(low, high + 1) for k in self._by_length.get(n, ())]

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> TableEntry | None:
        return self.entries.get(key)

    @classmethod
    def from_csv(cls, path: Path, label: str | None = None, *, required: bool = False) -> "DrugTable | None":
        """Read a CSV with a name column and a SMILES column (any order, extra columns ignored).

        Returns None for a CSV without such columns unless `required` (then RecordError)."""
        path = Path(path)
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f)
                header = next(reader, None)
                if header is None:
                    if required:
                        return cls(label or path.name, [], path)
                    return None
                keys = [_header_key(h) for h in header]
                name_col = next((keys.index(c) for c in NAME_COLUMNS if c in keys), None)
                smiles_col = next((keys.index(c) for c in SMILES_COLUMNS if c in keys), None)
                if name_col is None or smiles_col is None:
                    if required:
                        raise RecordError(path, f"needs a name column and a SMILES column "
                                                f"(e.g. 'name,smiles'); found {header}")
                    return None
                rows = []
                for row in reader:
                    if len(row) <= max(name_col, smiles_col) or not row[name_col].strip():
                        continue
                    smiles = row[smiles_col].strip() or None
                    rows.append((row[name_col].strip(), smiles))
        except UnicodeDecodeError as exc:
            raise RecordError(path, f"not a UTF-8 text CSV ({exc.reason})") from None
        except csv.Error as exc:
            raise RecordError(path, f"malformed CSV: {exc}") from None
        except OSError as exc:
            raise RecordError(path, f"cannot read: {exc.strerror or exc}") from None
        return cls(label or path.name, rows, path)


def tables_in_folder(folder: Path) -> list[DrugTable]:
    """Every name/SMILES CSV in `folder`: the preferred DrugBank tables first, then by file name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RecordError(folder, "reference folder not found")
    files = sorted(folder.glob("*.csv"), key=lambda p: (
        PREFERRED_TABLES.index(p.name) if p.name in PREFERRED_TABLES else len(PREFERRED_TABLES), p.name))
    from engine.lookups import drug_names
    from engine.lookups.table_cache import cached

    keying_code = (Path(__file__), Path(drug_names.__file__))
    tables = []
    for path in files:
        table = cached(path, DrugTable, partial(DrugTable.from_csv, path), keying_code)
        if table is not None and len(table):
            tables.append(table)
    return tables
