"""`cladmop workspace list|show|export` (engine/workspace_view.py): the window's workspace read from the
command line, also while a window holds it, with the same trials, edits, phase choices and numbers."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.records import read_record
from engine.workspace import Workspace, WorkspaceError

EXAMPLE = Path(__file__).resolve().parents[1] / "resources" / "examples" / "NCT09990001.xml"


@pytest.fixture
def saved_workspace(tmp_path):
    """A workspace as the window leaves it: one record edited (item 2 off), a scenario, phase III chosen;
    and another process holding it open, as a window would."""
    path = tmp_path / "mine.cladmop"
    with Workspace.open(path) as ws:
        key = ws.add_trial(read_record(EXAMPLE)[0])
        stored = ws.load_trials()[0]
        stored.draft.set_enabled(1, False)
        stored.draft.save_scenario("no HbA1c window")
        ws.save_draft(key, stored.draft)
        ws.set_phase_choice(key, "III")
    code = ("import sys, time; from engine.workspace import Workspace; ws = Workspace.open(sys.argv[1]); "
            "print('open', flush=True); time.sleep(120)")
    window = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    assert window.stdout.readline().strip() == "open"
    yield path, key, stored.draft
    window.kill()
    window.wait()


def test_list_and_show_read_a_workspace_a_window_holds(saved_workspace, capsys):
    path, key, _ = saved_workspace
    with pytest.raises(WorkspaceError, match="is open in another"):
        Workspace.open(path)  # the window's lock stands; reading does not need it
    assert main(["workspace", "list", "--file", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: 1 trial(s)" in out and key in out and "1 disabled" in out and "(model III)" in out
    assert "scenarios: no HbA1c window" in out
    assert main(["workspace", "show", key, "--file", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  2. [inclusion] (off) HbA1c between" in out and "scenario “no HbA1c window”: 1 disabled" in out
    assert main(["workspace", "show", "nope", "--file", str(path)]) == 2
    assert f"no trial 'nope' (keys: {key})" in capsys.readouterr().err


def test_export_scores_the_record_and_its_what_if_as_the_window_does(saved_workspace, tmp_path, capsys):
    from engine.predict import Predictor

    path, key, draft = saved_workspace
    out = tmp_path / "scores.csv"
    html = tmp_path / "report.html"
    assert main(["workspace", "export", "--file", str(path), "--csv", str(out), "--html", str(html),
                 "--no-ablation", "--device", "cpu"]) == 0
    assert "<h3>Saved scenarios</h3><ul><li>no HbA1c window: " in html.read_text()
    (row,) = list(csv.DictReader(out.open()))
    predictor = Predictor.load(device="cpu")
    before = predictor.predict(draft.scenario_trial(draft.ORIGINAL), phase="III", ablate=False).probability
    after = predictor.predict(draft.snapshot(), phase="III", ablate=False).probability
    assert row["model_phase"] == "III" and row["record_phase"] == "II"
    assert float(row["probability"]) == pytest.approx(before, abs=1e-4)
    assert float(row["what_if_probability"]) == pytest.approx(after, abs=1e-4)
    # the saved scenario (item 2 off, as the what-if) is scored and listed with its change
    assert row["scenarios"] == f"no HbA1c window: {after:.3f} ({after - before:+.3f} vs as recorded)"


def test_a_missing_or_foreign_file_is_named(tmp_path, capsys):
    assert main(["workspace", "list", "--file", str(tmp_path / "none.cladmop")]) == 2
    assert "no such workspace file" in capsys.readouterr().err
    other = tmp_path / "other.cladmop"
    other.write_text("not a database")
    assert main(["workspace", "list", "--file", str(other)]) == 2
    assert "not a CLaDMoP workspace" in capsys.readouterr().err


def test_list_filters_by_words_and_icd10_codes(tmp_path, capsys):
    from engine.records.typed import typed_trial
    from engine.workspace_view import matches

    diabetes = typed_trial("Metformin XR", "II", [("metformin", "")], [("type 2 diabetes", "E11.9")], "- Adults")
    asthma = typed_trial("Budesonide", "III", [("budesonide", "")], [("asthma", "J45.909")], "- Adults")
    assert matches(diabetes, "e11") and matches(diabetes, "E119 metformin") and not matches(asthma, "E11")
    path = tmp_path / "two.cladmop"
    with Workspace.open(path) as ws:
        ws.add_trials([diabetes, asthma])
    assert main(["workspace", "list", "--file", str(path), "--filter", "J45"]) == 0
    out = capsys.readouterr().out
    assert "1 trial(s)" in out and "Budesonide" in out and "Metformin" not in out
