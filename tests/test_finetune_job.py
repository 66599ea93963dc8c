"""The fine-tuning job tells the truth (issue 19): one progress bar over all stages that is full only
at the end, a cancel that says where it stopped and what was kept, a resume that continues from the
last checkpoint (also from right after the head stage), and the new model beside the base model on
the same held-back trials, in the job and in `cladmop finetune`. A tiny model; no Qt."""
from __future__ import annotations

import numpy as np
import pytest

from engine.finetune_job import (COMPARED, Comparison, FinetuneSpec, check_data, checkpoint_epoch,
                                 run_job)
from engine.tasks import TaskState
from engine.training.progress import SCALE
from tests.builders import evaluation_report as report
from tests.gui_helpers import top_rows_csv


@pytest.fixture(scope="module")
def featurizer(tiny_model_files):
    from engine.training.pipeline import make_featurizer

    return make_featurizer("minilm", "criterion", "cpu")


def job(tmp_path, tiny_model, **settings):
    rows = top_rows_csv(tmp_path / "rows", "phase_I_train.csv", per_class=14, skip=15)
    spec = FinetuneSpec(base=tiny_model["model"], phase="I", data=[rows], out=tmp_path / "out", batch_size=16,
                        device="cpu", **settings)
    return spec, check_data(spec)


class Recorder(TaskState):
    """Keeps every progress report; cancels once a report's text contains `cancel_at`."""

    def __init__(self, cancel_at: str = ""):
        super().__init__()
        self.reports: list[tuple[int, int, str]] = []
        self.cancel_at = cancel_at

    def progress(self, done, total, text=""):
        self.reports.append((done, total, text))
        if self.cancel_at and self.cancel_at in text:
            self.cancel()
        super().progress(done, total, text)


def test_cancel_says_where_and_train_again_resumes_from_the_last_checkpoint(tmp_path, tiny_model, featurizer):
    spec, check = job(tmp_path, tiny_model, epochs=3, head_epochs=4)
    # 1. cancelled in the head stage: said so; it keeps no checkpoint
    result = run_job(spec, check, featurizer=featurizer, state=Recorder("head alone, 4 epochs · head on the"))
    assert result.cancelled_in == "head" and checkpoint_epoch(spec.out_dir, "I") is None
    assert result.outcome_text().startswith("Cancelled in stage 1 (the head alone) at epoch 2 of 4;")

    # 2. cancelled as the LoRA stage begins: the head stage's result is the checkpoint
    result = run_job(spec, check, featurizer=featurizer, state=Recorder("LoRA and head"))
    assert result.cancelled_in == "lora" and checkpoint_epoch(spec.out_dir, "I") == 0
    assert result.outcome_text().startswith("Cancelled at epoch 1 of 3; checkpoint kept (after stage 1")

    # 3. resumed: no head stage again; cancelled after epoch 1
    state = Recorder()
    result = run_job(spec, check, featurizer=featurizer, state=state,
                     on_epoch=lambda record: record.epoch == 1 and state.cancel())
    assert not any("head alone" in text for _, _, text in state.reports)
    assert [r.epoch for r in result.fit.history] == [1] and checkpoint_epoch(spec.out_dir, "I") == 1
    assert result.outcome_text().startswith("Cancelled at epoch 2 of 3; checkpoint kept (after epoch 1)")
    assert "Train again (resume) continues from epoch 2." in result.outcome_text()

    # 4. resumed to the end: epoch 2 follows epoch 1; one bar, full only at the end
    epochs, state = [], Recorder()
    result = run_job(spec, check, featurizer=featurizer, state=state, on_epoch=lambda r: epochs.append(r.epoch))
    assert not result.cancelled and epochs and epochs[0] == 2
    assert result.outcome_text().startswith(f"Training finished: epoch {epochs[-1]} of 3")
    done = [d for d, total, _ in state.reports]
    assert all(total == SCALE for _, total, _ in state.reports) and done == sorted(done)
    assert done[-1] == SCALE and max(done[:-1]) < SCALE  # 100% only when the job has ended
    assert {text.split(" · ")[0] for _, _, text in state.reports[:-1]} >= {"stage 1 of 4", "stage 4 of 4"}


def test_the_new_model_is_set_beside_the_base_model_on_the_same_trials(tmp_path, tiny_model, featurizer):
    spec, check = job(tmp_path, tiny_model, epochs=1, head_epochs=2)
    result = run_job(spec, check, featurizer=featurizer)
    comparison = result.comparison
    assert comparison.n == check.n_valid == result.evaluation.n and comparison.base is not None
    assert comparison.source == "validation" and comparison.base_name == tiny_model["model"].name
    assert [row[0] for row in comparison.rows()] == [label for label, _ in COMPARED]
    roc = comparison.rows()[0]
    assert roc[2] == pytest.approx(result.evaluation.point["roc_auc"])
    assert comparison.worse == (roc[3] < 0) and bool(comparison.warning()) == comparison.worse
    assert "base" in comparison.lines()[1] and "new" in comparison.lines()[1]


def test_a_cancel_during_the_evaluation_says_training_finished(tmp_path, tiny_model, featurizer):
    spec, check = job(tmp_path, tiny_model, epochs=1, head_epochs=0)
    result = run_job(spec, check, featurizer=featurizer, state=Recorder("the new model on the same trials"))
    assert result.cancelled_in == "evaluation" and result.comparison is None
    assert result.outcome_text().startswith("Training finished: epoch 1 of 1")
    assert result.outcome_text().endswith("Cancelled during the evaluation: no comparison with the base model.")


def test_a_worse_new_model_is_said_to_be_worse_on_the_trials_both_scored():
    base = report([0.9, 0.1, 0.8, 0.2, 0.7, 0.3])  # ranks perfectly
    new = report([0.6, 0.7, 0.8, 0.2, 0.4, 0.3])
    comparison = Comparison.of(new, base, "shipped")
    assert comparison.worse and comparison.change("roc_auc") < 0
    assert comparison.warning().startswith("The new model is worse than the base model “shipped” on the same 6 "
                                           "test trials: ROC-AUC")
    assert any(line.startswith("  WARNING:") for line in comparison.lines())
    assert not Comparison.of(base, new, "shipped").worse
    partial = report([0.9, 0.1, 0.8, 0.2])  # the base scored only four of them
    assert Comparison.of(new, partial, "shipped").n == 4
    missing = Comparison.of(new, None, "pretrained", "it could not be loaded: no phase adapter")
    assert not missing.worse and "could not be compared: it could not be loaded" in missing.lines()[1]
    assert np.isnan(report([0.5] * 6, (1,) * 6).point.get("roc_auc", np.nan))


def test_cli_finetune_prints_the_comparison_and_takes_each_stage_s_epochs(tmp_path, tiny_model, capsys):
    from engine.cli import main

    rows = top_rows_csv(tmp_path / "rows", "phase_I_train.csv", per_class=14, skip=15)
    out = tmp_path / "cli-model"
    assert main(["finetune", "--base", str(tiny_model["model"]), "--out", str(out), "--phase", "I", "--train",
                 str(rows), "--epochs", "1", "--head-epochs", "0", "--batch-size", "16", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert f"new model vs base model “{tiny_model['model'].name}” on the same" in printed
    assert "ROC-AUC" in printed and "change" in printed


def test_the_wizard_and_the_cli_start_from_the_same_defaults():
    """One owner of every fine-tuning default (engine.training.config): a spec that sets nothing, the CLI
    given no settings and the recipe's FinetuneConfig agree."""
    from engine.cli import build_parser
    from engine.training.config import FinetuneConfig

    args = build_parser().parse_args(["finetune", "--base", "m", "--phase", "I", "--train", "rows.csv"])
    given = FinetuneSpec(base=args.base, phase="I", data=args.train, epochs=args.epochs,
                         head_epochs=args.head_epochs, batch_size=args.batch_size, seed=args.seed)
    assert given.config() == FinetuneConfig()
    changed = FinetuneSpec(base=args.base, phase="I", data=[], epochs=3, head_epochs=0, batch_size=8).config()
    assert (changed.fit.epochs, changed.head_epochs, changed.fit.batch_size) == (3, 0, 8)
    assert changed.fit.patience == FinetuneConfig().fit.patience


def test_validation_trials_from_their_own_files_are_the_validation_set(tmp_path, tiny_model):
    train = top_rows_csv(tmp_path / "train", "phase_I_train.csv", per_class=10, skip=15)
    valid = top_rows_csv(tmp_path / "valid", "phase_I_train.csv", per_class=4, skip=25)
    again = top_rows_csv(tmp_path / "again", "phase_I_train.csv", per_class=2, skip=15)  # also in train
    spec = FinetuneSpec(base=tiny_model["model"], phase="I", data=[train], valid_data=[valid, again])
    check = check_data(spec)
    valid_ids = {check.trials[i].nct_id for i in check.valid_index}
    train_ids = {check.trials[i].nct_id for i in check.train_index}
    assert len(valid_ids) == 8 and not valid_ids & train_ids and len(train_ids) == 20
    assert len(check.skipped["duplicate NCT id (read once)"]) == 4  # a trial is never in both sets
