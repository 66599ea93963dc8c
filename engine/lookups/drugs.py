"""Drug name -> Drug(s) with SMILES and kind: the user's library first, then reference tables.

Order for one name (the first that answers wins):
  placebo words -> user library -> reference tables (in the order given) -> synonym (brand, code)
  -> biologic by name -> fuzzy match (high threshold, reported as such) -> unresolved.
A named regimen ("FOLFOX", "R-CHOP"; drug_regimens.py) that no table knows expands to its drugs, each
tagged with `Drug.regimen`.
A combination name ("cisplatin / pemetrexed", "CL-108 (hydrocodone, acetaminophen)") that no table
knows as a whole expands to several Drugs, each resolved in that order.
"""
from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from engine.atomic import atomic_write_text
from engine.lookups.drug_names import (compact, has_digits, inside_parens, is_placebo, looks_biologic,
                                       name_keys, outside_parens, split_combination)
from engine.lookups.drug_regimens import find_regimen
from engine.lookups.drug_synonyms import DRUG_SYNONYMS
from engine.lookups.drug_tables import DrugTable, TableEntry, heavy_atom_count, tables_in_folder
from engine.records.trial import Drug

USER_SOURCE = "user library"
LIBRARY_FILE = "compound_library.csv"
#: Levenshtein similarity (0-1) a fuzzy match needs: one typo in nine letters
FUZZY_THRESHOLD = 0.88
#: a biologic keeps a table SMILES only when it is this small (peptides yes, proteins no)
BIOLOGIC_MAX_HEAVY_ATOMS = 150

_SYNONYMS = {compact(k): v for k, v in DRUG_SYNONYMS.items()}


class SmilesError(ValueError):
    """A SMILES string RDKit cannot read; the message names the compound."""


def validate_smiles(smiles: str, name: str = "") -> str:
    """The canonical SMILES of `smiles`, or SmilesError saying why not."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    text = (smiles or "").strip()
    mol = Chem.MolFromSmiles(text) if text else None
    if mol is None or mol.GetNumAtoms() == 0:
        label = f" for '{name}'" if name else ""
        raise SmilesError(f"not a valid SMILES{label}: {smiles!r}")
    return Chem.MolToSmiles(mol)


def default_library_path() -> Path:
    from engine.paths import user_data_dir

    return user_data_dir() / LIBRARY_FILE


class DrugLookup:
    """Resolves drug names; cheap to call repeatedly (results are cached per raw name)."""

    def __init__(self, tables: Iterable[DrugTable] = (), library_path: Path | None = None,
                 fuzzy_threshold: float = FUZZY_THRESHOLD):
        self.tables = list(tables)
        self.library_path = Path(library_path) if library_path else None
        self.fuzzy_threshold = fuzzy_threshold
        self.library = self._read_library()
        self._cache: dict[str, tuple[Drug, ...]] = {}

    @classmethod
    def from_folders(cls, folders: Iterable[Path], library_path: Path | None = None, **kw) -> "DrugLookup":
        """The user's library (default `user_data_dir()/compound_library.csv`) + every table in `folders`."""
        tables = [t for folder in folders for t in tables_in_folder(Path(folder))]
        return cls(tables, library_path if library_path is not None else default_library_path(), **kw)

    # -- the user's library ---------------------------------------------------------------------
    def _read_library(self) -> DrugTable:
        if self.library_path is None or not self.library_path.exists():
            return DrugTable(USER_SOURCE, [], self.library_path)
        return DrugTable.from_csv(self.library_path, USER_SOURCE, required=True)

    def add(self, name: str, smiles: str) -> Drug:
        """Store `name` -> `smiles` in the user's library (validated, written atomically); it wins from now on."""
        name = " ".join((name or "").split())
        if not compact(name):
            raise ValueError("a compound needs a name")
        canonical = validate_smiles(smiles, name)
        if self.library_path is None:
            raise ValueError("this lookup has no user library file")
        key = compact(name)
        rows = [(n, s) for n, s in self.library.rows if compact(n) != key]
        rows.append((name, canonical))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["name", "smiles"])
        writer.writerows(rows)
        atomic_write_text(self.library_path, buffer.getvalue())
        self.library = DrugTable(USER_SOURCE, rows, self.library_path)
        self._cache.clear()
        return Drug(name=name, smiles=canonical, kind="small_molecule", source=USER_SOURCE)

    # -- lookups --------------------------------------------------------------------------------
    def lookup(self, name: str) -> list[Drug]:
        """The Drug(s) `name` stands for: one, or several for a combination name."""
        cached = self._cache.get(name)
        if cached is None:
            cached = tuple(self._lookup(name, depth=0))
            self._cache[name] = cached
        return [replace(d) for d in cached]

    def lookup_many(self, names: Iterable[str]) -> list[list[Drug]]:
        return [self.lookup(n) for n in names]

    def _lookup(self, name: str, depth: int) -> list[Drug]:
        name = " ".join((name or "").split())
        if not compact(name):
            return [Drug(name=name, kind="unresolved")]
        regimen = self._regimen(name, depth)
        if regimen is not None:
            return regimen
        parts = split_combination(name)
        if len(parts) == 1:
            listed = self._parenthesised_combination(name, depth)
            return listed or [self._single(name, depth, allow_fuzzy=True)]
        whole = self._in_tables(name)  # a table may list the combination itself
        if whole is not None:
            return [whole]
        return [d for part in parts for d in self._lookup(part, depth + 1)]

    def _single(self, name: str, depth: int, allow_fuzzy: bool) -> Drug:
        if is_placebo(name):
            return Drug(name=name, kind="placebo", source="name rule")
        found = self._in_tables(name)
        if found is not None:
            return found
        keys = name_keys(name)
        if depth < 2:
            for key in keys:
                target = _SYNONYMS.get(key)
                if target:
                    found = self._lookup(target, depth + 1)
                    if len(found) == 1:
                        return replace(found[0], name=name)
        if looks_biologic(name):
            return Drug(name=name, kind="biologic", source="name rule")
        if allow_fuzzy:
            hit = self._fuzzy(keys)
            if hit is not None:
                entry, label, score = hit
                drug = self._from_entry(name, entry, label)
                return replace(drug, source=f"fuzzy:{label}({score:.2f})")
        return Drug(name=name, kind="unresolved")

    def _regimen(self, name: str, depth: int) -> list[Drug] | None:
        """"FOLFOX regimen": a named regimen no table knows as a whole is its drugs, each looked up as
        usual and tagged with the regimen (checked before splitting, so "gem/cis" stays one regimen)."""
        found = find_regimen(name) if depth < 2 else None
        if found is None or self._in_tables(outside_parens(name)) is not None:
            return None
        return [replace(d, regimen=found.name) for part in found.drugs for d in self._lookup(part, 2)]

    def _parenthesised_combination(self, name: str, depth: int) -> list[Drug] | None:
        """"CL-108 (hydrocodone 7.5 mg, acetaminophen 325 mg, promethazine)": a code the tables do not
        know, followed by a list of distinct known molecules, is that combination."""
        inner = inside_parens(name)
        if depth > 0 or not inner or len(split_combination(inner[0])) < 2:
            return None
        if self._in_tables(outside_parens(name)) is not None:
            return None
        drugs = [d for part in split_combination(inner[0]) for d in self._lookup(part, depth + 1)]
        structures = [d.smiles for d in drugs]
        if any(d.kind != "small_molecule" for d in drugs) or len(set(structures)) < len(structures):
            return None  # "(Xofigo, BAY88-8223)" lists names of one drug, not a combination
        return drugs

    def _in_tables(self, name: str) -> Drug | None:
        keys = name_keys(name)
        for table in [self.library, *self.tables]:
            for key in keys:
                entry = table.get(key)
                if entry is None:
                    continue
                if not _usable(entry, name):
                    continue
                return self._from_entry(name, entry, table.label)
        return None

    def _from_entry(self, name: str, entry: TableEntry, label: str) -> Drug:
        biologic = entry.smiles is None or looks_biologic(entry.name)
        if not biologic:
            return Drug(name=name, smiles=entry.smiles, kind="small_molecule", source=label)
        small = entry.smiles is not None and heavy_atom_count(entry.smiles) <= BIOLOGIC_MAX_HEAVY_ATOMS
        return Drug(name=name, smiles=entry.smiles if small else None, kind="biologic", source=label)

    def _fuzzy(self, keys: list[str]) -> tuple[TableEntry, str, float] | None:
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        candidates = [k for k in keys if len(k) >= 7 and not has_digits(k)]
        for key in reversed(candidates[-2:]):  # the most cleaned-up forms
            best: tuple[TableEntry, str, float] | None = None
            for table in [self.library, *self.tables]:
                found = process.extractOne(key, table.fuzzy_candidates(key, self.fuzzy_threshold),
                                           scorer=Levenshtein.normalized_similarity,
                                           score_cutoff=self.fuzzy_threshold)
                if found and (best is None or found[1] > best[2] + 1e-9):
                    best = (table.entries[found[0]], table.label, found[1])
            if best is not None:
                return best
        return None


def _usable(entry: TableEntry, name: str) -> bool:
    """A table name without a structure is a DrugBank biotech entry (antibody, vaccine, mixture),
    unless it is a research code ("XL281", "CDP323": small molecules PyTrial lists without SMILES)."""
    if entry.smiles is not None:
        return True
    return looks_biologic(name) or looks_biologic(entry.name) or not has_digits(entry.name)
