"""Worker threads (progress, cancel, failure) and the prediction service (debounce, focus, cache)."""
from __future__ import annotations

import threading
import time

import pytest

from engine.errors import CladmopError
from engine.records import load_records
from engine.workspace import Workspace
from desktop.loading import load_and_resolve
from desktop.prediction_service import PredictionService
from desktop.workers import TaskRunner
from tests.gui_helpers import ActiveCriteriaPredictor, real_xml_files
from tests.test_editing import make_trial

pytestmark = pytest.mark.gui


def test_task_runs_off_the_gui_thread_and_reports_progress(qtbot):
    runner = TaskRunner()
    seen = {}

    def work(n, state=None):
        seen["thread"] = threading.current_thread() is threading.main_thread()
        for i in range(n):
            state.progress(i + 1, n, f"step {i + 1}")
        return n * 2

    progress, results = [], []
    with qtbot.waitSignal(runner.busyChanged, check_params_cb=lambda busy: busy is False, timeout=5000):
        runner.start(work, 5, on_result=results.append, on_progress=lambda *a: progress.append(a))
    assert results == [10] and seen["thread"] is False
    assert progress[-1] == (5, 5, "step 5")  # the last step always arrives (intermediate ones are throttled)


def test_cancel_stops_work_at_the_next_check(qtbot):
    runner = TaskRunner()
    started = threading.Event()
    outcome = []

    def slow(state=None):
        started.set()
        for i in range(1000):
            time.sleep(0.005)
            state.progress(i, 1000)
        return "finished"

    runner.start(slow, on_result=outcome.append, on_cancel=lambda: outcome.append("cancelled"))
    assert started.wait(5)
    with qtbot.waitSignal(runner.busyChanged, timeout=5000):
        runner.cancel_all()
    assert outcome == ["cancelled"] and not runner.busy


def test_failures_arrive_as_exceptions_with_their_message(qtbot):
    runner = TaskRunner()
    errors = []

    def broken(state=None):
        raise CladmopError("model folder /x: manifest missing")

    with qtbot.waitSignal(runner.taskFailed, timeout=5000):
        runner.start(broken, on_error=errors.append)
    assert str(errors[0]) == "model folder /x: manifest missing"


def test_loading_reads_real_records_and_collects_problems(tmp_path):
    files = real_xml_files(2)
    bad = tmp_path / "broken.json"
    bad.write_text("{not json", encoding="utf-8")
    outcome = load_and_resolve([*files, bad])
    assert [t.nct_id for t in outcome.trials] == [t.nct_id for t in load_records(files).trials]
    assert outcome.errors and outcome.errors[0][0].endswith("broken.json")
    assert all(d.kind != "unknown" for t in outcome.trials for d in t.drugs)  # lookups ran


@pytest.fixture
def service(qtbot, tmp_path):
    workspace = Workspace.open(tmp_path / "w.cladmop")
    predictor = ActiveCriteriaPredictor(delay_s=0.05)
    svc = PredictionService(lambda: workspace, loader=lambda: predictor)
    svc.DEBOUNCE_MS = 150
    with qtbot.waitSignal(svc.modelStatusChanged, check_params_cb=lambda s: s == "ready", timeout=5000):
        svc.load_model()
    yield svc, predictor, workspace
    svc.cancel_all()
    svc.runner.wait(5000)
    workspace.close()


def collect(svc):
    results = []
    svc.predictionReady.connect(lambda key, role, p, h: results.append((key, role, p.probability, h)))
    return results


def test_rapid_requests_coalesce_into_one_prediction_of_the_latest_trial(qtbot, service):
    svc, predictor, _ = service
    results = collect(svc)
    trial = make_trial()
    for n in range(4, 0, -1):  # typing: four versions within the debounce window
        version = trial.replace(criteria=trial.criteria[:n])
        svc.request("T1", "edited", version)
    qtbot.waitUntil(lambda: not svc.busy, timeout=5000)
    assert len(predictor.calls) == 1
    assert results == [("T1", "edited", ActiveCriteriaPredictor.score(version), version.content_hash())]


def test_cached_results_return_at_once_and_survive_a_restart(qtbot, service, tmp_path):
    svc, predictor, workspace = service
    results = collect(svc)
    trial = make_trial()
    svc.request("T1", "original", trial, immediate=True)
    qtbot.waitUntil(lambda: len(results) == 1, timeout=5000)
    svc.request("T1", "original", trial.replace())  # equal content: answered from memory, synchronously
    assert len(results) == 2 and len(predictor.calls) == 1

    fresh = PredictionService(lambda: workspace, loader=lambda: ActiveCriteriaPredictor())
    fresh.use_predictor(ActiveCriteriaPredictor())
    fresh_results = collect(fresh)
    fresh.request("T1", "original", trial)  # answered from the workspace file
    assert fresh_results and fresh_results[0][2] == ActiveCriteriaPredictor.score(trial)
    assert fresh.predictor.calls == []


def test_the_trial_in_focus_is_predicted_first(qtbot, service):
    svc, predictor, _ = service
    order = []
    svc.predictionReady.connect(lambda key, role, p, h: order.append(key))
    base = make_trial()
    trials = {f"T{i}": base.replace(nct_id=f"NCT0000000{i}", criteria=base.criteria[:i]) for i in range(1, 5)}
    svc.focus_key = "T4"
    for key, trial in trials.items():
        svc._queue[(key, "original")] = (trial, None)  # queued together (trial, phase), as after opening a folder
    svc._pump()
    qtbot.waitUntil(lambda: len(order) == 4, timeout=5000)
    assert order[0] == "T4" and order[1:] == ["T1", "T2", "T3"]


def test_a_withdrawn_request_is_never_run(qtbot, service):
    svc, predictor, _ = service
    svc.request("T1", "edited", make_trial())
    svc.withdraw("T1", "edited")
    qtbot.wait(svc.DEBOUNCE_MS + 100)
    assert predictor.calls == [] and not svc.busy


def test_a_model_that_fails_to_load_is_reported_and_requests_are_ignored(qtbot, tmp_path):
    from engine.errors import ModelError

    def broken():
        raise ModelError("/models/default: manifest.json missing")

    svc = PredictionService(lambda: None, loader=broken)
    with qtbot.waitSignal(svc.modelStatusChanged, check_params_cb=lambda s: s == "unavailable", timeout=5000):
        svc.load_model()
    assert "manifest.json missing" in svc.status_text
    svc.request("T1", "original", make_trial())
    assert not svc.busy
