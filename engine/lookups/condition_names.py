"""Condition-name normalisation: the keys under which ICD-10-CM descriptions and trial wording meet.

Two keys per text:
- `plain_key`: lower-case words, punctuation gone ("Diabetes Mellitus, Type 2" -> "diabetes mellitus type 2").
- `bag_key`: the sorted set of meaningful stems after synonym rules, so word order, plurals, MeSH
  inversion ("Carcinoma, Non-Small-Cell Lung") and "cancer"/"carcinoma"/"neoplasm" variants agree.
Both sides (ICD descriptions and trial names) go through the same functions.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: abbreviations common in trial records, expanded before anything else (whole words)
ABBREVIATIONS = {
    "nsclc": "non small cell lung cancer", "sclc": "small cell lung cancer", "crc": "colorectal cancer",
    "copd": "chronic obstructive pulmonary disease", "hiv": "hiv", "aids": "acquired immunodeficiency syndrome",
    "aml": "acute myeloid leukemia", "all": "acute lymphoblastic leukemia", "cll": "chronic lymphocytic leukemia",
    "cml": "chronic myeloid leukemia", "mds": "myelodysplastic syndrome", "nhl": "non hodgkin lymphoma",
    "dlbcl": "diffuse large b cell lymphoma", "mm": "multiple myeloma", "hcc": "hepatocellular carcinoma",
    "rcc": "renal cell carcinoma", "t2dm": "type 2 diabetes mellitus", "t1dm": "type 1 diabetes mellitus",
    "dm2": "type 2 diabetes mellitus", "dm1": "type 1 diabetes mellitus", "t2d": "type 2 diabetes mellitus",
    "t1d": "type 1 diabetes mellitus", "ra": "rheumatoid arthritis", "ms": "multiple sclerosis",
    "ibd": "inflammatory bowel disease", "gerd": "gastro esophageal reflux disease", "ckd": "chronic kidney disease",
    "chf": "congestive heart failure", "cad": "coronary artery disease", "mi": "myocardial infarction",
    "af": "atrial fibrillation", "afib": "atrial fibrillation", "adhd": "attention deficit hyperactivity disorder",
    "mdd": "major depressive disorder", "gad": "generalized anxiety disorder", "ptsd": "post traumatic stress disorder",
    "ocd": "obsessive compulsive disorder", "bph": "benign prostatic hyperplasia", "osa": "obstructive sleep apnea",
    "hcv": "hepatitis c", "hbv": "hepatitis b", "sle": "systemic lupus erythematosus", "uti": "urinary tract infection",
    "pah": "pulmonary arterial hypertension", "ipf": "idiopathic pulmonary fibrosis", "amd": "macular degeneration",
    "dme": "diabetic macular edema", "gbm": "glioblastoma", "scchn": "head and neck squamous cell carcinoma",
    "hnscc": "head and neck squamous cell carcinoma", "mcrc": "metastatic colorectal cancer",
    "mbc": "metastatic breast cancer", "crpc": "castration resistant prostate cancer",
    "mcrpc": "metastatic castration resistant prostate cancer", "gist": "gastrointestinal stromal tumor",
}

#: trial wording -> ICD-10-CM codes where the ICD text differs too much for word rules.
#: Written for this project; keys are `plain_key`s after abbreviation expansion and qualifier removal.
CONDITION_SYNONYMS: dict[str, tuple[str, ...]] = {
    "lung cancer": ("C34.90",), "non small cell lung cancer": ("C34.90",),
    "small cell lung cancer": ("C34.90",), "lung carcinoma": ("C34.90",), "lung neoplasm": ("C34.90",),
    "colorectal cancer": ("C18.9", "C20"), "colorectal carcinoma": ("C18.9", "C20"),
    "colorectal neoplasm": ("C18.9", "C20"), "colon cancer": ("C18.9",), "rectal cancer": ("C20",),
    "head and neck cancer": ("C76.0",), "head and neck neoplasm": ("C76.0",),
    "head and neck squamous cell carcinoma": ("C76.0",), "hiv": ("B20",), "hiv infection": ("B20",),
    "human immunodeficiency virus infection": ("B20",), "acquired immunodeficiency syndrome": ("B20",),
    "solid tumor": ("C80.1",), "cancer": ("C80.1",), "neoplasm": ("C80.1",), "tumor": ("C80.1",),
    "carcinoma": ("C80.1",), "malignancy": ("C80.1",), "solid tumour": ("C80.1",),
    "lymphoma": ("C85.90",), "non hodgkin lymphoma": ("C85.90",), "hodgkin lymphoma": ("C81.90",),
    "hodgkin disease": ("C81.90",), "leukemia": ("C95.90",), "melanoma": ("C43.9",),
    "malignant melanoma": ("C43.9",), "skin melanoma": ("C43.9",),
    "glioblastoma": ("C71.9",), "glioblastoma multiforme": ("C71.9",), "glioma": ("C71.9",),
    "brain tumor": ("C71.9",), "gliosarcoma": ("C71.9",), "brain and central nervous system tumor": ("C71.9",),
    "renal cell carcinoma": ("C64.9",), "kidney cancer": ("C64.9",), "renal cancer": ("C64.9",),
    "acute myeloid leukemia": ("C92.00",), "acute myelogenous leukemia": ("C92.00",),
    "acute lymphoblastic leukemia": ("C91.00",), "acute lymphocytic leukemia": ("C91.00",),
    "chronic lymphocytic leukemia": ("C91.10",), "chronic myeloid leukemia": ("C92.10",),
    "chronic myelogenous leukemia": ("C92.10",), "myelodysplastic syndrome": ("D46.9",),
    "diffuse large b cell lymphoma": ("C83.30",), "follicular lymphoma": ("C82.90",),
    "mantle cell lymphoma": ("C83.10",), "multiple myeloma": ("C90.00",), "plasma cell myeloma": ("C90.00",),
    "hepatocellular carcinoma": ("C22.0",), "liver cancer": ("C22.8",), "gastric cancer": ("C16.9",),
    "stomach cancer": ("C16.9",), "esophageal cancer": ("C15.9",), "pancreatic cancer": ("C25.9",),
    "ovarian cancer": ("C56.9",), "breast cancer": ("C50.919",), "prostate cancer": ("C61",),
    "bladder cancer": ("C67.9",), "cervical cancer": ("C53.9",), "endometrial cancer": ("C54.1",),
    "thyroid cancer": ("C73",), "fallopian tube cancer": ("C57.00",), "peritoneal cancer": ("C48.2",),
    "primary peritoneal cancer": ("C48.2",), "mesothelioma": ("C45.9",), "sarcoma": ("C49.9",),
    "soft tissue sarcoma": ("C49.9",), "neuroblastoma": ("C74.90",), "gastrointestinal stromal tumor": ("C49.A0",),
    "castration resistant prostate cancer": ("C61",), "hormone refractory prostate cancer": ("C61",),
    "type 2 diabetes": ("E11.9",), "type 2 diabetes mellitus": ("E11.9",), "type 1 diabetes": ("E10.9",),
    "type 1 diabetes mellitus": ("E10.9",), "diabetes": ("E11.9",), "diabetes mellitus": ("E11.9",),
    "hypertension": ("I10",), "essential hypertension": ("I10",), "high blood pressure": ("I10",),
    "copd": ("J44.9",), "chronic obstructive pulmonary disease": ("J44.9",), "asthma": ("J45.909",),
    "heart failure": ("I50.9",), "congestive heart failure": ("I50.9",), "atrial fibrillation": ("I48.91",),
    "coronary artery disease": ("I25.10",), "coronary heart disease": ("I25.10",),
    "myocardial infarction": ("I21.9",), "acute coronary syndrome": ("I24.9",), "stroke": ("I63.9",),
    "hypercholesterolemia": ("E78.00",), "dyslipidemia": ("E78.5",), "hyperlipidemia": ("E78.5",),
    "obesity": ("E66.9",), "overweight": ("E66.3",), "rheumatoid arthritis": ("M06.9",),
    "osteoarthritis": ("M19.90",), "osteoporosis": ("M81.0",), "psoriasis": ("L40.9",),
    "plaque psoriasis": ("L40.0",), "atopic dermatitis": ("L20.9",), "crohn disease": ("K50.90",),
    "ulcerative colitis": ("K51.90",), "inflammatory bowel disease": ("K52.9",),
    "alzheimer disease": ("G30.9",), "parkinson disease": ("G20",), "multiple sclerosis": ("G35",),
    "relapsing remitting multiple sclerosis": ("G35",), "epilepsy": ("G40.909",), "migraine": ("G43.909",),
    "schizophrenia": ("F20.9",), "bipolar disorder": ("F31.9",), "major depressive disorder": ("F32.9",),
    "depression": ("F32.A",), "depressive disorder": ("F32.A",), "generalized anxiety disorder": ("F41.1",),
    "attention deficit hyperactivity disorder": ("F90.9",), "insomnia": ("G47.00",), "pain": ("R52",),
    "chronic pain": ("G89.29",), "postoperative pain": ("G89.18",), "neuropathic pain": ("M79.2",),
    "hepatitis c": ("B18.2",), "chronic hepatitis c": ("B18.2",), "hepatitis b": ("B18.1",), "hepatitis": ("K75.9",),
    "chronic hepatitis b": ("B18.1",), "influenza": ("J11.1",), "pneumonia": ("J18.9",),
    "chronic kidney disease": ("N18.9",), "anemia": ("D64.9",), "kidney transplantation": ("Z94.0",),
    "renal transplantation": ("Z94.0",), "liver transplantation": ("Z94.4",), "smoking cessation": ("F17.200",),
    "nicotine dependence": ("F17.200",), "alcohol dependence": ("F10.20",), "opioid dependence": ("F11.20",),
    "erectile dysfunction": ("N52.9",), "overactive bladder": ("N32.81",), "glaucoma": ("H40.9",),
    "macular degeneration": ("H35.30",), "diabetic macular edema": ("E11.311",), "cystic fibrosis": ("E84.9",),
    "sickle cell disease": ("D57.1",), "pulmonary arterial hypertension": ("I27.0",),
    "idiopathic pulmonary fibrosis": ("J84.112",), "systemic lupus erythematosus": ("M32.9",),
    "ankylosing spondylitis": ("M45.9",), "psoriatic arthritis": ("L40.50",), "gout": ("M10.9",),
    "benign prostatic hyperplasia": ("N40.0",), "urinary tract infection": ("N39.0",), "sepsis": ("A41.9",),
    "myeloma": ("C90.00",), "gastroesophageal reflux disease": ("K21.9",), "gastroesophageal reflux": ("K21.9",),
    "hepatitis c virus": ("B18.2",), "hepatitis c virus infection": ("B18.2",), "hepatitis c infection": ("B18.2",),
    "hiv 1 infection": ("B20",), "hiv 1": ("B20",), "human immunodeficiency virus": ("B20",),
    "astrocytoma": ("C71.9",), "anaplastic astrocytoma": ("C71.9",), "oligodendroglioma": ("C71.9",),
    "anaplastic oligodendroglioma": ("C71.9",), "ependymoma": ("C71.9",), "medulloblastoma": ("C71.6",),
    "brain stem glioma": ("C71.7",), "mixed glioma": ("C71.9",), "small lymphocytic lymphoma": ("C83.00",),
    "immunoblastic large cell lymphoma": ("C83.30",), "diffuse mixed cell lymphoma": ("C83.30",),
    "neoplasm metastasis": ("C79.9",), "metastases": ("C79.9",), "brain metastases": ("C79.31",),
    "brain metastasis": ("C79.31",), "bone metastases": ("C79.51",), "liver metastases": ("C78.7",),
    "hematologic malignancy": ("C96.9",), "hematologic neoplasm": ("C96.9",), "hematologic cancer": ("C96.9",),
    "kidney transplant": ("Z94.0",), "renal transplant": ("Z94.0",), "liver transplant": ("Z94.4",),
    "testicular germ cell tumor": ("C62.90",), "testicular cancer": ("C62.90",), "psychotic disorder": ("F29",),
    "psychosis": ("F29",), "contraception": ("Z30.9",), "peripheral neuropathy": ("G62.9",),
    "myelofibrosis": ("D47.4",), "primary myelofibrosis": ("D47.4",), "non alcoholic steatohepatitis": ("K75.81",),
    "nonalcoholic steatohepatitis": ("K75.81",), "nash": ("K75.81",), "hepatitis c": ("B18.2",),
    "osteosarcoma": ("C41.9",), "ewing sarcoma": ("C41.9",), "urothelial carcinoma": ("C67.9",),
    "transitional cell carcinoma": ("C67.9",), "mesothelioma": ("C45.9",), "pleural mesothelioma": ("C45.0",),
    "germ cell tumor": ("C62.90",), "heart transplantation": ("Z94.1",), "lung transplantation": ("Z94.2",),
    "myocardial ischemia": ("I25.9",), "hemolytic anemia": ("D59.9",),
    "cardiovascular disease": ("I25.10",), "peripheral arterial disease": ("I73.9",),
    "peripheral artery disease": ("I73.9",), "peripheral t cell lymphoma": ("C84.40",), "neuralgia": ("M79.2",),
    "acromegaly": ("E22.0",), "phenylketonuria": ("E70.0",), "opioid induced constipation": ("K59.03",),
    "cytomegalovirus infection": ("B25.9",), "hematologic disease": ("D75.9",), "richter transformation": ("C91.10",),
    "richter syndrome": ("C91.10",), "hyponatremia": ("E87.1",), "menopause": ("N95.1",), "carcinoid tumor": ("C7A.00",), "neuroendocrine tumor": ("C7A.1",),
}

#: stems too general to stand for a whole condition name ("cancer pain" is not "cancer")
GENERIC_STEMS = frozenset("malignant neoplasm solid pain chronic acute primary secondary infection syndrome "
                          "disease patient cell".split())

#: words that qualify a disease without changing its ICD-10 category
QUALIFIERS = frozenset("""
advanced metastatic recurrent refractory relapsed relapsing locally newly diagnosed untreated previously
treated stage i ii iii iv iiia iiib iiic iva ivb adult adults patients patient subjects early late
progressive persistent moderate severe mild moderately severely active unresectable inoperable resistant
first line second third grade low high childhood pediatric paediatric juvenile contiguous noncontiguous
extensive limited protocol specific experimental de novo
""".split())

_STOP = frozenset("of the and in with or an to by for nos unspecified disease diseases disorder disorders "
                  "site type".split())  # not "a": hepatitis A

_ADJECTIVES = {
    "prostatic": "prostate", "pancreatic": "pancreas", "ovarian": "ovary", "gastric": "stomach",
    "hepatic": "liver", "renal": "kidney", "colonic": "colon", "rectal": "rectum", "uterine": "uterus",
    "esophageal": "esophagus", "oesophageal": "esophagus", "oesophagus": "esophagus", "mammary": "breast",
    "bronchial": "bronchus", "testicular": "testis", "endometrial": "endometrium", "vulvar": "vulva",
    "anal": "anus", "nasopharyngeal": "nasopharynx", "laryngeal": "larynx", "pharyngeal": "pharynx",
    "cardiac": "heart", "cutaneous": "skin", "pleural": "pleura", "urethral": "urethra", "ureteral": "ureter",
    "vaginal": "vagina", "penile": "penis", "thymic": "thymus", "tracheal": "trachea", "splenic": "spleen", "haematological": "hematologic", "hematological": "hematologic", "hepatocellular": "liver cell", "tumour": "tumor", "leukaemia": "leukemia",
    "anaemia": "anemia", "haemophilia": "hemophilia", "oedema": "edema", "myelogenous": "myeloid",
    "myeloblastic": "myeloid", "lymphocytic": "lymphoid", "lymphoblastic": "lymphoid", "diabetic": "diabetes",
    "alzheimers": "alzheimer", "parkinsons": "parkinson", "crohns": "crohn", "hodgkins": "hodgkin",
}
_NEOPLASM_WORDS = frozenset("cancer cancers carcinoma carcinomas malignancy malignancies malignant tumor tumors "
                            "neoplasm neoplasms neoplasia adenocarcinoma adenocarcinomas".split())


_POSSESSIVE = re.compile(r"'s\b")
_WORD = re.compile(r"[a-z0-9]+")
_BRACKETS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")


def plain_key(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(_WORD.findall(_POSSESSIVE.sub("", text.lower())))


#: abbreviations that are also English words or too short to trust in lower case ("all solid tumors")
AMBIGUOUS_ABBREVIATIONS = frozenset("all ms mi ra af mm cad amd gad osa pah gist mbc dme crc".split())


def expand_abbreviations(text: str) -> str:
    """Expand known abbreviations; an ambiguous one only when written in capitals, in brackets, or
    as the last word ("recurrent pediatric all")."""
    tokens = re.findall(r"[A-Za-z0-9']+|[()\[\]]", text)
    words = [t for t in tokens if t not in "()[]"]
    out, depth, seen = [], 0, 0
    for token in tokens:
        if token in "([":
            depth += 1
            continue
        if token in ")]":
            depth = max(0, depth - 1)
            continue
        seen += 1
        low = plain_key(token)
        expansion = ABBREVIATIONS.get(low)
        trusted = (low not in AMBIGUOUS_ABBREVIATIONS or token.isupper() or depth > 0 or seen == len(words))
        out.append(expansion if expansion and trusted else low)
    return plain_key(" ".join(out))


def without_qualifiers(key: str) -> str:
    kept = [w for w in key.split() if w not in QUALIFIERS]
    return " ".join(kept) if kept else key


def without_brackets(text: str) -> str:
    if "(" not in text and "[" not in text:
        return text
    return " ".join(_BRACKETS.sub(" ", text).split())


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    word = _ADJECTIVES.get(word, word)
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("ses") and not word.endswith("sses"):
        return word[:-2] + "is" if word.endswith("ases") else word[:-1]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def bag_key(text: str) -> str:
    """Sorted distinct stems; cancer words -> {malignant, neoplasm} (benign kept benign)."""
    return _bag_of_plain(plain_key(text))


@lru_cache(maxsize=8192)
def _bag_of_plain(plain: str) -> str:
    words = plain.split()
    benign = "benign" in words
    stems: set[str] = set()
    words = _join_non(words)
    for w in words:
        if w in _STOP:
            continue
        if w in _NEOPLASM_WORDS:
            stems.update(("neoplasm",) if benign else ("malignant", "neoplasm"))
            continue
        for part in _stem(w).split():
            stems.add(part)
    return " ".join(sorted(stems))


_NOT_TUMOURS = frozenset("hematoma haematoma glaucoma granuloma coma trachoma stoma scotoma atheroma chalazioma "
                         "xanthoma lipoma fibroma angioma hemangioma keratoma".split())


def is_cancer_stem(stem: str) -> bool:
    """'neoplasm' (cancer words), malignant '-oma's (lymphoma, sarcoma, glioma...) and leukemias."""
    return (stem == "neoplasm" or stem.startswith(("leukemi", "leukaemi"))
            or (stem.endswith("oma") and len(stem) > 5 and stem not in _NOT_TUMOURS))


def _join_non(words: list[str]) -> list[str]:
    """'non hodgkin' -> 'nonhodgkin', so "non-Hodgkin" and "nonHodgkin" meet."""
    out: list[str] = []
    for w in words:
        if out and out[-1] == "non":
            out[-1] = "non" + w
        else:
            out.append(w)
    return out


def is_healthy_volunteers(name: str) -> bool:
    key = plain_key(name)
    return bool(re.search(r"\bhealthy\b|\bnormal (?:volunteer|subject|adult)s?\b|^volunteers?$|^healthy", key))


_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?$")


def looks_like_code(text: str) -> bool:
    return bool(_CODE.match(text.strip().upper()))


def dotted(code: str) -> str:
    """'J45909' -> 'J45.909' (ICD-10-CM puts the dot after the 3-character category)."""
    code = code.strip().upper().replace(".", "")
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"
