"""Responsiveness of the desktop application: what the GUI thread pays per interaction, and how long
opening records and restoring a workspace take.

    QT_QPA_PLATFORM=offscreen installer/dev.sh python benchmarks/bench_gui.py [--records 200]

Prints, with real ClinicalTrials.gov XML records from the shared data folder:
- open: `open_files` of N records until the window is idle (worker thread: read + lookups), and
  the longest GUI-thread stall seen meanwhile (a 10 ms timer measures its own lateness);
- switch: selecting another trial (trial view with molecule drawings, criteria table), median/max;
- edit: one criterion edit through the command stack → table, diff tab, list, prediction request;
- autosave: one draft written to a workspace holding N trials (one SQLite transaction);
- restore: opening that workspace in a new window (N trials, drafts, scenarios);
- depict: one RDKit molecule SVG.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--switches", type=int, default=30)
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
