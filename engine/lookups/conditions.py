"""Condition name -> ICD-10-CM code(s), with how the code was found (Condition.match).

Order: user mapping -> exact (an ICD code, or an official description word for word) -> synonym
(abbreviations, curated trial wording, official inclusion terms, word-bag rules) -> fuzzy
(rapidfuzz over descriptions; the best code is assigned only above a threshold, the top 5
candidates are always kept) -> unresolved. Healthy volunteers are unresolved on purpose.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from engine.atomic import atomic_write_json, atomic_write_text
from engine.lookups.condition_names import (CONDITION_SYNONYMS, GENERIC_STEMS, bag_key, is_cancer_stem, dotted, expand_abbreviations,
                                            is_healthy_volunteers, looks_like_code, plain_key,
                                            without_brackets, without_qualifiers)
from engine.lookups.icd_codes import IcdCodeList, load_code_list
from engine.records.errors import RecordError
from engine.records.trial import Condition, IcdCandidate

USER_MAP_FILE = "condition_map.csv"
#: rapidfuzz score (0-1) a fuzzy match needs before its best code is assigned
FUZZY_THRESHOLD = 0.93
CANDIDATES = 5
HEALTHY_NOTE = "healthy volunteers are not a disease"
_EXTENSION_CHAPTERS = tuple("STVWXY")


def category(code: str) -> str:
    """The 3-character ICD-10 category ('J45.909' -> 'J45')."""
    return code.replace(".", "").strip().upper()[:3]


def _specificity(code: str) -> tuple[int, str]:
    return (len(code), code)


def _indexable(code: str) -> bool:
    undotted = code.replace(".", "")
    return not (len(undotted) == 7 and undotted[0] in _EXTENSION_CHAPTERS)


def _is_neoplasm_code(code: str) -> bool:
    """ICD-10-CM chapter 2 (C00-D49): a cancer name must not lose its cancer on the way."""
    return code[0] == "C" or (code[0] == "D" and code[1] in "01234")


def default_user_map_path() -> Path:
    from engine.paths import user_data_dir

    return user_data_dir() / USER_MAP_FILE


class ConditionLookup:
    """Resolves condition names against ICD-10-CM; results are cached per raw name."""

    def __init__(self, codes: IcdCodeList, user_map_path: Path | None = None,
                 fuzzy_threshold: float = FUZZY_THRESHOLD, index_cache_folder: Path | None = None):
        self.codes = codes
        self.index_cache_folder = Path(index_cache_folder) if index_cache_folder else None
        self.user_map_path = Path(user_map_path) if user_map_path else None
        self.fuzzy_threshold = fuzzy_threshold
        self.user_map = self._read_user_map()
        self._exact: dict[str, str] = {}
        self._bag: dict[str, str] = {}
        self._matcher = None  # DescriptionMatcher, built on the first fuzzy search
        self._build_indexes()
        self._curated_plain = {plain_key(k): v for k, v in CONDITION_SYNONYMS.items()}
        self._curated_bag = {bag_key(k): v for k, v in CONDITION_SYNONYMS.items()}
        self._cache: dict[str, Condition] = {}

    @classmethod
    def load(cls, user_map_path: Path | None = None, **kw) -> "ConditionLookup":
        """ICD-10-CM from simple-icd-10-cm + the user's mapping (default `user_data_dir()/condition_map.csv`)."""
        from engine.paths import cache_dir

        path = user_map_path if user_map_path is not None else default_user_map_path()
        kw.setdefault("index_cache_folder", cache_dir() / "lookups")
        return cls(load_code_list(kw["index_cache_folder"]), path, **kw)

    # -- indexes ---------------------------------------------------------------------------------
    def _build_indexes(self) -> None:
        """The exact and word-bag indexes, from the cache folder when this ICD release and these rules
        built them (read at every start), else built and kept there."""
        cache = self._index_cache_path()
        if cache is not None and self._read_indexes(cache):
            return
        self._exact, self._bag = {}, {}

        def keep(index: dict[str, str], key: str, code: str) -> None:
            if key and (key not in index or _specificity(code) < _specificity(index[key])):
                index[key] = code

        for code, text in self.codes.descriptions.items():
            if not _indexable(code):
                continue
            keep(self._exact, plain_key(text), code)
            keep(self._exact, plain_key(without_brackets(text)), code)
            keep(self._bag, bag_key(text), code)
            keep(self._bag, bag_key(without_brackets(text)), code)
        for code, text in self.codes.inclusion_terms:
            if not _indexable(code):
                continue
            keep(self._bag, bag_key(text), code)
            keep(self._bag, bag_key(without_brackets(text)), code)
        if cache is not None:
            self._write_indexes(cache)

    def _read_indexes(self, cache: Path) -> bool:
        try:
            exact, bag = json.loads(cache.read_bytes())
        except (OSError, ValueError, TypeError):
            return False  # none yet, or damaged: built again
        if not (isinstance(exact, dict) and isinstance(bag, dict) and exact and bag):
            return False
        self._exact, self._bag = exact, bag
        return True

    def _write_indexes(self, cache: Path) -> None:
        try:
            atomic_write_json(cache, [self._exact, self._bag], replacing=list(cache.parent.glob("icd10cm-index-*")))
        except OSError:
            pass  # a read-only cache folder only costs speed

    def _index_cache_path(self) -> Path | None:
        """Derived keys depend on the ICD release and on the normalisation code: both go in the name."""
        if self.index_cache_folder is None:
            return None
        import hashlib

        import engine.lookups.condition_names as rules

        digest = hashlib.sha1(self.codes.version.encode())
        for module_file in (rules.__file__, __file__):
            digest.update(Path(module_file).read_bytes())
        return self.index_cache_folder / f"icd10cm-index-{digest.hexdigest()[:12]}.json"

    def prepare_fuzzy_search(self) -> None:
        """Build the fuzzy search's index now (0.4 s), e.g. on a worker at start-up, so that the first
        condition that needs it does not wait."""
        self._description_matcher()

    def _description_matcher(self):
        """Built on first use (fuzzy searches are the exception): codes up to 5 characters, the
        level a trial's condition is written at; longer codes stay reachable by exact/synonym."""
        if self._matcher is None:
            from engine.lookups.description_matcher import DescriptionMatcher

            general = {k: c for k, c in self._bag.items() if len(c.replace(".", "")) <= 5}
            self._matcher = DescriptionMatcher(list(general), list(general.values()))
        return self._matcher

    # -- the user's mapping ----------------------------------------------------------------------
    def _read_user_map(self) -> dict[str, tuple[str, ...]]:
        path = self.user_map_path
        if path is None or not path.exists():
            return {}
        mapping: dict[str, tuple[str, ...]] = {}
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                if not reader.fieldnames or not {"name", "codes"} <= {h.strip().lower() for h in reader.fieldnames}:
                    raise RecordError(path, f"needs the columns 'name,codes'; found {reader.fieldnames}")
                for line, row in enumerate(reader, start=2):
                    row = {k.strip().lower(): (v or "") for k, v in row.items() if k}
                    raw = [c.upper() for c in re.split(r"[|;,\s]+", row["codes"]) if c]
                    bad = [c for c in raw if not looks_like_code(c)]
                    if bad:
                        raise RecordError(path, f"line {line}: {bad[0]!r} is not an ICD-10 code")
                    codes = tuple(dotted(c) for c in raw)
                    if plain_key(row["name"]):
                        mapping[plain_key(row["name"])] = codes
        except UnicodeDecodeError as exc:
            raise RecordError(path, f"not a UTF-8 text CSV ({exc.reason})") from None
        except csv.Error as exc:
            raise RecordError(path, f"malformed CSV: {exc}") from None
        return mapping

    def remember(self, name: str, codes: Iterable[str]) -> Condition:
        """Store the user's choice for `name` (written atomically); it wins from now on."""
        raw = [c.strip().upper() for c in codes if c.strip()]
        bad = [c for c in raw if not looks_like_code(c)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an ICD-10 code")
        codes = tuple(dotted(c) for c in raw)
        if self.user_map_path is None:
            raise ValueError("this lookup has no user mapping file")
        key = plain_key(name)
        if not key:
            raise ValueError("a condition needs a name")
        rows = self._user_map_rows()
        rows[key] = (name.strip(), codes)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["name", "codes"])
        writer.writerows((n, "|".join(c)) for n, c in rows.values())
        atomic_write_text(self.user_map_path, buffer.getvalue())
        self.user_map[key] = codes
        self._cache.clear()
        return self.lookup(name)

    def _user_map_rows(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        rows: dict[str, tuple[str, tuple[str, ...]]] = {}
        if self.user_map_path is not None and self.user_map_path.exists():
            with open(self.user_map_path, newline="", encoding="utf-8-sig") as f:
                for row in csv.DictReader(f):
                    key = plain_key(row.get("name") or "")
                    if key:
                        rows[key] = (row["name"], tuple(c for c in (row.get("codes") or "").split("|") if c))
        return rows

    # -- lookups ---------------------------------------------------------------------------------
    def description(self, code: str) -> str | None:
        return self.codes.descriptions.get(dotted(code))

    def lookup(self, name: str) -> Condition:
        cached = self._cache.get(name)
        if cached is None:
            cached = self._lookup(name)
            self._cache[name] = cached
        return replace(cached, icd10=list(cached.icd10), candidates=[replace(c) for c in cached.candidates])

    def lookup_many(self, names: Iterable[str]) -> list[Condition]:
        return [self.lookup(n) for n in names]

    def unresolved_reason(self, name: str) -> str:
        """Why `name` has no code, for `Trial.unresolved`."""
        if is_healthy_volunteers(name):
            return HEALTHY_NOTE
        found = self.lookup(name)
        if found.candidates:
            best = found.candidates[0]
            return (f"no ICD-10 code above the fuzzy threshold {self.fuzzy_threshold:.2f} "
                    f"(best: {best.code} {best.description!r}, {best.score:.2f})")
        return "no ICD-10 code"

    def _hit(self, name: str, codes: Iterable[str], match: str) -> Condition:
        codes = list(dict.fromkeys(codes))
        candidates = [IcdCandidate(c, self.description(c) or "", 1.0) for c in codes]
        return Condition(name=name, icd10=codes, match=match, candidates=candidates)

    def _lookup(self, name: str) -> Condition:
        text = " ".join((name or "").split())
        key = plain_key(text)
        if not key:
            return Condition(name=name, match="unresolved")
        if key in self.user_map:
            return self._hit(name, self.user_map[key], "user")
        if is_healthy_volunteers(text):
            return Condition(name=name, match="unresolved")
        if looks_like_code(text) and dotted(text) in self.codes:
            return self._hit(name, [dotted(text)], "exact")
        if key in self._exact:
            return self._hit(name, [self._exact[key]], "exact")
        codes = self._synonym(text)
        if codes:
            return self._hit(name, codes, "synonym")
        candidates = self.candidates(text)
        if candidates and candidates[0].score >= self.fuzzy_threshold:
            return Condition(name=name, icd10=[candidates[0].code], match="fuzzy", candidates=candidates)
        return Condition(name=name, match="unresolved", candidates=candidates)

    def _variants(self, text: str) -> list[str]:
        variants: list[str] = []
        for base in (text, without_brackets(text)):
            expanded = expand_abbreviations(base)
            for v in (plain_key(base), expanded, without_qualifiers(expanded)):
                if v and v not in variants:
                    variants.append(v)
        return variants

    def _synonym(self, text: str) -> list[str]:
        variants = self._variants(text)
        for v in variants:
            if v in self._curated_plain:
                return list(self._curated_plain[v])
            if v in self._exact:
                return [self._exact[v]]
        for v in variants:
            bag = bag_key(v)
            if bag in self._curated_bag:
                return list(self._curated_bag[bag])
            if bag in self._bag:
                return [self._bag[bag]]
        return self._contained_condition(bag_key(variants[-1])) if variants else []

    def _contained_condition(self, bag: str) -> list[str]:
        """A known condition plus extra words ("adult giant cell glioblastoma" -> glioblastoma): the
        largest set of the name's stems that is itself a known condition, if all such sets agree
        on one ICD-10 category. Generic stems alone ("cancer", "pain") never count."""
        from itertools import combinations

        stems = bag.split()
        specific = [s for s in stems if s not in GENERIC_STEMS]
        if not 2 <= len(stems) <= 10 or not specific:
            return []
        cancer = any(is_cancer_stem(s) for s in stems)
        for size in range(len(stems) - 1, 0, -1):
            found: list[list[str]] = []
            for subset in combinations(stems, size):
                kept = sum(s not in GENERIC_STEMS for s in subset)
                if 2 * kept < len(specific):  # most of what is specific about the name must be kept
                    continue
                key = " ".join(subset)  # stems are sorted, so combinations stay sorted
                codes = self._curated_bag.get(key) or ([self._bag[key]] if key in self._bag else None)
                if codes and (not cancer or _is_neoplasm_code(codes[0])):
                    found.append(list(codes))
            if found:
                categories = {category(codes[0]) for codes in found}
                return found[0] if len(categories) == 1 else []
        return []

    def candidates(self, name: str, limit: int = CANDIDATES) -> list[IcdCandidate]:
        """The `limit` closest ICD-10-CM descriptions (word-overlap F2 score, 0-1), best first."""
        variants = self._variants(name)
        if not variants:
            return []
        hits = self._description_matcher().search(bag_key(variants[-1]), limit)
        return [IcdCandidate(code, self.description(code) or "", round(score, 3)) for code, score in hits]


def agreement_with_top(lookup: ConditionLookup, path: Path) -> dict:
    """Category-level (3-character) agreement with TOP's noisy disease -> ICD-10 mapping."""
    import collections

    by_match: collections.Counter = collections.Counter()
    agree: collections.Counter = collections.Counter()
    disagreements = []
    total = 0
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            total += 1
            theirs = {category(c) for c in row["icd10_codes"].split("|") if c}
            found = lookup.lookup(row["disease_name_lower"])
            by_match[found.match] += 1
            ours = {category(c) for c in found.icd10}
            if ours and ours & theirs:
                agree[found.match] += 1
            elif ours:
                disagreements.append((row["disease_name_lower"], f"{', '.join(found.icd10)} ({found.match})",
                                      ", ".join(sorted(theirs))))
    assigned = sum(v for k, v in by_match.items() if k != "unresolved")
    summary = {"names with a code from us": f"{assigned} of {total} ({100 * assigned / total:.1f}%)",
               "same category as TOP, of those": f"{sum(agree.values())} ({100 * sum(agree.values()) / max(assigned, 1):.1f}%)"}
    for match, n in by_match.most_common():
        if match != "unresolved":
            summary[f"  {match}: agree"] = f"{agree[match]} of {n} ({100 * agree[match] / n:.1f}%)"
    summary["unresolved"] = str(by_match["unresolved"])
    return {"names": total, "summary": summary, "disagreements": disagreements}
