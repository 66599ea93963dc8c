"""Small objects several test modules build (so no test module imports another): trials, a prediction,
an evaluation report, an SVG colour probe, and the shipped-model guard."""
from __future__ import annotations

import re

import numpy as np
import pytest

from engine.features.types import MoleculeSegment
from engine.prediction import Ablation, LevelAttention, Prediction
from engine.records.trial import Condition, Criterion, Drug, IcdCandidate, Trial


def make_trial() -> Trial:
    """An asthma trial with a resolved and an unresolved drug, a fuzzy condition and four criteria."""
    return Trial(
        nct_id="NCT00000001",
        title="Inhaled budesonide in adults with asthma",
        phases=("II",),
        conditions=[Condition("Asthma", ["J45.909"], "exact"),
                    Condition("Wheezing", [], "fuzzy",
                              [IcdCandidate("R06.2", "Wheezing", 0.91), IcdCandidate("J45.9", "Asthma", 0.6)])],
        drugs=[Drug("budesonide", "CCCC1OC2CC3C4CCC5=CC(=O)C=CC5(C)C4C(O)CC3(C)C2(O1)C(=O)CO",
                    "small_molecule"),
               Drug("XYZ-123", None, "unresolved")],
        criteria=[Criterion("Age 18 to 65 years"),
                  Criterion("FEV1 40-80% of predicted"),
                  Criterion("Current smoker", "exclusion"),
                  Criterion("Pregnancy", "exclusion")],
        unresolved=["drug 'XYZ-123': no structure found"],
    )


def stored_trial(nct_id="NCT00000001", source="/data/NCT00000001.xml") -> Trial:
    """A read record as the workspace stores it: source, status, enrollment, two phases."""
    return Trial(
        nct_id=nct_id, title="Aspirin for secondary prevention", phases=("II", "III"), status="Completed",
        enrollment=120, source_path=source, source_format="ctgov-xml",
        conditions=[Condition("Stroke", ["I63.9"], "exact"),
                    Condition("TIA", [], "fuzzy", [IcdCandidate("G45.9", "TIA, unspecified", 0.8)])],
        drugs=[Drug("aspirin", "CC(=O)Oc1ccccc1C(=O)O", "small_molecule", "drugbank"),
               Drug("placebo", None, "placebo")],
        criteria=[Criterion("Age ≥ 40"), Criterion("Prior ischaemic stroke"),
                  Criterion("Bleeding disorder", "exclusion")],
        criteria_text="Inclusion Criteria: ...",
    )


def make_prediction(trial: Trial) -> Prediction:
    """A complete prediction for `stored_trial()`: attention at three levels, an ablation, a segment."""
    return Prediction(
        nct_id=trial.nct_id, trial_hash=trial.content_hash(), phase="II", probability=0.71, base_rate=0.56,
        model_name="cladmop-minilm-v1",
        attention=[LevelAttention(level, np.array([0.2, 0.5, 0.1]), np.array([0.1, 0.05]), np.array([0.05]), 0.0)
                   for level in ("coarse", "medium", "fine")],
        ablations=[Ablation("criterion", 1, "Prior ischaemic stroke", -0.08)],
        molecule_tokens=[MoleculeSegment(0, "CC(=O)O", (0, 1, 2)), None],
        molecule_labels=["aspirin: acetyl", "placebo"], disease_labels=["I63.9"],
        criteria_labels=["Age ≥ 40", "Prior ischaemic stroke", "Bleeding disorder"],
    )


def evaluation_report(probabilities, labels=(1, 0, 1, 0, 1, 0)):
    """An EvaluationReport of these probabilities for trials NCT00000000, NCT00000001, ..."""
    from engine.finetune_job import EvaluationReport

    rows = [{"nct_id": f"NCT{i:08d}", "label": y, "probability": p}
            for i, (y, p) in enumerate(zip(labels, probabilities))]
    return EvaluationReport("test", len(rows), None, {}, None, None, predictions=rows)


def svg_fills(svg: str) -> set[str]:
    return {m.upper() for m in re.findall(r"fill:(#[0-9A-Fa-f]{6})", svg)}


def drawn(rgb, svg: str) -> bool:
    """The colour appears as a fill (±1 per channel: RDKit truncates where we round)."""
    want = [round(c * 255) for c in rgb]
    for color in svg_fills(svg):
        got = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
        if all(abs(g - w) <= 1 for g, w in zip(got, want)):
            return True
    return False


def shipped_model_or_skip():
    from engine.paths import resources_dir
    from engine.predict import default_model_dir

    if not (default_model_dir() / "model.json").is_file():
        pytest.skip("no shipped model yet (resources/models/default/model.json)")
    if not (resources_dir() / "icd10_embeddings.safetensors").is_file():
        pytest.skip("no ICD-10 embedding table yet (resources/icd10_embeddings.safetensors)")
