"""The window with the shipped model: real records scored on a worker, what-if edits re-scored.

Skips until the shipped model (resources/models/default) and its ICD table are in place.
"""
from __future__ import annotations

import pytest

from engine.prediction import has_ablation
from tests.builders import shipped_model_or_skip
from tests.gui_helpers import real_xml_files

pytestmark = pytest.mark.gui


def test_shipped_model_scores_records_and_what_if_matches_its_ablation(qtbot, make_window):
    shipped_model_or_skip()
    window = make_window(load_model=True, wait_ready=True)  # the shipped model
    predictor = window.predictions.predictor
    files = [f for f in real_xml_files(40)][:40]
    window.open_files(files)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=120000)
    key = next(k for k in window.session.order
               if window.session.entry(k).draft.original.phases
               and window.session.entry(k).draft.original.phases[-1] in predictor.phases
               and len(window.session.entry(k).draft.original.active_criteria) >= 3)
    window.trial_list.select_key(key)
    # the probability comes first, its ablation after (desktop/prediction_service.py): wait for both
    qtbot.waitUntil(lambda: has_ablation(window.session.current_prediction(key, "original")), timeout=300000)
    shown = window.session.current_prediction(key, "original")
    direct = predictor.predict(window.session.trial_for(key, "original"))
    assert shown.probability == pytest.approx(direct.probability, abs=1e-6)
    assert window.prediction_panel.probability.text() == f"{shown.probability:.2f}"

    # leave out the criterion with the largest ablation effect: the what-if equals p + Δ (exact LOO)
    top = shown.top_by_ablation(1, kind="criterion")[0]
    draft = window.session.entry(key).draft
    active_rows = [i for i, c in enumerate(draft.criteria) if c.enabled and c.text.strip()]
    draft.set_enabled(active_rows[top.index], False)
    qtbot.waitUntil(lambda: window.session.current_prediction(key, "edited") is not None, timeout=300000)
    edited = window.session.current_prediction(key, "edited")
    assert edited.probability == pytest.approx(shown.probability + top.delta, abs=1e-4)
    assert "what-if" in window.prediction_panel.whatif.text()


def test_molecules_are_tinted_by_the_fine_level_attention(qtbot, make_window):
    shipped_model_or_skip()
    from engine.depict import atom_weights_from_segments

    window = make_window(load_model=True, wait_ready=True)  # the shipped model
    phases = window.predictions.predictor.phases
    window.open_files(real_xml_files(40))
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=120000)
    key = next(k for k in window.session.order
               if window.session.entry(k).draft.original.phases[-1:] and
               window.session.entry(k).draft.original.phases[-1] in phases and
               any(d.smiles for d in window.session.entry(k).draft.original.drugs))
    window.trial_list.select_key(key)
    qtbot.waitUntil(lambda: window.session.current_prediction(key, "original") is not None, timeout=300000)
    prediction = window.session.current_prediction(key, "original")
    fine = next(a for a in prediction.attention if a.level == "fine")
    drug = next(i for i, d in enumerate(window.session.entry(key).draft.original.drugs) if d.smiles)
    assert window.trial_view.attention.get(drug) == atom_weights_from_segments(
        prediction.molecule_tokens, fine.molecules, drug)
    assert window.trial_view.attention[drug]  # the drawn drug has weighted atoms
