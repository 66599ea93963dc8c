"""Writes the test suite's own records (tests/data/): fictional trials in the layouts the readers take.

The suite falls back on these when the development data (`../shared/data`, `$CLADMOP_SHARED_DATA`) is
not beside the clone, so the engine, the model, training and the window are exercised everywhere. They
are written here, by this script, from the tables below: no row, record or table is copied from any
data set. Drug and condition names are real (so the lookups resolve them) and the SMILES are the drugs'
published structures; the trials, their NCT ids (NCT0997xxxx/NCT0998xxxx, beyond any id issued so far),
criteria, dates and outcomes are invented. Outcomes follow a plain rule plus noise (see `_label`), so a
model has something to learn, but no figure measured on them says anything about real trials.

    python tests/data/make_data.py        # rewrites tests/data/{top,ctgov_xml,ctgov_json,lookups}

Deterministic: the same script writes the same bytes.
"""
from __future__ import annotations

import csv
import io
import json
import random
import textwrap
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent

# -- the building blocks --------------------------------------------------------------------------------
#: name -> SMILES (published structures); None: a biologic, which no name -> SMILES table holds
DRUGS = {
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "metformin": "CN(C)C(=N)N=C(N)N",
    "sitagliptin": "N[C@@H](CC(=O)N1CCn2c(nnc2C(F)(F)F)C1)Cc1cc(F)c(F)cc1F",
    "atorvastatin": "CC(C)c1c(C(=O)Nc2ccccc2)c(-c2ccccc2)c(-c2ccc(F)cc2)n1CC[C@@H](O)C[C@@H](O)CC(=O)O",
    "simvastatin": "CCC(C)(C)C(=O)O[C@H]1C[C@@H](C)C=C2C=C[C@H](C)[C@H](CC[C@@H]3C[C@@H](O)CC(=O)O3)[C@@H]21",
    "lisinopril": "NCCCC[C@H](N[C@@H](CCc1ccccc1)C(=O)O)C(=O)N1CCC[C@H]1C(=O)O",
    "amlodipine": "CCOC(=O)C1=C(COCCN)NC(C)=C(C(=O)OC)C1c1ccccc1Cl",
    "losartan": "CCCCc1nc(Cl)c(CO)n1Cc1ccc(-c2ccccc2-c2nn[nH]n2)cc1",
    "hydrochlorothiazide": "NS(=O)(=O)c1cc2c(cc1Cl)NCNS2(=O)=O",
    "furosemide": "NS(=O)(=O)c1cc(C(=O)O)c(NCc2ccco2)cc1Cl",
    "warfarin": "CC(=O)CC(c1ccccc1)c1c(O)c2ccccc2oc1=O",
    "clopidogrel": "COC(=O)[C@H](c1ccccc1Cl)N1CCc2sccc2C1",
    "salbutamol": "CC(C)(C)NCC(O)c1ccc(O)c(CO)c1",
    "budesonide": "CCCC1OC2CC3C4CCC5=CC(=O)C=CC5(C)C4C(O)CC3(C)C2(O1)C(=O)CO",
    "tiotropium": "C[N+]1(C)C2CC(OC(=O)C(O)(c3cccs3)c3cccs3)CC1C1OC12",
    "prednisone": "C[C@]12CC(=O)[C@H]3[C@@H](CCC4=CC(=O)C=C[C@@]34C)[C@@H]1CC[C@]2(O)C(=O)CO",
    "methotrexate": "CN(Cc1cnc2nc(N)nc(N)c2n1)c1ccc(cc1)C(=O)N[C@@H](CCC(=O)O)C(=O)O",
    "ibuprofen": "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "acetaminophen": "CC(=O)Nc1ccc(O)cc1",
    "sertraline": "CN[C@H]1CC[C@@H](c2ccc(Cl)c(Cl)c2)c2ccccc21",
    "fluoxetine": "CNCCC(Oc1ccc(cc1)C(F)(F)F)c1ccccc1",
    "gabapentin": "NCC1(CC(=O)O)CCCCC1",
    "levetiracetam": "CC[C@H](C(N)=O)N1CCCC1=O",
    "topiramate": "CC1(C)O[C@@H]2CO[C@@]3(COS(N)(=O)=O)OC(C)(C)O[C@H]3[C@@H]2O1",
    "donepezil": "COc1cc2CC(CC3CCN(Cc4ccccc4)CC3)C(=O)c2cc1OC",
    "memantine": "CC12CC3CC(C)(C1)CC(N)(C3)C2",
    "cisplatin": "N.N.Cl[Pt]Cl",
    "fluorouracil": "O=c1[nH]cc(F)c(=O)[nH]1",
    "capecitabine": "CCCCCOC(=O)Nc1nc(=O)n(cc1F)[C@@H]1O[C@H](C)[C@@H](O)[C@H]1O",
    "gemcitabine": "Nc1ccn([C@@H]2O[C@H](CO)[C@@H](O)C2(F)F)c(=O)n1",
    "paclitaxel": "CC1=C2[C@@]([C@]([C@H]([C@@H]3[C@]4([C@H](OC4)C[C@@H]([C@]3(C(=O)[C@@H]2OC(=O)C)C)O)OC(=O)C)"
                  "OC(=O)c5ccccc5)(C[C@@H]1OC(=O)[C@H](O)[C@@H](NC(=O)c6ccccc6)c7ccccc7)O)(C)C",
    "docetaxel": "CC1=C2[C@@]([C@]([C@H]([C@@H]3[C@]4([C@H](OC4)C[C@@H]([C@]3(C(=O)[C@@H]2O)C)O)OC(=O)C)"
                 "OC(=O)c5ccccc5)(C[C@@H]1OC(=O)[C@H](O)[C@@H](NC(=O)OC(C)(C)C)c6ccccc6)O)(C)C",
    "tamoxifen": "CC/C(=C(\\c1ccccc1)c1ccc(OCCN(C)C)cc1)c1ccccc1",
    "letrozole": "N#Cc1ccc(cc1)C(c1ccc(cc1)C#N)n1cncn1",
    "imatinib": "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1",
    "erlotinib": "COCCOc1cc2ncnc(Nc3cccc(c3)C#C)c2cc1OCCOC",
    "gefitinib": "COc1cc2ncnc(Nc3ccc(F)c(Cl)c3)c2cc1OCCCN1CCOCC1",
    "ondansetron": "Cc1nccn1CC1CCc2c(C1=O)c1ccccc1n2C",
    "omeprazole": "COc1ccc2[nH]c(S(=O)Cc3ncc(C)c(OC)c3C)nc2c1",
    "trastuzumab": None,
    "adalimumab": None,
    "insulin glargine": None,
}

#: therapeutic areas: conditions (name, ICD-10-CM), drugs, and criteria items of their own
AREAS = [
    dict(conditions=[("type 2 diabetes mellitus", "E11.9"), ("obesity", "E66.9")],
         drugs=["metformin", "sitagliptin", "insulin glargine", "atorvastatin"],
         inclusion=["HbA1c between 7.0% and 10.5% at screening despite diet and exercise",
                    "Body mass index of 25 to 40 kg/m2",
                    "Stable dose of metformin of at least 1500 mg per day for 8 weeks before screening"],
         exclusion=["Type 1 diabetes or a history of diabetic ketoacidosis",
                    "Fasting plasma glucose above 270 mg/dL at screening",
                    "Treatment with a GLP-1 receptor agonist within 3 months of screening"]),
    dict(conditions=[("hypertension", "I10"), ("chronic kidney disease", "N18.9")],
         drugs=["lisinopril", "amlodipine", "losartan", "hydrochlorothiazide"],
         inclusion=["Seated systolic blood pressure of 140 to 179 mm Hg on two visits",
                    "Estimated glomerular filtration rate of 30 to 59 mL/min/1.73 m2",
                    "On a stable antihypertensive regimen for at least 4 weeks"],
         exclusion=["Secondary hypertension of any cause", "Serum potassium above 5.5 mmol/L",
                    "History of angioedema"]),
    dict(conditions=[("heart failure", "I50.9"), ("atrial fibrillation", "I48.91")],
         drugs=["furosemide", "warfarin", "clopidogrel", "aspirin"],
         inclusion=["Left ventricular ejection fraction of 40% or less by echocardiography",
                    "NYHA functional class II to IV",
                    "Documented atrial fibrillation on an electrocardiogram within 12 months"],
         exclusion=["Acute coronary syndrome within 30 days", "Active bleeding or a bleeding disorder",
                    "Planned cardiac surgery during the study"]),
    dict(conditions=[("asthma", "J45.909"), ("chronic obstructive pulmonary disease", "J44.9")],
         drugs=["salbutamol", "budesonide", "tiotropium", "prednisone"],
         inclusion=["Post-bronchodilator FEV1 between 30% and 80% of predicted",
                    "Smoking history of at least 10 pack-years",
                    "At least one exacerbation treated with systemic corticosteroids in the past year"],
         exclusion=["Respiratory infection within 6 weeks of screening",
                    "Current diagnosis of lung cancer or active tuberculosis",
                    "Use of oral corticosteroids within 4 weeks of screening"]),
    dict(conditions=[("rheumatoid arthritis", "M06.9"), ("osteoarthritis of knee", "M17.9")],
         drugs=["methotrexate", "adalimumab", "ibuprofen", "acetaminophen"],
         inclusion=["Rheumatoid arthritis by the 2010 ACR/EULAR classification criteria",
                    "At least 6 swollen and 6 tender joints at screening",
                    "Knee pain on most days of the past month"],
         exclusion=["Prior treatment with a biologic disease-modifying drug",
                    "Intra-articular corticosteroid injection within 3 months",
                    "Positive test for hepatitis B surface antigen or hepatitis C antibody"]),
    dict(conditions=[("major depressive disorder", "F32.9"), ("generalized anxiety disorder", "F41.1")],
         drugs=["sertraline", "fluoxetine"],
         inclusion=["Hamilton Depression Rating Scale total score of 20 or more",
                    "Current major depressive episode of at least 8 weeks",
                    "Outpatients able to attend weekly visits"],
         exclusion=["Bipolar disorder or any psychotic disorder",
                    "Significant risk of suicide in the investigator's judgement",
                    "Substance use disorder within 6 months of screening"]),
    dict(conditions=[("epilepsy", "G40.909"), ("migraine", "G43.909")],
         drugs=["levetiracetam", "topiramate", "gabapentin"],
         inclusion=["At least 4 partial-onset seizures during the 8-week baseline period",
                    "Migraine with or without aura for at least 1 year",
                    "Stable dose of up to two antiepileptic drugs for 4 weeks"],
         exclusion=["Status epilepticus within 12 months", "Progressive neurological disease",
                    "Medication-overuse headache"]),
    dict(conditions=[("alzheimer disease", "G30.9")],
         drugs=["donepezil", "memantine"],
         inclusion=["Probable Alzheimer's disease by NINCDS-ADRDA criteria",
                    "Mini-Mental State Examination score of 10 to 24",
                    "A caregiver who sees the participant at least 4 days a week"],
         exclusion=["Other causes of dementia, including vascular dementia",
                    "Major depression not under treatment"]),
    dict(conditions=[("breast cancer", "C50.919")],
         drugs=["tamoxifen", "letrozole", "capecitabine", "trastuzumab", "paclitaxel", "docetaxel"],
         inclusion=["Histologically confirmed invasive breast cancer",
                    "Hormone receptor-positive or HER2-positive disease as required by the cohort",
                    "ECOG performance status 0 or 1",
                    "Adequate bone marrow function: absolute neutrophil count of at least 1,500/mm3 and "
                    "platelets of at least 100,000/mm3"],
         exclusion=["Untreated or symptomatic brain metastases",
                    "Prior chemotherapy for metastatic disease",
                    "Left ventricular ejection fraction below 50%"]),
    dict(conditions=[("non-small cell lung cancer", "C34.90"), ("colorectal cancer", "C18.9")],
         drugs=["cisplatin", "gemcitabine", "erlotinib", "gefitinib", "fluorouracil", "imatinib", "paclitaxel"],
         inclusion=["Stage IIIB or IV disease, measurable by RECIST 1.1",
                    "ECOG performance status 0 to 2",
                    "Adequate liver function: bilirubin up to 1.5 x ULN, ALT and AST up to 2.5 x ULN"],
         exclusion=["More than one prior chemotherapy regimen for advanced disease",
                    "Interstitial lung disease", "Peripheral neuropathy of grade 2 or more"]),
]

#: items every area uses; the numbers in braces are drawn per trial (so items vary as real ones do)
COMMON_INCLUSION = [
    "Able to understand and sign written informed consent",
    "Women of childbearing potential must have a negative pregnancy test within {days} days before the first "
    "dose and use effective contraception during the study and for {weeks} weeks after the last dose",
    "Life expectancy of at least {months} months",
    "Body weight of at least {kg} kg",
    "Adequate renal function: creatinine clearance of at least {crcl} mL/min (Cockcroft-Gault)",
    "Adequate hepatic function: total bilirubin up to {bili} x ULN, and ALT and AST up to {alt} x ULN",
    "Willing and able to comply with scheduled visits, the treatment plan, laboratory tests and other study "
    "procedures",
]
COMMON_EXCLUSION = [
    "Pregnant or breast-feeding women",
    "Known hypersensitivity to {drug} or to any of its excipients",
    "Severe hepatic impairment (ALT or AST above {alt_ex} x ULN)",
    "Estimated glomerular filtration rate below {egfr} mL/min/1.73 m2",
    "Myocardial infarction, unstable angina or stroke within {months_ex} months of screening",
    "Participation in another interventional trial within {days_ex} days before randomisation",
    "History of alcohol or drug abuse within {years} years",
    "Any condition that, in the investigator's opinion, would make participation unsafe or interfere with the "
    "evaluation of the results",
    "Known infection with human immunodeficiency virus, or active hepatitis B or C infection",
    "Major surgery within {weeks_ex} weeks before the first dose of study treatment",
    "QTc interval above {qtc} ms on the screening electrocardiogram",
]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
PHASE_TEXT = {"I": "phase 1", "I/II": "phase 1/phase 2", "II": "phase 2", "III": "phase 3"}
XML_PHASE = {"I": "Phase 1", "I/II": "Phase 1/Phase 2", "II": "Phase 2", "III": "Phase 3", "N/A": "N/A"}
JSON_PHASES = {"I": ["PHASE1"], "I/II": ["PHASE1", "PHASE2"], "II": ["PHASE2"], "III": ["PHASE3"]}
NO_PHASE_ID = "NCT09970099"
OBSERVATIONAL_ID = "NCT09970098"
STOP_REASONS = ["Slow enrolment", "Lack of efficacy at the interim analysis", "Sponsor decision",
                "Safety concerns"]


# -- one fictional trial -------------------------------------------------------------------------------
def _trial(rng: random.Random, nct_id: str, phase: str, short: bool = False) -> dict:
    """One trial; `short`: a few criteria only, as in many older records."""
    area = rng.choice(AREAS)
    conditions = rng.sample(area["conditions"], k=rng.randint(1, len(area["conditions"])))
    drugs = rng.sample(area["drugs"], k=rng.randint(1, min(2, len(area["drugs"]))))
    if rng.random() < 0.4:
        drugs.append("placebo")
    low, high = rng.choice([(18, 65), (18, 75), (40, 80), (21, 70), (50, 85)])
    numbers = dict(days=rng.choice([3, 7, 14]), weeks=rng.choice([4, 12, 24]), months=rng.choice([3, 6, 12]),
                   kg=rng.choice([40, 45, 50]), crcl=rng.choice([30, 45, 50, 60]), bili=rng.choice([1.5, 2]),
                   alt=rng.choice([2.5, 3, 5]), alt_ex=rng.choice([2, 3, 5]), egfr=rng.choice([15, 30, 45]),
                   months_ex=rng.choice([3, 6, 12]), days_ex=rng.choice([28, 30, 90]), years=rng.choice([1, 2, 5]),
                   weeks_ex=rng.choice([2, 4, 6]), qtc=rng.choice([450, 470, 480, 500]), drug=drugs[0])
    inclusion = [f"Age {low} to {high} years"]
    inclusion += rng.sample(area["inclusion"], k=1 if short else rng.randint(2, len(area["inclusion"])))
    common = rng.randint(0, 1) if short else rng.randint(2, 5)
    inclusion += [c.format(**numbers) for c in rng.sample(COMMON_INCLUSION, k=common)]
    exclusion = rng.sample(area["exclusion"], k=1 if short else rng.randint(1, len(area["exclusion"])))
    common = rng.randint(1, 2) if short else rng.randint(3, 8)
    exclusion += [c.format(**numbers) for c in rng.sample(COMMON_EXCLUSION, k=common)]
    start = rng.randint(1999, 2019)
    finish = start + rng.randint(1, 5)
    trial = dict(nct_id=nct_id, phase=phase, conditions=conditions, drugs=drugs, inclusion=inclusion,
                 exclusion=exclusion, enrollment=rng.choice([24, 40, 60, 120, 240, 480, 900]),
                 start=f"{rng.choice(MONTHS)} {start}", completion=f"{rng.choice(MONTHS)} {finish}")
    trial["label"] = _label(rng, trial)
    trial["status"] = "completed" if trial["label"] else rng.choice(["terminated", "withdrawn", "completed"])
    trial["why_stop"] = "" if trial["status"] == "completed" else rng.choice(STOP_REASONS)
    return trial


def _label(rng: random.Random, trial: dict) -> int:
    """Success is likelier with a placebo arm, few exclusion criteria and a larger trial (plus noise)."""
    score = 0.8 * ("placebo" in trial["drugs"]) - 0.25 * (len(trial["exclusion"]) - 7) + 0.0015 * trial["enrollment"]
    return int(score + rng.gauss(0.0, 0.6) > 0.4)


def _balanced(rng: random.Random, first_id: int, phase: str, per_class: int) -> list[dict]:
    """`per_class` successes then as many failures, interleaved as they come (ids in order)."""
    kept: dict[int, list[dict]] = {0: [], 1: []}
    number = first_id
    while min(len(kept[0]), len(kept[1])) < per_class:
        trial = _trial(rng, f"NCT{number:08d}", rng.choice(["I", "I/II"]) if phase == "I" else phase)
        number += 1
        if len(kept[trial["label"]]) < per_class:
            kept[trial["label"]].append(trial)
    return sorted(kept[0] + kept[1], key=lambda t: t["nct_id"])


# -- writers --------------------------------------------------------------------------------------------
def legacy_criteria(trial: dict, line_end: str = "\n") -> str:
    """Eligibility text as ClinicalTrials.gov's legacy export lays it out (wrapped bullets, headers)."""
    lines = [""]
    for header, items in (("Inclusion Criteria:", trial["inclusion"]), ("Exclusion Criteria:", trial["exclusion"])):
        lines += [f"        {header}", ""]
        for item in items:
            wrapped = textwrap.wrap(item, 78)
            lines += ["          -  " + wrapped[0], *("             " + w for w in wrapped[1:]), ""]
    return line_end.join(lines[:-1]) + line_end + "      "


def _top_row(trial: dict) -> dict:
    return {"nctid": trial["nct_id"], "status": trial["status"], "why_stop": trial["why_stop"],
            "label": trial["label"], "phase": PHASE_TEXT[trial["phase"]],
            "diseases": repr([name for name, _ in trial["conditions"]]),
            "icdcodes": repr([repr([code]) for _, code in trial["conditions"]]),
            "drugs": repr(trial["drugs"]),
            "smiless": repr([DRUGS.get(d) or ("O" if d == "placebo" else "") for d in trial["drugs"]]),
            "criteria": legacy_criteria(trial)}


def write_top(folder: Path, files: dict[str, list[dict]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    columns = ["nctid", "status", "why_stop", "label", "phase", "diseases", "icdcodes", "drugs", "smiless", "criteria"]
    dates = {}
    for name, trials in files.items():
        out = io.StringIO()
        writer = csv.DictWriter(out, columns, lineterminator="\r\n")
        writer.writeheader()
        for trial in trials:
            writer.writerow(_top_row(trial))
            dates[trial["nct_id"]] = (trial["start"], trial["completion"])
        (folder / name).write_bytes(out.getvalue().encode("utf-8"))
    table = "nctid\tstart_date\tcompletion_date\n" + "".join(
        f"{nct}\t{start}\t{end}\n" for nct, (start, end) in sorted(dates.items()))
    (folder / "nctid_date.tsv").write_bytes(table.encode("utf-8"))


def _title(trial: dict) -> str:
    drugs = " and ".join(d.title() for d in trial["drugs"] if d != "placebo")
    control = " Versus Placebo" if "placebo" in trial["drugs"] else ""
    return f"{drugs}{control} in {trial['conditions'][0][0].title()} (Fictional Test Trial)"


def xml_record(trial: dict) -> str:
    study_type = trial.get("study_type", "Interventional")
    kind = trial.get("intervention_type", "Drug")
    criteria = escape(legacy_criteria(trial, "&#xD;\n")).replace("&amp;#xD;", "&#xD;")
    conditions = "".join(f"  <condition>{escape(name.title())}</condition>\n" for name, _ in trial["conditions"])
    interventions = "".join(
        f"  <intervention>\n    <intervention_type>{kind}</intervention_type>\n"
        f"    <intervention_name>{escape(d.title())}</intervention_name>\n  </intervention>\n"
        for d in trial["drugs"])
    status = {"completed": "Completed", "terminated": "Terminated", "withdrawn": "Withdrawn"}[trial["status"]]
    why = f"  <why_stopped>{escape(trial['why_stop'])}</why_stopped>\n" if trial["why_stop"] else ""
    return f"""<clinical_study>
  <!-- Fictional record written by tests/data/make_data.py (CLaDMoP Studio) in the layout of
       ClinicalTrials.gov's legacy XML export; the trial does not exist. -->
  <required_header>
    <download_date>ClinicalTrials.gov processed this data on March 01, 2024</download_date>
    <link_text>Link to the current ClinicalTrials.gov record.</link_text>
    <url>https://clinicaltrials.gov/show/{trial['nct_id']}</url>
  </required_header>
  <id_info>
    <org_study_id>CLADMOP-TEST-{trial['nct_id'][-4:]}</org_study_id>
    <nct_id>{trial['nct_id']}</nct_id>
  </id_info>
  <brief_title>{escape(_title(trial))}</brief_title>
  <sponsors>
    <lead_sponsor>
      <agency>Example Research Network</agency>
      <agency_class>Other</agency_class>
    </lead_sponsor>
  </sponsors>
  <source>Example Research Network</source>
  <overall_status>{status}</overall_status>
{why}  <start_date>{trial['start']}</start_date>
  <completion_date type="Actual">{trial['completion']}</completion_date>
  <phase>{XML_PHASE[trial['phase']]}</phase>
  <study_type>{study_type}</study_type>
  <enrollment type="Actual">{trial['enrollment']}</enrollment>
{conditions}{interventions}  <eligibility>
    <criteria>
      <textblock>
{criteria}
      </textblock>
    </criteria>
    <gender>All</gender>
    <minimum_age>18 Years</minimum_age>
    <healthy_volunteers>No</healthy_volunteers>
  </eligibility>
</clinical_study>
"""


def json_record(trial: dict) -> str:
    criteria = ("Inclusion Criteria:\n\n" + "".join(f"* {c}\n" for c in trial["inclusion"])
                + "\nExclusion Criteria:\n\n" + "".join(f"* {c}\n" for c in trial["exclusion"]))
    month, year = trial["start"].split()
    end_month, end_year = trial["completion"].split()
    status = {"completed": "COMPLETED", "terminated": "TERMINATED", "withdrawn": "WITHDRAWN"}[trial["status"]]
    record = {"protocolSection": {
        "identificationModule": {"nctId": trial["nct_id"], "briefTitle": _title(trial)},
        "statusModule": {"overallStatus": status,
                         **({"whyStopped": trial["why_stop"]} if trial["why_stop"] else {}),
                         "startDateStruct": {"date": f"{year}-{MONTHS.index(month) + 1:02d}"},
                         "completionDateStruct": {"date": f"{end_year}-{MONTHS.index(end_month) + 1:02d}",
                                                  "type": "ACTUAL"}},
        "sponsorCollaboratorsModule": {"leadSponsor": {"name": "Example Research Network", "class": "OTHER"}},
        "descriptionModule": {"briefSummary": "Fictional record written by tests/data/make_data.py in the layout "
                                              "of the ClinicalTrials.gov API v2; the trial does not exist."},
        "conditionsModule": {"conditions": [name.title() for name, _ in trial["conditions"]]},
        "designModule": {"studyType": "INTERVENTIONAL", "phases": JSON_PHASES[trial["phase"]],
                         "enrollmentInfo": {"count": trial["enrollment"], "type": "ACTUAL"}},
        "armsInterventionsModule": {"interventions": [{"type": "DRUG", "name": d.title()} for d in trial["drugs"]]},
        "eligibilityModule": {"eligibilityCriteria": criteria, "healthyVolunteers": False, "sex": "ALL",
                              "minimumAge": "18 Years"},
    }}
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


INDEX_COLUMNS = ["nctid", "file", "study_type", "phase", "overall_status", "drug_names", "conditions",
                 "has_criteria", "interventional_drug_with_criteria", "xsd_valid_2020_05_08"]


def write_records(folder: Path, trials: list[dict], suffix: str, render) -> None:
    """One record per trial and an index.csv with the columns of the development data's index."""
    folder.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    writer = csv.DictWriter(out, INDEX_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for trial in trials:
        name = f"{trial['nct_id']}.{suffix}"
        (folder / name).write_bytes(render(trial).encode("utf-8"))
        drug_trial = int(trial.get("intervention_type", "Drug") == "Drug")
        writer.writerow({"nctid": trial["nct_id"], "file": name,
                         "study_type": trial.get("study_type", "Interventional"),
                         "phase": XML_PHASE[trial["phase"]], "overall_status": trial["status"].title(),
                         "drug_names": "|".join(d.title() for d in trial["drugs"]),
                         "conditions": "|".join(n.title() for n, _ in trial["conditions"]),
                         "has_criteria": 1, "interventional_drug_with_criteria": drug_trial,
                         "xsd_valid_2020_05_08": 1})
    (folder / "index.csv").write_bytes(out.getvalue().encode("utf-8"))


def write_lookups(folder: Path) -> None:
    """A small name -> SMILES reference table (the layout `engine.lookups.drug_tables` reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{name},{smiles}\n" for name, smiles in sorted(DRUGS.items()) if smiles)
    (folder / "test_drug_smiles.csv").write_bytes(("name,smiles\n" + rows).encode("utf-8"))


def main(root: Path = HERE) -> None:
    rng = random.Random(20240301)
    phase_I_train = _balanced(rng, 9980001, "I", 40)
    phase_I_valid = _balanced(rng, 9981001, "I", 30)
    write_top(root / "top", {
        "phase_I_train.csv": phase_I_train,
        "phase_I_valid.csv": phase_I_valid,
        "phase_II_valid.csv": _balanced(rng, 9982001, "II", 30),
        "phase_III_valid.csv": _balanced(rng, 9983001, "III", 30),
    })
    # the first records: short criteria, and phases II, III, I/II (the window tests open the first few)
    records = [_trial(rng, f"NCT{9970001 + i:08d}", ["II", "III", "I/II"][i] if i < 3 else
                      rng.choice(["I", "I/II", "II", "III"]), short=i < 6) for i in range(52)]
    no_phase = _trial(rng, NO_PHASE_ID, "N/A")  # a drug trial that states no phase: no model phase to choose
    # the records of twelve labelled phase I trials (as the development data holds records of TOP trials)
    top_records = [t for t in phase_I_valid if t["label"] == 1][:6] + [t for t in phase_I_valid if t["label"] == 0][:6]
    write_records(root / "ctgov_xml", records[:40] + [no_phase] + sorted(top_records, key=lambda t: t["nct_id"]),
                  "xml", xml_record)
    observational = dict(_trial(rng, OBSERVATIONAL_ID, "N/A"), study_type="Observational",
                         intervention_type="Procedure", drugs=["blood sampling"])
    write_records(root / "ctgov_xml" / "non_drug_or_observational", [observational], "xml", xml_record)
    write_records(root / "ctgov_json", records[40:], "json", json_record)
    write_lookups(root / "lookups")


if __name__ == "__main__":
    main()
