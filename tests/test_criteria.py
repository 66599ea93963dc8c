"""Criteria splitting: legacy layout, API v2 Markdown, odd corpus variants, and writing back."""
from __future__ import annotations

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.records.criteria import join_criteria, split_criteria, tidy_criteria_text
from engine.records.trial import Criterion


def pairs(text):
    return [(c.kind, c.text) for c in split_criteria(text)]


LEGACY = (
    "\n        Inclusion Criteria:&#xD;\n&#xD;\n"
    "          -  diagnosed with Congenital Adrenal Hyperplasia (CAH)&#xD;\n&#xD;\n"
    "          -  normal ECG during baseline evaluation, with a long line that the exporter wraps\n"
    "             onto a continuation line&#xD;\n&#xD;\n"
    "        Exclusion Criteria:&#xD;\n&#xD;\n"
    "          -  history of liver disease, or elevated liver function tests&#xD;\n"
)


def test_legacy_layout_with_xml_carriage_returns_and_wrapped_lines():
    assert pairs(LEGACY) == [
        ("inclusion", "diagnosed with Congenital Adrenal Hyperplasia (CAH)"),
        ("inclusion", "normal ECG during baseline evaluation, with a long line that the exporter wraps "
                      "onto a continuation line"),
        ("exclusion", "history of liver disease, or elevated liver function tests"),
    ]


def test_carriage_returns_as_parsed_by_an_xml_parser_split_the_same():
    assert pairs(LEGACY.replace("&#xD;", "\r")) == pairs(LEGACY)
    assert pairs(LEGACY.replace("&#xD;\n", "\r")) == pairs(LEGACY)


def test_sub_bullets_fold_into_their_parent_item():
    text = """Inclusion Criteria:

          -  Histologically proven CNS germ cell tumor of 1 of the following subtypes:

               -  CNS germinoma

               -  Immature teratoma

          -  Evaluable CT or MRI of brain required
"""
    assert pairs(text) == [
        ("inclusion", "Histologically proven CNS germ cell tumor of 1 of the following subtypes: "
                      "CNS germinoma; Immature teratoma"),
        ("inclusion", "Evaluable CT or MRI of brain required"),
    ]


def test_short_labels_prefix_the_items_under_them():
    text = """DISEASE CHARACTERISTICS:

  -  Histologically confirmed glioma

PATIENT CHARACTERISTICS:

Age:

  -  18 and over

--Prior/Concurrent Therapy--

  -  No prior radiotherapy
"""
    assert pairs(text) == [
        ("inclusion", "DISEASE CHARACTERISTICS: Histologically confirmed glioma"),
        ("inclusion", "Age: 18 and over"),
        ("inclusion", "Prior/Concurrent Therapy: No prior radiotherapy"),
    ]


def test_qualifier_labels_nest_under_the_section_label():
    text = """Exclusion Criteria

Concurrent Medication:

Excluded:

  -  Acyclovir.

Allowed:

  -  Topical nystatin.
"""
    assert pairs(text) == [
        ("exclusion", "Concurrent Medication: Excluded: Acyclovir."),
        ("exclusion", "Concurrent Medication: Allowed: Topical nystatin."),
    ]


@pytest.mark.parametrize("header,kind", [
    ("Inclusion Criteria:", "inclusion"),
    ("INCLUSION CRITERIA", "inclusion"),
    ("Key inclusion criteria:", "inclusion"),
    ("Inclusion criteria :", "inclusion"),
    ("Exclusion Criteria", "exclusion"),
    ("EXCLUSION CRITERIA:", "exclusion"),
    ("Key Exclusion Criteria:", "exclusion"),
    ("Non-inclusion criteria:", "exclusion"),
    ("Exclusion citeria:", "exclusion"),
    ("Other Exclusions", "exclusion"),
    ("**Exclusion Criteria:**", "exclusion"),
    ("Patients will not be eligible for this study if they:", "exclusion"),
    ("Patients with the following symptoms or conditions are excluded:", "exclusion"),
    ("You may be eligible for this study if you:", "inclusion"),
])
def test_header_variants_set_the_kind_and_are_not_items(header, kind):
    other = "exclusion" if kind == "inclusion" else "inclusion"
    opposite = "Exclusion Criteria:" if kind == "inclusion" else "Inclusion Criteria:"
    text = f"{opposite}\n\n  -  first item\n\n{header}\n\n  -  second item\n"
    assert pairs(text) == [(other, "first item"), (kind, "second item")]


def test_wrapped_parenthetical_header():
    text = """Inclusion Criteria (Patients must meet each of the following criteria to be eligible for
participation in the trial):

  -  Male or female patients 18 years of age or older

Exclusion Criteria (Patients meeting any of the following criteria are ineligible for
participation in the trial):

  -  Women who are pregnant or lactating
"""
    assert pairs(text) == [
        ("inclusion", "Male or female patients 18 years of age or older"),
        ("exclusion", "Women who are pregnant or lactating"),
    ]


def test_headers_with_content_become_labels_and_lead_ins_with_content_stay():
    text = """Erectile dysfunction cohort inclusion criteria:

* Men aged 40 or more

Receptive partners with the following additional symptoms or conditions are excluded at screening:

* Rectal gonorrhea
"""
    assert pairs(text) == [
        ("inclusion", "Erectile dysfunction cohort inclusion criteria: Men aged 40 or more"),
        ("exclusion", "Receptive partners with the following additional symptoms or conditions are "
                      "excluded at screening:"),
        ("exclusion", "Rectal gonorrhea"),
    ]


def test_a_lead_in_right_after_a_header_never_switches_the_kind_back():
    text = """Exclusion Criteria:

Patients eligible for this study must not meet any of the following criteria:

  1. Prior treatment with PI3K inhibitors.

Patients eligible for inclusion must not have:

  2. Active CNS metastases
"""
    assert pairs(text) == [("exclusion", "Prior treatment with PI3K inhibitors."),
                           ("exclusion", "Active CNS metastases")]


def test_sentences_that_mention_both_kinds_are_items_not_headers():
    text = "Inclusion Criteria:\n\n* Adults\n\nOther protocol-defined inclusion/exclusion criteria may apply\n"
    assert pairs(text) == [("inclusion", "Adults"),
                           ("inclusion", "Other protocol-defined inclusion/exclusion criteria may apply")]


def test_inline_header_text_is_the_first_item():
    assert pairs("Inclusion criteria: Age 18 to 65\nExclusion criteria: Pregnancy\n") == [
        ("inclusion", "Age 18 to 65"), ("exclusion", "Pregnancy")]
    assert pairs("Inclusion criteria:• age 18 to 65;") == [("inclusion", "age 18 to 65;")]


def test_text_without_headers_and_text_before_the_first_header_are_inclusion():
    assert pairs("Adults with asthma\n\nNo smoking in the past year") == [
        ("inclusion", "Adults with asthma"), ("inclusion", "No smoking in the past year")]
    assert pairs("Healthy volunteers.\n\nExclusion Criteria:\n\n- Smokers") == [
        ("inclusion", "Healthy volunteers."), ("exclusion", "Smokers")]


def test_api_v2_markdown_with_escapes_numbered_and_nested_lists():
    text = (
        "Inclusion Criteria:\n\n* Age \\>= 18 years\n* LDL \\> 100 mg/dL\n* Adequate organ function:\n\n"
        "  * platelets \\>= 100,000/mm\\^3\n  * ALT \\< 3 x ULN\n\nExclusion Criteria:\n\n"
        "1. Known allergy to aspirin\n2. Active bleeding\n   * including gastrointestinal\n"
        "\\* escaped star bullet\n"
    )
    assert pairs(text) == [
        ("inclusion", "Age >= 18 years"),
        ("inclusion", "LDL > 100 mg/dL"),
        ("inclusion", "Adequate organ function: platelets >= 100,000/mm^3; ALT < 3 x ULN"),
        ("exclusion", "Known allergy to aspirin"),
        ("exclusion", "Active bleeding: including gastrointestinal"),
        ("exclusion", "escaped star bullet"),
    ]


def test_markdown_and_legacy_versions_of_one_record_give_the_same_items():
    legacy = """Inclusion Criteria:

          -  Male subjects aged 18 years and above

          -  urinary frequency >= 8 times / 24 hours

        Exclusion Criteria:

          -  Neurological diseases known to affect bladder function.
"""
    markdown = ("Inclusion Criteria:\n\n* Male subjects aged 18 years and above\n"
                "* urinary frequency \\>= 8 times / 24 hours\n\nExclusion Criteria:\n\n"
                "* Neurological diseases known to affect bladder function.")
    assert pairs(legacy) == pairs(markdown)


def test_whitespace_is_collapsed_and_empty_items_dropped():
    text = "Inclusion Criteria:\n\n-\n\n  -   a   spaced\titem  \n\n  -  ...\n\n  -  \n\nExclusion Criteria:\n"
    assert pairs(text) == [("inclusion", "a spaced item")]
    assert split_criteria("") == [] and split_criteria(None) == [] and split_criteria(" \n ") == []
    assert split_criteria("Inclusion Criteria:\n\nExclusion Criteria:") == []


def test_a_bare_dash_line_takes_the_paragraph_after_it():
    assert pairs("Excluded:\n\n-\n\nAnticoagulant, including warfarin.") == [
        ("inclusion", "Excluded: Anticoagulant, including warfarin.")]


def test_lettered_lines_inside_a_wrapped_sentence_are_not_bullets():
    text = ("  -  Active infection with the following organism, confirmed by culture of\n"
            "     E. coli or other enteric bacteria\n")
    assert pairs(text) == [("inclusion", "Active infection with the following organism, confirmed by "
                                         "culture of E. coli or other enteric bacteria")]


def test_numbered_and_unicode_bullets():
    text = "1. first\n2) second\n(3) third\n• fourth\n▪ fifth\n1.1. sixth Item"
    assert [t for _, t in pairs(text)] == ["first", "second", "third", "fourth", "fifth", "sixth Item"]


def test_tidy_removes_the_margin_and_carriage_returns_and_keeps_the_split():
    assert tidy_criteria_text(LEGACY).startswith("Inclusion Criteria:\n\n  -  diagnosed")
    assert "\r" not in tidy_criteria_text(LEGACY.replace("&#xD;", "\r"))
    assert split_criteria(tidy_criteria_text(LEGACY)) == split_criteria(LEGACY)


def test_join_writes_the_legacy_layout_and_skips_disabled_items():
    items = [Criterion("Age 18 or more"), Criterion("Pregnancy", "exclusion"),
             Criterion("Removed in a what-if", "inclusion", enabled=False)]
    text = join_criteria(items)
    assert text == "Inclusion Criteria:\n\n  -  Age 18 or more\n\nExclusion Criteria:\n\n  -  Pregnancy"
    assert "Removed" in join_criteria(items, include_disabled=True)
    assert join_criteria([Criterion("Smokers", "exclusion")]) == "Exclusion Criteria:\n\n  -  Smokers"
    assert join_criteria([]) == ""


_ITEM_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " .,;:()%<>=/+-'", min_size=1, max_size=120)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["inclusion", "exclusion"]), _ITEM_TEXT), max_size=12))
def test_join_then_split_gives_the_items_back(raw_items):
    items = [Criterion(" ".join(text.split()), kind) for kind, text in raw_items]
    # what split_criteria never returns: empty items, items without a letter or digit; and the
    # documented exception: an item that itself reads as a header ("Inclusion criteria")
    items = [c for c in items if re.search(r"[A-Za-z0-9]", c.text)
             and not re.search(r"clusion|criteri|citeri|requirement|eligib", c.text, re.I)]
    ordered = [c for c in items if c.kind == "inclusion"] + [c for c in items if c.kind == "exclusion"]
    assert pairs(join_criteria(items)) == [(c.kind, c.text) for c in ordered]
