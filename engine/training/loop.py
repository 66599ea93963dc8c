"""One training loop for pre-training and fine-tuning: batches, early stopping, resumable checkpoints.

Each epoch ends with a validation; the best model is saved by the caller's `save_best` (atomically), and
the full training state (trainable weights, optimizer, epoch, history) is saved to `<out>/.resume/` so an
interrupted run — Ctrl-C, a crash, the GUI's cancel — resumes where it stopped and never damages the best
checkpoint.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from engine.atomic import atomic_directory
from engine.device import training_autocast
from engine.model.checkpoint import RESUME, RESUME_PROGRESS
from engine.training.config import FitConfig
from engine.errors import Cancelled
from engine.tasks import TaskState


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    score: float  # higher is better (e.g. -val_loss or validation PR-AUC)
    metrics: dict = field(default_factory=dict)


@dataclass
class FitResult:
    history: list[EpochRecord]
    best_epoch: int
    best_score: float
    stopped: str  # "converged" | "patience" | "epochs" | "cancelled"
    start: EpochRecord | None = None  # the validation of what training started from (best_epoch 0)
    cancelled_in: str = ""  # "head": cancelled in a stage before this loop (e.g. the head-first one)

    @property
    def best_text(self) -> str:
        """The best epoch in words (epoch 0 is the state training started from, e.g. the head-first stage)."""
        return "the head-only start (epoch 0)" if self.best_epoch == 0 else f"epoch {self.best_epoch}"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def batches(n: int, batch_size: int, rng: np.random.Generator | None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k in names}


def fit(model: torch.nn.Module, optimizer: torch.optim.Optimizer, n_train: int,
        train_loss: Callable[[np.ndarray], torch.Tensor],
        validate: Callable[[], EpochRecord],
        save_best: Callable[[EpochRecord], None],
        config: FitConfig, out_dir: Path, state: TaskState | None = None,
        on_epoch: Callable[[EpochRecord], None] | None = None, resume: bool = True,
        start_best: EpochRecord | None = None) -> FitResult:
    """Train until `patience` epochs pass without a better validation score.

    `train_loss(indices)` returns the loss of one batch; `validate()` returns an EpochRecord with
    val_loss, score and metrics filled (epoch/train_loss are set here). `start_best`: the already saved
    state to beat (best epoch 0: e.g. a head trained before this loop), so training can only improve on it;
    it is not an epoch of the history.
    """
    state = state or TaskState()
    out_dir = Path(out_dir)
    resume_dir = out_dir / RESUME
    history: list[EpochRecord] = []
    best_score, best_epoch = (start_best.score, 0) if start_best else (-math.inf, -1)
    start_epoch = 0
    if resume and (resume_dir / RESUME_PROGRESS).is_file():
        start_epoch, best_score, best_epoch, history = _load_resume(model, optimizer, resume_dir)
    start_epoch, best_score, best_epoch, history = _same_start(model, optimizer, start_epoch, best_score,
                                                               best_epoch, history)
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed + start_epoch)
    stopped = "epochs"
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    try:
        for epoch in range(start_epoch, config.epochs):
            model.train()
            losses = []
            for step, idx in enumerate(batches(n_train, config.batch_size, rng)):
                state.check()
                losses.append(_step(model, optimizer, train_loss, idx, config, epoch))
                state.progress(epoch * steps_per_epoch + step + 1, total_steps,
                               f"epoch {epoch + 1}/{config.epochs} loss {np.mean(losses):.4f}")
            model.eval()
            with torch.no_grad():
                record = validate()
            record.epoch, record.train_loss = epoch + 1, float(np.mean(losses)) if losses else float("nan")
            history.append(record)
            if record.score > best_score:
                best_score, best_epoch = record.score, record.epoch
                save_best(record)
            _save_resume(model, optimizer, resume_dir, epoch + 1, best_score, best_epoch, history)
            if on_epoch:
                on_epoch(record)
            if record.epoch - best_epoch >= config.patience:
                stopped = "patience"
                break
    except (KeyboardInterrupt, Cancelled):
        stopped = "cancelled"
    return FitResult(history=history, best_epoch=best_epoch, best_score=best_score, stopped=stopped)


def _step(model, optimizer, train_loss, idx: np.ndarray, config: FitConfig, epoch: int) -> float:
    """One optimizer step on the batch `idx`; the batch's mean loss. Data-parallel under a launcher: each
    process takes its slice, weighted by its share of the batch, and the gradients are summed across
    processes, which makes the step that of the whole batch (engine/distributed.py)."""
    from engine import distributed

    params = [p for g in optimizer.param_groups for p in g["params"]]
    mine = distributed.shard(idx)
    optimizer.zero_grad(set_to_none=True)
    with training_autocast(params[0].device):
        loss = train_loss(np.asarray(mine)) * (len(mine) / len(idx)) if mine else sum(p.sum() * 0 for p in params)
    loss = loss.float()
    (total,) = distributed.sum_across([float(loss.detach())])
    if not math.isfinite(total):
        raise FloatingPointError(f"training loss became {total} at epoch {epoch + 1}; lower the learning rate")
    loss.backward()
    distributed.sum_gradients(params)
    if config.grad_clip:
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
    optimizer.step()
    return total


def _same_start(model, optimizer, *progress):
    """Every process starts from rank 0's weights, optimizer state and progress (its checkpoint, which a
    run with any number of processes wrote); one process: `progress` as it is."""
    from engine import distributed

    if not distributed.workers().parallel:
        return progress
    weights, opt_state, progress = distributed.from_writer(
        (_trainable_state(model), optimizer.state_dict(), progress))
    model.load_state_dict(weights, strict=False)
    optimizer.load_state_dict(opt_state)
    return progress


def _save_resume(model, optimizer, folder: Path, epoch, best_score, best_epoch, history) -> None:
    from safetensors.torch import save_file

    with atomic_directory(folder) as tmp:
        save_file(_trainable_state(model), str(tmp / "trainable.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / RESUME_PROGRESS).write_text(json.dumps({
            "epoch": epoch, "best_score": best_score, "best_epoch": best_epoch,
            "history": [asdict(h) for h in history]}))


def _load_resume(model, optimizer, folder: Path):
    from safetensors.torch import load_file

    progress = json.loads((folder / RESUME_PROGRESS).read_text())
    model.load_state_dict(load_file(str(folder / "trainable.safetensors")), strict=False)
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    history = [EpochRecord(**h) for h in progress["history"]]
    return progress["epoch"], progress["best_score"], progress["best_epoch"], history


def save_start_checkpoint(model, optimizer, out_dir: Path, start: EpochRecord) -> None:
    """A checkpoint before epoch 1 (after a head-first stage, say): a run cancelled in epoch 1 then
    resumes from it, as from any later epoch, instead of redoing that stage."""
    _save_resume(model, optimizer, Path(out_dir) / RESUME, 0, start.score, 0, [])


def clear_resume(out_dir: Path) -> None:
    import shutil

    shutil.rmtree(Path(out_dir) / RESUME, ignore_errors=True)
