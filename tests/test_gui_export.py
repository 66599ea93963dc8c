"""Batch scoring and reports: engine.scoring / engine.export with a tiny trained model, `cladmop export`,
and the window's Tools → Score all / Export (worker, progress, cancel; what-ifs included)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from engine.export import CSV_COLUMNS, csv_rows, html_report
from engine.records import load_records, read_record
from engine.scoring import score_trials
from tests.data_sources import data_dir, using_own_data
from tests.gui_helpers import real_xml_files

pytestmark = pytest.mark.gui
EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"


def observational_record() -> Path:
    name = "NCT09970098.xml" if using_own_data() else "NCT00000104.xml"  # ours: tests/data/make_data.py
    return data_dir() / "ctgov_xml" / "non_drug_or_observational" / name


@pytest.fixture(scope="module")
def scored(tiny_predictor):
    trials = load_records([EXAMPLES / "NCT09990001.xml", EXAMPLES / "NCT09990002.json",
                           observational_record()]).trials
    return trials, score_trials(tiny_predictor, trials)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_batch_scoring_matches_single_predictions_and_says_why_one_failed(scored, tiny_predictor):
    trials, results = scored
    assert [s.ok for s in results] == [True, True, False]
    for trial, s in zip(trials[:2], results[:2]):
        direct = tiny_predictor.predict(trial)
        assert s.prediction.probability == pytest.approx(direct.probability, abs=1e-6)
        assert s.prediction.phase == trial.phases[-1]
        assert s.resolved is not None and [d.name for d in s.resolved.drugs] == [d.name for d in direct_trial(
            tiny_predictor, trial).drugs]
    assert "cannot be scored" in results[2].error and "interventional" in results[2].error


def direct_trial(predictor, trial):
    return predictor.prepare(trial)


def test_csv_has_one_row_per_trial_with_probability_base_rate_and_top_items(scored):
    trials, results = scored
    rows = csv_rows(results, top=3, scored_at="2025-01-01 12:00 UTC")
    assert [r["nct_id"] for r in rows] == [t.nct_id for t in trials]
    first, p = rows[0], results[0].prediction
    assert list(first) == list(CSV_COLUMNS)
    assert float(first["probability"]) == pytest.approx(p.probability, abs=1e-4)
    assert float(first["base_rate"]) == pytest.approx(p.base_rate, abs=1e-4)
    assert float(first["vs_base_rate"]) == pytest.approx(p.probability - p.base_rate, abs=1e-4)
    top_index, top_weight = p.top_criteria_by_attention(1)[0]
    assert first["top_criteria_by_attention"].startswith(f"{top_weight:.3f} {p.criteria_labels[top_index]}")
    top_ablation = p.top_by_ablation(1)[0]
    assert first["top_items_by_ablation"].startswith(f"{top_ablation.delta:+.3f} {top_ablation.kind}:")
    assert first["model"] == p.model_name and first["scored_at"] == "2025-01-01 12:00 UTC"
    assert rows[2]["probability"] == "" and "cannot be scored" in rows[2]["error"]


def test_html_report_is_self_contained_with_molecules_criteria_and_ablation(scored):
    from lxml import html as lxml_html

    trials, results = scored
    page = html_report(results, model_name="tiny model", created="2025-01-01 12:00 UTC")
    tree = lxml_html.fromstring(page)
    assert tree.xpath("//script") == [] and tree.xpath("//link") == [] and tree.xpath("//img") == []
    assert "tiny model" in page and "2025-01-01 12:00 UTC" in page
    sections = tree.xpath("//section[@class='trial']")
    assert len(sections) == 3
    first = sections[0]
    # metformin is drawn inline as SVG (RDKit), the placebo as a labelled placeholder
    assert len(first.xpath(".//figure[@class='mol']")) == len(results[0].resolved.drugs)
    assert first.xpath(".//figure//svg") or "<svg" in lxml_html.tostring(first).decode()
    text = first.text_content()
    p = results[0].prediction
    top_index, _ = p.top_criteria_by_attention(1)[0]
    assert " ".join(p.criteria_labels[top_index].split()) in text
    assert f"base rate {p.base_rate:.2f}" in text and f"{p.probability:.2f}" in text
    assert "Ablation (exact leave-one-out)" in page and "not attribution" in page
    assert "Not scored" in sections[2].text_content()


def test_cli_export_writes_both_files(tiny_model, tmp_path, capsys):
    from engine.cli import main

    html, table = tmp_path / "report.html", tmp_path / "table.csv"
    code = main(["export", str(EXAMPLES / "NCT09990001.xml"), str(EXAMPLES / "NCT09990002.json"),
                 "--model", str(tiny_model["model"]), "--device", "cpu", "--html", str(html), "--csv", str(table),
                 "--phase", "I"])
    assert code == 0, capsys.readouterr().err
    rows = read_csv(table)
    assert [r["model_phase"] for r in rows] == ["I", "I"]
    from engine.predict import Predictor

    predictor = Predictor.load(tiny_model["model"], device="cpu")
    expected = predictor.predict(read_record(EXAMPLES / "NCT09990001.xml")[0], phase="I", ablate=False)
    assert float(rows[0]["probability"]) == pytest.approx(expected.probability, abs=1e-4)
    assert "<svg" in html.read_text() and "NCT09990002" in html.read_text()
    assert main(["export", str(EXAMPLES / "NCT09990001.xml"), "--model", str(tiny_model["model"])]) == 2
    assert "--html" in capsys.readouterr().err


def test_window_exports_every_open_trial_with_its_what_if(qtbot, window, tmp_path):
    window.open_files([EXAMPLES / "NCT09990001.xml", EXAMPLES / "NCT09990002.json", observational_record()])
    qtbot.waitUntil(lambda: len(window.session) == 3 and window.idle, timeout=180000)
    key = window.session.order[0]
    window.trial_list.select_key(key)
    window.session.entry(key).draft.set_enabled(1, False)  # a what-if
    out = tmp_path / "out" / "report.html"
    window.export(out)
    qtbot.waitUntil(lambda: out.is_file() and out.with_suffix(".csv").is_file() and window.idle, timeout=180000)
    rows = read_csv(out.with_suffix(".csv"))
    assert [r["nct_id"] for r in rows] == [window.session.entry(k).record.nct_id for k in window.session.order]
    original = window.session.current_prediction(key, "original")
    edited = window.session.current_prediction(key, "edited")
    assert edited is not None and original is not None
    assert float(rows[0]["probability"]) == pytest.approx(original.probability, abs=1e-4)
    assert float(rows[0]["what_if_probability"]) == pytest.approx(edited.probability, abs=1e-4)
    assert float(rows[0]["what_if_change"]) == pytest.approx(edited.probability - original.probability, abs=1e-4)
    assert rows[1]["what_if_probability"] == ""  # not edited
    assert "cannot be scored" in rows[2]["error"]
    page = out.read_text()
    assert "What-if (the analyst's edited criteria)" in page and window.predictions.model_name in page
    assert "Wrote" in window.statusBar().currentMessage()


def test_scoring_can_be_cancelled_and_then_nothing_is_written(qtbot, window, tmp_path):
    files = real_xml_files(12)
    window.open_files(files)
    qtbot.waitUntil(lambda: len(window.session) == len(files), timeout=180000)
    window.predictions.cancel_all()  # the interactive queue aside: the batch does the scoring
    out = tmp_path / "cancelled.html"
    task = window.export(out)
    assert task is not None and window.runner.busy
    window.cancel_button.click()  # the status bar's Cancel
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=120000)
    assert "cancelled" in window.statusBar().currentMessage().lower()
    assert not out.exists() and not out.with_suffix(".csv").exists()
