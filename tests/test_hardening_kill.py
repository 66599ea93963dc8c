"""No data loss (issue #5.2): child processes are SIGKILLed at the worst moment — inside a workspace
transaction, at random moments of a stream of autosaves, right before a finished file or folder is
swapped in (the crash point of tests/crash_point.py) — and what is on disk afterwards is checked:
the last committed state, the previous complete file, or nothing; never half of one.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from engine.errors import ModelError
from engine.finetune_job import finetune_from_files
from tests.crash_point import PAUSED, Child
from tests.data_sources import data_dir, record_names

ROOT = Path(__file__).resolve().parents[1]
DATA = data_dir()  # the development data, else tests/data: the records are only carried, not judged
RECORDS = record_names(["NCT00000102.xml", "NCT00460603.xml", "NCT02465060.xml", "NCT00004074.xml",
                        "NCT00000800.xml", "NCT00000110.xml"])


def integrity(path: Path) -> str:
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


# -- (a) workspace ----------------------------------------------------------------------------------
WORKSPACE_CHILD = """
import sys, time
from engine.records import read_record
from engine.workspace import Workspace
data, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
names = sys.argv[4].split(",")
trials = [read_record(f"{data}/{n}")[0] for n in names]
ws = Workspace.open(path)
if mode == "transaction":
    ws.add_trials(trials[:3]); ws.set_ui("counter", 1)
    print("committed", flush=True)
    with ws.transaction():
        ws.add_trials(trials[3:]); ws.set_ui("counter", 2)
        print("inside", flush=True)
        time.sleep(600)
elif mode == "autosave":
    i = 0
    while True:
        i += 1
        with ws.transaction():
            ws.set_ui("a", i)
            ws.add_trial(trials[i % len(trials)])
            ws.set_ui("b", i)
        print("saved", i, flush=True)
elif mode == "save_as":
    ws.add_trials(trials)
    print("copying", flush=True)
    ws.save_as(sys.argv[5])
    print("copied", flush=True)
"""


def test_kill_inside_a_workspace_transaction_keeps_the_last_commit(tmp_path):
    from engine.records import read_record
    from engine.workspace import Workspace

    path = tmp_path / "w.cladmop"
    child = Child(["-c", WORKSPACE_CHILD, str(DATA / "ctgov_xml"), str(path), "transaction", ",".join(RECORDS)])
    child.wait_for("inside")
    child.kill()
    assert integrity(path) == "ok"
    with Workspace.open(path) as ws:
        assert ws.ui("counter") == 1
        stored = ws.load_trials()
        assert [s.record.nct_id for s in stored] == [read_record(DATA / "ctgov_xml" / n)[0].nct_id for n in RECORDS[:3]]
        for s, name in zip(stored, RECORDS):
            assert s.record.to_dict() == read_record(DATA / "ctgov_xml" / name)[0].to_dict()


@pytest.mark.parametrize("after", [1, 9, 30])
def test_kill_at_a_random_moment_of_autosaves_keeps_every_committed_save(tmp_path, after):
    from engine.workspace import Workspace

    path = tmp_path / "w.cladmop"
    child = Child(["-c", WORKSPACE_CHILD, str(DATA / "ctgov_xml"), str(path), "autosave", ",".join(RECORDS)])
    last = int(child.wait_for(f"saved {after}").split()[1])
    time.sleep(0.001 * after)  # somewhere inside a later save
    child.kill()
    assert integrity(path) == "ok"
    with Workspace.open(path) as ws:
        a, b = ws.ui("a"), ws.ui("b")
        assert a == b and a >= last  # whole transactions only, and none reported saved is lost
        assert len(ws.keys()) == a


def test_kill_during_save_as_keeps_the_previous_copy(tmp_path):
    from engine.records import read_record
    from engine.workspace import Workspace

    target = tmp_path / "copy.cladmop"
    with Workspace.open(target) as old:
        old.add_trial(read_record(DATA / "ctgov_xml" / RECORDS[0])[0])
    child = Child(["-c", WORKSPACE_CHILD, str(DATA / "ctgov_xml"), str(tmp_path / "w.cladmop"), "save_as",
                   ",".join(RECORDS), str(target)], pause="copy.cladmop")
    child.wait_for(PAUSED)
    child.kill()
    assert integrity(target) == "ok"
    with Workspace.open(target) as ws:
        assert len(ws.keys()) == 1  # the previous copy, whole
    done = Child(["-c", WORKSPACE_CHILD, str(DATA / "ctgov_xml"), str(tmp_path / "w2.cladmop"), "save_as",
                  ",".join(RECORDS), str(target)])
    done.wait_for("copied")
    done.proc.wait(timeout=60)
    with Workspace.open(target) as ws:
        assert len(ws.keys()) == len(RECORDS)


# -- (b) fine-tuning --------------------------------------------------------------------------------
SMALL = dict(d_model=16, n_heads=2, enrich_layers=1, group_sizes=(8, 4, 2), group_self_layers=1,
             head_hidden=16, proj_dim=8)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A small pre-trained base (no phase adapter yet) and 60 labelled TOP rows."""
    import pandas as pd

    from engine.training.pipeline import make_featurizer, run_pretraining

    folder = tmp_path_factory.mktemp("kill-model")
    df = pd.read_csv(DATA / "top" / "phase_I_train.csv")
    rows = folder / "rows.csv"
    pd.concat([df[df.label == 1].head(30), df[df.label == 0].head(30)]).to_csv(rows, index=False)
    featurizer = make_featurizer("minilm", "criterion", "cpu")
    run_pretraining([rows], folder / "base", epochs=1, batch_size=16, device="cpu", featurizer=featurizer,
                    model_overrides=SMALL)
    return folder / "base", rows, featurizer


def _finetune_child(model: Path, rows: Path, epochs: int, pause: str) -> Child:
    return Child(["-m", "engine.cli", "finetune", "--base", str(model), "--phase", "I", "--train", str(rows),
                  "--epochs", str(epochs), "--batch-size", "16", "--device", "cpu"], pause=pause)


def _staging_leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or ".old-" in p.name]


@pytest.mark.slow
def test_kill_while_the_first_adapter_is_swapped_in_is_rolled_forward(pretrained, tmp_path):
    """model.json already lists the staged adapter: the next verify finishes the swap."""
    from engine.model.checkpoint import ModelManifest
    from engine.predict import Predictor

    base, rows, _ = pretrained
    work = tmp_path / "m"
    shutil.copytree(base, work)
    child = _finetune_child(work, rows, 3, "adapters/I@1")
    child.wait_for(PAUSED)
    child.kill()
    assert not (work / "adapters" / "I").exists()  # absent, not half
    assert (work / "adapters" / ".I.staged").is_dir()  # hidden, never read as a model
    ModelManifest.read(work).verify(work)  # rolls the staged adapter forward
    assert not (work / "adapters" / ".I.staged").exists()
    assert Predictor.load(work, device="cpu").phases == ["I"]


@pytest.mark.slow
def test_kill_during_finetuning_resumes_from_the_last_epoch(pretrained, tmp_path):
    from engine.model.checkpoint import ModelManifest

    base, rows, featurizer = pretrained
    work = tmp_path / "m"
    shutil.copytree(base, work)
    # right before epoch 2's training state is swapped in (the 1st checkpoint is the head stage's, epoch 0)
    child = _finetune_child(work, rows, 4, ".resume@3")
    child.wait_for(PAUSED)
    child.kill()
    resume_files = list(work.rglob(".resume/progress.json"))
    assert len(resume_files) == 1, resume_files
    progress = json.loads(resume_files[0].read_text())
    assert progress["epoch"] == 1  # epoch 1 committed; epoch 2's state was never half-written over it
    ModelManifest.read(work).verify(work)  # epoch 1's best adapter and model.json: a complete model
    assert (work / "adapters" / "I" / "adapter_model.safetensors").is_file()
    records = []
    result = finetune_from_files(work, "I", [rows], featurizer, device="cpu", on_epoch=records.append, epochs=4,
                                 batch_size=16)
    epochs = [r.epoch for r in records]
    assert epochs and epochs[0] == 2, epochs  # the counter continues; it does not restart at 1
    assert result.fit.history[0].epoch == 1 and result.fit.history[-1].epoch == epochs[-1]
    ModelManifest.read(work).verify(work)


@pytest.mark.slow
def test_kill_between_adapter_and_model_json_keeps_a_loadable_model(pretrained, tmp_path):
    from engine.model.checkpoint import ModelManifest

    base, rows, featurizer = pretrained
    work = tmp_path / "m"
    shutil.copytree(base, work)
    finetune_from_files(work, "I", [rows], featurizer, device="cpu", epochs=1, batch_size=16)
    ModelManifest.read(work).verify(work)
    child = _finetune_child(work, rows, 2, "model.json@1")  # the new adapter is in, model.json not yet
    child.wait_for(PAUSED)
    child.kill()
    ModelManifest.read(work).verify(work)  # a complete model: the previous one or the new one


# -- (c) export -------------------------------------------------------------------------------------
def _export_child(folder: Path, records: list[Path], pause: str = "") -> Child:
    return Child(["-m", "engine.cli", "export", *map(str, records), "--csv", str(folder / "report.csv"),
                  "--html", str(folder / "report.html"), "--no-ablation", "--device", "cpu"],
                 pause=pause)


@pytest.mark.slow
def test_kill_during_export_keeps_the_previous_reports(tmp_path):
    from engine.records import load_records

    reports = [tmp_path / "report.csv", tmp_path / "report.html"]
    records = [DATA / "ctgov_xml" / name for name in RECORDS[:2]]
    first = _export_child(tmp_path, records[:1])
    assert first.proc.wait(timeout=240) == 0, first.seen
    complete = [p.read_bytes() for p in reports]
    assert all(records[0].stem.encode() in data for data in complete) and complete[1].rstrip().endswith(b"</html>")

    second = _export_child(tmp_path, records, pause="report.csv")  # the CSV written, not yet swapped in
    second.wait_for(PAUSED)
    second.kill()
    assert [p.read_bytes() for p in reports] == complete  # the previous complete reports, byte for byte
    assert [p for p in tmp_path.iterdir() if p not in reports] == []  # the temp file was unnamed (O_TMPFILE)
    assert load_records([tmp_path]).files == 0


def test_a_killed_first_export_leaves_no_report(tmp_path):
    """The same crash point with no earlier report: the target does not exist (no model needed:
    engine.export writes through the same atomic_write_text)."""
    code = ("from engine.export import write_csv\nwrite_csv([], r'%s')\n" % (tmp_path / "t.csv"))
    child = Child(["-c", code], pause="t.csv")
    child.wait_for(PAUSED)
    child.kill()
    assert list(tmp_path.iterdir()) == []  # no report, and no hidden 0-byte temp file (issue 20.8)


def test_a_writer_killed_mid_stream_leaves_nothing(tmp_path):
    """Killed while a streamed report is half written (not at the swap): nothing is left in the folder."""
    code = ("import sys, time\nfrom engine.atomic import atomic_text_writer\n"
            "with atomic_text_writer(__import__('pathlib').Path(r'%s')) as out:\n"
            "    out.write('nct_id\\n'); out.flush()\n"
            "    print('cladmop-test: paused before replacing', file=sys.stderr, flush=True); time.sleep(600)\n"
            % (tmp_path / "t.csv"))
    child = Child(["-c", code])
    child.wait_for(PAUSED)
    child.kill()
    assert list(tmp_path.iterdir()) == []


# -- damaged model files ----------------------------------------------------------------------------
@pytest.fixture()
def model_copy(tmp_path):
    from engine.predict import default_model_dir

    copy = tmp_path / "model"
    shutil.copytree(default_model_dir(), copy)
    return copy


@pytest.mark.parametrize("name, message", [
    ("base.safetensors", "base.safetensors: checksum mismatch; the file was changed or damaged"),
    ("adapters/II/adapter_model.safetensors", "adapter_model.safetensors: checksum mismatch"),
    ("model.json", "model.json: unreadable model description"),
])
def test_half_written_model_files_are_refused_with_a_clear_message(model_copy, name, message):
    from engine.errors import ModelError
    from engine.predict import Predictor

    path = model_copy / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as info:
        Predictor.load(model_copy, device="cpu")
    assert message in str(info.value)
