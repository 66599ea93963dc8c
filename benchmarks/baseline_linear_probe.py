"""Linear probe on the frozen criteria embedding: the bar the full CLaDMoP model must clear.

    CLADMOP_CACHE=/work/runs/cache installer/dev.sh python benchmarks/baseline_linear_probe.py \
        [--phases I II III] [--folds 5] [--seed 0] [--limit N] [--device auto] [--json OUT]

Logistic regression (standardized inputs, C chosen by an inner stratified 5-fold CV on log-loss) on
two frozen all-MiniLM-L6-v2 embeddings of the eligibility criteria, nothing else:

- `whole text`: the sentence-transformers embedding - the mean of the last-layer token states
  (special tokens included, as its attention-mask pooling does) over the whole criteria text as the
  record gives it, L2-normalised (the model's Normalize step). Texts longer than the 256-token window
  are read in overlapping windows (`TextEncoder.encode`) instead of being cut at 256 tokens.
- `item mean`: the mean of the per-criterion item vectors (each item "Inclusion: ..." encoded alone,
  mean-pooled over its tokens) - what the model's f_C is at criterion granularity.

Both are cached in the encoder cache (`$CLADMOP_CACHE`): the first run encodes, later runs only read.
Protocol and printout: benchmarks/validation.py; numbers: docs/validation.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.validation import main_guard, parse_args, run_baseline  # noqa: E402
from engine.features.document import document_embeddings, document_tag, raw_text  # noqa: E402
from engine.records.trial import Trial  # noqa: E402
from engine.training.linear import C_GRID, INNER_FOLDS  # noqa: E402


def item_mean_embeddings(trials: list[Trial], encoder, cache) -> np.ndarray:
    """(n, H) mean of the per-criterion item vectors (last layer); zeros for a trial without criteria."""
    from engine.features.text_encoder import CriteriaEncoder

    states = CriteriaEncoder(encoder, "criterion", cache).encode_many([t.active_criteria for t in trials])
    return np.stack([s.final.mean(axis=0) if len(s.final) else np.zeros(encoder.hidden_size, np.float32)
                     for s in states]).astype(np.float64)


def fit_predict(X_train: np.ndarray, y_train: np.ndarray, X_heldout: np.ndarray, seed: int) -> np.ndarray:
    """Standardize, then logistic regression with C picked by inner stratified CV (log-loss)."""
    from engine.training.linear import fit_linear, sigmoid

    return sigmoid(fit_linear(X_train, y_train, seed).logit(X_heldout))


def main(argv=None) -> dict:
    args = parse_args(__doc__.split("\n")[0], argv, lambda ap: ap.add_argument(
        "--device", default="auto", help="encoder device: auto | cpu | cuda (only for texts not cached)"))
    from engine.features.backbones import load_backbone
    from engine.features.encoder_cache import EncoderCache

    encoder = load_backbone("minilm", args.device)
    cache = EncoderCache()
    print(f"encoder {encoder.backbone_id}, cache {cache.path}")

    def featurize(trials: list[Trial]) -> dict[str, np.ndarray]:
        return {"linear probe, whole text": document_embeddings(trials, encoder, cache, echo=print,
                                                                text_of=raw_text),
                "linear probe, item mean": item_mean_embeddings(trials, encoder, cache)}

    settings = {"encoder": encoder.backbone_id, "C_grid": C_GRID.tolist(), "inner_folds": INNER_FOLDS,
                "inner_scoring": "neg_log_loss", "document_tag": document_tag(encoder)}
    return run_baseline("Linear probe on frozen all-MiniLM-L6-v2 criteria embeddings", args, featurize,
                        fit_predict, settings)


if __name__ == "__main__":
    main_guard(main)
