"""Responsiveness of the desktop application: what the GUI thread pays per interaction, and how long
opening records and restoring a workspace take.

    QT_QPA_PLATFORM=offscreen installer/dev.sh python benchmarks/bench_gui.py [--records 200]

Prints, with real ClinicalTrials.gov XML records from the shared data folder:
- open: `open_files` of N records until the window is idle (worker thread: read + lookups), and
  the longest GUI-thread stall seen meanwhile (a 10 ms timer measures its own lateness);
- switch: selecting another trial (trial view with molecule drawings, criteria table), median/max;
- edit: one criterion edit through the command stack → table, diff tab, list, prediction request;
- batch: what Tools → Score all / Export collects on the GUI thread before its worker starts;
- autosave: one draft written to a workspace holding N trials (one SQLite transaction);
- restore: opening that workspace in a new window (N trials, drafts, scenarios);
- depict: one RDKit molecule SVG;
- cold start: a fresh `python` process to the first window on screen (wall time, median of --repeat);
- what-if: with a model loaded, one criterion edited → the new probability in the panel (p50/p95,
  the 400 ms debounce included and subtracted), beside re-encoding the trial's whole criteria text with
  the bare language model (no cache);
- attention view: drawing one prediction (heatmaps, criteria, ablation bars) on the GUI thread;
- memory: peak resident memory of a fresh process with the window, the model and one scored trial.
The model is `--model DIR`, else the shipped `resources/models/default`; when that does not exist yet a
tiny model is trained in /tmp on 40 TOP rows (about a minute) and the output says so — its latency is
not the real model's.
The budget for anything on the GUI thread is ~50 ms (a frame or three); slower work must be on a worker.
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pick_records(count: int) -> list[Path]:
    from engine.paths import shared_data_dir

    data = shared_data_dir()
    if data is None:
        sys.exit("needs ../shared/data (ctgov_xml)")
    folder = data / "ctgov_xml"
    with open(folder / "index.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle)
                if r["interventional_drug_with_criteria"] == "1" and r["phase"].startswith("Phase")]
    return [folder / r["file"] for r in rows[:count]]


class StallMeter:
    """A 10 ms timer that records how late it fires: the GUI thread's longest stall."""

    def __init__(self):
        from PySide6.QtCore import QTimer

        self.worst = 0.0
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self):
        now = time.perf_counter()
        self.worst = max(self.worst, now - self._last - 0.010)
        self._last = now


def wait_idle(app, window, timeout=600.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if window.idle:
            for _ in range(5):
                app.processEvents()
                time.sleep(0.01)
            if window.idle:
                return
        time.sleep(0.005)
    raise TimeoutError("the window did not become idle")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


TINY_MODEL = Path(tempfile.gettempdir()) / "cladmop-bench-tiny-model"
TINY_OVERRIDES = dict(d_model=32, n_heads=4, enrich_layers=1, group_sizes=(16, 8, 4), group_self_layers=1,
                      head_hidden=32, proj_dim=16)


def choose_model(requested: Path | None) -> tuple[Path, str]:
    """(model folder, how it was chosen): --model, the shipped default, else a tiny one built in /tmp."""
    from engine.predict import default_model_dir

    if requested:
        return requested, "--model"
    if (default_model_dir() / "model.json").is_file():
        return default_model_dir(), "the shipped default model"
    if not (TINY_MODEL / "model.json").is_file() or "II" not in (TINY_MODEL / "model.json").read_text():
        import pandas as pd

        from engine.paths import shared_data_dir
        from engine.finetune_job import finetune_from_files
        from engine.training.pipeline import make_featurizer, run_pretraining

        print(f"(no shipped model yet: training a tiny model in {TINY_MODEL}, about a minute)", flush=True)
        top = shared_data_dir() / "top"
        rows = []
        for name in ("phase_I_train.csv", "phase_II_valid.csv"):
            df = pd.read_csv(top / name)
            path = Path(tempfile.mkdtemp(prefix="bench-rows-")) / name
            pd.concat([df[df.label == 1].head(20), df[df.label == 0].head(20)]).to_csv(path, index=False)
            rows.append(path)
        featurizer = make_featurizer("minilm", "criterion", "cpu")
        run_pretraining(rows, TINY_MODEL, epochs=1, batch_size=16, device="cpu", featurizer=featurizer,
                        model_overrides=TINY_OVERRIDES)
        for phase, path in zip(("I", "II"), rows):
            finetune_from_files(TINY_MODEL, phase, [path], featurizer, device="cpu", epochs=2, batch_size=16)
    return TINY_MODEL, "a TINY model trained in /tmp (the shipped default does not exist yet): latency and " \
                       "memory are NOT the real model's"


CHILD_FIRST_WINDOW = """
import os, sys, time
sys.path.insert(0, {root!r})
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
from desktop.main_window import MainWindow
w = MainWindow(workspace_path={workspace!r}, settings=QSettings({settings!r}, QSettings.Format.IniFormat),
               load_model=False)
w.show()
app.processEvents()
print("shown", flush=True)
os._exit(0)
"""

CHILD_MEMORY = """
import os, resource, sys, time
sys.path.insert(0, {root!r})
from functools import partial
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
from desktop.main_window import MainWindow
from desktop.prediction_service import default_loader
w = MainWindow(workspace_path={workspace!r}, settings=QSettings({settings!r}, QSettings.Format.IniFormat),
               model_loader=partial(default_loader, {model!r}, "cpu"))
w.show()
w.open_files([{record!r}])
deadline = time.monotonic() + 900
while time.monotonic() < deadline:
    app.processEvents()
    key = w.current_key
    if key and w.session.current_prediction(key, "original") is not None and w.idle:
        break
    time.sleep(0.01)
print("peak_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, w.predictions.model_name, flush=True)
os._exit(0)
"""


def run_child(code: str, tmp: Path, marker: str, timeout: float = 900) -> tuple[float, str]:
    """Wall time from spawning a fresh interpreter to the line starting with `marker`, and that line."""
    import subprocess

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CLADMOP_HOME=str(tmp / "child-home"))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        for line in proc.stdout:
            if line.startswith(marker):
                took = time.perf_counter() - start
                proc.wait(timeout)
                return took, line.strip()
        raise RuntimeError(f"child ended without '{marker}': {proc.stderr.read()[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()


def rich_record(model: Path) -> Path:
    """A record with a long criteria section whose phase the model has (so it is scored by default)."""
    from engine.model.checkpoint import ModelManifest
    from engine.records import read_record

    phases = set(ModelManifest.read(model).phases)
    for path in sorted(pick_records(120), key=lambda f: -f.stat().st_size):
        trial = read_record(path)[0]
        if trial.phases and trial.phases[-1] in phases and len(trial.drugs) and len(trial.active_criteria) >= 10:
            return path
    raise SystemExit(f"no record of phase {sorted(phases)} among the first 120 drug trials")


def pct(values, q) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def bench_cold_start(tmp: Path, repeat: int) -> None:
    times = []
    for i in range(repeat):
        code = CHILD_FIRST_WINDOW.format(root=str(Path(__file__).resolve().parents[1]),
                                         workspace=str(tmp / f"cold{i}.cladmop"), settings=str(tmp / f"cold{i}.ini"))
        times.append(run_child(code, tmp, "shown")[0])
    print(f"cold:     {statistics.median(times):7.2f} s   fresh process to the first window (median of {repeat}; "
          f"min {min(times):.2f} s, max {max(times):.2f} s)")


def bench_model(app, tmp: Path, model: Path, how: str, edits: int, trial_file: Path) -> None:
    from functools import partial

    from PySide6.QtCore import QSettings

    from desktop.main_window import MainWindow
    from desktop.prediction_service import default_loader

    print(f"model:    {model} — {how}")
    settings = QSettings(str(tmp / "model.ini"), QSettings.Format.IniFormat)
    start = time.perf_counter()
    window = MainWindow(workspace_path=tmp / "model.cladmop", settings=settings,
                        model_loader=partial(default_loader, str(model), "cpu"))
    window.show()
    while window.predictions.status in ("idle", "loading"):
        app.processEvents()
        time.sleep(0.005)
    if not window.predictions.ready:
        print(f"model:    could not load: {window.predictions.status_text}")
        return
    print(f"load:     {time.perf_counter() - start:7.2f} s   window + model ready "
          f"({window.predictions.model_name} on {window.predictions.device_name})")
    window.open_files([trial_file])
    wait_idle(app, window)
    key = window.current_key
    draft = window.session.entry(key).draft
    predictor = window.predictions.predictor
    n_items = len(draft.original.active_criteria)

    from desktop.prediction_service import has_ablation

    latencies, ablated = [], []
    debounce = window.predictions.DEBOUNCE_MS / 1000
    for i in range(edits):
        row = i % len(draft.criteria)
        start = time.perf_counter()
        draft.edit_text(row, f"{draft.criteria[row].text} (what-if {i})")
        deadline = time.monotonic() + 300
        while window.session.current_prediction(key, "edited") is None:
            if time.monotonic() > deadline or window.session.current_failure(key, "edited"):
                raise SystemExit(f"no what-if prediction: {window.session.current_failure(key, 'edited')}")
            app.processEvents()
            time.sleep(0.001)
        latencies.append(time.perf_counter() - start)
        while not has_ablation(window.session.current_prediction(key, "edited")):
            if time.monotonic() > deadline:
                raise SystemExit("no ablation of the what-if")
            app.processEvents()
            time.sleep(0.001)
        ablated.append(time.perf_counter() - start)
    wait_idle(app, window)
    shown = [x - debounce for x in latencies]
    full = [x - debounce for x in ablated]
    print(f"what-if:  {ms(pct(shown, 50))} p50, {ms(pct(shown, 95))} p95  edit → new probability on screen, after "
          f"the {debounce * 1000:.0f} ms debounce ({edits} edits of a {n_items}-criterion trial)")
    print(f"ablation: {ms(pct(full, 50))} p50, {ms(pct(full, 95))} p95  edit → its leave-one-out ablation on screen "
          f"(computed after the probability is shown)")

    crit = predictor.featurizer.criteria
    texts = crit.texts_of(draft.original.active_criteria)
    whole = []
    for _ in range(5):
        start = time.perf_counter()
        predictor.featurizer.encoder.encode(texts)
        whole.append(time.perf_counter() - start)
    print(f"encode:   {ms(statistics.median(whole))} median  re-encoding the whole criteria text with the bare "
          f"language model ({len(texts)} {crit.granularity} input(s), no cache)")

    prediction = window.session.current_prediction(key, "edited")
    trial = window.session.trial_for(key, "edited")
    draws = []
    for _ in range(10):
        window.attention_view.prediction = None  # force a full redraw
        start = time.perf_counter()
        window.attention_view.show_prediction(prediction, trial)
        app.processEvents()
        draws.append(time.perf_counter() - start)
    print(f"attention:{ms(statistics.median(draws))} median, {ms(max(draws))} max  drawing one prediction "
          f"(heatmaps, criteria, ablation bars) on the GUI thread")
    window.close()
    app.processEvents()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--switches", type=int, default=30)
    parser.add_argument("--model", type=Path, help="model folder for the what-if and memory figures")
    parser.add_argument("--edits", type=int, default=20, help="what-if edits to time")
    parser.add_argument("--repeat", type=int, default=3, help="cold starts to time")
    parser.add_argument("--skip-open", action="store_true", help="only the cold-start and model figures")
    args = parser.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    tmp = Path(tempfile.mkdtemp(prefix="bench-gui-"))
    os.environ["CLADMOP_HOME"] = str(tmp / "home")
    app = QApplication([])
    app.setStyle("Fusion")
    from desktop.main_window import MainWindow
    from engine.depict import molecule_svg
    from engine.workspace import Workspace

    root = Path(__file__).resolve().parents[1]
    bench_cold_start(tmp, args.repeat)
    model, how = choose_model(args.model)
    richest = rich_record(model)
    bench_model(app, tmp, model, how, args.edits, richest)
    code = CHILD_MEMORY.format(root=str(root), workspace=str(tmp / "mem.cladmop"), settings=str(tmp / "mem.ini"),
                               model=str(model), record=str(richest))
    took, line = run_child(code, tmp, "peak_mb")
    _, peak, *name = line.split(" ", 2)
    print(f"memory:   {float(peak):7.0f} MB peak resident (fresh process: window + {name[0] if name else 'model'} "
          f"+ one scored trial; {took:.1f} s to get there)")
    if args.skip_open:
        return

    files = pick_records(args.records)
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    start = time.perf_counter()
    window = MainWindow(workspace_path=tmp / "bench.cladmop", settings=settings, load_model=False)
    window.show()
    app.processEvents()
    print(f"window:   {ms(time.perf_counter() - start)}  (construct + show, empty workspace)")
    wait_idle(app, window)  # lookups prepared in the background

    meter = StallMeter()
    start = time.perf_counter()
    window.open_files(files)
    wait_idle(app, window)
    took = time.perf_counter() - start
    print(f"open:     {took:7.2f} s   for {len(window.session)} records ({len(window.session) / took:.0f}/s); "
          f"longest GUI stall {ms(meter.worst)}")

    keys = list(window.session.order)
    switch_times = []
    for key in keys[1:args.switches + 1]:
        start = time.perf_counter()
        window.trial_list.select_key(key)
        app.processEvents()
        switch_times.append(time.perf_counter() - start)
    print(f"switch:   {ms(statistics.median(switch_times))} median, {ms(max(switch_times))} max "
          f"(trial view + molecules + criteria)")

    key = max(keys, key=lambda k: len(window.session.entry(k).draft.criteria))
    window.trial_list.select_key(key)
    app.processEvents()
    draft = window.session.entry(key).draft
    edit_times = []
    for i in range(20):
        start = time.perf_counter()
        draft.edit_text(i % len(draft.criteria), f"edited criterion {i}")
        app.processEvents()
        edit_times.append(time.perf_counter() - start)
    print(f"edit:     {ms(statistics.median(edit_times))} median, {ms(max(edit_times))} max "
          f"({len(draft.criteria)} criteria in the edited trial)")

    start = time.perf_counter()
    items = window.session.to_score(window.phase_for)
    print(f"batch:    {ms(time.perf_counter() - start)}  collecting {len(items)} open trials for Score all / Export "
          f"(GUI thread; the scoring itself runs on a worker)")

    workspace = window.session.workspace
    save_times = []
    for i in range(20):
        draft.edit_text(0, f"autosave {i}")
        start = time.perf_counter()
        workspace.save_draft(key, draft)
        save_times.append(time.perf_counter() - start)
    print(f"autosave: {ms(statistics.median(save_times))} median, {ms(max(save_times))} max "
          f"(one draft, {len(keys)} trials in the file)")

    window.close()
    app.processEvents()
    size = (tmp / "bench.cladmop").stat().st_size
    start = time.perf_counter()
    again = MainWindow(workspace_path=tmp / "bench.cladmop", settings=settings, load_model=False)
    again.show()
    app.processEvents()
    print(f"restore:  {ms(time.perf_counter() - start)}  ({len(again.session)} trials, "
          f"{size / 1e6:.1f} MB workspace)")
    again.close()

    smiles = "CCCC1OC2CC3C4CCC5=CC(=O)C=CC5(C)C4C(O)CC3(C)C2(O1)C(=O)CO"
    times = []
    for _ in range(20):
        start = time.perf_counter()
        molecule_svg(smiles, {i: i / 30 for i in range(30)}, size=(172, 124))
        times.append(time.perf_counter() - start)
    print(f"depict:   {ms(statistics.median(times))} median (budesonide, 30 weighted atoms)")
    with Workspace.open(tmp / "bench.cladmop") as ws:
        assert len(ws.keys()) == len(keys)


if __name__ == "__main__":
    main()
