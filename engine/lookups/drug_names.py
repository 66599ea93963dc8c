"""Drug-name normalisation and classification rules (no tables here, only text rules).

Trial records name drugs the way people write them: "Gemcitabine Hydrochloride 1000 mg/m2 IV",
"regorafenib (BAY73-4506)", "cisplatin / pemetrexed", "Matching placebo tablets". The lookup
tries a sequence of ever more aggressive keys (`name_keys`) so that the cleanest form wins.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_DOSE_UNITS = (r"mg|mcg|ug|µg|μg|g|kg|ml|l|iu|u|units?|%|mmol|meq|mol|nmol|µmol|mg/kg|mg/m2|mg/m²"
               r"|gy|cgy|cc|drops?|puffs?|tabs?")
_DOSE = re.compile(rf"\b\d+(?:[.,]\d+)?\s*(?:-\s*\d+(?:[.,]\d+)?\s*)?(?:{_DOSE_UNITS})\b"
                   r"(?:\s*/\s*(?:kg|m2|m²|day|d|ml|dose|week|wk|h|hr|hour|min))*", re.I)
_PARENS = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]")

#: route, dosage-form and schedule words: never part of a molecule's name
FORM_WORDS = frozenset("""
tablet tablets tab tabs capsule capsules caps cap pill pills caplet caplets softgel softgels
injection injections injectable inj infusion infusions oral orally po iv intravenous intravenously
im intramuscular intramuscularly sc sq subcutaneous subcutaneously topical topically intravitreal
intrathecal intranasal sublingual buccal cream ointment gel lotion foam solution soln suspension
syrup elixir drops drop eye ophthalmic otic nasal spray inhaler inhalation inhaled nebulized
nebuliser nebulizer powder patch patches transdermal film coated extended delayed sustained
controlled immediate modified release released er xr xl sr cr ir mr dr odt disintegrating
chewable dispersible effervescent vaginal rectal suppository suppositories liquid formulation
formulations dose doses dosing daily weekly bid tid qid qd once twice administered administration
usp bp ep generic brand regimen therapy treatment low high middle standard mg ml new kit pen
phase cohort arm part group stage cycle cycles level escalation maintenance single multiple
ascending every week weeks day days hours loading intervention comparator active experimental
twice times a per
drug biologic study
""".split())

#: counter-ions, hydrates and similar words: the model wants the parent molecule
SALT_WORDS = frozenset("""
hydrochloride dihydrochloride trihydrochloride hcl hydrobromide hbr sodium disodium trisodium
potassium dipotassium calcium magnesium mesylate mesilate dimesylate maleate dimaleate malate
tosylate ditosylate besylate besilate citrate dicitrate sulfate sulphate bisulfate hemisulfate
phosphate diphosphate acetate diacetate tartrate bitartrate hemitartrate fumarate hemifumarate
succinate bromide chloride iodide nitrate lactate gluconate oxalate pamoate palmitate propionate
dipropionate valerate butyrate stearate embonate xinafoate trometamol tromethamine meglumine
monohydrate dihydrate trihydrate sesquihydrate hemihydrate hydrate anhydrous free base salt
ethanolate solvate
""".split())

#: separators of a combination; a comma between digits ("CP-690,550") is part of a code; an arm
#: label such as "drug:" or "intervention a:" also separates items
_COMBINATION = re.compile(r"\s*(?:/|\+|&|;|(?<!\d),|,(?!\d)|\band\b|\bplus\b|\bwith\b|\bor\b|\bvs\.?(?!\w)"
                          r"|\bversus\b|(?:^|\s)(?:drug|biologic|biological|intervention(?: [a-z0-9])?|(?:active |placebo )?comparator"
                          r"|arm [a-z0-9]+|group [a-z0-9]+|part [a-z0-9]+|[a-h])\s*:)\s*", re.I)

_PLACEBO = re.compile(r"\b(placebos?|sham|vehicle|dummy|sugar pill|inactive (?:tablet|pill|capsule)s?)\b", re.I)
_SALINE = re.compile(r"\b(saline|0\.9\s*%\s*(?:sodium chloride|nacl)|(?:sodium chloride|nacl)\s*0\.9\s*%)", re.I)
_HYPERTONIC = re.compile(r"hypertonic|\b(?:[2-9]|[1-9]\d)(?:\.\d+)?\s*%\s*(?:saline|nacl)", re.I)

#: words that mark a biologic on their own
_BIOLOGIC_WORDS = frozenset("""
vaccine vaccines vaccination immunoglobulin immunoglobulins globulin ivig antibody antibodies
antiserum antitoxin serum plasma albumin insulin interferon interleukin toxin botulinum cells cell
lymphocytes virus viral adenovirus plasmid gene bcg protein proteins enzyme heparin factor
filgrastim pegfilgrastim epoetin darbepoetin somatropin glucagon antithymocyte thymoglobulin
""".split())
_BIOLOGIC_SUFFIXES = ("mab", "cept", "plase", "grastim", "gramostim", "poetin",
                      "leukin", "kinra", "ermin", "tropin", "cogin", "leucel", "gene", "vec", "cel")
#: an enzyme's "-ase" ending after at least three letters ("alteplase", "asparaginase"); fixed width and
#: matched on a word's last 7 characters only, so a 2,000,000-letter word costs no more than a short one
#: (the former `[a-z]{3,}...$` with search() was quadratic: 40k letters took 17 s)
_ASE = re.compile(r"[a-z]{3}[nglrcdt]ase")
_NOT_ENZYMES = frozenset({"disease", "release", "phase", "base", "case", "increase", "decrease",
                          "purchase", "database", "lactase"})


def plain(text: str) -> str:
    """Lower case ASCII with single spaces; ®/™ and accents gone."""
    text = unicodedata.normalize("NFKD", text).replace("µ", "u").replace("μ", "u")
    text = text.encode("ascii", "ignore").decode().lower()
    return re.sub(r"\s+", " ", text).strip()


def compact(text: str) -> str:
    """Index key: letters and digits only ("TD-1211" == "td 1211" == "td1211")."""
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", text)


def strip_doses(text: str) -> str:
    return re.sub(r"\s+", " ", _DOSE.sub(" ", text)).strip()


def outside_parens(text: str) -> str:
    return re.sub(r"\s+", " ", _PARENS.sub(" ", text)).strip()


def inside_parens(text: str) -> list[str]:
    """Texts in brackets, and their comma-separated items ("(xofigo, bay88-8223)")."""
    found = []
    for a, b in _PARENS.findall(text):
        inner = (a or b).strip()
        items = [inner] + [i.strip() for i in re.split(r"[,;]", inner)] if re.search(r"[,;]", inner) else [inner]
        found += [i for i in items if i]
    return found


def _drop(ws: list[str], vocabulary: frozenset[str]) -> list[str]:
    kept = [w for w in ws if w not in vocabulary]
    return kept or ws


def name_keys(name: str) -> list[str]:
    """Index keys for a drug name, cleanest first (exact text, then without doses, forms, salts)."""
    return list(_name_keys(name))


@lru_cache(maxsize=65536)
def _name_keys(name: str) -> tuple[str, ...]:
    text = plain(name)
    keys: list[str] = []

    def add(variant: str) -> None:
        key = compact(variant)
        if key and key not in keys:
            keys.append(key)

    bases = [text, outside_parens(text)] + inside_parens(text)
    for base in bases:
        add(base)
    for base in bases:
        base = strip_doses(base)
        ws = [w for w in words(base) if not w.isdigit()] or words(base)
        add(" ".join(ws))
        no_form = _drop(ws, FORM_WORDS)
        add(" ".join(no_form))
        no_salt = _drop(no_form, SALT_WORDS)
        add(" ".join(no_salt))
        if no_salt and no_salt[-1].endswith("ate") and len(no_salt[-1]) > 6:
            add(" ".join(no_salt[:-1] + [no_salt[-1][:-3] + "ic", "acid"]))  # valproate -> valproic acid
    return tuple(keys)


def table_keys(name: str) -> list[str]:
    """Keys under which a reference-table name is indexed: its own text, then without its salt."""
    text = plain(name)
    ws = words(text)
    keys = [compact(text)]
    no_salt = _drop(ws, SALT_WORDS)
    if no_salt != ws:
        keys.append(compact(" ".join(no_salt)))
    return [k for k in keys if k]


def split_combination(name: str) -> list[str]:
    """Parts of a combination name ("cisplatin / pemetrexed" -> both); [name] when it is one drug."""
    text = strip_doses(outside_parens(name)) or name
    parts = [p.strip(" -.") for p in _COMBINATION.split(text)]
    parts = [p for p in parts if p and compact(p) and not compact(p).isdigit()]
    return parts if len(parts) > 1 else [name]


def is_placebo(name: str) -> bool:
    text = plain(name)
    if _PLACEBO.search(text):
        return True
    return bool(_SALINE.search(text)) and not _HYPERTONIC.search(text)


def looks_biologic(name: str) -> bool:
    """Monoclonal antibodies, fusion proteins, enzymes, vaccines, cells, insulins, interferons..."""
    ws = words(strip_doses(plain(name)))
    inhibitor = any(w.startswith(("inhibit", "antagon", "blocker")) for w in ws)
    for w in ws:
        if w in _BIOLOGIC_WORDS or w.rstrip("s") in _BIOLOGIC_WORDS:
            return True
        if len(w) >= 8 and w.endswith(_BIOLOGIC_SUFFIXES):
            return True
        if len(w) >= 7 and _ASE.fullmatch(w[-7:]) and w not in _NOT_ENZYMES and not inhibitor:
            return True
    text = " ".join(ws)
    return bool(re.search(r"\b(?:g|gm)-?csf\b|\bcar-?t\b|\bt-?cells?\b|\bsirna\b|\bmrna\b|\balfa\b|\bbeta-1[ab]\b", text))


def has_digits(name: str) -> bool:
    return any(ch.isdigit() for ch in name)
