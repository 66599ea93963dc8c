"""`cladmop`: the command line over the engine's public API (the GUI uses the same calls).

Every failure the user can fix prints one line naming the file and the problem (exit 2); tracebacks
are for bugs only (`--debug` shows them for everything).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from engine.arg_types import non_negative_int, output_file, positive_int
from engine.errors import CHOOSE_PHASE, CladmopError, worded

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PHASE_CHOICES = ["I", "II", "III", "IV", "1", "2", "3", "4"]
_ARABIC = {"1": "I", "2": "II", "3": "III", "4": "IV"}


def _phase(value: str | None) -> str | None:
    return None if value is None else _ARABIC.get(value, value.upper())


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--backbone", help="override the language model: minilm | biogpt:/folder | /hf/folder "
                                      "| a name imported with import-backbone")


def build_parser() -> argparse.ArgumentParser:
    from engine.training.config import FinetuneConfig, PretrainConfig

    tuned, pretrained = FinetuneConfig(), PretrainConfig()  # the defaults the help shows
    parser = argparse.ArgumentParser(prog="cladmop", description="CLaDMoP clinical-trial outcome prediction")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="success probability, attention and ablation for trial records")
    p.add_argument("files", nargs="+", help="ClinicalTrials.gov XML/JSON, TOP CSV, folders or globs")
    p.add_argument("--phase", type=str.upper, choices=PHASE_CHOICES, help="phase model (default: the record's)")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    p.add_argument("--top", type=non_negative_int, default=5, help="how many criteria to list (default 5)")
    p.add_argument("--no-ablation", action="store_true", help="skip leave-one-out ablation (faster)")
    p.add_argument("--similar-from", nargs="+", metavar="FILE",
                   help="your labelled trials (TOP CSV or records with --labels), searched for similar past trials too")
    p.add_argument("--labels", type=Path, help="CSV nct_id,label for the --similar-from records")
    _model_args(p)

    _whatif_parser(sub)

    _workspace_parser(sub)

    p = sub.add_parser("evaluate", help="F1, PR-AUC, ROC-AUC with 10 x 80%% bootstrap on labelled trials")
    p.add_argument("--data", nargs="+", required=True, help="TOP-format CSV(s) or records")
    p.add_argument("--labels", type=Path, help="CSV nct_id,label for records without labels")
    p.add_argument("--phase", type=str.upper, choices=PHASE_CHOICES, required=True)
    p.add_argument("--bootstrap", type=positive_int, default=10)
    p.add_argument("--json", type=output_file, help="also write the results to this JSON file")
    _model_args(p)

    p = sub.add_parser("pretrain", help="contrastive pre-training on successful trials")
    p.add_argument("--data", nargs="+", required=True, help="labelled trials; label-1 rows are used")
    p.add_argument("--valid-fraction", type=float, default=0.1)
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--granularity", choices=["criterion", "token"], default="criterion")
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--epochs", type=positive_int, help=f"default {pretrained.fit.epochs}")
    p.add_argument("--batch-size", type=positive_int, help=f"default {pretrained.fit.batch_size}")
    p.add_argument("--lr", type=float, help=f"default {pretrained.lr:g}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")

    p = sub.add_parser("finetune", help="LoRA fine-tuning of one phase on labelled trials")
    p.add_argument("--base", type=Path, required=True, help="pre-trained model folder")
    p.add_argument("--out", type=Path, help="model folder to write (default: --base, adding the phase)")
    p.add_argument("--phase", type=str.upper, choices=PHASE_CHOICES, required=True)
    p.add_argument("--train", nargs="+", required=True, help="TOP CSV(s) or records with labels")
    p.add_argument("--valid", nargs="+", help="validation trials (default: a stratified 15%% of --train)")
    p.add_argument("--labels", type=Path, help="CSV nct_id,label for records without labels")
    p.add_argument("--epochs", type=positive_int,
                   help=f"stage 2, LoRA and head: at most this many epochs (early stopping; default {tuned.fit.epochs})")
    p.add_argument("--head-epochs", type=non_negative_int,
                   help=f"stage 1, the head alone on the frozen branch (default {tuned.head_epochs}; 0 skips it)")
    p.add_argument("--batch-size", type=positive_int, help=f"default {tuned.fit.batch_size}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")

    p = sub.add_parser("cache", help="pre-compute language-model states for records (speeds up everything)")
    p.add_argument("files", nargs="+")
    p.add_argument("--granularity", choices=["criterion", "token"], default="criterion")
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--device", default="auto")

    p = sub.add_parser("train-default", help="re-train the shipped default model from the TOP data")
    p.add_argument("--data", type=Path, required=True, help="folder with top/ (e.g. ../shared/data)")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--granularity", choices=["criterion", "token"], default="criterion")
    p.add_argument("--pretrain-epochs", type=int, default=12)
    p.add_argument("--pretrain-lr", type=float, default=3e-4)
    p.add_argument("--finetune-epochs", type=non_negative_int, default=None,
                   help="LoRA epochs after the head-first stage (default: the recipe's, 0)")
    p.add_argument("--pretrained", type=Path, help="use this model folder's pre-trained branch instead of "
                                                  "pre-training again (e.g. resources/models/default)")
    p.add_argument("--mode", choices=["pooled", "per-phase"], default="pooled",
                   help="one adapter for all phases (default) or one per phase (the paper)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")

    p = sub.add_parser("index", help="add the learning index (similar past trials, novelty) to a model folder")
    p.add_argument("--data", type=Path, required=True, help="folder with top/ (e.g. ../shared/data)")
    p.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
    p.add_argument("--device", default="auto")

    p = sub.add_parser("info", help="the model, its phases and the device")
    _model_args(p)
    _backbone_store_parsers(sub)
    _export_parser(sub)
    _import_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _one_voice()
    try:
        code = COMMANDS[args.command](args)
        _leave_together()
        return code
    except (CladmopError, FileNotFoundError) as e:
        if args.debug:
            raise
        print(f"cladmop: error: {said(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cladmop: interrupted", file=sys.stderr)
        return 130


#: what the analyst can do about an error or a note, in the CLI's words (engine/errors.py, `worded`)
WORDS = {CHOOSE_PHASE: "choose one with --phase"}


def said(message) -> str:
    """An engine error or note as the CLI says it: with what to do, naming the CLI's option."""
    return worded(message, WORDS)


def _leave_together() -> None:
    """Under a launcher, every process ends its command before any leaves (engine/distributed.py)."""
    from engine.distributed import finish, workers

    if workers().parallel:
        finish()


def _one_voice() -> None:
    """Under torchrun/accelerate only rank 0 prints results (the others' errors still reach stderr)."""
    from engine.distributed import is_writer

    if not is_writer():
        sys.stdout = open(os.devnull, "w")


def _load_predictor(args):
    from engine.predict import Predictor

    return Predictor.load(args.model, device=args.device, backbone=args.backbone)


def _read_trials(files) -> list:
    """The readable trials of `files`; each unreadable file is named on stderr and skipped."""
    from engine.records import load_records

    loaded = load_records(files)
    for err in loaded.errors:
        print(f"cladmop: skipped {err}", file=sys.stderr)
    if not loaded.trials:
        print("cladmop: error: no readable trial records", file=sys.stderr)
    return loaded.trials


def cmd_predict(args) -> int:
    """Records are read, predicted and printed one file at a time (memory does not grow with their number)."""
    from engine.errors import CladmopError
    from engine.records import RecordError, iter_records

    predictor = _load_predictor(args)
    if args.similar_from:
        _use_own_trials(predictor, args.similar_from, args.labels)
    read = failures = 0
    for trial in iter_records(args.files, on_error=lambda err: print(f"cladmop: skipped {err}", file=sys.stderr)):
        read += 1
        try:
            pred = predictor.predict(trial, phase=_phase(args.phase), ablate=not args.no_ablation)
        except (CladmopError, RecordError) as e:
            failures += 1
            print(f"cladmop: {trial.source_path or trial.nct_id}: {said(e)}", file=sys.stderr)
            continue
        print(json.dumps(prediction_json(pred)) if args.json else format_prediction(pred, args.top), flush=True)
    if not read:
        print("cladmop: error: no readable trial records", file=sys.stderr)
    return 0 if failures < read else 2


def _whatif_parser(sub) -> None:
    p = sub.add_parser("whatif", help="edit one record's criteria, drugs or conditions and see the probability move (as the window does)")
    p.add_argument("record", help="one ClinicalTrials.gov XML/JSON record (the first trial of the file)")
    p.add_argument("--list", action="store_true", help="number the record's criteria items and stop")
    p.add_argument("--drop", type=positive_int, action="append", default=[], metavar="N",
                   help="leave item N out (disable it), as unticking it in the editor")
    p.add_argument("--edit", nargs=2, action="append", default=[], metavar=("N", "TEXT"), help="replace item N's text")
    p.add_argument("--add", action="append", default=[], metavar="TEXT", help="add an inclusion criterion")
    p.add_argument("--add-exclusion", action="append", default=[], metavar="TEXT", help="add an exclusion criterion")
    p.add_argument("--add-drug", action="append", default=[], metavar="NAME[=SMILES]",
                   help="add a drug (looked up by name; a regimen such as FOLFOX adds its drugs)")
    p.add_argument("--remove-drug", action="append", default=[], metavar="N|NAME",
                   help="remove drug N (as --list numbers them) or by name (a regimen's name: all its drugs)")
    p.add_argument("--replace-drug", nargs=2, action="append", default=[], metavar=("N|NAME", "NEW[=SMILES]"),
                   help="put another drug (or a regimen) in drug N's place")
    p.add_argument("--add-condition", action="append", default=[], metavar="NAME[=ICD10]", help="add a condition")
    p.add_argument("--remove-condition", action="append", default=[], metavar="N|NAME", help="remove a condition")
    p.add_argument("--replace-condition", nargs=2, action="append", default=[], metavar=("N|NAME", "NEW[=ICD10]"),
                   help="put another condition in condition N's place")
    p.add_argument("--phase", type=str.upper, choices=PHASE_CHOICES, help="phase model (default: the record's)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--top", type=non_negative_int, default=5, help="how many criteria to list (default 5)")
    p.add_argument("--no-ablation", action="store_true", help="skip leave-one-out ablation (faster)")
    _model_args(p)


def cmd_whatif(args) -> int:
    from engine.records import read_record
    from engine.whatif import numbered_items, parse_edits, what_if

    trial = read_record(Path(args.record))[0]
    if args.list:
        print("\n".join(numbered_items(trial) + [""] + _resolved_interventions(trial)))
        return 0
    edits = parse_edits(args.drop, args.edit, args.add, args.add_exclusion, args.add_drug, args.remove_drug,
                        args.add_condition, args.remove_condition, args.replace_drug, args.replace_condition)
    result = what_if(_load_predictor(args), trial, edits, _phase(args.phase), ablate=not args.no_ablation)
    if args.json:
        print(json.dumps({"before": prediction_json(result.before), "after": prediction_json(result.after),
                          "change": round(result.change, 6), "edits": result.draft.diff().summary(),
                          "note": result.summary.partition("\n")[2]}))
    else:
        print(f"{trial.nct_id}: {result.draft.diff().summary()}\nP(success) {result.summary}\n\nwhat-if:")
        print(format_prediction(result.after, args.top))
    return 0


def _resolved_interventions(trial) -> list[str]:
    """The drugs and conditions numbered as --remove-drug/--remove-condition read them (resolved, so a
    regimen is its drugs)."""
    from engine.lookups.resolve import Resolver
    from engine.whatif import numbered_interventions

    return numbered_interventions(Resolver.default().resolve(trial))


def _workspace_parser(sub) -> None:
    p = sub.add_parser("workspace", help="the application's workspace: its trials, edits and scenarios; score and export them")
    p.add_argument("action", choices=["list", "show", "export", "add"])
    p.add_argument("key", nargs="?", help="show: the trial's key (as `list` prints it)")
    p.add_argument("--file", type=Path, help="workspace file (default: the application's first workspace)")
    p.add_argument("--filter", default="", metavar="WORDS",
                   help="list: trials whose id, title, conditions, ICD-10 codes or drugs hold every word")
    p.add_argument("--csv", type=output_file, help="export: CSV to write (one row per trial, what-ifs beside)")
    p.add_argument("--html", type=output_file, help="export: HTML report to write")
    p.add_argument("--top", type=non_negative_int, default=5, help="export: criteria and items listed per trial")
    p.add_argument("--no-ablation", action="store_true", help="export: skip leave-one-out ablation (faster)")
    p.add_argument("--title", help="add: an in-house trial's title")
    p.add_argument("--phase", help="add: I, II, III, IV, I/II or II/III")
    p.add_argument("--drug", action="append", default=[], metavar="NAME[=SMILES]", help="add: a drug (repeat)")
    p.add_argument("--condition", action="append", default=[], metavar="NAME[=ICD10]", help="add: a condition (repeat)")
    p.add_argument("--criteria", metavar="FILE", help="add: the eligibility criteria as text ('-': standard input)")
    p.add_argument("--nct-id", default="", help="add: its NCT number, if it has one")
    _model_args(p)


def cmd_workspace(args) -> int:
    """Read-only but for `add`: the window may have the workspace open meanwhile."""
    from engine.workspace import Workspace, default_workspace_path

    path = args.file or default_workspace_path()
    if args.action == "add":
        from engine.studio import Studio

        studio = Studio(Workspace.open(path))  # refused, by name, while a window holds it
        try:
            return _workspace_add(studio, args)
        finally:
            studio.close()
    with Workspace.open_read_only(path) as workspace:
        return {"list": _workspace_list, "show": _workspace_show, "export": _workspace_export}[args.action](
            workspace, args)


def _workspace_add(studio, args) -> int:
    """An in-house trial typed in, added as File > New trial adds it (engine/records/typed.py): its
    drugs and conditions looked up."""
    from engine.records.typed import typed_trial
    from engine.whatif import name_value

    if not args.criteria:
        raise CladmopError("give the criteria: --criteria FILE (or - to read them from standard input)")
    text = sys.stdin.read() if args.criteria == "-" else _read_text(Path(args.criteria))
    trial = typed_trial(args.title or "", args.phase or "", [name_value(v) for v in args.drug],
                        [name_value(v) for v in args.condition], text, args.nct_id)
    (key,) = studio.add_trials([trial], resolve=True)
    trial = studio.entry(key).record
    unresolved = f"; not found: {', '.join(trial.unresolved)}" if trial.unresolved else ""
    print(f"{studio.workspace.path}: added {key} ({trial.phase_label}, {len(trial.criteria)} criteria items, "
          f"{len(trial.drugs)} drug(s){unresolved})")
    return 0


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CladmopError(f"{path}: cannot read the criteria ({e})") from None


def _workspace_list(workspace, args) -> int:
    from engine.workspace_view import rows

    found = rows(workspace, args.filter)
    print(f"{workspace.path}: {len(found)} trial(s)")
    for row in found:
        print(row.line())
    return 0


def _workspace_show(workspace, args) -> int:
    from engine.whatif import numbered_items

    stored = {s.key: s for s in workspace.load_trials()}
    if args.key not in stored:
        raise CladmopError(f"{workspace.path}: no trial '{args.key}' (keys: {', '.join(stored) or 'none'})")
    draft = stored[args.key].draft
    print(f"{args.key}: {draft.original.nct_id} {draft.original.title}\nwhat-if criteria "
          f"({draft.diff().summary() if draft.is_modified else 'as recorded'}):")
    print("\n".join("  " + line for line in numbered_items(draft.edited)))
    for name in draft.scenario_names():
        print(f"scenario “{name}”: {draft.compare(draft.ORIGINAL, name).summary()}")
    return 0


def _workspace_export(workspace, args) -> int:
    from engine.scoring import score_missing
    from engine.studio import Studio
    from engine.tasks import TqdmState

    if not args.html and not args.csv:
        raise CladmopError("give --csv TABLE.csv and/or --html REPORT.html")
    predictor = _load_predictor(args)
    state = TqdmState("scoring")
    try:
        scored = score_missing(predictor, Studio(workspace).to_score(), ablate=not args.no_ablation, state=state)
    finally:
        state.close()
    return _write_scored(scored, args, predictor.model_name)


def _write_scored(scored, args, model_name: str) -> int:
    """The failures named on stderr, then the CSV and/or HTML report `args` asks for."""
    from engine.export import write_csv, write_html

    for s in scored:
        if not s.ok:
            print(f"cladmop: {s.trial.source_path or s.trial.nct_id}: {said(s.error)}", file=sys.stderr)
    if args.csv:
        print(f"wrote {write_csv(scored, args.csv, top=args.top)}")
    if args.html:
        print(f"wrote {write_html(scored, args.html, model_name=model_name, top=args.top)}")
    return 0 if any(s.ok for s in scored) else 2


def _use_own_trials(predictor, files, labels) -> None:
    from engine.training.dataset import load_labelled

    own, notes = load_labelled(files, labels)
    for note in notes:
        print(f"cladmop: {note}", file=sys.stderr)
    joined = predictor.use_own_trials(own.trials)
    print(f"cladmop: {joined} labelled trial(s) of yours join the search for similar past trials", file=sys.stderr)


def prediction_json(pred) -> dict:
    return {
        "nct_id": pred.nct_id, "phase": pred.phase, "probability": round(pred.probability, 6),
        "base_rate": round(pred.base_rate, 4), "model": pred.model_name,
        "attention": {a.level: {"criteria": [round(float(x), 6) for x in a.criteria],
                                "molecules": [round(float(x), 6) for x in a.molecules],
                                "diseases": [round(float(x), 6) for x in a.diseases],
                                "previous_block": round(a.previous, 6)} for a in pred.attention},
        "ablation": [{"kind": a.kind, "index": a.index, "label": a.label, "delta": round(a.delta, 6),
                      "content_free": a.content_free} for a in pred.ablations],
        "criteria": pred.criteria_labels, "molecule_tokens": pred.molecule_labels,
        "disease_tokens": pred.disease_labels, "unresolved": pred.unresolved, "warnings": [said(w) for w in pred.warnings],
        "notice": pred.notice, "criteria_read": pred.criteria_read, "criteria_total": pred.criteria_total,
        "novelty": None if pred.novelty is None else {
            "score": round(pred.novelty.score, 4), "nearest_similarity": round(pred.novelty.nearest_similarity, 4),
            "unusual": pred.novelty.unusual, "reasons": pred.novelty.reasons, "notes": pred.novelty.notes},
        "similar": [{"nct_id": s.nct_id, "outcome": s.outcome, "phases": s.phases, "completion_year": s.completion_year,
                     "similarity": round(s.similarity, 4), "text_similarity": round(s.text_similarity, 4),
                     "shared_drugs": s.shared_drugs, "shared_conditions": s.shared_conditions, "source": s.source}
                    for s in pred.similar],
        "similar_success_rate": pred.neighbour_success_rate,
        "members": {name: round(p, 6) for name, p in pred.members.items()},
        "interval": None if pred.interval is None else {
            "level": pred.interval_level, "low": round(pred.interval[0], 6), "high": round(pred.interval[1], 6)},
    }


def _short(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def format_prediction(pred, top: int = 5) -> str:
    interval = f" ({pred.interval_text})" if pred.interval else ""
    lines = [f"{pred.nct_id}  phase {pred.phase}  P(success) = {pred.probability:.3f}{interval}  "
             f"(base rate {pred.base_rate:.2f}, {pred.probability - pred.base_rate:+.3f})  [{pred.model_name}]"]
    if pred.notice:
        lines.append(f"  NOTE: {pred.notice}")
    if pred.criteria_labels:
        lines.append("  top criteria by attention (fine level; attention is not attribution):")
        for i, w in pred.top_criteria_by_attention(top):
            lines.append(f"    {w:6.3f}  {_short(pred.criteria_labels[i])}")
    if pred.ablations:
        lines.append("  top items by ablation (Δ probability when removed):")
        for a in pred.top_by_ablation(top):
            note = "  (no eligibility content)" if a.content_free else ""
            lines.append(f"    {a.delta:+.3f}  {a.kind:<9} {_short(a.label)}{note}")
    if pred.members:
        lines.append(f"  {pred.members_text}")
    lines += format_evidence(pred)
    lines.append("  unresolved: " + ("; ".join(pred.unresolved) if pred.unresolved else "none"))
    for w in pred.warnings:
        lines.append(f"  warning: {said(w)}")
    return "\n".join(lines)


def format_evidence(pred) -> list[str]:
    """Novelty and similar past trials, the lines that say how far to trust the number."""
    lines = []
    if pred.novelty is not None:
        flag = "WARNING" if pred.novelty.unusual else "novelty"
        lines.append(f"  {flag}: {pred.novelty.summary} (score {pred.novelty.score:.2f})")
    if pred.similar:
        lines.append(f"  similar past trials ({pred.neighbour_success_rate:.0%} succeeded):")
        for s in pred.similar:
            mark = "  [yours]" if s.is_own else ""
            lines.append(f"    {s.nct_id}  {s.outcome:<7}  phase {s.phases:<6} {s.completion_year or '?'}  "
                         f"similarity {s.similarity:.2f}  {_short(s.shares, 60)}{mark}")
    return lines


def cmd_evaluate(args) -> int:
    from engine.distributed import is_writer
    from engine.training.evaluate import evaluate_files
    from engine.training.metrics import format_table

    predictor = _load_predictor(args)
    result = evaluate_files(predictor, args.data, _phase(args.phase), labels_csv=args.labels,
                            bootstrap=args.bootstrap)
    for note in result["notes"]:
        print(f"note: {note}", file=sys.stderr)
    print(format_table({f"phase {result['phase']}": result["metrics"]}))
    print(f"(mean ± sd over {args.bootstrap} bootstrap samples of 80%; prevalence = PR-AUC of a constant predictor)")
    if args.json and is_writer():
        from engine.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=2))
    return 0


def cmd_pretrain(args) -> int:
    from engine.training.pipeline import run_pretraining

    from engine.distributed import private_output

    with private_output(args.out) as out:
        result = run_pretraining(args.data, out, backbone=args.backbone, granularity=args.granularity,
                                 epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                 valid_fraction=args.valid_fraction, device=args.device, echo=print)
    return 0 if result.stopped != "cancelled" else 130


def cmd_finetune(args) -> int:
    """The wizard's job (engine.finetune_job) from the command line: the data check, both stages with
    their epochs, then the new model beside the base model on the same held-back trials."""
    from engine.distributed import is_writer, private_output
    from engine.finetune_job import FinetuneSpec

    with private_output(args.out or (None if is_writer() else args.base)) as out:  # in place: rank 0 only
        spec = FinetuneSpec(base=args.base, phase=_phase(args.phase), data=args.train, labels_csv=args.labels,
                            out=out, epochs=args.epochs, head_epochs=args.head_epochs,
                            batch_size=args.batch_size, seed=args.seed, valid_data=args.valid or [],
                            device=args.device)
        result = _run_finetune(spec)
    return 130 if result.cancelled else 0


def _run_finetune(spec):
    from engine.finetune_job import check_data, run_job
    from engine.tasks import TqdmState

    state = TqdmState("fine-tuning")
    try:
        check = check_data(spec, state=state)
        _print_check(check, state.write)
        result = run_job(spec, check, state=state, on_epoch=lambda record: state.write(_epoch_line(record)))
    finally:
        state.close()
    for line in result.comparison.lines() if result.comparison else []:
        print(line)
    print(result.outcome_text())
    return result


def _print_check(check, write) -> None:
    """What the data check found, as the wizard's first page shows it."""
    for line in check.summary_lines():
        write(line)
    for path, problem in check.read_errors:
        write(f"note: {path}: {problem}", err=True)
    for warning in check.warnings:
        write(f"warning: {warning}", err=True)


def _epoch_line(record) -> str:
    metrics = " ".join(f"{k}={v:.3f}" for k, v in record.metrics.items() if isinstance(v, float))
    return f"epoch {record.epoch:3d}  train {record.train_loss:.4f}  valid {record.val_loss:.4f}  {metrics}"


def cmd_cache(args) -> int:
    from engine import distributed
    from engine.features.text_encoder import build_cache
    from engine.model_store import open_backbone
    from engine.tasks import TqdmState

    trials = _read_trials(args.files)
    if not trials:
        return 2
    state = TqdmState("encoding criteria")
    report = build_cache(distributed.shard(trials), open_backbone(args.backbone, device=args.device),
                         args.granularity, state=state)  # under a launcher: each process its share
    state.close()
    distributed.wait_for_all()
    print(report if not distributed.workers().parallel else f"{report} (process 0's share)")
    return 0


def cmd_train_default(args) -> int:
    from engine.training.recipe import train_default

    from engine.training.recipe import FINETUNE_EPOCHS

    epochs = FINETUNE_EPOCHS if args.finetune_epochs is None else args.finetune_epochs
    summary = train_default(args.data, args.out, granularity=args.granularity, seed=args.seed,
                            pretrain_epochs=args.pretrain_epochs, finetune_epochs=epochs,
                            pretrain_lr=args.pretrain_lr, mode=args.mode, device=args.device,
                            pretrained=args.pretrained)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_index(args) -> int:
    from engine.lookups.resolve import Resolver
    from engine.model.checkpoint import ModelManifest
    from engine.predict import default_model_dir
    from engine.training.pipeline import make_featurizer
    from engine.training.recipe import add_learning_index, top_folder

    folder = args.model or default_model_dir()
    config = ModelManifest.read(folder).config
    featurizer = make_featurizer(config.backbone, config.granularity, args.device)
    index = add_learning_index(folder, top_folder(args.data), featurizer, Resolver.default())
    print(f"{folder}: learning index of {len(index)} trials (success {index.labels.mean():.3f})")
    return 0


def cmd_info(args) -> int:
    p = _load_predictor(args)
    print(f"model: {p.model_name}  folder: {p.folder}")
    print(f"device: {p.device_name}")
    for phase in p.phases:
        info = p.manifest.phases[phase]
        print(f"phase {phase}: base rate {info.base_rate:.3f}, temperature {info.temperature:.2f}, "
              f"validation {json.dumps(info.metrics.get('validation', {}))}")
    return 0


# -- the model store: imported language-model backbones (engine.model_store) ---------------------------
def _backbone_store_parsers(sub) -> None:
    p = sub.add_parser("import-backbone", help="import a local BioGPT / Hugging Face folder into the model store")
    p.add_argument("folder", type=Path, help="the model folder (config.json, tokenizer files, weights)")
    p.add_argument("--name", help="name to use with --backbone (default: the folder's name)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="accept pytorch_model.bin weights (converted to safetensors on import)")
    p.add_argument("--replace", action="store_true", help="replace a backbone of the same name")
    p.add_argument("--device", default="cpu", help="device for the load test (default cpu)")

    p = sub.add_parser("backbones", help="list the imported backbones")
    p.add_argument("--verify", action="store_true", help="re-hash every file against its recorded checksum")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("remove-backbone", help="remove an imported backbone from the model store")
    p.add_argument("name")


def cmd_import_backbone(args) -> int:
    from engine.model_store import ModelStore
    from engine.tasks import TqdmState

    state = TqdmState("importing")
    try:
        entry = ModelStore().import_folder(args.folder, args.name, allow_pickle=args.allow_pickle,
                                           replace=args.replace, device=args.device, state=state)
    finally:
        state.close()
    note = " (pickle weights converted to safetensors)" if entry.converted_from_pickle else ""
    print(f"imported {entry.describe()}{note}")
    print(f"stored in {entry.folder}; use it with --backbone {entry.name}")
    return 0


def cmd_backbones(args) -> int:
    from engine.model_store import ModelStore

    store = ModelStore()
    entries = [store.verify(e.name, full=True) if args.verify else e for e in store.list()]
    if args.json:
        print(json.dumps([{**e.to_record(), "folder": str(e.folder), "spec": e.spec} for e in entries], indent=2))
        return 0
    print("minilm: built in (all-MiniLM-L6-v2, 6 layers x 384)")
    for e in entries:
        print(e.describe() + ("  [checksums verified]" if args.verify else ""))
    if not entries:
        print(f"no imported backbones in {store.root} (cladmop import-backbone FOLDER)")
    return 0


def cmd_remove_backbone(args) -> int:
    from engine.model_store import ModelStore

    entry = ModelStore().remove(args.name)
    print(f"removed '{entry.name}' ({entry.folder}); its source {entry.source} was not touched")
    return 0


# -- reports: engine.scoring + engine.export (the GUI's Tools → Export writes the same files) ----------
def _export_parser(sub) -> None:
    p = sub.add_parser("export", help="score records and write an HTML report and/or a CSV")
    p.add_argument("files", nargs="+", help="ClinicalTrials.gov XML/JSON, TOP CSV, folders or globs")
    p.add_argument("--html", type=output_file, help="HTML report to write (molecules drawn inline)")
    p.add_argument("--csv", type=output_file, help="CSV to write (one row per trial); alone, a killed run "
                                                  "continues where it stopped when run again (CSV.partial)")
    p.add_argument("--phase", type=str.upper, choices=PHASE_CHOICES, help="phase model (default: the record's)")
    p.add_argument("--top", type=non_negative_int, default=5, help="criteria and items to list per trial (default 5)")
    p.add_argument("--no-ablation", action="store_true", help="skip leave-one-out ablation (faster)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="records scored together (CSV alone; default 32)")
    p.add_argument("--restart", action="store_true",
                   help="CSV alone: discard an interrupted run's rows (CSV.partial) and score every record again")
    _model_args(p)


def cmd_export(args) -> int:
    from engine.scoring import score_trials
    from engine.tasks import TqdmState

    if not args.html and not args.csv:
        raise CladmopError("give --html REPORT.html and/or --csv TABLE.csv")
    if not args.html:
        return _export_csv_streamed(args)
    trials = _read_trials(args.files)
    if not trials:
        return 2
    predictor = _load_predictor(args)
    state = TqdmState("scoring")
    try:
        scored = score_trials(predictor, trials, phase=_phase(args.phase), ablate=not args.no_ablation,
                              state=state)
    finally:
        state.close()
    return _write_scored(scored, args, predictor.model_name)


def _export_csv_streamed(args) -> int:
    """CSV alone: records are read, scored and journaled a batch at a time, so any number of them fits
    in memory, and a killed run continues where it stopped (engine/export_journal.py)."""
    from engine.export_journal import open_journal

    trials = _streamed_records(args.files)
    if trials is None:  # nothing to score: the previous report, if any, stays as it was
        return 2
    predictor = _load_predictor(args)
    with open_journal(args.csv, _export_description(args, predictor), restart=args.restart) as journal:
        total = _estimated_records(args.files)
        _say_whether_resumed(journal, total)
        order, fresh = _score_journaled(args, predictor, trials, journal, total)
        rows, ok = journal.finish(order)
    resumed = f"; {rows - fresh} from the interrupted run, {fresh} now" if journal.resumed else ""
    print(f"wrote {args.csv} ({ok} of {rows} trials scored){resumed}")
    return 0 if ok else 2


def _streamed_records(files):
    """The records of `files`, read lazily; None (said on stderr) when not even one can be read."""
    import itertools

    from engine.records import iter_records

    trials = iter_records(files, on_error=lambda err: print(f"cladmop: skipped {err}", file=sys.stderr))
    first = next(trials, None)
    if first is None:
        print("cladmop: error: no readable trial records", file=sys.stderr)
        return None
    return itertools.chain([first], trials)


def _export_description(args, predictor) -> dict:
    """What the CSV's rows depend on: an interrupted run's rows are reused only when all of it is the same."""
    import hashlib

    manifest = getattr(predictor, "manifest", None)  # the checksums of every file of the model folder
    model = {"name": predictor.model_name, "device": predictor.device_name, "backbone": args.backbone,
             "folder": str(Path(getattr(predictor, "folder", "")).resolve()),
             "sha256": hashlib.sha256(manifest.to_json().encode()).hexdigest() if manifest is not None else ""}
    options = {"phase": _phase(args.phase), "ablation": not args.no_ablation, "top": args.top}
    return {"inputs": [os.path.abspath(os.path.expanduser(f)) for f in args.files], "model": model,
            "options": options}


def _estimated_records(files) -> int:
    """How many records `files` hold, for the progress bar, without parsing them: one per XML/JSON file
    (a JSON file of many studies makes the bar outgrow its total), the rows of each TOP CSV."""
    from engine.records.loader import _expand, _not_a_record  # the loader's own walk: the files it reads

    paths = {p.resolve(): p for source in files for p, explicit in _expand(source, lambda err: None)
             if explicit or not _not_a_record(p)}
    return sum(_csv_rows(p) if p.suffix.lower() in (".csv", ".tsv") else 1 for p in paths.values())


def _csv_rows(path: Path) -> int:
    """Data rows of a CSV/TSV (C-speed parsing, quoted line breaks counted right); 1 if unreadable."""
    import csv

    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            return max(0, sum(1 for _ in csv.reader(handle, delimiter=delimiter)) - 1)
    except (OSError, csv.Error):
        return 1


def _say_whether_resumed(journal, total: int) -> None:
    """One line on stderr when an interrupted run's rows are taken over, or why they are not."""
    from engine.distributed import is_writer

    if not is_writer():
        return
    if journal.resumed:
        of = f" of {total}" if total else ""
        print(f"cladmop: resuming: {journal.resumed}{of} already scored ({journal.path.name}; "
              f"--restart scores all again)", file=sys.stderr)
    elif journal.discarded:
        print(f"cladmop: not resuming from {journal.path.name}: {journal.discarded}; scoring every record "
              f"afresh", file=sys.stderr)


def _score_journaled(args, predictor, trials, journal, total: int) -> tuple:
    """Score what the journal lacks under a progress bar; Ctrl-C says where the rows so far are kept.
    (the rows' order, for `journal.finish`; how many records were scored now)"""
    from engine.export_journal import score_resumably

    bar, fresh = _export_bar(total, journal.resumed), [0]
    try:
        order = score_resumably(predictor, trials, journal, phase=_phase(args.phase), ablate=not args.no_ablation,
                                top=args.top, batch_size=args.batch_size, on_row=lambda s: _tally(s, bar, fresh))
    except KeyboardInterrupt:
        if not bar.disable:
            bar.write(f"cladmop: {len(journal.index)} rows kept in {journal.path}; the same command continues",
                      file=sys.stderr)
        raise
    finally:
        bar.close()
    return order, fresh[0]


def _export_bar(total: int, resumed: int):
    """Records done (an interrupted run's included) of the estimated total, and the rate of this run;
    under a launcher rank 0's only."""
    from tqdm import tqdm

    from engine.distributed import is_writer

    return tqdm(total=max(total, resumed) or None, initial=resumed, desc="scoring", unit=" trials",
                file=sys.stderr, dynamic_ncols=True, leave=False, disable=not is_writer())


def _tally(scored, bar, fresh: list[int]) -> None:
    fresh[0] += 1
    bar.update()
    if not scored.ok and not bar.disable:  # under a launcher every process has every result: rank 0 says it
        bar.write(f"cladmop: {scored.trial.source_path or scored.trial.nct_id}: {said(scored.error)}", file=sys.stderr)


def _import_parser(sub) -> None:
    p = sub.add_parser("import", help="in-house trials from a CSV or Excel table: map its columns (remembered), "
                                      "check every row, add them to the workspace")
    p.add_argument("table", type=Path, help="a .csv, .tsv or .xlsx file: one trial a row, the header in the first")
    p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                   help="the column holding FIELD (repeat; FIELD= leaves it out): id, title, phase, drugs, smiles, "
                        "conditions, icd, criteria, label. Default: the mapping saved for this header, else a guess")
    p.add_argument("--sheet", metavar="NAME|N", help="a workbook's sheet to read (default: the first)")
    p.add_argument("--save-mapping", action="store_true",
                   help="remember the mapping for tables with these columns: predict, export, evaluate and "
                        "finetune then read them directly")
    p.add_argument("--workspace", nargs="?", const="", metavar="FILE",
                   help="add the trials to the workspace (FILE, or the application's)")


def cmd_import(args) -> int:
    """Prints the mapping it reads with and each bad row's problem, so the analyst fixes the sheet or the
    mapping before anything is scored or learned from (engine/records/table_import.py)."""
    from engine.records.table_import import mapping_for, read_table, remember_mapping, rows_to_trials

    table = read_table(args.table, sheet=args.sheet)
    mapping, remembered = mapping_for(table)
    mapping = _mapping_overrides(mapping, args.map, table.columns)
    _print_mapping(table, mapping, "given" if args.map else "saved" if remembered else "guessed from the header")
    if problems := mapping.problems(table.columns):
        raise CladmopError(f"{table.path}: {'; '.join(problems)}: give it with --map FIELD=COLUMN")
    trials, errors = rows_to_trials(table, mapping)
    for error in errors:
        print(f"cladmop: skipped {error}", file=sys.stderr)
    print(_import_summary(trials, errors))
    _say_saved(args, table, mapping, remember_mapping, remembered)
    if args.workspace is not None:
        _import_into_workspace(trials, args.workspace)
    return 0 if trials else 2


def _mapping_overrides(mapping, pairs: list[str], columns: list[str]):
    """`mapping` with each --map FIELD=COLUMN applied; column names match whatever their case."""
    import dataclasses

    from engine.records.table_import import FIELD_BY_NAME

    by_lower = {c.lower(): c for c in columns}
    changes = {}
    for pair in pairs:
        name, sep, column = (part.strip() for part in pair.partition("="))
        if not sep or name.lower() not in FIELD_BY_NAME:
            raise CladmopError(f"--map {pair!r}: give FIELD=COLUMN, FIELD one of {', '.join(FIELD_BY_NAME)}")
        if column and column.lower() not in by_lower:
            raise CladmopError(f"--map {pair!r}: no column {column!r}; the columns are {', '.join(columns)}")
        changes[name.lower()] = by_lower.get(column.lower())
    return dataclasses.replace(mapping, **changes)


def _print_mapping(table, mapping, how: str) -> None:
    from engine.records.table_import import FIELDS

    sheet = f", sheet {table.sheet!r}" if table.sheet else ""
    print(f"{table.path}{sheet}: {len(table.rows)} row(s); columns {how}:")
    if table.other_sheets:
        print(f"  the workbook's other sheets: {', '.join(table.other_sheets)} (choose one with --sheet)")
    for f in FIELDS:
        print(f"  {f.name:<11} {getattr(mapping, f.name) or '-':<30} {'' if f.required else '(optional)'}".rstrip())
    unused = [c for c in table.columns if c not in mapping.as_dict().values()]
    if unused:
        print(f"  not read: {', '.join(unused)}")


def _import_summary(trials, errors) -> str:
    labels = [t.label for t in trials if t.label is not None]
    success = sum(labels)
    labelled = f", {len(labels)} labelled ({success} success, {len(labels) - success} failure)" if labels else ""
    return f"{len(trials)} trial(s) read{labelled}; {len(errors)} row(s) skipped"


def _say_saved(args, table, mapping, remember_mapping, remembered: bool) -> None:
    if args.save_mapping:
        first = " (a workbook's first sheet)" if table.other_sheets else ""
        print(f"mapping saved ({remember_mapping(table.columns, mapping)}): predict, export, evaluate and "
              f"finetune now read {table.path.name}{first} and any table with the same columns")
    elif not remembered or args.map:
        print("add --save-mapping to remember it (then predict, export, evaluate and finetune read the table)")


def _import_into_workspace(trials, path: str) -> None:
    """As the window opens a table: drugs and conditions looked up, and a trial already there (the same row
    of the same file, or the same content) not added twice."""
    from engine.studio import Studio, split_already_open
    from engine.workspace import Workspace, default_workspace_path

    studio = Studio(Workspace.open(Path(path) if path else default_workspace_path()))
    try:
        fresh, _ = split_already_open(trials, studio.known_sources())
        keys = studio.add_trials(fresh, resolve=True)
        unresolved = sum(bool(studio.entry(k).record.unresolved) for k in keys)
        print(f"{studio.workspace.path}: added {len(keys)} trial(s)"
              + (f"; {len(trials) - len(fresh)} already there" if len(fresh) < len(trials) else "")
              + (f"; {unresolved} with a drug or condition not found (see `workspace show`)" if unresolved else ""))
    finally:
        studio.close()


COMMANDS = {"predict": cmd_predict, "evaluate": cmd_evaluate, "pretrain": cmd_pretrain,
            "whatif": cmd_whatif, "workspace": cmd_workspace, "finetune": cmd_finetune, "cache": cmd_cache, "index": cmd_index, "info": cmd_info,
            "train-default": cmd_train_default, "import-backbone": cmd_import_backbone,
            "backbones": cmd_backbones, "remove-backbone": cmd_remove_backbone, "export": cmd_export,
            "import": cmd_import}

if __name__ == "__main__":
    sys.exit(main())
