"""The ICD-10-CM code list with descriptions, from the `simple-icd-10-cm` package (CDC, public domain).

Importing that package parses its XML (~2 s), so the first load writes the list to the cache folder,
keyed by the package version; later loads read that file (JSON, read at every start: data only, never
a pickle, so nothing in the cache folder can run code).
"""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from engine.atomic import atomic_write_json

FORMAT = 4  # bump when what the cache holds changes
_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?$")


@dataclass
class IcdCodeList:
    version: str
    #: dotted code -> official description (chapters and blocks excluded)
    descriptions: dict[str, str] = field(default_factory=dict)
    #: (dotted code, inclusion term) pairs: the official synonyms listed under a code
    inclusion_terms: list[tuple[str, str]] = field(default_factory=list)

    def __contains__(self, code: str) -> bool:
        return code in self.descriptions


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("simple-icd-10-cm")
    except PackageNotFoundError:
        return "missing"


def load_code_list(cache_folder: Path | None = None) -> IcdCodeList:
    """The code list, from the cache when it matches the installed package version."""
    if cache_folder is None:
        from engine.paths import cache_dir

        cache_folder = cache_dir() / "lookups"
    version = package_version()
    cache = Path(cache_folder) / f"icd10cm-{version}-f{FORMAT}.json"
    if cache.exists():
        try:
            return _read_cache(cache, version)
        except (OSError, ValueError, TypeError):
            pass  # a damaged cache is rebuilt below
    codes = _from_package(version)
    try:
        older = [p for p in Path(cache_folder).glob("icd10cm-*")  # other package versions or formats
                 if not p.name.startswith("icd10cm-index-")]
        atomic_write_json(cache, [codes.descriptions, codes.inclusion_terms], replacing=older)
    except OSError:
        pass  # a read-only cache folder only costs speed
    return codes


def _from_package(version: str) -> IcdCodeList:
    try:
        with warnings.catch_warnings():  # the package uses deprecated importlib.resources calls
            warnings.simplefilter("ignore", DeprecationWarning)
            import simple_icd_10_cm as icd

            all_codes = icd.get_all_codes(True)
    except ImportError as exc:
        raise RuntimeError("the 'simple-icd-10-cm' package is missing; reinstall CLaDMoP Studio") from exc
    codes = IcdCodeList(version)
    for code in all_codes:
        if not _CODE.match(code):  # chapters ("1") and blocks ("A00-A09"); a one-category block ("B20") is its code
            continue
        codes.descriptions[code] = icd.get_description(code)
        for term in icd.get_inclusion_term(code):
            codes.inclusion_terms.append((code, term))
    return codes


def _read_cache(path: Path, version: str) -> IcdCodeList:
    descriptions, inclusion_terms = json.loads(path.read_bytes())
    if not isinstance(descriptions, dict) or len(descriptions) < 1000 or not isinstance(inclusion_terms, list):
        raise ValueError(f"{path}: truncated ICD-10-CM cache")
    return IcdCodeList(version, descriptions, [(code, term) for code, term in inclusion_terms])
