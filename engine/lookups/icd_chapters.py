"""ICD-10-CM chapters: which of the 22 a code falls in (the GBT baseline's flags, novelty's "never seen")."""
from __future__ import annotations

#: ICD-10-CM chapters by their first and last category (FY2021 tabular list)
ICD10_CHAPTERS = (
    ("A00", "B99"), ("C00", "D49"), ("D50", "D89"), ("E00", "E89"), ("F01", "F99"), ("G00", "G99"),
    ("H00", "H59"), ("H60", "H95"), ("I00", "I99"), ("J00", "J99"), ("K00", "K95"), ("L00", "L99"),
    ("M00", "M99"), ("N00", "N99"), ("O00", "O9A"), ("P00", "P96"), ("Q00", "Q99"), ("R00", "R99"),
    ("S00", "T88"), ("V00", "Y99"), ("Z00", "Z99"), ("U00", "U85"),
)


def icd10_chapter(code: str) -> int | None:
    """Index (0-based) of the ICD-10-CM chapter of `code` ("C34.90" -> 1), None when it fits none."""
    category = code.replace(".", "").strip().upper()[:3]
    if len(category) < 3 or not category[0].isalpha():
        return None
    key = (category[0], category[1:3])
    for i, (first, last) in enumerate(ICD10_CHAPTERS):
        if (first[0], first[1:]) <= key <= (last[0], last[1:]):
            return i
    return None


def chapter_label(index: int) -> str:
    """"C00-D49" for chapter 1: how the chapter is named in a message."""
    first, last = ICD10_CHAPTERS[index]
    return f"{first}-{last}"
