"""The whole-text embedding of a trial's criteria, in two kinds (one vector per trial, L2-normalised).

What similar past trials are found by and novelty is measured in (engine/evidence/), and what the
combined model's criteria-text member reads (engine/model/ensemble.py). A model folder names its kind
(`EMBEDDINGS`); the index and the ensemble of one folder read the same.

- "pooled-items" (models from v4 on): the token-weighted mean of the items' own last-layer states, the
  states CLaDMoP already reads (TrialFeatures.crit_final). An edit or an ablation costs no encoder pass
  beyond the edited item. On the temporal validation its probe ranked as the whole-text one did
  (benchmarks/results/2026-12-06: PR-AUC .728/.627/.859 against .721/.616/.858 by phase).
- "document" (v3): the mean of the encoder's last-layer states over the whole criteria text (special
  tokens included, as sentence-transformers' attention-mask pooling does). Texts longer than the
  encoder's window are read in overlapping windows instead of being cut. Cached like the criteria
  states, so a learning set is encoded once.

The text is `document_text`: the enabled items in the legacy layout, so a what-if edit or an ablation
changes it exactly as it changes what CLaDMoP reads. (The linear-probe *baseline* of the benchmarks
reads the record's text as given, `raw_text`, as it was defined.)
"""
from __future__ import annotations

import numpy as np

from engine.records.trial import Trial

_CHUNK = 32
DOCUMENT, POOLED_ITEMS = "document", "pooled-items"
EMBEDDINGS = (DOCUMENT, POOLED_ITEMS)
#: what new learning indexes and combined models are built with
DEFAULT_EMBEDDING = POOLED_ITEMS


def trial_embeddings(kind: str, trials: list[Trial], featurizer, features=None) -> np.ndarray:
    """(n, H) embeddings of `kind` for *resolved* `trials`; `features` (their TrialFeatures, when the
    caller has them) spare the pooled kind any work."""
    if kind == DOCUMENT:
        return document_embeddings(trials, featurizer.encoder, featurizer.criteria.cache)
    if kind != POOLED_ITEMS:
        raise ValueError(f"unknown embedding kind {kind!r} (known: {', '.join(EMBEDDINGS)})")
    if features is not None:
        return pooled_item_embeddings(features)
    return np.concatenate([pooled_item_embeddings(featurizer.featurize_many(trials[start:start + 256]))
                           for start in range(0, len(trials), 256)] or [np.zeros((0, featurizer.text_dim))])


def document_tag(encoder) -> str:
    """Cache tag of a whole-text mean-pooled embedding (window layout included: it changes the states)."""
    from engine.features.backbones import WINDOW_OVERLAP

    return f"document/mean-all-tokens/window{encoder.window_tokens}/overlap{WINDOW_OVERLAP}"


def document_text(trial: Trial) -> str:
    """The criteria as the model reads them: enabled items under their headers (engine.records.criteria)."""
    from engine.records.criteria import join_criteria

    return join_criteria(trial.criteria)


def raw_text(trial: Trial) -> str:
    """The criteria text as the record gives it (the linear-probe baseline's input)."""
    return trial.criteria_text


def document_embeddings(trials: list[Trial], encoder, cache, echo=lambda s: None,
                        text_of=document_text) -> np.ndarray:
    """(n, H) L2-normalised mean of the last-layer states over each trial's `text_of(trial)`."""
    from engine.features.encoder_cache import CachedStates, EncoderCache, to_half_precision
    from engine.features.text_encoder import normalize_text

    texts = [normalize_text(text_of(t)) for t in trials]
    tag = document_tag(encoder)
    keys = {text: EncoderCache.key(encoder.backbone_id, tag, text) for text in set(texts)}
    found = cache.get_many(keys.values())
    missing = sorted((text for text, key in keys.items() if key not in found), key=len)
    for start in range(0, len(missing), _CHUNK):
        batch = missing[start:start + _CHUNK]
        fresh = {}
        for text, enc in zip(batch, encoder.encode(batch, max_tokens=None)):
            fresh[keys[text]] = CachedStates(to_half_precision(enc.levels.mean(axis=1, keepdims=True)),
                                             to_half_precision(enc.final.mean(axis=0, keepdims=True)),
                                             None, enc.n_text_tokens)
        cache.put_many(fresh)
        found.update(fresh)
        echo(f"  whole-text embeddings: encoded {min(start + _CHUNK, len(missing))}/{len(missing)} "
             f"({len(keys) - len(missing)} cached)")
    vectors = np.stack([found[keys[text]].final[0] for text in texts]).astype(np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def pooled_item_embeddings(features) -> np.ndarray:
    """(n, H) L2-normalised token-weighted mean of the items' own last-layer states (`TrialFeatures`
    at criterion granularity): the whole-text view composed of the items CLaDMoP already encodes, so an
    edit or an ablation costs no new encoder pass."""
    rows = []
    for f in features:
        final = np.asarray(f.crit_final, np.float64)
        if not len(final):
            rows.append(np.zeros(final.shape[1] if final.ndim == 2 else 0))
            continue
        weights = np.asarray(f.crit_tokens, np.float64) if f.crit_tokens is not None else np.ones(len(final))
        rows.append(weights @ final / max(weights.sum(), 1e-12))
    vectors = np.stack(rows)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
