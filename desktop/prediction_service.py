"""The one way predictions reach the GUI: load the model in the background, debounce requests,
run the predictor on one worker thread, cache results (memory + workspace), drop stale ones.

Views call `request(key, role, trial, phase=...)` as often as they like (every keystroke is fine); after
`DEBOUNCE_MS` of quiet the latest trial of each (key, role) is predicted, the trial in focus first.

Two stages, so a what-if answers fast: first the probability and attention alone (one forward pass),
shown at once; then, for the trial in focus only, the leave-one-out ablation (one forward per item,
several times longer), which replaces it when done. An ablation that a newer edit made stale is
cancelled between model chunks. `engine.prediction.has_ablation(prediction)` tells the two apart.
Results come back as `predictionReady(key, role, prediction, trial_hash)` where `trial_hash` is the
content hash of the trial as requested (the predictor resolves lookups first, so
`prediction.trial_hash` may differ). A result whose trial was edited meanwhile is still cached (undo
brings it back instantly) and still emitted: the receiver compares `trial_hash` with what it shows.

The GUI always names the phase model (`phase=`; `choose_phase` gives the default), so the predictor
never has to guess, and the cache is keyed by (trial content, model identity, phase). The model
identity is the model's name plus a digest of its files' checksums: a model fine-tuned again under
the same name never serves its predecessor's cached numbers.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal

from engine.errors import CHOOSE_PHASE, CladmopError, worded
from engine.prediction import has_ablation
from engine.records.trial import Trial
from desktop.workers import TaskRunner

#: what the analyst can do about an engine error or note, in the window's words (engine/errors.py)
WORDS = {CHOOSE_PHASE: "choose a phase model in the Prediction panel"}


class ModelUnavailable(CladmopError):
    """No prediction engine or model is installed; the GUI works without predictions."""


def default_loader(model_dir=None, device: str = "auto", lookups=None):
    """`engine.predict.Predictor.load()`: the shipped model (or `model_dir`) on the best device; with the
    session's `lookups` (engine.studio.Lookups) the drug and disease tables are built once, not twice."""
    try:
        from engine.predict import Predictor
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("engine.predict"):
            raise ModelUnavailable("the prediction engine is not installed") from exc
        raise
    return Predictor.load(model_dir, device=device, resolver=lookups.resolver() if lookups is not None else None)


class PredictionService(QObject):
    modelStatusChanged = Signal(str)  # "loading" | "ready" | "unavailable" | "failed"
    predictionReady = Signal(str, str, object, str)  # key, role, Prediction, requested trial hash
    predictionFailed = Signal(str, str, str, str)  # key, role, message, requested trial hash
    busyChanged = Signal(bool)

    DEBOUNCE_MS = 400
    MEMORY_CACHE = 512
    #: trials (the record + its one-item-removed copies) per forward pass of an ablation: a stale
    #: ablation stops at the next chunk boundary
    ABLATION_CHUNK = 16

    def __init__(self, workspace_getter: Callable[[], Any] | None = None,
                 loader: Callable[..., Any] = default_loader, parent: QObject | None = None):
        super().__init__(parent)
        self.runner = TaskRunner(max_threads=1, parent=self)
        self._workspace = workspace_getter or (lambda: None)
        self._loader = loader
        self.predictor = None
        self.status = "idle"
        self.status_text = "model not loaded"
        self.error = ""
        self.focus_key: str | None = None
        self._waiting: dict[tuple[str, str], tuple[Trial, str | None]] = {}
        self._queue: "OrderedDict[tuple[str, str], tuple[Trial, str | None]]" = OrderedDict()
        #: (key, role) → (trial, phase) whose fast prediction is shown and whose ablation is wanted
        self._ablation_queue: "OrderedDict[tuple[str, str], tuple[Trial, str | None]]" = OrderedDict()
        self._inflight: tuple[str, str] | None = None
        self._inflight_task = None
        self._inflight_ablation = False
        self._memory: "OrderedDict[tuple[str, str], Any]" = OrderedDict()
        self._busy = False
        self._generation = 0
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.timeout.connect(self._flush_waiting)

    # -- model -------------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return getattr(self.predictor, "model_name", "") if self.predictor else ""

    @property
    def device_name(self) -> str:
        return getattr(self.predictor, "device_name", "") if self.predictor else ""

    @property
    def model_key(self) -> str:
        """The cache identity of the loaded model: its name, plus a digest of its files when known."""
        manifest = getattr(self.predictor, "manifest", None)
        checksums = getattr(manifest, "checksums", None)
        if not checksums:
            return self.model_name
        digest = hashlib.sha256(repr(sorted(checksums.items())).encode()).hexdigest()[:8]
        return f"{self.model_name} #{digest}"

    @property
    def phases(self) -> list[str]:
        """The phase models of the loaded model (empty when none is loaded)."""
        return list(getattr(self.predictor, "phases", []) or []) if self.predictor else []

    def choose_phase(self, trial: Trial, override: str | None = None) -> tuple[str | None, str]:
        """(phase model to use, a note for the analyst) — `override` if given, else the predictor's own
        rule (engine.predict.Predictor.choose_phase: a mixed-phase record, the later phase), worded for
        the window. (None, why) when no model fits; (None, "") for a trial the model cannot score at
        all (the prediction then fails with the reason)."""
        from engine.records.scorable import scorable_problem

        if scorable_problem(trial):
            return None, ""  # no phase helps: the predictor refuses it with the reason
        if override:
            return override, ""
        if self.predictor is None:  # the model is still loading: the record's (later) phase, checked once it is in
            return (trial.phases[-1] if trial.phases else None), ""
        try:
            phase, notes = self.predictor.choose_phase(trial)
        except CladmopError as exc:
            return None, worded(exc, WORDS)
        return phase, "; ".join(worded(n, WORDS) for n in notes)

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    def load_model(self) -> None:
        """Load the model on a worker thread (no-op while loading or when loaded)."""
        if self.status in ("loading", "ready"):
            return
        self._set_status("loading", "loading model…")
        self.runner.start(self._load, self._labelled_trials(), name="Loading model", pass_state=False,
                          on_result=self._model_loaded, on_error=self._model_failed)
        self._update_busy()

    def _load(self, own_trials: list[Trial]):
        """(worker thread) The model, with the analyst's labelled trials joining its similar-trial search."""
        predictor = self._loader()
        if own_trials and getattr(predictor, "evidence", None) is not None:
            predictor.use_own_trials(own_trials)
        return predictor

    def _labelled_trials(self) -> list[Trial]:
        """The workspace's records that carry an outcome label (read on the GUI thread, which owns it)."""
        workspace = self._workspace()
        if workspace is None:
            return []
        return [t.record for t in workspace.load_trials() if t.record.label in (0, 1)]

    def use_predictor(self, predictor) -> None:
        """Adopt an already loaded predictor (model manager, tests)."""
        self._model_loaded(predictor)

    def _model_loaded(self, predictor) -> None:
        self.predictor = predictor
        self._generation += 1  # a prediction still running for the previous model is dropped
        self._memory.clear()
        self._waiting.clear()  # requested for the previous model: callers re-request on "ready"
        self._queue.clear()
        self._ablation_queue.clear()
        self._set_status("ready", f"{self.model_name or 'model'} on {self.device_name or 'cpu'}")
        self._pump()

    def _model_failed(self, exc: BaseException) -> None:
        from engine.errors import ModelError

        self.predictor = None
        self.error = str(exc)
        if isinstance(exc, (ModelUnavailable, ModelError, ImportError)):
            self._set_status("unavailable", f"no model ({exc})")
        else:
            self._set_status("failed", f"model failed to load: {exc}")
        self._waiting.clear()
        self._queue.clear()
        self._ablation_queue.clear()
        self._update_busy()

    def _set_status(self, status: str, text: str) -> None:
        self.status, self.status_text = status, text
        self.modelStatusChanged.emit(status)

    # -- requests ----------------------------------------------------------------------------
    def request(self, key: str, role: str, trial: Trial, immediate: bool = False, phase: str | None = None) -> None:
        """Ask for a prediction of `trial` (a snapshot the caller will not mutate) with the `phase`
        model (None: the predictor's own choice). Ignored unless the model is loading or loaded:
        callers re-request everything when it becomes ready."""
        if self.status not in ("loading", "ready"):
            return
        cached = self.cached(trial, phase)
        if cached is not None:
            self._waiting.pop((key, role), None)
            self._queue.pop((key, role), None)
            self._ablation_queue.pop((key, role), None)
            if not has_ablation(cached) and self.wants_ablation(key, role):
                self._ablation_queue[(key, role)] = (trial, phase)  # queued first: the views say "computing"
            self.predictionReady.emit(key, role, cached, trial.content_hash())
            self._pump()
            return
        self._ablation_queue.pop((key, role), None)  # the trial changed: its old ablation is not wanted
        self._drop_stale_ablation(key, role)
        if immediate:
            self._waiting.pop((key, role), None)
            self._queue[(key, role)] = (trial, phase)
            self._pump()
        else:
            self._waiting[(key, role)] = (trial, phase)
            self._debounce.start(self.DEBOUNCE_MS)
        self._update_busy()

    def cached(self, trial: Trial, phase: str | None = None):
        """A cached prediction of exactly this trial content with the loaded model (and `phase`
        model, when given), or None."""
        if not self.ready:
            return None
        trial_hash, model = trial.content_hash(), self.model_key
        prediction = self._memory.get((trial_hash, model, phase))
        if prediction is None:
            workspace = self._workspace()
            if workspace is not None and not workspace.closed:
                prediction = workspace.prediction(trial_hash, model, phase)
                if prediction is not None:
                    self._remember(prediction, trial_hash, phase)
        return prediction

    def adopt(self, key: str, role: str, prediction, trial: Trial, phase: str | None = None) -> None:
        """Take a prediction made elsewhere with the loaded model (batch scoring): cache, store, emit."""
        trial_hash = trial.content_hash()
        prediction = self._as_cached(prediction)
        self._remember(prediction, trial_hash, phase)
        self._store(prediction, key, trial_hash)
        self.predictionReady.emit(key, role, prediction, trial_hash)

    def withdraw(self, key: str, role: str) -> None:
        """Drop a pending request that is no longer wanted (an edit was undone before it ran)."""
        self._waiting.pop((key, role), None)
        self._queue.pop((key, role), None)
        self._ablation_queue.pop((key, role), None)
        self._drop_stale_ablation(key, role)
        self._update_busy()

    def wants_ablation(self, key: str, role: str) -> bool:
        """Ablations are computed for what the analyst looks at: the trial in focus, as recorded and
        as edited (scenarios show probabilities only; other trials get theirs when focused or exported)."""
        return key == self.focus_key and not role.startswith("scenario:")

    def ablation_pending(self, key: str, role: str) -> bool:
        """True while the ablation of (key, role) is queued or running."""
        return (key, role) in self._ablation_queue or (self._inflight == (key, role) and self._inflight_ablation)

    def _drop_stale_ablation(self, key: str, role: str) -> None:
        """Cancel a running ablation of (key, role): its trial was edited again or withdrawn."""
        if self._inflight == (key, role) and self._inflight_ablation and self._inflight_task is not None:
            self._inflight_task.cancel()

    def set_focus(self, key: str | None) -> None:
        """The trial in view: ablations of other trials are dropped (a running one is cancelled)."""
        self.focus_key = key
        for k in [k for k in self._ablation_queue if k[0] != key]:
            del self._ablation_queue[k]
        if self._inflight_ablation and self._inflight is not None and self._inflight[0] != key \
                and self._inflight_task is not None:
            self._inflight_task.cancel()
        self._update_busy()

    def forget(self, key: str) -> None:
        """Drop pending requests of a trial that was closed."""
        for store in (self._waiting, self._queue, self._ablation_queue):
            for k in [k for k in store if k[0] == key]:
                del store[k]
        self._update_busy()

    def drop_background(self) -> None:
        """Forget queued requests of trials out of view (a batch scores them instead: one worker
        fewer competing with it and with the window)."""
        for store in (self._waiting, self._queue, self._ablation_queue):
            for k in [k for k in store if k[0] != self.focus_key]:
                del store[k]
        self._update_busy()

    def cancel_all(self) -> None:
        self._waiting.clear()
        self._queue.clear()
        self._ablation_queue.clear()
        self.runner.cancel_all()
        self._update_busy()

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def pending(self) -> int:
        return len(self._waiting) + len(self._queue) + len(self._ablation_queue) + (1 if self._inflight else 0)

    # -- the queue ---------------------------------------------------------------------------
    def _flush_waiting(self) -> None:
        for k, item in self._waiting.items():
            self._queue.pop(k, None)
            self._queue[k] = item
        self._waiting.clear()
        self._pump()

    def _next(self):
        """(ablate?, (key, role), (trial, phase)): fast predictions of the trial in focus, then its
        ablations, then fast predictions of the others, oldest first."""
        for k in self._queue:
            if k[0] == self.focus_key:
                return False, k, self._queue.pop(k)
        for k in self._ablation_queue:
            return True, k, self._ablation_queue.pop(k)
        if self._queue:
            return (False, *self._queue.popitem(last=False))
        return None

    def _pump(self) -> None:
        while self._inflight is None and self.ready:
            item = self._next()
            if item is None:
                break
            ablate, (key, role), (trial, phase) = item
            cached = self.cached(trial, phase)
            trial_hash = trial.content_hash()
            if cached is not None and (has_ablation(cached) or not ablate):
                if not has_ablation(cached) and self.wants_ablation(key, role):
                    self._ablation_queue[(key, role)] = (trial, phase)
                self.predictionReady.emit(key, role, cached, trial_hash)
                continue
            self._inflight, self._inflight_ablation = (key, role), ablate
            self._inflight_task = self.runner.start(
                self._predict, trial, phase, ablate, name=f"{'Ablation of' if ablate else 'Predicting'} {trial.nct_id}",
                on_result=lambda p, k=key, r=role, t=trial, ph=phase, g=self._generation, a=ablate:
                self._done(k, r, p, t, ph, g, a),
                on_error=lambda e, k=key, r=role, h=trial_hash: self._failed(k, r, e, h),
                on_cancel=lambda k=key, r=role, h=trial_hash: self._failed(k, r, None, h))
        self._update_busy()

    def _predict(self, trial: Trial, phase: str | None, ablate: bool = True, state=None):
        kwargs = {"ablate": ablate, "state": state}
        if phase is not None:
            kwargs["phase"] = phase
        if ablate and _accepts(self.predictor.predict, "chunk_size"):
            kwargs["chunk_size"] = self.ABLATION_CHUNK
        return self.predictor.predict(trial, **kwargs)

    def _done(self, key: str, role: str, prediction, trial: Trial, phase: str | None = None,
              generation: int | None = None, ablated: bool = False) -> None:
        self._inflight, self._inflight_task, self._inflight_ablation = None, None, False
        if generation is not None and generation != self._generation:
            self._pump()  # made by the model that was replaced meanwhile
            return
        trial_hash = trial.content_hash()
        prediction = self._as_cached(prediction)
        self._remember(prediction, trial_hash, phase)
        self._store(prediction, key, trial_hash)
        newer = (key, role) in self._waiting or (key, role) in self._queue
        if not ablated and not has_ablation(prediction) and not newer and self.wants_ablation(key, role):
            self._ablation_queue[(key, role)] = (trial, phase)  # queued first: the views say "computing"
        self.predictionReady.emit(key, role, prediction, trial_hash)
        self._pump()

    def _as_cached(self, prediction):
        """The prediction labelled with the model identity it is cached under."""
        model = self.model_key
        if model and getattr(prediction, "model_name", model) != model:
            prediction = dataclasses.replace(prediction, model_name=model)
        return prediction

    def _store(self, prediction, key: str, trial_hash: str) -> None:
        workspace = self._workspace()
        if workspace is not None and not workspace.closed:
            try:
                workspace.save_prediction(prediction, key=key, trial_hash=trial_hash)
            except Exception:  # noqa: BLE001 — a cache write failing must not lose the result
                pass

    def _failed(self, key: str, role: str, exc: BaseException | None, trial_hash: str) -> None:
        self._inflight, self._inflight_task, self._inflight_ablation = None, None, False
        if exc is not None:
            self.predictionFailed.emit(key, role, str(exc) or type(exc).__name__, trial_hash)
        self._pump()

    def _remember(self, prediction, trial_hash: str, phase: str | None = None) -> None:
        cache_key = (trial_hash, prediction.model_name, phase)
        self._memory[cache_key] = prediction
        self._memory.move_to_end(cache_key)
        while len(self._memory) > self.MEMORY_CACHE:
            self._memory.popitem(last=False)

    def _update_busy(self) -> None:
        busy = bool(self._waiting or self._queue or self._ablation_queue or self._inflight
                    or self.status == "loading")
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit(busy)


def _accepts(function, name: str) -> bool:
    """Whether `function` takes the keyword `name` (older predictors and test doubles may not)."""
    import inspect

    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
