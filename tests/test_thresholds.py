"""Numeric eligibility thresholds (engine/features/thresholds.py): what each kind of statement sets, units,
inclusion against exclusion, the vector with its presence indicators, and a few real records."""
from __future__ import annotations

import numpy as np
import pytest

from engine.features.thresholds import (FEATURE_NAMES, NAMES, NEUTRAL, eligibility_thresholds, item_bounds,
                                        threshold_matrix, threshold_vector)
from engine.records.trial import Criterion, Trial


@pytest.mark.parametrize("text, kind, quantity, want", [
    # ages: comparators, trailing directions, ranges, an age without the word "age"
    ("Age >= 18 years.", "inclusion", "age", (18, None)),
    ("18 years of age or older", "inclusion", "age", (18, None)),
    ("Patient must be >/= 18 years of age.", "inclusion", "age", (18, None)),
    ("Age: 18 and over", "inclusion", "age", (18, None)),
    ("Aged between 18 and 75 years", "inclusion", "age", (18, 75)),
    ("Men and women 18 to 65 years", "inclusion", "age", (18, 65)),
    ("Adults (≥ 18 years)", "inclusion", "age", (18, None)),
    ("Children aged 6 months to 5 years", "inclusion", "age", (0.5, 5)),
    ("Age over 75 years", "exclusion", "age", (None, 75)),
    ("Age up to 75 years.", "inclusion", "age", (None, 75)),
    # performance status: ECOG's integer scale, lists, Karnofsky kept on its own scale here
    ("Eastern Cooperative Oncology Group (ECOG) Performance Status of 0 - 2", "inclusion", "ecog", (0, 2)),
    ("ECOG performance status 0, 1 or 2", "inclusion", "ecog", (0, 2)),
    ("ECOG performance status <2", "inclusion", "ecog", (None, 1)),
    ("ECOG >= 2", "exclusion", "ecog", (None, 1)),
    ("ECOG > 2", "exclusion", "ecog", (None, 2)),
    ("Karnofsky Performance Status greater than or equal to 80%", "inclusion", "karnofsky", (80, None)),
    ("Performance status >= 70%", "inclusion", "karnofsky", (70, None)),
    # life expectancy in months
    ("Life expectancy of at least 12 weeks.", "inclusion", "life_expectancy", (12 / 4.345, None)),
    ("Life expectancy of greater than three months.", "inclusion", "life_expectancy", (3, None)),
    ("Life expectancy of at least six (6) months", "inclusion", "life_expectancy", (6, None)),
    ("Life expectancy < 3 months", "exclusion", "life_expectancy", (3, None)),
    ("Life expectancy at least 1 year", "inclusion", "life_expectancy", (12, None)),
    # blood counts: per mm3 / uL, x 10^9/L written as "109", a decimal comma, g/L
    ("Absolute neutrophil count (ANC) ≥ 1,500 cells/μL", "inclusion", "anc", (1.5, None)),
    ("neutrophils ≥ 1.5x 109 /L", "inclusion", "anc", (1.5, None)),
    ("absolute neutrophil count >1,5 /nL", "inclusion", "anc", (1.5, None)),
    ("Neutrophil granulocytes less than 0.5 x 109/l", "exclusion", "anc", (0.5, None)),
    ("Platelet count >= to 75 x 10^9/L.", "inclusion", "platelets", (75, None)),
    ("Platelets ≥ 100,000/mm³", "inclusion", "platelets", (100, None)),
    ("Hemoglobin greater than or equal to 9 g/dL", "inclusion", "hemoglobin", (9, None)),
    ("Haemoglobin ≥ 100 g/L", "inclusion", "hemoglobin", (10, None)),
    # kidney and liver: mg/dL, umol/L and multiples of the upper limit of normal
    ("serum creatinine < 1.6 mg/dL", "inclusion", "creatinine", (None, 1.6)),
    ("Serum creatinine ≤ 133 µmol/L", "inclusion", "creatinine", (None, 133 / 88.4)),
    ("serum creatinine ≤ 1.5 times the upper limit of normal", "inclusion", "creatinine", (None, 1.5 * 1.2)),
    ("calculated creatinine clearance ≥ 50 mL/min", "inclusion", "clearance", (50, None)),
    ("Creatinine clearance < 30 mL/min", "exclusion", "clearance", (30, None)),
    ("Total bilirubin ≤1.5× upper limit normal (ULN)", "inclusion", "bilirubin", (None, 1.5)),
    ("bilirubin < 2 times normal", "inclusion", "bilirubin", (None, 2)),
    ("total bilirubin <= 1x upper normal limit (UNL)", "inclusion", "bilirubin", (None, 1)),
    ("Total bilirubin within normal limits", "inclusion", "bilirubin", (None, 1)),
    ("serum bilirubin level of less that 3mg/dl", "inclusion", "bilirubin", (None, 2.5)),
    ("AST(SGOT)/ALT(SGPT) =< 2.5 x institutional upper limit of normal", "inclusion", "transaminases", (None, 2.5)),
    ("ALT and AST of less than five times the upper limit of normal", "inclusion", "transaminases", (None, 5)),
    ("AST or ALT > 3 x ULN", "exclusion", "transaminases", (None, 3)),
    # HIV, diabetes, weight, heart
    ("CD4 count of 350 cells/mm3 or more within 90 days prior to study entry", "inclusion", "cd4", (350, None)),
    ("CD4+ T-cell count >500/mm3 on 2 occasions", "inclusion", "cd4", (500, None)),
    ("CD4 <= 200 cells/mm3", "inclusion", "cd4", (None, 200)),
    ("HbA1c > or = 6.0% but < or = 9.0% while taking metformin", "inclusion", "hba1c", (6, 9)),
    ("HbA1c 6-9%", "inclusion", "hba1c", (6, 9)),
    ("poorly controlled diabetes (HbA1c value ≥10%)", "exclusion", "hba1c", (None, 10)),
    ("A body mass index (BMI) of ≥ 18 kg/m2, but not exceeding 36.", "inclusion", "bmi", (18, 36)),
    ("BMI 18 to 35 kg/m²", "inclusion", "bmi", (18, 35)),
    ("LVEF ≥ 50% by MUGA or echocardiogram", "inclusion", "lvef", (50, None)),
])
def test_each_kind_of_statement_sets_the_allowed_bound(text, kind, quantity, want):
    got = item_bounds(text, kind)
    assert quantity in got, got
    low, high = got[quantity]
    assert (low is None) == (want[0] is None) and (high is None) == (want[1] is None), got
    assert low == pytest.approx(want[0]) if want[0] is not None else True
    assert high == pytest.approx(want[1]) if want[1] is not None else True


@pytest.mark.parametrize("text, kind", [
    ("Female patients of childbearing age must have a negative pregnancy test within 7 days", "inclusion"),
    ("BMI over 85th percentile for age and gender", "inclusion"),
    ("History of cancer within 5 years", "exclusion"),
    ("Diabetes diagnosed for at least 6 months", "inclusion"),
    ("Patients > 6 months from definitive therapy for brain metastases", "exclusion"),
    ("Adequate bone marrow, liver, and renal function", "inclusion"),
    ("Prior chemotherapy within 4 weeks", "exclusion"),
])
def test_numbers_that_are_no_threshold_set_nothing(text, kind):
    assert item_bounds(text, kind) == {}


def test_one_item_listing_several_labs_gives_each_its_own_bound():
    got = item_bounds("Adequate organ function: ANC ≥ 1.5 x 10^9/L; platelets ≥ 100 x 10^9/L, "
                      "hemoglobin ≥ 9 g/dL, "
                      "bilirubin ≤ 1.5 x ULN, AST/ALT ≤ 2.5 x ULN (≤ 5 x ULN with liver metastases), "
                      "creatinine clearance ≥ 60 mL/min")
    assert got == {"anc": (1.5, None), "platelets": (100.0, None), "hemoglobin": (9.0, None),
                   "bilirubin": (None, 1.5), "transaminases": (None, 2.5), "clearance": (60.0, None)}


def trial(*items) -> Trial:
    """A trial of `items`: texts (inclusion) or (text, kind)."""
    return Trial("NCT00000001", phases=("II",),
                 criteria=[Criterion(*item) if isinstance(item, tuple) else Criterion(item) for item in items])


def test_the_vector_names_every_feature_with_a_neutral_value_and_an_indicator_where_none_is_stated():
    assert len(FEATURE_NAMES) == 2 * len(NAMES) and len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    empty = threshold_vector(trial("Histologically confirmed adenocarcinoma"))
    assert not np.isnan(empty).any()
    np.testing.assert_array_equal(empty[:len(NAMES)], [NEUTRAL[n] for n in NAMES])
    np.testing.assert_array_equal(empty[len(NAMES):], 0.0)

    t = trial("Age >= 18 years", "ECOG 0-1", "ANC ≥ 1,500/mm3", ("Age > 70 years", "exclusion"),
              ("Platelets < 75,000/mm3", "exclusion"), "Karnofsky >= 60%")
    found = eligibility_thresholds(t)
    assert found["age_min"] == 18 and found["age_max"] == 70 and found["anc_min"] == 1.5
    assert found["platelets_min"] == 75 and found["performance_max"] == 1.0  # ECOG 0-1 is tighter than KPS 60
    assert found["hemoglobin_min"] is None
    v = dict(zip(FEATURE_NAMES, threshold_vector(t)))
    assert v["has_age_max"] == 1.0 and v["age_max"] == 70 and v["has_hemoglobin_min"] == 0.0
    assert v["hemoglobin_min"] == NEUTRAL["hemoglobin_min"]


def test_karnofsky_alone_is_an_ecog_equivalent_and_several_statements_keep_the_tightest():
    assert eligibility_thresholds(trial("Karnofsky performance status ≥ 70%"))["performance_max"] == 1.5
    found = eligibility_thresholds(trial("ANC ≥ 1000/µL", "Absolute neutrophil count ≥ 1.5 x 10^9/L",
                                         "bilirubin ≤ 3 x ULN", "Total bilirubin ≤ 1.5 x ULN"))
    assert found["anc_min"] == 1.5 and found["bilirubin_max"] == 1.5


def test_only_active_enabled_items_count_and_an_edit_moves_the_vector():
    base = trial("Age >= 18 years", "CD4 count <= 200 cells/mm3", "ECOG 0-1")
    edited = base.replace()
    edited.criteria[0].text = "Age >= 65 years"
    edited.criteria[1].text = "CD4 count <= 350 cells/mm3"
    edited.criteria[2].text = "ECOG 0-2"
    before, after = eligibility_thresholds(base), eligibility_thresholds(edited)
    assert (before["age_min"], before["cd4_max"], before["performance_max"]) == (18, 200, 1)
    assert (after["age_min"], after["cd4_max"], after["performance_max"]) == (65, 350, 2)
    assert base.criteria[0].text == "Age >= 18 years"  # the original is left alone
    off = base.replace()
    off.criteria[0].enabled = False
    assert eligibility_thresholds(off)["age_min"] is None
    blank = base.replace(criteria=base.criteria + [Criterion("   ")])
    np.testing.assert_array_equal(threshold_vector(blank), threshold_vector(base))


def test_the_matrix_stacks_the_vectors():
    trials = [trial("Age >= 18 years"), trial("Age >= 40 years", ("ECOG > 2", "exclusion"))]
    m = threshold_matrix(trials)
    assert m.shape == (2, len(FEATURE_NAMES))
    np.testing.assert_array_equal(m[1], threshold_vector(trials[1]))
    assert threshold_matrix([]).shape == (0, len(FEATURE_NAMES))


def test_the_module_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys, engine.features.thresholds as t; "
            "t.threshold_vector(t.Trial('NCT1')); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- real records of the development data -----------------------------------------------------------------
def _top_record(name: str, nct_id: str) -> Trial:
    from engine.records.top_csv import read_top_csv
    from tests.data_sources import real_data_dir

    return next(t for t in read_top_csv(real_data_dir() / "top" / name) if t.nct_id == nct_id)


@pytest.mark.real_data
def test_real_records_give_the_thresholds_their_criteria_state():
    nsclc = eligibility_thresholds(_top_record("phase_I_train.csv", "NCT01187615"))
    # "Age >= 18 years", "ECOG Performance Status of 0 - 2", "Life expectancy of at least 12 weeks"
    assert {k: v for k, v in nsclc.items() if v is not None} == pytest.approx(
        {"age_min": 18.0, "performance_max": 2.0, "life_expectancy_min": 12 / 4.345})
    breast = eligibility_thresholds(_top_record("phase_II_train_partial_rows.csv", "NCT00129896"))
    # "Karnofsky index >= 80"; "neutrophils >= 2.0 x10^9/l; platelets >= 100 x10^9/l; hemoglobin >= 10 g/dl";
    # "total bilirubin <= 1x upper normal limit (UNL); SGOT and SGPT <= 2.5xUNL"; "creatinine <= 1xUNL;
    # creatinine clearance >= 60 ml/min"
    assert {k: v for k, v in breast.items() if v is not None} == pytest.approx(
        {"age_min": 18.0, "performance_max": 1.0, "anc_min": 2.0, "platelets_min": 100.0, "hemoglobin_min": 10.0,
         "bilirubin_max": 1.0, "transaminases_max": 2.5, "creatinine_max": 1.2, "clearance_min": 60.0})
    pancreas = eligibility_thresholds(_top_record("phase_II_train_partial_rows.csv", "NCT01064622"))
    assert pancreas["age_min"] == 21 and pancreas["life_expectancy_min"] == 3 and pancreas["anc_min"] == 1.5
    assert pancreas["performance_max"] == 1.0 and pancreas["clearance_min"] == 65  # Karnofsky >= 80%


@pytest.mark.real_data
def test_most_real_learning_rows_state_an_age_and_the_common_labs_read_in_their_usual_range():
    from engine.records.top_csv import read_top_csv
    from tests.data_sources import real_data_dir

    trials = read_top_csv(real_data_dir() / "top" / "phase_I_train.csv")
    m = threshold_matrix(trials)
    k = len(NAMES)
    col = {n: i for i, n in enumerate(NAMES)}
    assert not np.isnan(m).any()
    assert m[:, k + col["age_min"]].mean() > 0.4  # 0.51 of all learning rows when written
    for name, low, high in (("anc_min", 1.0, 2.0), ("platelets_min", 75, 100), ("performance_max", 1, 2),
                            ("bilirubin_max", 1.0, 2.0), ("transaminases_max", 2.0, 3.0)):
        present = m[:, k + col[name]] == 1
        assert present.mean() > 0.1, name
        assert low <= np.median(m[present, col[name]]) <= high, name
