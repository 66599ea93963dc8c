"""Criteria -> frozen-encoder states at two granularities, through the on-disk cache (docs/model.md,
"Language model").

- `criterion`: every active item is encoded on its own as "Inclusion: <text>" / "Exclusion: <text>"
  (the kind changes what an item means), cut to its first `MAX_ITEM_TOKENS` tokens and mean-pooled
  over its text tokens (special tokens left out): one vector per item and level. Cache key = the item
  text with its kind, so a what-if edit re-encodes the edited item only.
- `token`: the items are laid out as one text (`criteria_layout`), tokenized once and encoded in
  windows (`TextEncoder.encode`); at most `MAX_TOTAL_TOKENS` text tokens are kept (a warning says
  when a text was cut). Every token keeps the index of the item it falls in (-1: headers, bullets,
  special tokens). Cache key = the whole text.

No criteria -> arrays with zero rows; the model stands in a learned placeholder.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from engine.features.encoder_cache import CachedStates, EncoderCache, to_half_precision
from engine.records.trial import Criterion, Trial
from engine.tasks import TaskState

GRANULARITIES = ("criterion", "token")
#: an item's tokens beyond this are dropped before pooling (MiniLM: 99.4% of TOP's items fit; median 17)
MAX_ITEM_TOKENS = 128
#: text tokens kept of a trial's whole criteria text at token granularity (MiniLM: 99.6% of TOP trials
#: fit; median 430)
MAX_TOTAL_TOKENS = 2048
KIND_LABELS = {"inclusion": "Inclusion", "exclusion": "Exclusion"}
#: texts handed to the encoder per call, so progress moves and a cancel is honoured quickly
_CHUNK = {"criterion": 256, "token": 16}


def normalize_text(text: str) -> str:
    """Whitespace runs -> one space: wrapped lines and re-indented records encode (and cache) alike."""
    return " ".join(text.split())


def item_text(criterion: Criterion) -> str:
    """What `criterion` granularity encodes for one item: its kind, then its text."""
    return f"{KIND_LABELS.get(criterion.kind, criterion.kind.capitalize())}: {normalize_text(criterion.text)}"


def criteria_layout(criteria: Sequence[Criterion]) -> tuple[str, list[tuple[int, int]]]:
    """The one text `token` granularity encodes, and each item's character span in it.

    The layout is `engine.records.criteria.join_criteria`'s (the legacy record layout: an "Inclusion
    Criteria:" block, then an "Exclusion Criteria:" block, one "  -  item" line each), so the model
    reads criteria as records write them. Spans follow the order of `criteria`, whatever the order
    of the blocks. Without `engine.records.criteria`, the same layout is written here.
    """
    try:
        from engine.records.criteria import join_criteria
    except ImportError:
        join_criteria = _join_legacy
    items = [Criterion(normalize_text(c.text), c.kind) for c in criteria]
    text = join_criteria(items)
    order = ([i for i, c in enumerate(items) if c.kind != "exclusion"]
             + [i for i, c in enumerate(items) if c.kind == "exclusion"])
    spans: list[tuple[int, int]] = [(0, 0)] * len(items)
    pos = 0
    for i in order:
        at = text.find(f"-  {items[i].text}", pos) if items[i].text else -1
        if at < 0:  # a layout this code does not know: write its own
            return _layout_with_spans(items, order)
        start = at + 3
        spans[i] = (start, start + len(items[i].text))
        pos = spans[i][1]
    return text, spans


def _join_legacy(items: Sequence[Criterion]) -> str:
    return _layout_with_spans(items, [i for i, c in enumerate(items) if c.kind != "exclusion"]
                              + [i for i, c in enumerate(items) if c.kind == "exclusion"])[0]


def _layout_with_spans(items: Sequence[Criterion], order: list[int]) -> tuple[str, list[tuple[int, int]]]:
    """`join_criteria`'s layout: blocks separated by a blank line, a blank line after each line."""
    lines: list[str] = []
    spans: list[tuple[int, int]] = [(0, 0)] * len(items)
    pos, kind = 0, None

    def add(line: str) -> None:
        nonlocal pos
        lines.append(line)
        pos += len(line) + 1

    for i in order:
        item_kind = "exclusion" if items[i].kind == "exclusion" else "inclusion"
        if item_kind != kind:
            if lines:
                add("")
            add(f"{KIND_LABELS[item_kind]} Criteria:")
            kind = item_kind
        add("")
        spans[i] = (pos + 5, pos + 5 + len(items[i].text))
        add(f"  -  {items[i].text}")
    return "\n".join(lines), spans


def items_of_tokens(offsets: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Index of the item each token overlaps (-1 for special tokens, headers and bullets)."""
    out = np.full(len(offsets), -1, np.int64)
    if not spans or not len(offsets):
        return out
    starts = np.asarray([s for s, _ in spans])
    ends = np.asarray([e for _, e in spans])
    tok_start, tok_end = offsets[:, 0], offsets[:, 1]
    idx = np.searchsorted(starts, tok_end - 1, side="right") - 1
    safe = np.clip(idx, 0, len(spans) - 1)
    inside = (idx >= 0) & (tok_end > tok_start) & (tok_start < ends[safe]) & (tok_end > starts[safe])
    out[inside] = idx[inside]
    return out


@dataclass
class CriteriaStates:
    """Encoder states of one trial's active criteria, ready for `TrialFeatures`."""

    levels: np.ndarray  # float32 (3, n_c, H)
    final: np.ndarray  # float32 (n_c, H)
    item: np.ndarray  # int64 (n_c,) index into the active criteria, -1 for headers / special tokens
    granularity: str
    warnings: list[str] = field(default_factory=list)
    tokens: np.ndarray | None = None  # float32 (n_c,): tokens behind each row (TrialFeatures.crit_tokens)


@dataclass
class EncodeCounts:
    """What the encoder cost: texts sent to the model vs found in the cache."""

    encoded: int = 0
    cached: int = 0


class CriteriaEncoder:
    """Encodes criteria lists at one granularity with a `TextEncoder`, reading and filling a cache.

    `cache=None` opens the default file under `engine.paths.cache_dir()`; `cache=False` keeps
    nothing between calls (an in-memory cache).
    """

    def __init__(self, encoder, granularity: str = "criterion", cache: EncoderCache | None | bool = None,
                 *, max_item_tokens: int = MAX_ITEM_TOKENS, max_total_tokens: int = MAX_TOTAL_TOKENS):
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")
        self.encoder = encoder
        self.granularity = granularity
        if cache is None or cache is True:
            cache = EncoderCache()
        elif cache is False:
            cache = EncoderCache.in_memory()
        self.cache = cache
        self.max_item_tokens = max_item_tokens
        self.max_total_tokens = max_total_tokens
        self.counts = EncodeCounts()

    @property
    def cache_tag(self) -> str:
        """Everything besides backbone and text that changes the stored states."""
        if self.granularity == "criterion":
            return f"criterion/mean/max{self.max_item_tokens}"
        from engine.features.backbones import WINDOW_OVERLAP

        return f"token/max{self.max_total_tokens}/window{self.encoder.window_tokens}/overlap{WINDOW_OVERLAP}"

    @property
    def hidden_size(self) -> int:
        return self.encoder.hidden_size

    def texts_of(self, criteria: Sequence[Criterion]) -> list[str]:
        """The texts encoded (and cached) for one criteria list."""
        if not criteria:
            return []
        if self.granularity == "criterion":
            return [item_text(c) for c in criteria]
        return [criteria_layout(criteria)[0]]

    def encode(self, criteria: Sequence[Criterion]) -> CriteriaStates:
        return self.encode_many([criteria])[0]

    def encode_many(self, criteria_lists: Sequence[Sequence[Criterion]],
                    state: TaskState | None = None) -> list[CriteriaStates]:
        """States of every list; texts already cached are read, the rest encoded in batches."""
        texts_per_list = [self.texts_of(c) for c in criteria_lists]
        states = self._states_for({t for texts in texts_per_list for t in texts}, state)
        return [self._assemble(c, texts, states) for c, texts in zip(criteria_lists, texts_per_list)]

    def warm(self, criteria_lists: Sequence[Sequence[Criterion]], state: TaskState | None = None) -> int:
        """Make sure every text is cached without assembling features; returns the number encoded."""
        before = self.counts.encoded
        self._states_for({t for c in criteria_lists for t in self.texts_of(c)}, state, keep=False)
        return self.counts.encoded - before

    # -- internals --------------------------------------------------------------------------------
    def _states_for(self, texts: set[str], state: TaskState | None, keep: bool = True) -> dict[str, CachedStates]:
        backbone = self.encoder.backbone_id
        keys = {t: EncoderCache.key(backbone, self.cache_tag, t) for t in texts}
        cached = self.cache.get_many(keys.values())
        found = {t: cached[k] for t, k in keys.items() if k in cached}
        self.counts.cached += len(found)
        missing = sorted((t for t in texts if t not in found), key=len)
        total, done = len(missing), 0
        label = f"encoding criteria ({self.granularity})"
        if state is not None:
            state.progress(0, total, label)
        chunk = _CHUNK[self.granularity]
        for start in range(0, total, chunk):
            batch = missing[start:start + chunk]
            fresh = dict(zip(batch, self._encode_texts(batch)))
            self.cache.put_many({keys[t]: s for t, s in fresh.items()})
            self.counts.encoded += len(batch)
            if keep:
                found.update(fresh)
            done += len(batch)
            if state is not None:
                state.progress(done, total, label)
        return found

    def _encode_texts(self, texts: list[str]) -> list[CachedStates]:
        if self.granularity == "criterion":
            out = []
            for enc in self.encoder.encode(texts, max_tokens=self.max_item_tokens):
                body = ~enc.is_special
                if not body.any():
                    body[:] = True
                out.append(CachedStates(to_half_precision(enc.levels[:, body].mean(axis=1, keepdims=True)),
                                        to_half_precision(enc.final[body].mean(axis=0, keepdims=True)),
                                        None, enc.n_text_tokens))
            return out
        return [CachedStates(to_half_precision(enc.levels), to_half_precision(enc.final), enc.offsets,
                             enc.n_text_tokens)
                for enc in self.encoder.encode(texts, max_tokens=self.max_total_tokens)]

    def _assemble(self, criteria, texts, states: dict[str, CachedStates]) -> CriteriaStates:
        hidden = self.hidden_size
        if not texts:
            return CriteriaStates(np.zeros((3, 0, hidden), np.float32), np.zeros((0, hidden), np.float32),
                                  np.zeros(0, np.int64), self.granularity)
        warnings = []
        if self.granularity == "criterion":
            parts = [states[t] for t in texts]
            long = sum(p.n_text_tokens > self.max_item_tokens for p in parts)
            if long:
                warnings.append(f"{long} criteria item(s) longer than {self.max_item_tokens} tokens were "
                                f"read up to their first {self.max_item_tokens} tokens")
            tokens = np.array([max(1, min(p.n_text_tokens, self.max_item_tokens)) for p in parts], np.float32)
            return CriteriaStates(np.concatenate([p.levels for p in parts], axis=1),
                                  np.concatenate([p.final for p in parts], axis=0),
                                  np.arange(len(parts), dtype=np.int64), self.granularity, warnings, tokens)
        s = states[texts[0]]
        item = items_of_tokens(s.offsets, criteria_layout(criteria)[1])
        if s.n_text_tokens > self.max_total_tokens:
            last = int(item.max()) + 1 if (item >= 0).any() else 0
            warnings.append(f"criteria text cut at {self.max_total_tokens} of its {s.n_text_tokens} tokens: "
                            f"the model reads items 1-{last} of {len(criteria)} (item {last} partly)")
        return CriteriaStates(s.levels, s.final, item, self.granularity, warnings,
                              np.ones(len(item), np.float32))


@dataclass
class CacheBuildReport:
    trials: int
    items: int  # active criteria items over all trials
    texts: int  # distinct texts at this granularity
    encoded: int  # texts the model had to encode (the rest were cached)
    seconds: float

    def __str__(self) -> str:
        return (f"{self.trials} trials, {self.items} criteria items: {self.texts} texts cached, "
                f"{self.encoded} of them encoded now, in {self.seconds:.1f} s")


def build_cache(trials: Sequence[Trial], encoder, granularity: str = "criterion",
                state: TaskState | None = None, cache: EncoderCache | None | bool = None) -> CacheBuildReport:
    """Encode and store the criteria of `trials` ahead of time (e.g. before training or batch scoring).

    Progress goes to `state`; a cancel stops between batches, keeping what was stored so far.
    """
    start = time.perf_counter()
    crit = CriteriaEncoder(encoder, granularity, cache)
    lists = [t.active_criteria for t in trials]
    texts = {t for c in lists for t in crit.texts_of(c)}
    encoded = crit.warm(lists, state)
    return CacheBuildReport(trials=len(trials), items=sum(len(c) for c in lists), texts=len(texts),
                            encoded=encoded, seconds=time.perf_counter() - start)
