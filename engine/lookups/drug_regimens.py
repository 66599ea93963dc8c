"""Named combination regimens ("FOLFOX", "R-CHOP", "gem-cis") -> the generic names of their drugs.

Records name a regimen instead of its drugs ("FOLFOX regimen", "modified FOLFOX6", "CHOP-R"); no
reference table knows such a name, so without this table the trial lost those molecules. Written for
this project from standard oncology usage; components are the generic names the reference tables use.
This module owns the table and the matching rule; `DrugLookup` expands a match into Drugs tagged
with the regimen (`Drug.regimen`), so views can show "FOLFOX → leucovorin, fluorouracil, oxaliplatin".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from engine.lookups.drug_names import compact, outside_parens, plain, strip_doses, words

_FU, _LV = "fluorouracil", "leucovorin"
_CHOP = ("cyclophosphamide", "doxorubicin", "vincristine", "prednisone")

#: canonical name -> (component generic names, other spellings); spellings are matched as keys
#: (`regimen_key`), so case, hyphens, "regimen", "modified" and a cycle length ("-14", "6") do not matter
REGIMENS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "FOLFOX": ((_LV, _FU, "oxaliplatin"), ("mFOLFOX", "FLOX")),
    "FOLFIRI": ((_LV, _FU, "irinotecan"), ("mFOLFIRI",)),
    "FOLFIRINOX": ((_LV, _FU, "irinotecan", "oxaliplatin"), ("mFOLFIRINOX", "FOLFOXIRI")),
    "CAPOX": (("capecitabine", "oxaliplatin"), ("XELOX", "CAPEOX")),
    "XELIRI": (("capecitabine", "irinotecan"), ("CAPIRI",)),
    "FLOT": ((_FU, _LV, "oxaliplatin", "docetaxel"), ()),
    "CHOP": (_CHOP, ()),
    "R-CHOP": (("rituximab",) + _CHOP, ("CHOP-R", "RCHOP")),
    "CVP": (("cyclophosphamide", "vincristine", "prednisone"), ()),
    "R-CVP": (("rituximab", "cyclophosphamide", "vincristine", "prednisone"), ("CVP-R",)),
    "ABVD": (("doxorubicin", "bleomycin", "vinblastine", "dacarbazine"), ()),
    "BEACOPP": (("bleomycin", "etoposide", "doxorubicin", "cyclophosphamide", "vincristine", "procarbazine",
                 "prednisone"), ()),
    "BEP": (("bleomycin", "etoposide", "cisplatin"), ("PEB",)),
    "AC": (("doxorubicin", "cyclophosphamide"), ()),
    "AC-T": (("doxorubicin", "cyclophosphamide", "paclitaxel"), ("AC-paclitaxel", "AC then paclitaxel")),
    "TC": (("docetaxel", "cyclophosphamide"), ()),
    "TCH": (("docetaxel", "carboplatin", "trastuzumab"), ()),
    "FEC": ((_FU, "epirubicin", "cyclophosphamide"), ("CEF",)),
    "CMF": (("cyclophosphamide", "methotrexate", _FU), ()),
    "ECF": (("epirubicin", "cisplatin", _FU), ()),
    "ECX": (("epirubicin", "cisplatin", "capecitabine"), ()),
    "EOX": (("epirubicin", "oxaliplatin", "capecitabine"), ()),
    "TPF": (("docetaxel", "cisplatin", _FU), ()),
    "gem-cis": (("gemcitabine", "cisplatin"), ("GemCis", "cis-gem")),
    "gem-carbo": (("gemcitabine", "carboplatin"), ("GemCarbo", "carbo-gem")),
    "carbo-taxol": (("carboplatin", "paclitaxel"), ("carbotaxol", "carbo-tax", "taxol-carbo")),
    "MVAC": (("methotrexate", "vinblastine", "doxorubicin", "cisplatin"), ("M-VAC", "ddMVAC")),
    "PCV": (("procarbazine", "lomustine", "vincristine"), ()),
    "DHAP": (("dexamethasone", "cytarabine", "cisplatin"), ()),
    "R-ICE": (("rituximab", "ifosfamide", "carboplatin", "etoposide"), ("ICE-R",)),
    "hyper-CVAD": (("cyclophosphamide", "vincristine", "doxorubicin", "dexamethasone", "methotrexate",
                    "cytarabine"), ()),
    "VRd": (("bortezomib", "lenalidomide", "dexamethasone"), ("RVD",)),
}

#: words around a regimen's name that do not change which drugs it means
_FILLER = frozenset("regimen regimens chemotherapy chemo protocol therapy treatment combination standard "
                    "modified induction consolidation based".split())
#: a trailing cycle or variant number ("FOLFOX6", "R-CHOP-14") is dropped only after this many letters,
#: so short codes ("Tc 99") never turn into a regimen
_MIN_STEM = 4


@dataclass(frozen=True)
class Regimen:
    name: str
    drugs: tuple[str, ...]


def regimen_key(text: str) -> str:
    """Index key of a regimen mention: no brackets, doses or filler words; no trailing cycle number."""
    kept = [w for w in words(strip_doses(outside_parens(plain(text)))) if w not in _FILLER]
    key = compact(" ".join(kept))
    stem = re.sub(r"\d+$", "", key)
    return stem if len(stem) >= _MIN_STEM else key


@lru_cache(maxsize=1)
def _index() -> dict[str, Regimen]:
    """Every spelling's key -> its Regimen (built once; a spelling listed twice is a table bug)."""
    index: dict[str, Regimen] = {}
    for name, (drugs, spellings) in REGIMENS.items():
        for spelling in (name, *spellings):
            key = regimen_key(spelling)
            if index.setdefault(key, Regimen(name, drugs)).name != name:
                raise ValueError(f"regimen spelling {spelling!r} clashes with {index[key].name}")
    return index


def find_regimen(name: str) -> Regimen | None:
    """The regimen `name` stands for as a whole ("modified FOLFOX6" -> FOLFOX), or None."""
    key = regimen_key(name)
    return _index().get(key) if key else None


def regimen_lines(drugs) -> list[str]:
    """"FOLFOX → leucovorin, fluorouracil, oxaliplatin" for each regimen among `drugs` (Drug objects), so
    the window, the CLI and reports say where drugs the record never named came from."""
    grouped: dict[str, list[str]] = {}
    for drug in drugs:
        if drug.regimen:
            grouped.setdefault(drug.regimen, []).append(drug.name)
    return [f"{name} → {', '.join(names)}" for name, names in grouped.items()]
