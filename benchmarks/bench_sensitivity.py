"""How much the shipped model's number moves when a criterion's numbers change, beside leaving it out.

    installer/dev.sh python benchmarks/bench_sensitivity.py [--records 60] [--model DIR]

For real drug trials of ../shared/data/ctgov_xml, every active criterion holding a number (a threshold,
an age, a count) is edited twice, its first number halved and doubled, and left out once (disabled, as the
editor's tick box does). All variants of a trial are scored in one batch with the record's phase model
(no ablation). Prints the mean and median |Δp| of each kind of edit, and the share of numeric edits
under engine.whatif.BARELY (those the application annotates: "the model barely reacts to a change of
numbers").
A second table keeps the edits that change what engine/features/thresholds.py reads (the numeric eligibility
thresholds, v5's fourth member): where the number is one the analyst expects to matter.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def scaled(text: str, factor: float) -> str:
    match = NUMBER.search(text)
    value = float(match.group()) * factor
    shown = f"{value:g}" if "." in match.group() else str(max(1, round(value)))
    return text[:match.start()] + shown + text[match.end():]


def variants(trial):
    """(kind, variant trial) for every active numeric criterion: halved, doubled, left out."""
    out = []
    for i, c in enumerate(trial.criteria):
        if not (c.enabled and NUMBER.search(c.text)):
            continue
        for kind, change in (("halved", lambda t: scaled(t, 0.5)), ("doubled", lambda t: scaled(t, 2.0))):
            v = trial.replace()
            v.criteria[i].text = change(c.text)
            out.append((kind, v))
        v = trial.replace()
        v.criteria[i].enabled = False
        out.append(("left out", v))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=60)
    ap.add_argument("--model", type=Path)
    args = ap.parse_args()
    from engine.features.thresholds import threshold_vector
    from engine.paths import shared_data_dir
    from engine.predict import Predictor
    from engine.records import load_records
    from engine.records.scorable import scorable_problem
    from engine.whatif import BARELY

    files = sorted((shared_data_dir() / "ctgov_xml").glob("NCT*.xml"))[: args.records * 3]
    trials = [t for t in load_records(files).trials if scorable_problem(t) is None and t.phases][: args.records]
    predictor = Predictor.load(args.model, device="cpu")
    changes: dict[str, list[float]] = {"halved": [], "doubled": [], "left out": []}
    read: dict[str, list[float]] = {"halved": [], "doubled": [], "left out": []}  # the thresholds vector moved
    for trial in trials:
        edited = variants(trial)
        results = predictor.predict_many([trial] + [v for _, v in edited], phase=predictor.choose_phase(trial)[0])
        own = threshold_vector(trial)
        for (kind, variant), result in zip(edited, results[1:]):
            if not isinstance(result, Exception):  # e.g. a record's only criterion left out
                changes[kind].append(abs(result.probability - results[0].probability))
                if not np.array_equal(threshold_vector(variant), own):
                    read[kind].append(changes[kind][-1])
    n_items = len(changes["halved"])
    print(f"model: {predictor.model_name}; {len(trials)} trials, {n_items} numeric criteria (left out: fewer where "
          f"it was a record's only criterion)")
    for title, table in (("", changes), ("edits of a number engine/features/thresholds.py reads:", read)):
        if title:
            print(title)
        print(f"{'edit':<12}{'n':>6}{'mean |Δp|':>12}{'median |Δp|':>14}{'share < ' + str(BARELY):>14}")
        for kind, values in table.items():
            v = np.asarray(values)
            if len(v):
                print(f"{kind:<12}{len(v):6d}{v.mean():12.4f}{np.median(v):14.4f}{(v < BARELY).mean():14.2f}")


if __name__ == "__main__":
    main()
