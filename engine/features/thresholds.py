"""Numeric eligibility thresholds of a trial's active criteria, as a fixed, named vector.

The frozen sentence encoder barely sees numbers (benchmarks/bench_sensitivity.py): "ANC >= 1,500/mm3"
and "ANC >= 3,000/mm3" read almost alike. This module reads the numbers themselves, with regular
expressions, from the *active, enabled* items (Trial.active_criteria), so a what-if edit of a threshold
or the removal of an item changes the vector exactly as it changes what the model reads.

Each feature is the *allowed* bound a trial sets on one quantity, in one unit:

    age_min, age_max (years)            performance_max (ECOG 0-4; Karnofsky/Lansky k -> (100 - k) / 20)
    life_expectancy_min (months)        anc_min, platelets_min (x 10^9/L)    hemoglobin_min (g/dL)
    creatinine_max (mg/dL)              clearance_min (mL/min: creatinine clearance, (e)GFR)
    bilirubin_max, transaminases_max (x ULN)    cd4_min, cd4_max (cells/uL)   hba1c_min, hba1c_max (%)
    bmi_min, bmi_max (kg/m2)            lvef_min (%)

Inclusion vs exclusion matters: an inclusion "ANC >= 1,500/mm3" and an exclusion "ANC < 1,500/mm3" both
set anc_min = 1.5; an exclusion "ECOG >= 2" sets performance_max = 1 (integer scale). Several statements
on one side combine to the tightest (largest minimum, smallest maximum). Units are normalised by the unit
written after the number and, where records leave it out or garble it ("1.5 x 109/L"), by magnitude
(1500 -> 1.5 x 10^9/L; 90 g/L -> 9 g/dL; 133 umol/L creatinine -> 1.5 mg/dL; "x ULN" kept; bilirubin and
creatinine in mg/dL and ULN multiples meet at an upper limit of normal of 1.2 mg/dL, transaminases in IU/L
at 40 IU/L). A value outside a plausible range is dropped rather than guessed.

`threshold_vector` gives, per feature, the value and a presence indicator (`has_<name>`): a feature the
criteria do not state is indicator 0 and a neutral value (NEUTRAL: a typical stated value), never NaN.
The record formats this application reads carry no age fields of their own (ClinicalTrials.gov's
minimum/maximum age is not kept on the Trial), so ages come from the criteria text too.

numpy and the standard library only: the Predictor calls it for every trial and every what-if variant.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable

import numpy as np

from engine.records.trial import Trial

#: (feature, unit, neutral value): the neutral value stands in when the criteria state none
FEATURES: tuple[tuple[str, str, float], ...] = (
    ("age_min", "years", 18.0), ("age_max", "years", 75.0),
    ("performance_max", "ECOG", 2.0), ("life_expectancy_min", "months", 3.0),
    ("anc_min", "x10^9/L", 1.5), ("platelets_min", "x10^9/L", 100.0), ("hemoglobin_min", "g/dL", 9.0),
    ("creatinine_max", "mg/dL", 1.5), ("clearance_min", "mL/min", 60.0),
    ("bilirubin_max", "x ULN", 1.5), ("transaminases_max", "x ULN", 2.5),
    ("cd4_min", "cells/uL", 200.0), ("cd4_max", "cells/uL", 500.0),
    ("hba1c_min", "%", 7.0), ("hba1c_max", "%", 10.0),
    ("bmi_min", "kg/m2", 18.0), ("bmi_max", "kg/m2", 35.0), ("lvef_min", "%", 50.0),
)
NAMES = tuple(name for name, _, _ in FEATURES)
NEUTRAL = {name: neutral for name, _, neutral in FEATURES}
UNITS = {name: unit for name, unit, _ in FEATURES}
#: the vector's columns: every feature's value, then every feature's presence indicator
FEATURE_NAMES = NAMES + tuple(f"has_{name}" for name in NAMES)

# -- text normalisation ---------------------------------------------------------------------------

_NUM = r"\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:[.,]\d+)?|\.\d+"
_WORD_NUMBERS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
_WORD_NUMBER = re.compile(r"\b(" + "|".join(_WORD_NUMBERS) + r")\b"
                          r"(?=\s+(?:\(\d+\)\s+)?(?:days?|weeks?|months?|years?|times|x\s|fold))",
                          re.I)
_PAREN_DIGITS = re.compile(r"\b(\d+)\s+\(\1\)")  # "six (6) months" -> "6 (6) months" -> "6 months"
#: comparator phrases, longest first, rewritten to symbols
_COMPARATORS = [(re.compile(p, re.I), s) for p, s in (
    (r"(?:>\s*/\s*=|=\s*>|>\s*=|≥|≧|⩾|>\s*or\s*=|>\s*or\s+equal(?:\s+to)?|=\s*or\s*>)(?:\s*to\b)?", " >= "),
    (r"(?:<\s*/\s*=|=\s*<|<\s*=|≤|≦|⩽|<\s*or\s*=|<\s*or\s+equal(?:\s+to)?|=\s*or\s*<)(?:\s*to\b)?", " <= "),
    (r"\b(?:greater|more|higher|larger)\s+(?:than\s+)?or\s+equal(?:s)?\s+(?:to|than)\b"
     r"|\bequal\s+(?:to\s+)?or\s+(?:greater|more|higher)\s+than\b|\bat\s+least\b|\bno\s+less\s+than\b"
     r"|\bnot\s+less\s+than\b|\bno\s+lower\s+than\b|\bnot\s+lower\s+than\b|\bminimum(?:\s+of)?\b", " >= "),
    (r"\b(?:less|lower|smaller|fewer)\s+(?:than\s+)?or\s+equal(?:s)?\s+(?:to|than)\b"
     r"|\bequal\s+(?:to\s+)?or\s+(?:less|lower|smaller)\s+than\b|\bno\s+more\s+than\b|\bnot\s+more\s+than\b"
     r"|\bno\s+greater\s+than\b|\bnot\s+greater\s+than\b|\bno\s+higher\s+than\b|\bnot\s+higher\s+than\b"
     r"|\bnot\s+(?:to\s+)?exceed(?:ing)?\b|\bat\s+most\b|\bup\s+to\b|\bmaximum(?:\s+of)?\b|\bno\s+older\s+than\b",
     " <= "),
    (r"\b(?:greater|more|higher|larger|older)\s+than\b|\babove\b|\bover\b|\bexceeding\b|\bexceeds\b"
     r"|\bin\s+excess\s+of\b|>", " > "),
    (r"\b(?:less|lower|smaller|fewer|younger)\s+th[ae][nt]\b|\bbelow\b|\bunder\b|<", " < "),
)]
_SPACES = re.compile(r"\s+")
_PLACEHOLDER = {" >= ": " \x01 ", " <= ": " \x02 ", " > ": " \x03 ", " < ": " \x04 "}


def normalise(text: str) -> str:
    """Comparators as symbols (>=, <=, >, <), word numbers before a time unit as digits, one space."""
    text = _WORD_NUMBER.sub(lambda m: _WORD_NUMBERS[m.group(1).lower()], text)
    text = _PAREN_DIGITS.sub(r"\1", text)
    for pattern, symbol in _COMPARATORS:  # through placeholders: ">" must not rewrite a ">=" written before
        text = pattern.sub(_PLACEHOLDER[symbol], text)
    for symbol, placeholder in _PLACEHOLDER.items():
        text = text.replace(placeholder, symbol)
    return _SPACES.sub(" ", text).strip()


def number(text: str) -> float:
    """'1,500' -> 1500 (thousands); '1,5' -> 1.5 (a decimal comma); '.5' -> 0.5."""
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", text):
        return float(text.replace(",", ""))
    return float(text.replace(",", "."))


# -- constraints ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Constraint:
    """What one statement says of a quantity: a lower and/or an upper bound (None: no bound on that side),
    whether each is strict, and the text after the number (its unit)."""

    low: float | None
    high: float | None
    low_strict: bool = False
    high_strict: bool = False
    unit: str = ""
    start: int = 0
    #: the low bound's own unit where a range names two ("6 months to 5 years"); "": `unit`
    low_unit: str = ""


_RANGE = re.compile(rf"(?:\bbetween\s+(?P<a>{_NUM})\s*(?P<ua>[a-zA-Z%/µ²³^ ]{{0,12}}?)\s*\band\s*(?P<b>{_NUM})"
                    rf"|(?:\bfrom\s+)?(?P<c>{_NUM})\s*(?P<uc>[a-zA-Z%/µ²³^ ]{{0,12}}?)\s*"
                    r"(?:-|–|—|\bto\b|\bthrough\b)\s*"
                    rf"(?P<d>{_NUM}))(?=(?P<unit>[^;]{{0,40}}))")
_LIST = re.compile(r"(?P<a>\d)(?:\s*,\s*\d)*\s*,?\s*(?:\bor\b|\band\b)\s*(?P<b>\d)(?!\s*[.,]?\d)"
                   r"(?=(?P<unit>[^;]{0,40}))")
_COMPARED = re.compile(rf"(?P<op>>=|<=|>|<)\s*(?:to\s+|of\s+|than\s+|=\s*|a\s+|an\s+)?(?P<a>{_NUM})"
                       rf"(?=(?P<unit>[^;]{{0,40}}))")
#: "18 years or older", "350 cells/mm3 or more", "18 and over" (normalised to "18 and >")
_TRAILING = re.compile(rf"(?P<a>{_NUM})(?P<unit>[^;<>]{{0,40}}?)\b(?:or|and)\s*"
                       r"(?:(?P<dir>more|greater|higher|older|larger|less|lower|younger|smaller|fewer)\b"
                       r"|(?P<sym>[<>])(?!\s*=?\s*\.?\d))")
_LOWER_WORDS = (">", "more", "greater", "higher", "older", "larger")


def constraints(segment: str, lists: bool = False) -> list[Constraint]:
    """Every bound stated in a normalised `segment`, in order: ranges ("between 18 and 65", "0-2"; with
    `lists`, "0, 1 or 2"), comparisons ("> 1.5 x ULN") and trailing directions ("18 years or older")."""
    found: list[tuple[int, int, Constraint]] = []

    def add(match, c: Constraint) -> None:
        if not any(s < match.end() and match.start() < e for s, e, _ in found):
            found.append((match.start(), match.end(), c))

    for m in _TRAILING.finditer(segment):
        lower = (m.group("dir") or m.group("sym")) in _LOWER_WORDS
        value = number(m.group("a"))
        add(m, Constraint(value if lower else None, None if lower else value, unit=m.group("unit"),
                          start=m.start()))
    for m in _COMPARED.finditer(segment):
        op, value = m.group("op"), number(m.group("a"))
        if op.startswith(">"):
            add(m, Constraint(value, None, low_strict=op == ">", unit=m.group("unit"), start=m.start()))
        else:
            add(m, Constraint(None, value, high_strict=op == "<", unit=m.group("unit"), start=m.start()))
    for m in _RANGE.finditer(segment):
        a, b, named = (m.group("a"), m.group("b"), m.group("ua")) if m.group("a") else \
            (m.group("c"), m.group("d"), m.group("uc"))
        if named.strip() or number(a) < number(b):
            add(m, Constraint(number(a), number(b), unit=m.group("unit"), start=m.start(), low_unit=named))
    if lists:
        for m in _LIST.finditer(segment):
            if number(m.group("a")) < number(m.group("b")):
                add(m, Constraint(number(m.group("a")), number(m.group("b")), unit=m.group("unit"), start=m.start()))
    return [c for _, _, c in sorted(found, key=lambda f: f[0])]


# -- quantities -----------------------------------------------------------------------------------

_ULN = re.compile(r"(?:\b|(?<=x))ul?nl?\b|upper\s+normal\s+limits?|upper\s+limits?\s+(?:of\s+)?(?:the\s+)?normal"
                  r"|\btimes\b|×|\bx\s*(?:the\s+)?"
                  r"(?:institutional\s+)?(?:normal|upper|n\b)|\bfold\b|\bn\b|\bnormal\b", re.I)


def _uln(unit: str) -> bool:
    return bool(_ULN.search(unit[:30]))


def _within(value: float | None, low: float, high: float) -> float | None:
    return value if value is not None and low <= value <= high else None


def _age(v: float, unit: str) -> float | None:
    u = unit.lower()[:12]
    if re.match(r"\s*(?:months?|mos?\b)", u):
        v = v / 12
    elif re.match(r"\s*weeks?", u):
        v = v / 52.18
    elif re.match(r"\s*days?", u):
        v = v / 365.25
    return _within(v, 0.0, 120.0)


def _months(v: float, unit: str) -> float | None:
    u = unit.lower()[:12]
    if re.match(r"\s*weeks?|\s*wks?\b", u):
        v = v / 4.345
    elif re.match(r"\s*days?", u):
        v = v / 30.44
    elif re.match(r"\s*(?:years?|yrs?\b)", u):
        v = v * 12
    return _within(v, 0.1, 240.0)


def _anc(v: float, unit: str) -> float | None:
    return _within(v / 1000 if v >= 50 else v, 0.05, 20.0)


def _platelets(v: float, unit: str) -> float | None:
    if v >= 2000:
        v = v / 1000
    elif re.search(r"10\s*\^?\s*\(?5|\b105\b|lakh", unit[:20], re.I):
        v = v * 100
    return _within(v, 5.0, 1000.0)


def _hemoglobin(v: float, unit: str) -> float | None:
    if "mmol" in unit[:15].lower():
        v = v * 1.611
    elif v > 25:
        v = v / 10
    return _within(v, 4.0, 20.0)


def _creatinine(v: float, unit: str) -> float | None:
    if re.match(r"\s*mg", unit):
        pass
    elif re.search(r"[µu]mol|micromol", unit[:15], re.I):
        v = v / 88.4
    elif _uln(unit):
        v = v * 1.2
    elif v > 20:
        v = v / 88.4
    return _within(v, 0.3, 10.0)


def _clearance(v: float, unit: str) -> float | None:
    return _within(v, 5.0, 200.0)


def _bilirubin(v: float, unit: str) -> float | None:
    if re.match(r"\s*mg", unit):
        v = v / 1.2
    elif re.search(r"[µu]mol|micromol", unit[:15], re.I) or v > 10:
        v = v / 20.5
    elif not _uln(unit):
        v = v / 1.2
    return _within(v, 0.3, 10.0)


def _transaminases(v: float, unit: str) -> float | None:
    if not _uln(unit) and v > 20:  # IU/L
        v = v / 40
    return _within(v, 0.5, 30.0)


def _cd4(v: float, unit: str) -> float | None:
    if re.match(r"\s*%|\s*percent", unit):
        return None
    if v < 5 and re.search(r"10\s*\^?\s*\(?9|\b109\b|/\s*n?l\b", unit[:20], re.I):
        v = v * 1000
    return _within(v, 10.0, 2000.0)


def _hba1c(v: float, unit: str) -> float | None:
    if "mmol" in unit[:15].lower() or v > 20:
        v = v / 10.929 + 2.15
    return _within(v, 4.0, 20.0)


def _bmi(v: float, unit: str) -> float | None:
    if re.match(r"\s*(?:th\b|st\b|nd\b|rd\b|%|percentile)", unit):  # "95th percentile"
        return None
    return _within(v, 10.0, 70.0)


def _lvef(v: float, unit: str) -> float | None:
    return _within(v * 100 if v <= 1 else v, 10.0, 90.0)


@dataclass(frozen=True)
class _Quantity:
    name: str  # the feature stem: <name>_min / <name>_max
    mention: str  # a regular expression for the words that name it
    unit: Callable[[float, str], float | None]  # (number, text after it) -> the feature's unit, or None
    step: float = 0.0  # an integer scale's step: strict bounds move by one step ("ECOG < 2" -> <= 1)


_QUANTITIES = (
    _Quantity("life_expectancy", r"life\s+expectancy|expected\s+survival|(?:estimated|anticipated)\s+survival"
              r"|expected\s+to\s+live|\blive\s+for", _months),
    _Quantity("ecog", r"\becog(?:\s+performance\s+(?:status|score))?\b|eastern\s+cooperative\s+oncology\s+group"
              r"|\bzubrod\b|\bwho\s+(?:performance|ps)\b"
              r"|performance\s+(?:status|score)|\bps\b", lambda v, u: _within(v, 0.0, 4.0), step=1.0),
    _Quantity("karnofsky", r"\b(?:karnofsky|lansky)"
              r"(?:\s+(?:\(kps\)\s+)?(?:performance|play)\s+(?:status|score|scale)s?)?"
              r"|\bkps\b", lambda v, u: _within(v, 0.0, 100.0), step=10.0),
    _Quantity("anc", r"absolute\s+neutrophils?(?:\s+counts?)?|\banc\b|neutrophils?(?:\s+(?:counts?|granulocytes?))?"
              r"|granulocytes?(?:\s+counts?)?|\bagc\b", _anc),
    _Quantity("platelets", r"platelets?(?:\s+counts?)?|\bplt\b|thrombocytes?(?:\s+counts?)?", _platelets),
    _Quantity("hba1c", r"\bhb\s*a\s*1\s*c\b|\ba1c\b|glycated\s+ha?emoglobin|glycosylated\s+ha?emoglobin"
              r"|ha?emoglobin\s+(?:subtype\s+)?a1c|glycohemoglobin", _hba1c),
    _Quantity("hemoglobin", r"ha?emoglobin|\bhgb\b|\bhb\b", _hemoglobin),
    _Quantity("clearance", r"creatinine\s+clearance|\bcrcl\b|\bclcr\b|\be?gfr\b|glomerular\s+filtration(?:\s+rate)?",
              _clearance),
    _Quantity("creatinine", r"creatinine|\bcreat\b", _creatinine),
    _Quantity("bilirubin", r"bilirubin|\bbili\b", _bilirubin),
    _Quantity("transaminases", r"\bast\b|\balt\b|\bsgot\b|\bsgpt\b|transaminases?|aminotransferases?"
              r"|liver\s+enzymes?", _transaminases),
    _Quantity("cd4", r"\bcd4\+?(?:\s*(?:\+|positive))?(?:\s*t[-\s]?(?:cell|lymphocyte)s?)?(?:\s+(?:cell\s+)?counts?)?",
              _cd4),
    _Quantity("bmi", r"\bbmi\b|body\s+mass\s+index", _bmi),
    _Quantity("lvef", r"\blvef\b|(?:left\s+ventricular\s+)?ejection\s+fraction|\bmuga\b", _lvef),
    _Quantity("age", r"\bage[sd]?\b", _age),
)
_MENTIONS = [(q, re.compile(q.mention, re.I)) for q in _QUANTITIES]
#: where a statement on a quantity ends: a semicolon, a comma before a word, a sentence's end
_CUT = re.compile(r";|,\s+(?=[A-Za-z(])(?!but\b|not\b|and\s+(?:not|[<>]))|\.\s+(?=[A-Z])|\n")
_SEGMENT_MAX = 120
_NORMAL_ONLY = re.compile(r"^\W*(?:levels?\s+)?(?:within|in|at)?\s*(?:the\s+)?(?:institutional\s+)?"
                          r"(?:normal\s+(?:limits|range)|normal\b|\bwnl\b)", re.I)
#: "18 years or older" with no "age" word: a number of years read as an age when the item names people
_YEARS = re.compile(rf"(?:(?P<op>>=|<=|>|<)\s*)?(?<![\d.,])(?P<a>{_NUM})"
                    rf"(?:\s*(?:-|–|\bto\b|\band\b)\s*(?P<b>{_NUM}))?"
                    r"\s*(?P<unit>years?|yrs?|months?)(?P<after>[^;]{0,30})", re.I)
_NOT_AGE = re.compile(r"^\s*(?:\w+\s+){0,3}?(?:since|after|before|prior|ago|of\s+(?:treatment|therapy|follow|"
                      r"disease|diagnosis|duration|history|smoking|use)|duration|history|previous|post|from)\b", re.I)


def _mentions(text: str) -> list[tuple[_Quantity, int, int]]:
    """Every quantity named in `text`, earliest first; of overlapping names the longest wins."""
    found = [(q, m.start(), m.end()) for q, pattern in _MENTIONS for m in pattern.finditer(text)]
    found.sort(key=lambda f: (f[1], -(f[2] - f[1])))
    kept: list[tuple[_Quantity, int, int]] = []
    for q, s, e in found:
        if not kept or s >= kept[-1][2]:
            kept.append((q, s, e))
    return kept


def _segment(text: str, start: int, end: int) -> str:
    cut = _CUT.search(text, start)
    stop = min(end, cut.start() if cut else len(text), start + _SEGMENT_MAX)
    return text[start:stop]


def _statements(text: str, exclusion: bool) -> Iterable[tuple[_Quantity, Constraint]]:
    """(quantity, what is stated of it) for each bound a normalised item sets. A number of years with no
    "age" word is read as an age only in an inclusion item ("Men and women 18 to 65 years"): in exclusions
    it is mostly a condition's ("subjects > 40 years of age with a risk factor")."""
    mentions = _mentions(text)
    claimed = []  # spans read as some quantity's statement: no age is read from them
    for k, (q, s, e) in enumerate(mentions):
        nxt = mentions[k + 1][1] if k + 1 < len(mentions) else len(text)
        segment = _segment(text, e, nxt)
        claimed.append((s, e + len(segment)))
        if q.name in ("bilirubin", "transaminases", "creatinine") and _NORMAL_ONLY.match(segment):
            yield q, Constraint(None, 1.0, unit="x ULN")  # "bilirubin within normal limits"
            continue
        found = constraints(segment, lists=q.name == "ecog")
        if q.name == "age":  # "aged 18 to 65 years" but not "for age, gender and height"
            found = [c for c in found if not _NOT_AGE.match(c.unit)]
        for c in found:
            values = [v for v in (c.low, c.high) if v is not None]
            if q.name == "ecog" and min(values) >= 10:  # "performance status >= 70%": Karnofsky's scale
                yield _KARNOFSKY, c
            else:
                yield q, c
    for m in _YEARS.finditer("" if exclusion else text):
        if any(s <= m.start() < e for s, e in claimed):
            continue
        after = m.group("after")
        before = text[max(0, m.start() - 25):m.start()]
        trailing = _AGE_TRAILING.match(after)
        said = (re.match(r"\s*(?:of\s+age|old)\b", after, re.I)
                or (trailing and trailing.group(1).lower() in ("older", "younger"))
                or _PEOPLE_BEFORE.search(before) or not re.search(r"[A-Za-z0-9]", text[:m.start()]))
        if not said or _NOT_AGE.match(after):
            continue
        unit = m.group("unit") + after
        a, op = number(m.group("a")), m.group("op")
        b = number(m.group("b")) if m.group("b") else None
        if b is not None and a < b and not op:
            yield _AGE, Constraint(a, b, unit=unit)
        elif op and b is None:
            lower = op.startswith(">")
            yield _AGE, Constraint(a if lower else None, None if lower else a, low_strict=op == ">",
                                   high_strict=op == "<", unit=unit)
        elif trailing and b is None:
            lower = trailing.group(1).lower() in _LOWER_WORDS
            yield _AGE, Constraint(a if lower else None, None if lower else a, unit=unit)
        # a bare "45 years old" is an example, not a bound


_AGE_TRAILING = re.compile(r"\s*(?:of\s+age\s*|old\s*)?(?:or|and)\s*(>|<|more|greater|older|less|younger)(?:\b|\s|$)",
                           re.I)
#: "Men and women 18 to 65 years", "patients >= 18 years", "Adults (>= 18 years)"
_PEOPLE_BEFORE = re.compile(r"(?:\bage[sd]?|\badults?|\bmales?|\bfemales?|\bmen|\bwomen|\bboys?|\bgirls?|\bchildren"
                            r"|\bvolunteers?|\bsubjects?|\bpatients?|\bparticipants?|\bpersons?|\bpeople"
                            r"|\bindividuals?|\bbe)\W*(?:\s*(?:must|should|who|are|of|be|is)\b)*\W*$", re.I)
_AGE = next(q for q in _QUANTITIES if q.name == "age")
_KARNOFSKY = next(q for q in _QUANTITIES if q.name == "karnofsky")


def _allowed(c: Constraint, exclusion: bool, step: float) -> tuple[float | None, float | None]:
    """The allowed (low, high) a statement sets; an exclusion's bound turns over ("ANC < 1.5": low 1.5),
    a strict bound on an integer scale moves by one step ("ECOG < 2": high 1)."""
    low, high = c.low, c.high
    if not exclusion:
        if step and low is not None and c.low_strict:
            low += step
        if step and high is not None and c.high_strict:
            high -= step
        return low, high
    if low is not None and high is not None:
        return None, None  # an excluded range leaves both sides allowed
    if low is not None:
        return None, low - step if (step and not c.low_strict) else low
    if high is not None:
        return high + step if (step and not c.high_strict) else high, None
    return None, None


def item_bounds(text: str, kind: str = "inclusion") -> dict[str, tuple[float | None, float | None]]:
    """{quantity: (allowed low, allowed high)} that one criterion item states, in the features' units
    (Karnofsky/Lansky kept on their 0-100 scale here)."""
    return dict(_item_bounds(text, kind == "exclusion"))


@lru_cache(maxsize=20_000)  # what-if variants and ablations of one trial share most of their items
def _item_bounds(text: str, exclusion: bool) -> tuple[tuple[str, tuple[float | None, float | None]], ...]:
    out: dict[str, tuple[float | None, float | None]] = {}
    for q, c in _statements(normalise(text), exclusion):
        low, high = _allowed(c, exclusion, q.step)
        low = q.unit(low, c.low_unit if c.low_unit.strip() and c.low is not None else c.unit) \
            if low is not None else None
        high = q.unit(high, c.unit) if high is not None else None
        if low is None and high is None:
            continue
        old_low, old_high = out.get(q.name, (None, None))
        out[q.name] = (_tighter(old_low, low, max), _tighter(old_high, high, min))
    return tuple(out.items())


def _tighter(old, new, pick):
    return new if old is None else old if new is None else pick(old, new)


def eligibility_thresholds(trial: Trial) -> dict[str, float | None]:
    """Every feature's stated value for the trial's active, enabled items (None: not stated)."""
    lows: dict[str, float | None] = {}
    highs: dict[str, float | None] = {}
    for criterion in trial.active_criteria:
        for name, (low, high) in item_bounds(criterion.text, criterion.kind).items():
            lows[name] = _tighter(lows.get(name), low, max)
            highs[name] = _tighter(highs.get(name), high, min)
    ecog = highs.get("ecog")
    karnofsky = lows.get("karnofsky")  # a minimum Karnofsky is a maximum ECOG: (100 - k) / 20
    if karnofsky is not None:
        ecog = _tighter(ecog, (100.0 - karnofsky) / 20.0, min)
    out = {name: None for name in NAMES}
    out["performance_max"] = ecog
    for name in NAMES:
        stem, side = name.rsplit("_", 1)
        if name != "performance_max":
            out[name] = (lows if side == "min" else highs).get(stem)
    return out


def threshold_vector(trial: Trial) -> np.ndarray:
    """(len(FEATURE_NAMES),) float64: each feature's value (NEUTRAL where not stated), then its indicator."""
    found = eligibility_thresholds(trial)
    values = [found[n] if found[n] is not None else NEUTRAL[n] for n in NAMES]
    present = [0.0 if found[n] is None else 1.0 for n in NAMES]
    return np.array(values + present, dtype=np.float64)


def threshold_matrix(trials: Iterable[Trial]) -> np.ndarray:
    """(n, len(FEATURE_NAMES)) for `trials`."""
    rows = [threshold_vector(t) for t in trials]
    return np.vstack(rows) if rows else np.zeros((0, len(FEATURE_NAMES)))
