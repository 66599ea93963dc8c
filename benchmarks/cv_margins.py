"""CLaDMoP's margins over its baselines across several cross-validation seeds.

    installer/dev.sh python benchmarks/cv_margins.py cv_seed0.json cv_seed1.json ... [--json OUT]

Each input is one `benchmarks/cv_model.py --json` run. Runs differ only in `--seed`, which redraws the
folds, the inner validation split, the head initialisation and the bootstrap. One seed's bootstrap sd
leaves all of that out: fold assignment alone moves a phase's PR-AUC by .02-.03 (docs/validation.md,
"Seed spread"). So a margin is read over seeds.

Per phase and metric the table gives:
- each model's mean over the runs and the sd across the runs;
- CLaDMoP's margin over each baseline: its mean over the runs, the sd of the margin across the runs,
  and the smallest margin of any run;
- `beats`: in how many runs the margin was larger than that run's bootstrap sd, cv_model's own test.

The verdict is `beats` only when every run beats the baseline. It is `behind` when the mean margin is
negative by more than the mean bootstrap sd, and `level` otherwise.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.validation import PHASES, main_guard  # noqa: E402
from engine.errors import CladmopError  # noqa: E402

MODEL = "CLaDMoP"
BASELINES = ("linear probe", "gbt")
METRICS = ("pr_auc", "roc_auc")
#: what must agree between the runs for their margins to be comparable
SAME_IN_EVERY_RUN = ("mode", "folds", "base", "granularity", "n_rows", "finetune")


def read_run(path: Path) -> dict:
    """One cv_model.py JSON, checked for the fields this summary reads."""
    try:
        run = json.loads(Path(path).read_text())
    except OSError as e:
        raise CladmopError(f"{path}: cannot read the CV result ({e.strerror or e})") from e
    except json.JSONDecodeError as e:
        raise CladmopError(f"{path}: not a cv_model.py JSON file ({e})") from e
    try:
        for phase in PHASES:
            for name in (MODEL, *BASELINES):
                for metric in METRICS:
                    float(run["results"][phase][name][metric]["mean"])
                    float(run["results"][phase][name][metric]["sd"])
        int(run["seed"])
    except (KeyError, TypeError, ValueError) as e:
        raise CladmopError(f"{path}: not a cv_model.py JSON file (missing or bad field {e})") from e
    return run


def settings(run: dict) -> dict:
    """What must agree between runs, flattened ("finetune.fit.epochs": 3): SAME_IN_EVERY_RUN, less the
    fine-tuning seed that --seed sets."""
    def flat(prefix: str, value) -> dict:
        if isinstance(value, dict):
            return {k: v for key, item in value.items() for k, v in flat(f"{prefix}.{key}", item).items()}
        return {prefix: value}

    out = {k: v for key in SAME_IN_EVERY_RUN for k, v in flat(key, run.get(key)).items()}
    out.pop("finetune.fit.seed", None)
    return out


def check_comparable(runs: dict[str, dict]) -> None:
    """Same settings, different seeds; otherwise the spread would not be the seeds'."""
    (first_path, first), *rest = runs.items()
    seen = {int(first["seed"]): first_path}
    theirs = settings(first)
    for path, run in rest:
        mine = settings(run)
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                raise CladmopError(f"{path}: {key} is {mine.get(key)!r}, but {first_path} has {theirs.get(key)!r}; "
                                   "compare runs that differ only in --seed")
        seed = int(run["seed"])
        if seed in seen:
            raise CladmopError(f"{path}: seed {seed} again (also {seen[seed]}); each run must have its own seed")
        seen[seed] = path


def summarise(runs: dict[str, dict]) -> dict:
    """{phase: {metric: {"models": {name: {mean, sd}}, "margins": {baseline: {...}}}}} over the runs."""
    out = {}
    for phase in PHASES:
        out[phase] = {}
        for metric in METRICS:
            cell = lambda run, name: run["results"][phase][name][metric]  # noqa: E731
            models = {}
            for name in (MODEL, *BASELINES):
                values = np.array([cell(run, name)["mean"] for run in runs.values()])
                models[name] = {"mean": float(values.mean()),
                                "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
            margins = {}
            for baseline in BASELINES:
                diff = np.array([cell(r, MODEL)["mean"] - cell(r, baseline)["mean"] for r in runs.values()])
                boot_sd = np.array([max(cell(r, MODEL)["sd"], cell(r, baseline)["sd"]) for r in runs.values()])
                wins = int((diff > boot_sd).sum())
                if wins == len(diff):
                    verdict = "beats"
                elif diff.mean() < -boot_sd.mean():
                    verdict = "behind"
                else:
                    verdict = "level"
                margins[baseline] = {"mean": float(diff.mean()),
                                     "sd": float(diff.std(ddof=1)) if len(diff) > 1 else 0.0,
                                     "min": float(diff.min()), "bootstrap_sd": float(boot_sd.mean()),
                                     "runs_beaten": wins, "runs": len(diff), "verdict": verdict}
            out[phase][metric] = {"models": models, "margins": margins}
    return out


def format_summary(summary: dict, seeds: list[int]) -> str:
    lines = [f"{len(seeds)} CV runs, seeds {', '.join(map(str, seeds))}: mean over runs ± sd across runs"]
    for phase, by_metric in summary.items():
        lines.append(f"phase {phase}")
        for metric, cell in by_metric.items():
            models = "  ".join(f"{name} {m['mean']:.3f} ± {m['sd']:.3f}" for name, m in cell["models"].items())
            lines.append(f"  {metric:<8} {models}")
            for baseline, m in cell["margins"].items():
                lines.append(f"    {MODEL} - {baseline:<12} {m['mean']:+.3f} ± {m['sd']:.3f} (smallest {m['min']:+.3f}; "
                             f"bootstrap sd {m['bootstrap_sd']:.3f}; beaten in {m['runs_beaten']}/{m['runs']} runs): "
                             f"{m['verdict']}")
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", type=Path, nargs="+", help="cv_model.py --json files, one per seed")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    runs = {str(path): read_run(path) for path in args.runs}
    check_comparable(runs)
    summary = summarise(runs)
    seeds = [int(run["seed"]) for run in runs.values()]
    print(format_summary(summary, seeds))
    if args.json:
        args.json.write_text(json.dumps({"runs": list(runs), "seeds": seeds, "summary": summary}, indent=2))
    return summary


if __name__ == "__main__":
    main_guard(main)
