"""Issue 20.9: `cladmop export --csv` is resumable. Every scored row goes to a journal beside the CSV
(OUT.csv.partial, engine/export_journal.py), synced after every batch; a run killed part-way and run
again scores only the records the journal lacks, and writes the same CSV as an uninterrupted run.
Other inputs, model or options (or --restart) start afresh; a finished run leaves the CSV alone.

The logic is driven through the CLI with a counting predictor double; one test kills the real
`cladmop export` with the shipped model on real records.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import CladmopError
from engine.export_journal import ExportJournal, journal_path
from tests.crash_point import Child
from tests.data_sources import data_dir, using_own_data, xml_records
from tests.gui_helpers import ActiveCriteriaPredictor

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "resources" / "examples" / "NCT09990001.xml"
DATA = data_dir()  # the development data, else tests/data: the records are only carried, not judged
PAUSED = "cladmop-test: paused in batch"


class CountingPredictor(ActiveCriteriaPredictor):
    """The double with the real Predictor's batch call: counts the records it scores; in batch number
    `stop_at` it raises (a crash) or, with `hang`, says so and sleeps (to be SIGKILLed)."""

    def __init__(self, stop_at: int | None = None, hang: bool = False, model_name: str | None = None):
        super().__init__()
        self.scored, self.batches, self.stop_at, self.hang = 0, 0, stop_at, hang
        self.model_name = model_name or self.model_name

    def predict_many(self, trials, phase=None, ablate=False, state=None, batch_size=32):
        self.batches += 1
        if self.batches == self.stop_at:
            if not self.hang:
                raise RuntimeError("crashed in the middle of the run")
            print(PAUSED, self.batches, flush=True)
            __import__("time").sleep(600)
        self.scored += len(trials)
        return [self.predict(t, ablate=ablate) for t in trials]


def write_records(folder: Path, n: int) -> Path:
    """`n` copies of the example record, each with its own NCT id (and file)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = EXAMPLE.read_text("utf-8")
    for i in range(n):
        nct = f"NCT0880{i:04d}"
        (folder / f"{nct}.xml").write_text(text.replace("NCT09990001", nct), "utf-8")
    return folder


def export(monkeypatch, predictor, records: Path, out: Path, *extra: str, more: tuple = ()) -> int:
    monkeypatch.setattr("engine.cli._load_predictor", lambda args: predictor)
    return main(["export", str(records), *map(str, more), "--csv", str(out), "--batch-size", "4", *extra])


def rows(path: Path) -> list[dict]:
    """The CSV's rows without `scored_at` (a resumed row keeps the time it was first scored)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [{k: v for k, v in row.items() if k != "scored_at"} for row in csv.DictReader(handle)]


def journal_rows(out: Path) -> int:
    return len(journal_path(out).read_bytes().splitlines()) - 1  # the first line describes the run


def crash_after_two_batches(monkeypatch, records: Path, out: Path) -> None:
    with pytest.raises(RuntimeError, match="crashed"):
        export(monkeypatch, CountingPredictor(stop_at=3), records, out)
    assert not out.exists() and journal_rows(out) == 8


@pytest.fixture
def records(tmp_path) -> Path:
    return write_records(tmp_path / "records", 20)


@pytest.fixture
def reference(monkeypatch, records, tmp_path) -> list[dict]:
    """The rows of an uninterrupted run."""
    counting = CountingPredictor()
    assert export(monkeypatch, counting, records, tmp_path / "reference.csv") == 0
    assert counting.scored == 20
    return rows(tmp_path / "reference.csv")


def test_a_crashed_run_resumes_and_writes_what_an_uninterrupted_run_writes(monkeypatch, capsys, records,
                                                                           reference, tmp_path):
    out = tmp_path / "out.csv"
    crash_after_two_batches(monkeypatch, records, out)
    capsys.readouterr()
    again = CountingPredictor()
    assert export(monkeypatch, again, records, out) == 0
    captured = capsys.readouterr()
    assert again.scored == 12  # only the records the journal lacked
    assert "cladmop: resuming: 8 of 20 already scored" in captured.err
    assert "(20 of 20 trials scored); 8 from the interrupted run, 12 now" in captured.out
    assert rows(out) == reference and [r["nct_id"] for r in reference] == sorted(r["nct_id"] for r in reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "records", "reference.csv"]  # journal gone


def test_a_sigkilled_run_resumes_even_after_a_torn_last_line(monkeypatch, capsys, records, reference, tmp_path):
    """SIGKILL in the third batch: the two batches before it are on disk (synced); a line torn by a
    kill in mid-write is cut off and its record scored again."""
    out = tmp_path / "out.csv"
    code = ("import sys\nfrom tests.test_export_resume import CountingPredictor\nimport engine.cli\n"
            "engine.cli._load_predictor = lambda args: CountingPredictor(stop_at=3, hang=True)\n"
            "sys.exit(engine.cli.main(sys.argv[1:]))\n")
    child = Child(["-c", code, "export", str(records), "--csv", str(out), "--batch-size", "4"])
    child.wait_for(PAUSED, timeout=120)
    child.kill()
    assert not out.exists() and journal_rows(out) == 8
    with journal_path(out).open("ab") as journal:
        journal.write(b'{"key":"half a line, as a kill in mid-write lea')
    again = CountingPredictor()
    assert export(monkeypatch, again, records, out) == 0
    assert again.scored == 12 and "resuming: 8 of 20 already scored" in capsys.readouterr().err
    assert rows(out) == reference and not journal_path(out).exists()


@pytest.mark.parametrize("change, why", [
    (["--top", "2"], "it was made with other options (top)"),
    (["--phase", "II"], "it was made with other options (phase)"),
    (["--restart"], "--restart was given"),
    (["model"], "it was made with other model (name)"),
    (["inputs"], "it was made with other inputs"),
])
def test_other_options_model_or_inputs_start_afresh(monkeypatch, capsys, records, tmp_path, change, why):
    out = tmp_path / "out.csv"
    crash_after_two_batches(monkeypatch, records, out)
    capsys.readouterr()
    again = CountingPredictor(model_name="another model" if change == ["model"] else None)
    inputs = [write_records(tmp_path / "more", 1)] if change == ["inputs"] else []
    extra = [] if change in (["model"], ["inputs"]) else change
    assert export(monkeypatch, again, records, out, *extra, more=inputs) == 0
    err = capsys.readouterr().err
    assert f"not resuming from out.csv.partial: {why}; scoring every record afresh" in err
    assert "resuming:" not in err and again.scored == 20 + len(inputs)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.csv", "records", *(["more"] if inputs else [])])


def test_a_finished_run_leaves_the_csv_alone_and_nothing_hidden(monkeypatch, capsys, records, tmp_path):
    out = tmp_path / "reports" / "out.csv"
    assert export(monkeypatch, CountingPredictor(), records, out) == 0
    assert [p.name for p in out.parent.iterdir()] == ["out.csv"]  # no journal, no 0-byte temp file
    assert len(rows(out)) == 20 and "(20 of 20 trials scored)\n" in capsys.readouterr().out
    empty = write_records(tmp_path / "empty", 0)
    assert export(monkeypatch, CountingPredictor(), empty, tmp_path / "none.csv") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "records", "reports"]


def test_two_exports_to_one_csv_at_once_are_refused(tmp_path):
    with ExportJournal(tmp_path / "out.csv", {"inputs": []}):
        with pytest.raises(CladmopError, match="another export is writing this CSV now"):
            ExportJournal(tmp_path / "out.csv", {"inputs": []})
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv.partial"]  # kept: no row was lost


# -- the real command, the shipped model, real records --------------------------------------------
REAL_CHILD = f"""
import sys, time
from engine.predict import Predictor
real, calls = Predictor.predict_many, []
def pausing(self, *args, **kwargs):  # SIGKILLed in its third batch, the first two journaled
    calls.append(1)
    if len(calls) == 3:
        print("{PAUSED}", flush=True)
        time.sleep(600)
    return real(self, *args, **kwargs)
Predictor.predict_many = pausing
from engine.cli import main
sys.exit(main(sys.argv[1:]))
"""
REAL_RECORDS = ["NCT00000102.xml", "NCT00460603.xml", "NCT02465060.xml", "NCT00004074.xml", "NCT00000800.xml",
                "NCT00000110.xml"]  # the last states no phase: a row with its error
if using_own_data():
    REAL_RECORDS = [p.name for p in xml_records(5)] + ["NCT09970099.xml"]  # tests/data/make_data.py NO_PHASE_ID


def real_export(out: Path, processes: int = 1, child: str = "") -> list[str]:
    """The command line of `cladmop export` (the shipped model, CPU, one record a batch, so that every
    forward pass holds one trial whatever the number of processes) over the real records."""
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] if processes > 1 else []
    entry = ["-c", child] if child else ["-m", "engine.cli"]
    return [*launcher, *entry, "export", *(str(DATA / "ctgov_xml" / name) for name in REAL_RECORDS), "--csv", str(out),
            "--no-ablation", "--device", "cpu", "--batch-size", "1"]


def run_real(out: Path, processes: int = 1) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, *real_export(out, processes)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def real_reference(tmp_path_factory) -> list[dict]:
    """The rows of an uninterrupted one-process run."""
    out = tmp_path_factory.mktemp("reference") / "reference.csv"
    assert "(5 of 6 trials scored)" in run_real(out).stdout
    return rows(out)


def killed_real_run(out: Path) -> None:
    child = Child(real_export(out, child=REAL_CHILD))
    child.wait_for(PAUSED, timeout=240)
    child.kill()
    assert journal_rows(out) == 2 and not out.exists()


def test_the_real_export_killed_and_run_again_matches_an_uninterrupted_one(tmp_path, real_reference):
    killed_real_run(tmp_path / "out.csv")
    resumed = run_real(tmp_path / "out.csv")
    assert "cladmop: resuming: 2 of 6 already scored" in resumed.stderr, resumed.stderr[-2000:]
    assert "(5 of 6 trials scored); 2 from the interrupted run, 4 now" in resumed.stdout, resumed.stdout
    assert rows(tmp_path / "out.csv") == real_reference  # probabilities included, in input order
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_two_processes_under_torchrun_resume_what_one_process_left(tmp_path, real_reference):
    """Rank 0 keeps the journal and the others follow its keys, so all score the same batches
    (engine/distributed.py); a journal does not depend on the number of processes."""
    killed_real_run(tmp_path / "out.csv")
    resumed = run_real(tmp_path / "out.csv", processes=2)
    assert resumed.stderr.count("cladmop: resuming: 2 of 6 already scored") == 1, resumed.stderr[-2000:]
    assert rows(tmp_path / "out.csv") == real_reference
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
