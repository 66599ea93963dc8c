"""Phase-specific fine-tuning: LoRA (rank 8) on the DM branch's attention + the residual MLP head,
class-weighted BCE, early stopping on validation (docs/model.md, "Fine-tuning"), temperature scaling afterwards.

In two stages by default (LP-FT, Kumar et al. 2022; `head_epochs=0` skips the first): the head learns
alone on the frozen branch's features, computed once (seconds), then LoRA and head learn together from
there. With a thousand or so trials a randomly initialised head trained jointly with LoRA distorts the
branch before it has learnt anything; the head-first start is what cross-validation kept (MODEL_CARD.md)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.atomic import atomic_directory
from engine import distributed
from engine.device import resolve_device
from engine.features.types import TrialFeatures
from engine.model.batch import collate
from engine.model.checkpoint import (ADAPTERS, ModelManifest, PhaseInfo, commit_staged_adapter, copy_model,
                                     load_base, resume_progress, staged_folder, training_folder)
from engine.model.calibration import apply_calibration, fit_calibration
from engine.model.cladmop import classify, head_input, lora_target_modules, set_branch_dropout
from engine.errors import Cancelled, InputError
from engine.tasks import TaskState
from engine.training.loop import EpochRecord, FitResult, batches, clear_resume, fit, save_start_checkpoint
from engine.training.config import MONITORS, RANK_MONITORS, FinetuneConfig
from engine.training.metrics import point_metrics





def validation_loss(logits: np.ndarray, labels: np.ndarray, monitor: str) -> float:
    """The validation loss of `monitor`: BCE after the served calibration for `calibrated_loss`, plain BCE
    for any other (a rank monitor's epochs still report the plain loss)."""
    z = np.asarray(logits)
    if monitor == "calibrated_loss":
        z = z.astype(np.float64)
        temperature, bias = fit_calibration(z, labels)
        z = z / temperature + bias
    y = np.asarray(labels, dtype=z.dtype)
    return float(F.binary_cross_entropy_with_logits(torch.from_numpy(z), torch.from_numpy(y)))


def attach_lora(model: torch.nn.Module, config: FinetuneConfig, adapter_name: str = "default"):
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=lora_target_modules(model), modules_to_save=["head"])
    return get_peft_model(model, lora, adapter_name=adapter_name)


def predict_logits(model, features: list[TrialFeatures], device, batch_size: int = 64) -> np.ndarray:
    out = []
    with torch.no_grad():
        for idx in batches(len(features), batch_size, None):
            logits, _ = classify(model, collate([features[i] for i in idx]).to(device))
            out.append(logits.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def branch_head_inputs(model, features: list[TrialFeatures], device, batch_size: int = 64) -> torch.Tensor:
    """(n, text_dim + d_model) head inputs concat(f_c, f_dm) of `model`'s branch (plain or LoRA-wrapped),
    computed once: what the head-first stage learns from and benchmarks/frozen_inputs.py reads."""
    with torch.no_grad():
        return torch.cat([head_input(model(collate([features[i] for i in idx]).to(device)))
                          for idx in batches(len(features), batch_size, None)])


def adapter_logits(folder: Path, phase: str, features: list[TrialFeatures], device="cpu") -> np.ndarray:
    """Uncalibrated logits of the `phase` adapter in model `folder` (merged, as served) for `features`."""
    from engine.model.adapters import merged_model

    base, _ = load_base(folder)
    dev = resolve_device(device)
    distributed.start(dev)  # under a launcher: data-parallel (engine/training/loop.py)
    return predict_logits(merged_model(base, Path(folder) / ADAPTERS / phase).to(dev), features, dev)


def share_adapter(folder: Path, source: str, phase: str, logits: np.ndarray, labels, base_rate: float,
                  trained_on: str) -> None:
    """Serve `phase` with `source`'s adapter (pooled fine-tuning), calibrated on that phase's own
    validation `logits`/`labels`, so probabilities keep each phase's base rate."""
    folder = Path(folder)
    y = np.asarray(labels, dtype=np.float64)
    staged = staged_folder(folder, phase)
    if phase != source:
        with atomic_directory(staged) as tmp:
            shutil.copytree(folder / ADAPTERS / source, tmp, dirs_exist_ok=True)
    temperature, bias = fit_calibration(logits, y)
    probs = apply_calibration(logits, temperature, bias)
    manifest = ModelManifest.read(folder)
    shared = manifest.phases[source].metrics
    manifest.phases[phase] = PhaseInfo(
        base_rate=float(base_rate), temperature=temperature, bias=bias, trained_on=trained_on,
        metrics={"validation": point_metrics(y, probs), "best_epoch": shared.get("best_epoch"),
                 "n_valid": int(len(y)), "adapter": f"shared with the pooled fine-tuning ({source})"})
    if phase != source:
        commit_staged_adapter(folder, phase, manifest)
    else:
        manifest.write(folder)


def member_loss(logits: torch.Tensor, labels: torch.Tensor, pos_weight) -> torch.Tensor:
    """Class-weighted BCE of every head member on its own (members learn independently)."""
    return F.binary_cross_entropy_with_logits(logits, labels[:, None].expand_as(logits), pos_weight=pos_weight)


def _train_head_on_frozen_branch(model, train, y_train, valid, y_valid, config: FinetuneConfig, dev,
                                 pos_weight, state: TaskState) -> float:
    """Stage 1: the head alone, on the branch's features computed once; keeps the epoch of lowest
    validation loss (`validation_loss` of config.monitor; the plain loss for a rank monitor) and returns
    that epoch's training loss."""
    base = model.get_base_model()
    model.eval()
    state.progress(0, config.head_epochs, "the branch's outputs, computed once")  # a forward pass: tens of seconds
    x_train, x_valid = branch_head_inputs(model, train, dev), branch_head_inputs(model, valid, dev)
    yt = torch.from_numpy(y_train).to(dev)
    params = [p for p in base.head.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.head_lr, weight_decay=config.head_weight_decay)
    rng = np.random.default_rng(config.fit.seed)
    best_loss, best_state, best_train = float("inf"), None, float("nan")
    for epoch in range(config.head_epochs):
        state.check()
        base.head.train()
        losses = []
        for idx in batches(len(x_train), config.fit.batch_size, rng):
            opt.zero_grad(set_to_none=True)
            loss = member_loss(base.head(x_train[idx], members=True), yt[idx], pos_weight)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        base.head.eval()
        with torch.no_grad():
            loss = validation_loss(base.head(x_valid).float().cpu().numpy(), y_valid, config.monitor)
        if loss < best_loss:
            best_loss, best_state, best_train = loss, [p.detach().clone() for p in params], float(np.mean(losses))
        state.progress(epoch + 1, config.head_epochs, f"head on the frozen branch: epoch {epoch + 1}/"
                       f"{config.head_epochs}, validation loss {loss:.4f}")
    with torch.no_grad():
        for p, best in zip(params, best_state or []):
            p.copy_(best)
    return best_train


def finetune(base_dir: Path, phase: str, train: list[TrialFeatures], train_labels,
             valid: list[TrialFeatures], valid_labels, out_dir: Path | None = None,
             config: FinetuneConfig | None = None, device: str = "auto", state: TaskState | None = None,
             on_epoch=None, trained_on: str = "", head_state: TaskState | None = None) -> FitResult:
    """Fine-tune the model folder `base_dir` for `phase`; the adapter lands in
    `<out_dir>/adapters/<phase>/` (out_dir defaults to base_dir) and model.json records the phase.
    `head_state`: what the head-first stage reports through (default: `state`)."""
    config = config or FinetuneConfig()
    if config.monitor not in MONITORS:
        raise ValueError(f"early stopping monitor must be one of {', '.join(MONITORS)}, not {config.monitor!r}")
    y_train = np.asarray(train_labels, dtype=np.float32)
    y_valid = np.asarray(valid_labels, dtype=np.float32)
    for name, y in (("training", y_train), ("validation", y_valid)):
        if len(y) == 0 or y.min() == y.max():
            raise InputError(f"the {name} set needs trials of both outcomes (has {int(y.sum())} successes "
                             f"of {len(y)})")
    base_dir = Path(base_dir)
    out_dir = Path(out_dir or base_dir)
    if out_dir.resolve() != base_dir.resolve():
        copy_model(base_dir, out_dir)
    dev = resolve_device(device)
    torch.manual_seed(config.fit.seed)
    base, _ = load_base(out_dir)
    set_branch_dropout(base, config.branch_dropout)
    model = attach_lora(base, config).to(dev)
    for p in model.parameters():  # only LoRA matrices and the head learn
        p.requires_grad = False
    lora_params = [p for n, p in model.named_parameters() if "lora_" in n]
    head_params = [p for n, p in model.named_parameters() if "modules_to_save" in n]
    for p in lora_params + head_params:
        p.requires_grad = True
    opt = torch.optim.Adam([{"params": lora_params, "lr": config.lora_lr(phase)},
                            {"params": head_params, "lr": config.lr_head}], weight_decay=config.fit.weight_decay)
    pos_weight = torch.tensor((1 - y_train.mean()) / y_train.mean(), device=dev)
    work_dir = training_folder(out_dir, phase)

    def train_loss(idx):
        logits, _ = classify(model, collate([train[i] for i in idx]).to(dev), members=True)
        return member_loss(logits, torch.from_numpy(y_train[idx]).to(dev), pos_weight)

    def validate():
        logits = predict_logits(model, valid, dev)
        loss = validation_loss(logits, y_valid, config.monitor)
        m = point_metrics(y_valid, 1 / (1 + np.exp(-logits)))
        rec = EpochRecord(0, 0.0, loss, float(m[config.monitor] if config.monitor in RANK_MONITORS else -loss), m)
        rec._logits = logits  # kept for temperature scaling of the best epoch
        return rec

    def save_best(record):
        """Adapter and model.json together (see engine/model/checkpoint.py): staged adapter, model.json,
        swap; so the folder is a complete model after every best epoch, and after a crash at any point."""
        staged = staged_folder(out_dir, phase)
        with atomic_directory(staged) as tmp:
            model.save_pretrained(str(tmp))
        manifest = ModelManifest.read(out_dir)
        temperature, bias = fit_calibration(record._logits, y_valid)
        manifest.phases[phase] = PhaseInfo(
            base_rate=float(y_train.mean()), temperature=temperature, bias=bias, trained_on=trained_on,
            metrics={"validation": record.metrics, "best_epoch": record.epoch,
                     "n_train": len(train), "n_valid": len(valid)})
        commit_staged_adapter(out_dir, phase, manifest)

    start_best = None
    if config.head_epochs and not resume_progress(out_dir, phase).is_file():
        try:
            head_train_loss = _train_head_on_frozen_branch(model, train, y_train, valid, y_valid, config, dev,
                                                           pos_weight, head_state or state or TaskState())
        except (KeyboardInterrupt, Cancelled):
            return FitResult(history=[], best_epoch=-1, best_score=float("-inf"), stopped="cancelled",
                             cancelled_in="head")
        model.eval()
        with torch.no_grad():
            start_best = validate()
        start_best.epoch, start_best.train_loss = 0, head_train_loss
        save_best(start_best)
        save_start_checkpoint(model, opt, work_dir, start_best)  # a cancel in epoch 1 resumes from here
    result = fit(model, opt, len(train), train_loss, validate, save_best, config.fit, work_dir,
                 state=state, on_epoch=on_epoch, start_best=start_best)
    result.start = start_best
    if result.stopped != "cancelled":
        clear_resume(work_dir)
        shutil.rmtree(work_dir, ignore_errors=True)
    return result
