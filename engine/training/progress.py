"""One progress bar over the stages of a long job (encoding, the head-first stage, LoRA, the
evaluation): each stage reports its own done/total into its share of the whole, so the bar reaches
100% only when the job has ended, and the text names the stage ("stage 3 of 4 · LoRA: epoch 2/8")."""
from __future__ import annotations

from dataclasses import dataclass

from engine.tasks import TaskState

#: the whole job's progress is reported in these many units
SCALE = 1000


class StageState(TaskState):
    """The TaskState one stage works with: its progress maps into [start, end) of `parent`'s bar;
    it is cancelled with `parent` (the same event). `done`/`total` keep the stage's own count."""

    def __init__(self, parent: TaskState, start: float, end: float, label: str):
        super().__init__()
        self._cancel = parent._cancel
        self.parent, self.start, self.end, self.label = parent, start, end, label
        self._units = int(start * SCALE)  # the bar never goes back (a stage may count twice, e.g. encoding)

    def progress(self, done: int, total: int, text: str = "") -> None:
        self.done, self.total, self.text = done, total, text
        share = min(done / total, 1.0) if total else 0.0
        self._units = max(self._units, int((self.start + (self.end - self.start) * share) * SCALE))
        self.parent.progress(min(self._units, SCALE - 1), SCALE, f"{self.label} · {text}" if text else self.label)


@dataclass
class Stage:
    key: str
    label: str
    weight: float  # expected work, in any unit shared by the stages of one plan


class StagePlan:
    """The stages of one job, in order; `state(key)` is the TaskState a stage reports through."""

    def __init__(self, parent: TaskState, stages: list[Stage]):
        self.parent = parent
        self.stages = [s for s in stages if s.weight > 0]
        whole, start, self._states = sum(s.weight for s in self.stages) or 1.0, 0.0, {}
        for i, stage in enumerate(self.stages):
            end = start + stage.weight / whole
            label = f"stage {i + 1} of {len(self.stages)} · {stage.label}"
            self._states[stage.key] = StageState(parent, start, end, label)
            start = end

    def state(self, key: str) -> TaskState:
        """The stage's state (a stage that is not in the plan reports nothing, but can be cancelled)."""
        quiet = TaskState()
        quiet._cancel = self.parent._cancel
        return self._states.get(key, quiet)

    def finish(self, text: str) -> None:
        self.parent.progress(SCALE, SCALE, text)
