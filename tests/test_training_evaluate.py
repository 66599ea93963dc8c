"""`cladmop evaluate`'s JSON rows: each NCT id beside its own label and probability."""
from types import SimpleNamespace

import numpy as np

from engine.errors import CladmopError
from engine.records.trial import Trial
from engine.training import evaluate
from engine.training.dataset import LabelledSet


class _Predictor:
    """Scores NCTi with probability i/10; NCT2 cannot be scored."""
    model_name = "fake"
    probability = {f"NCT{i}": i / 10 for i in (1, 3, 4, 5, 6, 7)}

    def predict_many(self, trials, **_):
        return [SimpleNamespace(probability=self.probability[t.nct_id]) if t.nct_id in self.probability
                else CladmopError(f"{t.nct_id}: no drug") for t in trials]


def test_rows_keep_each_trial_with_its_own_label_when_one_cannot_be_scored(monkeypatch):
    trials = [Trial(nct_id=f"NCT{i}", phases=("I",)) for i in range(1, 8)]
    labelled = LabelledSet(trials, np.array([0, 1, 1, 0, 0, 1, 1]))
    monkeypatch.setattr(evaluate, "load_labelled", lambda *a, **k: (labelled, []))
    result = evaluate.evaluate_files(_Predictor(), ["x.csv"], "I", bootstrap=2)
    assert [(r["nct_id"], r["label"], r["probability"]) for r in result["predictions"]] == [
        ("NCT1", 0, 0.1), ("NCT3", 1, 0.3), ("NCT4", 0, 0.4), ("NCT5", 0, 0.5), ("NCT6", 1, 0.6),
        ("NCT7", 1, 0.7)]
    assert any("1 trial(s) could not be scored" in n for n in result["notes"])
