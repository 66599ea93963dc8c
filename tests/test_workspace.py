"""The SQLite workspace: round trips, one transaction per save, crash safety, clear errors."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from engine.editing import TrialDraft
from engine.workspace import SCHEMA_VERSION, Workspace, WorkspaceError
from tests.builders import make_prediction, stored_trial as make_trial


def test_records_drafts_scenarios_round_trip(tmp_path):
    path = tmp_path / "study.cladmop"
    with Workspace.open(path) as ws:
        key_a, key_b = ws.add_trials([make_trial(), make_trial("NCT00000002", "/data/b.json")])
        draft = TrialDraft(ws.record(key_a))
        draft.edit_text(0, "Age ≥ 50")
        draft.delete(2)
        draft.save_scenario("Older, no bleeding criterion")
        draft.revert_all()
        draft.set_condition_codes(1, ["G45.9"])
        ws.save_draft(key_a, draft)
        ws.set_ui("open_trial", key_a)
        ws.add_compound("XYZ-123", "CCO")

    with Workspace.open(path) as ws:
        stored = ws.load_trials()
        assert [s.key for s in stored] == ["NCT00000001", "NCT00000002"]
        assert stored[1].source_path == "/data/b.json"
        assert stored[0].record == make_trial()  # the record as loaded, untouched by corrections
        restored = stored[0].draft
        assert restored.items() == draft.items() and restored.diff().is_empty
        assert restored.original.conditions[1].icd10 == ["G45.9"]
        assert restored.scenario_names() == ["Older, no bleeding criterion"]
        assert restored.compare(TrialDraft.ORIGINAL, "Older, no bleeding criterion").summary() == \
            "1 edited, 1 removed"
        assert stored[1].draft.items() == TrialDraft(make_trial("NCT00000002")).items()  # never edited
        assert ws.ui("open_trial") == key_a and ws.ui("missing", 7) == 7
        assert ws.compounds() == {"XYZ-123": "CCO"}


def test_same_nct_id_twice_gets_a_distinct_key(tmp_path):
    with Workspace.open(tmp_path / "w.cladmop") as ws:
        keys = ws.add_trials([make_trial(), make_trial(source="/other/NCT00000001.json")])
        assert keys == ["NCT00000001", "NCT00000001 (2)"]
        assert ws.find("NCT00000001") == keys
        ws.remove(keys[0])
        assert ws.keys() == ["NCT00000001 (2)"]


def test_removing_a_record_removes_its_edits_and_scenarios(tmp_path):
    with Workspace.open(tmp_path / "w.cladmop") as ws:
        key = ws.add_trial(make_trial())
        draft = TrialDraft(make_trial())
        draft.save_scenario("S")
        ws.save_draft(key, draft)
        ws.remove(key)
        assert ws.load_draft(key) is None
        assert ws._read("SELECT count(*) FROM scenarios")[0][0] == 0


def test_a_failure_mid_save_leaves_the_previous_state(tmp_path, monkeypatch):
    path = tmp_path / "w.cladmop"
    ws = Workspace.open(path)
    key = ws.add_trial(make_trial())
    draft = TrialDraft(make_trial())
    draft.edit_text(0, "first saved edit")
    draft.save_scenario("kept")
    ws.save_draft(key, draft)
    saved_at = ws.last_saved

    draft.edit_text(0, "second edit, never saved")
    draft.delete_scenario("kept")

    def explode(self, conn, key, scenarios):
        conn.execute("DELETE FROM scenarios WHERE key=?", (key,))  # half-way through the save...
        raise OSError("disk full")

    monkeypatch.setattr(Workspace, "_write_scenarios", explode)
    with pytest.raises(OSError, match="disk full"):
        ws.save_draft(key, draft)
    assert ws.last_saved == saved_at
    restored = ws.load_draft(key)
    assert restored.criteria[0].text == "first saved edit" and restored.scenario_names() == ["kept"]
    ws.close()
    with Workspace.open(path) as again:
        assert again.load_draft(key).criteria[0].text == "first saved edit"


def test_grouped_writes_roll_back_together(tmp_path):
    with Workspace.open(tmp_path / "w.cladmop") as ws:
        ws.add_trial(make_trial())
        with pytest.raises(RuntimeError):
            with ws.transaction():
                ws.add_trial(make_trial("NCT00000009"))
                ws.add_compound("ABC", "CCN")
                raise RuntimeError("interrupted")
        assert ws.keys() == ["NCT00000001"] and ws.compounds() == {}


def test_a_process_killed_mid_transaction_leaves_the_last_commit(tmp_path):
    path = tmp_path / "w.cladmop"
    with Workspace.open(path) as ws:
        key = ws.add_trial(make_trial())
        draft = TrialDraft(make_trial())
        draft.edit_text(1, "committed edit")
        ws.save_draft(key, draft)
    script = textwrap.dedent(f"""
        import os
        from engine.editing import TrialDraft
        from engine.workspace import Workspace
        ws = Workspace.open({str(path)!r})
        draft = ws.load_draft({key!r})
        draft.edit_text(1, "uncommitted edit")
        with ws.transaction() as conn:
            ws.save_draft({key!r}, draft)      # joins the open transaction
            ws.add_compound("half", "CC")
            os._exit(3)                         # the process dies before COMMIT
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 3, result.stderr
    with Workspace.open(path) as ws:
        assert ws.load_draft(key).criteria[1].text == "committed edit"
        assert ws.compounds() == {}


def test_wal_journal_and_schema_version(tmp_path):
    path = tmp_path / "w.cladmop"
    Workspace.open(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    conn.execute("UPDATE schema_version SET version=?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(WorkspaceError, match="newer CLaDMoP Studio"):
        Workspace.open(path)


def test_files_that_are_not_workspaces_are_refused_by_name(tmp_path):
    text = tmp_path / "notes.cladmop"
    text.write_text("just some text, long enough to not be an empty database file " * 20)
    with pytest.raises(WorkspaceError, match=r"notes\.cladmop: not a CLaDMoP workspace"):
        Workspace.open(text)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    conn.close()
    with pytest.raises(WorkspaceError, match="another program"):
        Workspace.open(other)
    with pytest.raises(WorkspaceError, match="is a folder"):
        Workspace.open(tmp_path)


def test_prediction_cache_round_trips_arrays_and_segments(tmp_path):
    trial = make_trial()
    prediction = make_prediction(trial)
    with Workspace.open(tmp_path / "w.cladmop") as ws:
        ws.save_prediction(prediction, key="NCT00000001")
        got = ws.prediction(trial.content_hash(), "cladmop-minilm-v1")
        assert ws.prediction(trial.content_hash(), "another-model") is None
        assert ws.prediction(trial.content_hash(), "cladmop-minilm-v1", phase="III") is None
    assert got.probability == pytest.approx(0.71) and got.base_rate == pytest.approx(0.56)
    assert [a.level for a in got.attention] == ["coarse", "medium", "fine"]
    np.testing.assert_allclose(got.attention[1].criteria, [0.2, 0.5, 0.1], rtol=1e-6)
    assert got.molecule_tokens == prediction.molecule_tokens
    assert got.top_by_ablation(1)[0].label == "Prior ischaemic stroke"


def test_save_as_copies_everything_and_the_copy_is_independent(tmp_path):
    ws = Workspace.open(tmp_path / "a.cladmop")
    key = ws.add_trial(make_trial())
    draft = TrialDraft(make_trial())
    draft.add("New exclusion", "exclusion")
    ws.save_draft(key, draft)
    copy = ws.save_as(tmp_path / "b.cladmop")
    ws.add_trial(make_trial("NCT00000002"))
    assert copy.keys() == ["NCT00000001"]
    assert copy.load_draft(key).criteria[-1].text == "New exclusion"
    copy.close()
    ws.close()


def test_writes_after_close_name_the_file(tmp_path):
    ws = Workspace.open(tmp_path / "w.cladmop")
    ws.close()
    with pytest.raises(WorkspaceError, match="closed"):
        ws.add_compound("a", "C")


def test_autosave_writes_only_the_edited_trial(tmp_path):
    with Workspace.open(tmp_path / "w.cladmop") as ws:
        keys = ws.add_trials([make_trial(f"NCT{i:08d}") for i in range(20)])
        draft = TrialDraft(ws.record(keys[5]))
        for i in range(30):
            draft.edit_text(0, f"edit {i}", merge="typing")
            ws.save_draft(keys[5], draft)
        assert ws.load_draft(keys[5]).criteria[0].text == "edit 29"
        assert ws._read("SELECT key FROM drafts") == [(keys[5],)]
