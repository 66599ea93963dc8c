"""Worker threads (progress, cancel, failure) and the prediction service (debounce, focus, cache)."""
from __future__ import annotations

import threading
import time

import pytest

from engine.errors import CladmopError
from engine.workspace import Workspace
from desktop.prediction_service import PredictionService
from desktop.workers import TaskRunner
from tests.gui_helpers import ActiveCriteriaPredictor
from tests.builders import make_trial

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
    qtbot.waitUntil(lambda: len(order) == 5, timeout=5000)
    # the trial in view: its probability, then its ablation; then the others' probabilities (no ablation)
    assert order == ["T4", "T4", "T1", "T2", "T3"]
    qtbot.waitUntil(lambda: not svc.busy, timeout=5000)
    assert len(order) == 5 and len(predictor.ablation_calls) == 1


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


def test_the_probability_comes_first_then_the_ablation_and_a_stale_ablation_is_cancelled(qtbot, service):
    """What-if latency: the new probability must not wait for the ablation (one forward per item)."""
    from engine.prediction import has_ablation

    svc, predictor, _ = service
    predictor.ablation_delay_s = 1.5  # an ablation is several forward passes: slower than the probability
    svc.DEBOUNCE_MS = 50
    results = []
    svc.predictionReady.connect(lambda key, role, p, h: results.append((role, h, p)))
    svc.set_focus("T1")
    trial = make_trial()
    first = trial.replace(criteria=trial.criteria[:2])
    started = time.monotonic()
    svc.request("T1", "edited", first)
    qtbot.waitUntil(lambda: len(results) == 1, timeout=5000)
    assert time.monotonic() - started < 1.0  # did not wait for the 1.5 s ablation
    assert results[0][1] == first.content_hash() and not has_ablation(results[0][2])
    assert results[0][2].probability == ActiveCriteriaPredictor.score(first)
    qtbot.waitUntil(lambda: svc.ablation_pending("T1", "edited") and svc._inflight is not None, timeout=5000)
    assert svc.busy

    second = trial.replace(criteria=trial.criteria[:1])  # edited again while the ablation runs
    svc.request("T1", "edited", second)
    qtbot.waitUntil(lambda: len(results) >= 2, timeout=5000)
    assert results[1][1] == second.content_hash() and not has_ablation(results[1][2])
    assert time.monotonic() - started < 1.5 + 0.5  # the stale ablation was dropped, not waited for
    qtbot.waitUntil(lambda: not svc.busy, timeout=10000)
    assert predictor.cancelled_ablations == 1
    assert results[-1][1] == second.content_hash() and has_ablation(results[-1][2])
    assert [a.delta for a in results[-1][2].ablations] == \
        [ActiveCriteriaPredictor.score(second.replace(criteria=[])) - ActiveCriteriaPredictor.score(second)]
    # undo to the first version: its fast result is cached; the ablation is computed afresh
    svc.request("T1", "edited", first)
    assert results[-1][1] == first.content_hash() and svc.ablation_pending("T1", "edited")
    qtbot.waitUntil(lambda: not svc.busy, timeout=10000)
    assert has_ablation(results[-1][2]) and results[-1][1] == first.content_hash()
    # another trial in view: trials out of view are not ablated
    svc.set_focus("T2")
    svc.request("T1", "original", trial, immediate=True)
    qtbot.waitUntil(lambda: not svc.busy, timeout=5000)
    assert not has_ablation(results[-1][2]) and results[-1][0] == "original"


def test_labelled_records_of_the_workspace_join_the_similar_trial_search_when_the_model_loads(qtbot, tmp_path):
    """Read on the GUI thread, handed to the loading task: the model's evidence searches them too."""
    class IndexedPredictor(ActiveCriteriaPredictor):
        evidence = object()  # a model with a learning index

        def __init__(self):
            super().__init__()
            self.own: list = []

        def use_own_trials(self, trials):
            self.own = list(trials)
            return len(self.own)

    workspace = Workspace.open(tmp_path / "w.cladmop")
    workspace.add_trials([make_trial().replace(nct_id="NCT00000001", label=1),
                          make_trial().replace(nct_id="NCT00000002"),  # no outcome: not a precedent
                          make_trial().replace(nct_id="NCT00000003", label=0)])
    predictor = IndexedPredictor()
    svc = PredictionService(lambda: workspace, loader=lambda: predictor)
    with qtbot.waitSignal(svc.modelStatusChanged, check_params_cb=lambda s: s == "ready", timeout=5000):
        svc.load_model()
    assert [(t.nct_id, t.label) for t in predictor.own] == [("NCT00000001", 1), ("NCT00000003", 0)]
    svc.runner.wait(5000)
    workspace.close()


def test_before_a_model_is_in_the_phase_model_is_the_record_s(qtbot):
    """Opening records while the model loads: the phase is the record's (later) one, not an error."""
    svc = PredictionService(lambda: None, loader=ActiveCriteriaPredictor)  # not loaded yet
    trial = make_trial()
    assert svc.choose_phase(trial.replace(phases=("I", "II"))) == ("II", "")
    assert svc.choose_phase(trial.replace(phases=())) == (None, "")
    assert svc.choose_phase(trial.replace(phases=("I",)), override="III") == ("III", "")


def test_the_window_s_models_read_with_the_session_s_lookups(make_window, tiny_model):
    """One set of drug and disease tables per window: the model it loads resolves with the session's."""
    window = make_window()
    predictor = window.model_factory(tiny_model["model"], "cpu")
    assert predictor.resolver is not None and predictor.resolver is window.session.lookups.built()
