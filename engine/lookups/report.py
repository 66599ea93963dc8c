"""Measure the lookups on the development data (TOP splits, legacy XML corpus); prints Markdown.

    installer/dev.sh python -m engine.lookups.report [--sample 40]

The figures in docs/lookups.md come from this. Needs `shared_data_dir()`; nothing here runs in the app.
"""
from __future__ import annotations

import argparse
import ast
import collections
import csv
import random
import time
from pathlib import Path

KINDS = ("small_molecule", "biologic", "placebo", "unresolved")


def top_column(data: Path, column: str) -> collections.Counter:
    """Every entry of a list-valued TOP column (`drugs`, `diseases`) with its number of mentions."""
    import pandas as pd

    counts: collections.Counter = collections.Counter()
    for path in sorted((data / "top").glob("*.csv")):
        for cell in pd.read_csv(path, usecols=[column])[column].dropna():
            for item in ast.literal_eval(cell):
                counts[item.strip()] += 1
    return counts


def xml_column(data: Path, column: str) -> collections.Counter:
    """`drug_names` / `conditions` of the legacy XML corpus index (pipe-separated)."""
    counts: collections.Counter = collections.Counter()
    with open(data / "ctgov_xml" / "index.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for item in (row.get(column) or "").split("|"):
                if item.strip():
                    counts[item.strip()] += 1
    return counts


def drug_rates(lookup, names: collections.Counter) -> dict:
    """Share of names (and of mentions) per kind; a combination counts once per part."""
    by_name: collections.Counter = collections.Counter()
    by_mention: collections.Counter = collections.Counter()
    fuzzy = 0
    for name, n in names.items():
        for drug in lookup.lookup(name):
            by_name[drug.kind] += 1
            by_mention[drug.kind] += n
            fuzzy += (drug.source or "").startswith("fuzzy:")
    return {"names": by_name, "mentions": by_mention, "fuzzy": fuzzy}


def _canonical(smiles: str | None):
    if not smiles:
        return None
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    return Chem.MolToInchiKey(mol)[:14] if mol is not None else None  # skeleton block: ignores stereo


def compare_with_top(lookup, data: Path, sample: int, seed: int = 0) -> dict:
    """Our SMILES vs TOP's (noisy) `smiless` mapping for the same drug names."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    rows = list(csv.DictReader(open(data / "lookups" / "top_derived_drug_to_smiles_as_in_TOP.csv",
                                    newline="", encoding="utf-8")))
    outcome: collections.Counter = collections.Counter()
    different = []
    for row in rows:
        ours = lookup.lookup(row["drug_name_lower"])
        if len(ours) != 1:
            outcome["combination (several drugs)"] += 1
            continue
        drug = ours[0]
        if drug.kind in ("placebo", "biologic", "unresolved") and not drug.smiles:
            outcome[f"ours: {drug.kind}, TOP: a molecule"] += 1
            continue
        same = _canonical(drug.smiles) == _canonical(row["smiles"])
        outcome["same molecule" if same else "different molecule"] += 1
        if not same:
            different.append((row["drug_name_lower"], drug.smiles, row["smiles"]))
    random.Random(seed).shuffle(different)
    named = _names_by_structure(data / "lookups" / "drugbank_name_to_smiles_lifted.csv")
    sample_rows = [(name, _name_of(ours, named), _name_of(theirs, named)) for name, ours, theirs in different[:sample]]
    return {"rows": len(rows), "outcome": outcome, "sample": sample_rows}


def _identity_keys(smiles: str) -> list[str]:
    """Stereo-aware keys of a structure: full InChIKey and canonical SMILES (metal complexes lack InChI)."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        return []
    keys = [Chem.MolToSmiles(mol)]
    inchikey = Chem.MolToInchiKey(mol)
    return [inchikey, *keys] if inchikey else keys


def _names_by_structure(path: Path) -> dict:
    """Structure key -> DrugBank name, to say which molecule a SMILES is."""
    names: dict = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for key in _identity_keys(row["smiles"]):
                names.setdefault(key, row["drug_name"])
    return names


def _name_of(smiles: str, names: dict) -> str:
    return next((names[k] for k in _identity_keys(smiles) if k in names), "(not in DrugBank)")


def _rate_table(title: str, rates: dict) -> list[str]:
    lines = [f"| {title} | " + " | ".join(KINDS) + " | fuzzy |", "|---|" + "---|" * (len(KINDS) + 1)]
    for basis in ("names", "mentions"):
        counts = rates[basis]
        total = sum(counts.values()) or 1
        cells = [f"{100 * counts[k] / total:.1f}% ({counts[k]})" for k in KINDS]
        fuzzy = str(rates["fuzzy"]) if basis == "names" else ""
        lines.append(f"| {basis} ({total}) | " + " | ".join(cells) + f" | {fuzzy} |")
    return lines


def main() -> None:
    from engine.lookups.drugs import DrugLookup
    from engine.paths import shared_data_dir

    parser = argparse.ArgumentParser(description="Measure drug and condition lookups")
    parser.add_argument("--sample", type=int, default=30)
    args = parser.parse_args()
    data = shared_data_dir()
    if data is None:
        raise SystemExit("no shared data folder (set CLADMOP_SHARED_DATA)")
    t = time.perf_counter()
    drugs = DrugLookup.from_folders([data / "lookups"], library_path=Path("/nonexistent/library.csv"))
    print(f"drug lookup loaded in {time.perf_counter() - t:.2f} s")
    top, xml = top_column(data, "drugs"), xml_column(data, "drug_names")
    t = time.perf_counter()
    top_rates = drug_rates(drugs, top)
    print(f"{len(top)} TOP names resolved in {time.perf_counter() - t:.2f} s (cold cache)")
    print("\n".join(_rate_table("TOP drug names", top_rates)))
    print()
    print("\n".join(_rate_table("XML corpus drug names", drug_rates(drugs, xml))))
    cmp = compare_with_top(drugs, data, args.sample)
    print(f"\nTOP mapping vs ours ({cmp['rows']} names):")
    for key, n in cmp["outcome"].most_common():
        print(f"- {key}: {n}")
    print("\nRandom sample of 'different molecule' (molecules named by DrugBank):")
    print("| name | ours | TOP |\n|---|---|---|")
    for name, ours, theirs in cmp["sample"]:
        print(f"| {name} | {ours} | {theirs} |")
    conditions_main(data, args.sample)
    resolver_speed(data)


def resolver_speed(data: Path) -> None:
    """Resolver load time and throughput over every TOP row, cold caches then warm."""
    import pandas as pd

    from engine.lookups.resolve import Resolver
    from engine.records.trial import Condition, Drug, Trial

    t = time.perf_counter()
    resolver = Resolver.default([data / "lookups"])
    loaded = time.perf_counter() - t
    trials = []
    for path in sorted((data / "top").glob("*.csv")):
        frame = pd.read_csv(path, usecols=["nctid", "drugs", "diseases"])
        for nct, drugs, diseases in zip(frame["nctid"], frame["drugs"], frame["diseases"]):
            trials.append(Trial(nct, drugs=[Drug(n) for n in ast.literal_eval(drugs)],
                                conditions=[Condition(n) for n in ast.literal_eval(diseases)]))
    names = sum(len(t.drugs) + len(t.conditions) for t in trials)
    print(f"\nResolver.default() loaded in {loaded:.2f} s; {len(trials)} TOP rows, {names} names:")
    for label in ("cold", "warm"):
        t = time.perf_counter()
        resolver.resolve_many(trials)
        seconds = time.perf_counter() - t
        print(f"- {label}: {seconds:.2f} s, {names / seconds:,.0f} names/s")


def conditions_main(data: Path, sample: int) -> None:
    from engine.lookups.conditions import ConditionLookup, agreement_with_top

    t = time.perf_counter()
    lookup = ConditionLookup.load(user_map_path=Path("/nonexistent/condition_map.csv"))
    print(f"\ncondition lookup loaded in {time.perf_counter() - t:.2f} s")
    for title, names in (("TOP diseases", top_column(data, "diseases")),
                         ("XML corpus conditions", xml_column(data, "conditions"))):
        matches: collections.Counter = collections.Counter()
        t = time.perf_counter()
        for name in names:
            matches[lookup.lookup(name).match] += 1
        seconds = time.perf_counter() - t
        total = sum(matches.values())
        cells = ", ".join(f"{k} {100 * v / total:.1f}% ({v})" for k, v in matches.most_common())
        print(f"- {title} ({total} distinct names, {seconds:.1f} s): {cells}")
    report = agreement_with_top(lookup, data / "lookups" / "top_derived_disease_to_icd10.csv")
    print(f"\nAgreement with TOP's disease -> ICD-10 mapping ({report['names']} names):")
    for key, value in report["summary"].items():
        print(f"- {key}: {value}")
    print("\nRandom sample of disagreements:\n| name | ours (match) | TOP categories |\n|---|---|---|")
    random.Random(0).shuffle(report["disagreements"])
    for name, ours, theirs in report["disagreements"][:sample]:
        print(f"| {name} | {ours} | {theirs} |")


if __name__ == "__main__":
    main()
