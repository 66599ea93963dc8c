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


def test_headers_with_content_become_labels_and_lead_ins_with_content_join_their_item():
    text = """Erectile dysfunction cohort inclusion criteria:

* Men aged 40 or more

Receptive partners with the following additional symptoms or conditions are excluded at screening:

* Rectal gonorrhea
"""
    assert pairs(text) == [
        ("inclusion", "Erectile dysfunction cohort inclusion criteria: Men aged 40 or more"),
        ("exclusion", "Receptive partners with the following additional symptoms or conditions are "
                      "excluded at screening: Rectal gonorrhea"),
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
    # documented exceptions: an item that itself reads as a header ("Inclusion criteria"), a lead-in
    # ending with ":" (it joins the next item)
    items = [c for c in items if re.search(r"[A-Za-z0-9]", c.text) and not c.text.endswith(":")
             and not re.search(r"clusion|criteri|citeri|requirement|eligib", c.text, re.I)]
    ordered = [c for c in items if c.kind == "inclusion"] + [c for c in items if c.kind == "exclusion"]
    assert pairs(join_criteria(items)) == [(c.kind, c.text) for c in ordered]


# -- long paragraphs ---------------------------------------------------------------------------------
from engine.records.criteria import LONG_ITEM_CHARS, split_long_item  # noqa: E402

PARAGRAPH = (
    "Patients must have adequate organ function, e.g. normal renal function, as follows: "
    "(1) ANC >= 1,500/mm3 and platelets >= 100,000/mm3, measured approx. 2 weeks before entry; "
    "(2) bilirubin < 1.5 x ULN and AST/ALT <= 2.5 x ULN (<= 5 x ULN if liver metastases); and "
    "(3) creatinine clearance > 60 mL/min as judged by Dr. Smith vs. the reference lab. "
    "No prior chemotherapy for metastatic disease. Prior adjuvant therapy (i.e. after surgery) is "
    "allowed if completed > 12 months before entry. Or. Patients with t(15;17) are eligible."
)


def test_a_long_paragraph_splits_at_enumerations_and_sentences_not_at_abbreviations():
    assert len(PARAGRAPH) > LONG_ITEM_CHARS
    assert split_long_item(PARAGRAPH) == [
        "Patients must have adequate organ function, e.g. normal renal function, as follows: "
        "ANC >= 1,500/mm3 and platelets >= 100,000/mm3, measured approx. 2 weeks before entry",
        "bilirubin < 1.5 x ULN and AST/ALT <= 2.5 x ULN (<= 5 x ULN if liver metastases)",
        "creatinine clearance > 60 mL/min as judged by Dr. Smith vs. the reference lab.",
        "No prior chemotherapy for metastatic disease.",
        "Prior adjuvant therapy (i.e. after surgery) is allowed if completed > 12 months before entry. Or.",
        "Patients with t(15;17) are eligible.",
    ]


def test_records_are_read_with_long_paragraphs_split():
    """The default since 2026-12-07 (temporal validation: benchmarks/results/2026-12-07/temporal_split.txt)."""
    text = f"Inclusion Criteria:\n\n  -  {PARAGRAPH}\n"
    assert split_criteria(text) == split_criteria(text, regroup=True) != split_criteria(text, regroup=False)


def test_items_up_to_the_limit_are_never_split():
    short = "No prior chemotherapy. No prior radiotherapy (e.g. to the pelvis); no surgery. (1) a (2) b"
    assert split_long_item(short) == [short]
    at_limit = ("Age 18 or more. " * 40)[:LONG_ITEM_CHARS]
    assert split_long_item(at_limit) == [at_limit.strip()]
    assert len(split_long_item(at_limit + " Pregnant.")) > 1
    assert split_criteria(f"Exclusion Criteria:\n\n  -  {short}", regroup=True) == [Criterion(short, "exclusion")]


def test_lettered_enumerations_and_lead_ins_with_a_colon_stay_with_their_first_part():
    text = ("A female subject is eligible to enter and participate in the study if she is of: "
            "a) non-childbearing potential, i.e. physiologically incapable of becoming pregnant, including "
            "any female who has had a hysterectomy or bilateral oophorectomy or is post-menopausal; or "
            "b) childbearing potential, has a negative serum pregnancy test at screening, and agrees to use "
            "one of the contraception methods listed in the protocol, consistently and correctly, from the "
            "screening visit until 30 days after the last dose.")
    parts = split_long_item(text)
    assert len(parts) == 2
    assert parts[0].startswith("A female subject is eligible to enter and participate in the study if she is of: "
                               "non-childbearing potential, i.e. physiologically")
    assert parts[0].endswith("post-menopausal; or") and parts[1].startswith("childbearing potential, has")


def test_fragments_and_lone_labels_stay_merged():
    filler = "with a long qualifying clause that goes on about dose, schedule and duration of prior therapy"
    text = (f"First criterion {filler}. And. Second criterion {filler}. Note: Third criterion {filler}. "
            f"Also patient must be: Fourth criterion {filler}.")
    assert split_long_item(text) == [f"First criterion {filler}. And.", f"Second criterion {filler}.",
                                     f"Note: Third criterion {filler}.",
                                     f"Also patient must be: Fourth criterion {filler}."]


def test_a_long_semicolon_list_is_cut_into_runs_up_to_the_limit_never_inside_brackets():
    entries = [f"Condition number {i} of the list (including subtype {i}; any grade)" for i in range(20)]
    text = "Any of the following: " + "; ".join(entries)
    parts = split_long_item(text)
    assert len(parts) > 1 and all(len(p) <= LONG_ITEM_CHARS for p in parts)
    assert parts[0].startswith("Any of the following: Condition number 0")
    assert "; ".join(parts) == text  # nothing lost, nothing cut inside "(...; any grade)"


def test_pdq_text_that_lost_its_line_breaks_splits_at_inline_labels_and_no():
    text = ("PATIENT CHARACTERISTICS: Age: 18 and over Performance status: ECOG 0-2 Life expectancy: At "
            "least 12 weeks Hematopoietic: Absolute neutrophil count at least 1,500/mm3 Platelet count at least "
            "100,000/mm3 Hepatic: Bilirubin no greater than 1.5 mg/dL Current Asthma Therapy: none "
            "Cardiovascular: No prior cerebrovascular events No clinically significant cardiac disease "
            "No myocardial infarction within past 6 months Other: Not pregnant or nursing")
    assert split_long_item(text) == [
        "PATIENT CHARACTERISTICS: Age: 18 and over", "Performance status: ECOG 0-2",
        "Life expectancy: At least 12 weeks",
        "Hematopoietic: Absolute neutrophil count at least 1,500/mm3 Platelet count at least 100,000/mm3",
        "Hepatic: Bilirubin no greater than 1.5 mg/dL Current Asthma Therapy: none",
        "Cardiovascular: No prior cerebrovascular events", "No clinically significant cardiac disease",
        "No myocardial infarction within past 6 months", "Other: Not pregnant or nursing"]


def test_split_items_keep_their_side_and_their_label_and_split_long_false_keeps_the_paragraph():
    text = f"Inclusion Criteria:\n\n  -  Age 18 or more\n\nExclusion Criteria:\n\nHepatic:\n\n  -  {PARAGRAPH}\n"
    items = [(c.kind, c.text) for c in split_criteria(text, regroup=True)]
    assert items[0] == ("inclusion", "Age 18 or more")
    assert len(items) == 7 and {k for k, _ in items[1:]} == {"exclusion"}
    assert all(t.startswith("Hepatic: ") for _, t in items[1:])
    assert items[2] == ("exclusion", "Hepatic: bilirubin < 1.5 x ULN and AST/ALT <= 2.5 x ULN "
                                     "(<= 5 x ULN if liver metastases)")
    assert [(c.kind, c.text) for c in split_criteria(text, regroup=False)] == [
        ("inclusion", "Age 18 or more"), ("exclusion", f"Hepatic: {PARAGRAPH}")]


_SENTENCE_TEXT = st.text(alphabet=string.ascii_letters + "     .,;:", min_size=0, max_size=1500)


@settings(max_examples=200, deadline=None)
@given(_SENTENCE_TEXT)
def test_splitting_loses_no_word_and_short_items_stay_whole(text):
    parts = split_long_item(text)
    words = re.findall(r"[A-Za-z]+", text)
    assert re.findall(r"[A-Za-z]+", " ".join(parts)) == words
    if len(" ".join(text.split())) <= LONG_ITEM_CHARS:
        assert parts == [" ".join(text.split())]


def test_saved_items_load_unchanged_whatever_the_splitting(tmp_path):
    """Workspaces store items: a long item saved before long paragraphs were split stays one item."""
    from engine.workspace import Workspace
    from tests.builders import stored_trial

    trial = stored_trial()
    trial.criteria = [Criterion(PARAGRAPH), Criterion("Bleeding disorder", "exclusion")]
    trial.criteria_text = f"Inclusion Criteria:\n\n  -  {PARAGRAPH}"
    with Workspace.open(tmp_path / "old.cladmop") as ws:
        ws.add_trials([trial])
    with Workspace.open(tmp_path / "old.cladmop") as ws:
        loaded = ws.load_trials()[0].record
    assert loaded.criteria == trial.criteria
    assert len(split_criteria(loaded.criteria_text, regroup=True)) > 1  # only a fresh parse splits it


def _first_words(items):
    """Each (side, word) of 4+ letters once, in the order of its first use."""
    words = [(c.kind, w) for c in items for w in re.findall(r"[^\W\d_]{4,}", c.text)
             if not re.fullmatch(r"[ivx]+", w, re.I)]
    return list(dict.fromkeys(words))


@pytest.mark.real_data
def test_real_records_long_items_are_split_and_nothing_is_lost():
    from tests.data_sources import real_data_dir, top_csv

    from engine.records.top_csv import read_top_csv
    from engine.records.xml_reader import read_ctgov_xml

    # a PDQ record whose paragraphs lost their line breaks
    pdq = split_criteria(read_ctgov_xml(real_data_dir() / "ctgov_xml" / "NCT00006085.xml").criteria_text,
                         regroup=True)
    texts = [c.text for c in pdq]
    assert "PATIENT CHARACTERISTICS: Age: 18 and over" in texts
    assert "Performance status: ECOG 0-2" in texts and "No myocardial infarction within past 6 months" in texts
    assert {c.kind for c in pdq} == {"inclusion"}
    # the TOP learning files: long items become rare, and every word of the old items is kept
    old_long = new_long = old_n = new_n = old_leads = new_leads = 0
    for name in ("phase_I_train.csv", "phase_II_valid.csv", "phase_III_valid.csv"):
        for trial in read_top_csv(top_csv(name)):
            old = split_criteria(trial.criteria_text, regroup=False)
            new = split_criteria(trial.criteria_text, regroup=True)
            # in order of first use, on the same side (split items repeat their label, a joined lead-in
            # says its label once; words of 4+ letters: enumeration markers "iii)" are dropped)
            assert _first_words(old) == _first_words(new), trial.nct_id
            old_n, new_n = old_n + len(old), new_n + len(new)
            old_long += sum(len(c.text) > LONG_ITEM_CHARS for c in old)
            new_long += sum(len(c.text) > LONG_ITEM_CHARS for c in new)
            old_leads += sum(c.text.endswith(":") for c in old)
            new_leads += sum(c.text.endswith(":") for c in new)
    assert old_long > 0.01 * old_n  # the claim is about real data: long paragraphs are there
    assert new_long < 0.2 * old_long and old_n < new_n < 1.2 * old_n
    assert old_leads > 100 and new_leads < 0.05 * old_leads  # left: a lead-in last on its side


LEAD_INS = """Inclusion Criteria:
  -  Age 18 or over
  -  NOTE:
  -  Also patient must be:
  -  HIV positive
  -  CD4 <= 200
  -  Has one of:
Exclusion Criteria:
  -  Adequate organ function defined as:
  -  Platelets < 100,000/mm3
"""


def test_lead_ins_join_the_item_they_introduce_on_their_side():
    items = [(c.kind, c.text) for c in split_criteria(LEAD_INS)]
    assert items == [
        ("inclusion", "Age 18 or over"),
        ("inclusion", "NOTE: Also patient must be: HIV positive"),  # a chain of lead-ins joins one item
        ("inclusion", "CD4 <= 200"),
        ("inclusion", "Has one of:"),  # nothing after it on its side: it stays
        ("exclusion", "Adequate organ function defined as: Platelets < 100,000/mm3"),
    ]
    assert len(split_criteria(LEAD_INS, regroup=False)) == 8


def test_lead_ins_join_only_under_the_same_label():
    text = "Age:\n  -  Must be:\nHematopoietic:\n  -  Platelets at least 100,000/mm3\n"
    assert [c.text for c in split_criteria(text)] == [
        "Age: Must be:", "Hematopoietic: Platelets at least 100,000/mm3"]
