"""Criteria encoding at both granularities through the on-disk cache: hits, edits, damage, cancel."""
from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest

from engine.errors import Cancelled
from engine.features.encoder_cache import (
    CachedStates, EncoderCache, SqliteStore, pack_states, to_half_precision, unpack_states,
)
from engine.features.text_encoder import (
    MAX_TOTAL_TOKENS, CriteriaEncoder, build_cache, criteria_layout, item_text, items_of_tokens,
)
from engine.records.trial import Criterion
from engine.tasks import TaskState
from features_data import load_top_trials
from tests.data_sources import using_own_data
from tiny_models import ForwardCounter, build_tiny_biogpt, isolated_cache, minilm_encoder  # noqa: F401

pytestmark = pytest.mark.usefixtures("isolated_cache")


@pytest.fixture(scope="module")
def trials():
    return load_top_trials("phase_I_valid.csv", limit=16)


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory, trials):
    """A 4-layer BioGPT: cheap enough to push a thousand items through on a shared CPU."""
    from engine.features.backbones import load_backbone

    lines = [c.text for t in trials for c in t.active_criteria]
    return load_backbone(f"biogpt:{build_tiny_biogpt(tmp_path_factory.mktemp('tiny'), lines)}", "cpu")


def _same(a, b):
    return (np.array_equal(a.levels, b.levels) and np.array_equal(a.final, b.final)
            and np.array_equal(a.item, b.item))


# -- storage ---------------------------------------------------------------------------------------
def test_pack_round_trip_and_malformed_entries():
    rng = np.random.default_rng(0)
    levels, final = rng.normal(size=(3, 5, 8)) * 100, rng.normal(size=(5, 8))
    offsets = np.arange(10).reshape(5, 2)
    states = CachedStates(to_half_precision(levels), to_half_precision(final), offsets, 7)
    back = unpack_states(pack_states(states))
    assert np.array_equal(back.levels, states.levels) and np.array_equal(back.final, states.final)
    assert np.array_equal(back.offsets, offsets) and back.n_text_tokens == 7
    assert np.abs(back.levels - levels).max() < 0.1  # float16 keeps ~3 significant digits
    blob = pack_states(states)
    assert unpack_states(blob[:-3]) is None and unpack_states(b"junk") is None
    assert unpack_states(b"XXXX" + blob[4:]) is None


def test_damaged_entries_are_dropped_not_fatal(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite", "t")
    store.put_many({"a": b"alpha", "b": b"beta"})
    with sqlite3.connect(tmp_path / "s.sqlite") as conn:
        conn.execute("UPDATE t SET value = ? WHERE key = 'a'", (b"alphX",))
    assert store.get_many(["a", "b", "c"]) == {"b": b"beta"}
    assert len(store) == 1 and "damaged entries dropped" in store.problems[0]


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path):
    path = tmp_path / "states.sqlite"
    path.write_bytes(b"this is not sqlite " * 200)
    cache = EncoderCache(path)
    assert cache.path == path and len(cache) == 0
    assert list(tmp_path.glob("states.sqlite.corrupt-*")), "the damaged file is kept aside for inspection"
    cache.put_many({"k": CachedStates(np.zeros((3, 1, 4), np.float32), np.ones((1, 4), np.float32), None, 1)})
    assert np.array_equal(EncoderCache(path).get_many(["k"])["k"].final, np.ones((1, 4)))


def test_an_unwritable_folder_falls_back_to_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    store = SqliteStore(blocker / "cache" / "s.sqlite", "t")
    assert store.path is None and "caching in memory only" in store.problems[0]
    store.put_many({"a": b"1"})
    assert store.get_many(["a"]) == {"a": b"1"}


def test_concurrent_writers_and_readers(tmp_path):
    path = tmp_path / "shared.sqlite"
    errors: list[BaseException] = []

    def writer(w: int):
        try:
            store = SqliteStore(path, "t")  # own connection, as another process would have
            for i in range(40):
                store.put_many({f"{w}-{i}-{j}": bytes([w, i, j]) * 50 for j in range(5)})
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def reader():
        try:
            store = SqliteStore(path, "t")
            for _ in range(80):
                for key, value in store.get_many([f"0-{i}-0" for i in range(40)]).items():
                    assert value == bytes([0, int(key.split("-")[1]), 0]) * 50
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = SqliteStore(path, "t")
    assert len(store) == 3 * 40 * 5 and not store.problems
    assert store.path is not None and sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- criterion granularity -------------------------------------------------------------------------
def test_criterion_cache_hit_skips_the_model(tmp_path, trials):
    enc = minilm_encoder()
    lists = [t.active_criteria for t in trials[:2]]
    path = tmp_path / "states.sqlite"
    with ForwardCounter(enc) as counter:
        first = CriteriaEncoder(enc, "criterion", EncoderCache(path)).encode_many(lists)
        assert counter.sequences == len({item_text(c) for lst in lists for c in lst})
        calls = counter.calls
        again = CriteriaEncoder(enc, "criterion", EncoderCache(path)).encode_many(lists)
        assert counter.calls == calls, "a cache hit must not run the model"
    for a, b, lst in zip(first, again, lists):
        assert _same(a, b)
        assert a.levels.shape == (3, len(lst), 384) and a.final.shape == (len(lst), 384)
        assert a.levels.dtype == np.float32 and a.item.tolist() == list(range(len(lst)))


def test_a_one_item_edit_re_encodes_that_item_only(trials):
    enc = minilm_encoder()
    crit = CriteriaEncoder(enc, "criterion", EncoderCache.in_memory())
    items = trials[5].active_criteria
    before = crit.encode(items)
    edited = [Criterion(c.text, c.kind) for c in items]
    edited[3].text += " within 28 days of enrolment"
    with ForwardCounter(enc) as counter:
        after = crit.encode(edited)
    assert counter.sequences == 1
    changed = [i for i in range(len(items)) if not np.array_equal(before.final[i], after.final[i])]
    assert changed == [3]
    # the kind is part of an item: flipping it is an edit too; reordering is not
    edited[0].kind = "exclusion" if edited[0].kind == "inclusion" else "inclusion"
    with ForwardCounter(enc) as counter:
        crit.encode(edited)
        crit.encode(list(reversed(edited)))
    assert counter.sequences == 1


def test_damaged_cache_entry_is_recomputed(tmp_path, trials):
    enc = minilm_encoder()
    path = tmp_path / "states.sqlite"
    items = trials[1].active_criteria
    fresh = CriteriaEncoder(enc, "criterion", EncoderCache(path)).encode(items)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE encoder_states_v1 SET value = substr(value, 1, 40) "
                     "WHERE key IN (SELECT key FROM encoder_states_v1 LIMIT 2)")
    with ForwardCounter(enc) as counter:
        again = CriteriaEncoder(enc, "criterion", EncoderCache(path)).encode(items)
    assert counter.sequences == 2
    # recomputed in another batch (other padding): equal up to float16 rounding
    np.testing.assert_allclose(again.levels, fresh.levels, atol=2e-3, rtol=2e-3)
    np.testing.assert_allclose(again.final, fresh.final, atol=2e-3, rtol=2e-3)


def test_empty_criteria_give_zero_rows_without_the_model():
    enc = minilm_encoder()
    for granularity in ("criterion", "token"):
        with ForwardCounter(enc) as counter:
            out = CriteriaEncoder(enc, granularity, cache=False).encode([])
        assert counter.calls == 0
        assert out.levels.shape == (3, 0, 384) and out.final.shape == (0, 384) and out.item.shape == (0,)
        assert out.levels.dtype == np.float32 and out.item.dtype == np.int64


def test_a_thousand_items(trials, tiny_encoder):
    enc = tiny_encoder
    pool = [c for t in trials for c in t.active_criteria]
    items = [Criterion(f"item {i}: {pool[i % len(pool)].text}", pool[i % len(pool)].kind) for i in range(1000)]
    by_item = CriteriaEncoder(enc, "criterion", cache=False).encode(items)
    assert by_item.levels.shape == (3, 1000, 32) and np.isfinite(by_item.final).all()
    assert by_item.item.tolist() == list(range(1000))
    assert len({row.tobytes() for row in by_item.final}) == 1000
    by_token = CriteriaEncoder(enc, "token", cache=False).encode(items)
    assert by_token.final.shape[0] == MAX_TOTAL_TOKENS + 1  # BioGPT: one leading </s>
    assert "criteria text cut at 2048" in by_token.warnings[0]
    read = set(by_token.item[by_token.item >= 0].tolist())
    assert (10 if using_own_data() else 30) < len(read) < 1000 and 0 in read  # tests/data: longer items


# -- token granularity -----------------------------------------------------------------------------
def test_token_layout_spans_and_item_of_each_token(trials):
    enc = minilm_encoder()
    items = trials[2].active_criteria
    text, spans = criteria_layout(items)
    for c, (s, e) in zip(items, spans):
        assert text[s:e] == " ".join(c.text.split())
    try:
        from engine.records.criteria import join_criteria
    except ImportError:
        pass
    else:  # the layout records are written in
        assert text == join_criteria(items)
    out = CriteriaEncoder(enc, "token", cache=False).encode(items)
    ids, offsets = enc.tokenize([text])[0]
    assert out.final.shape == (len(ids) + 2, 384) and out.levels.shape == (3, len(ids) + 2, 384)
    assert out.item[0] == -1 and out.item[-1] == -1  # [CLS], [SEP]
    assert set(out.item.tolist()) == {-1, *range(len(items))}
    for k, (s, e) in zip(out.item[1:-1], offsets):
        token = text[s:e]
        if k >= 0:
            assert spans[k][0] <= s and e <= spans[k][1]
        else:
            assert token in ("-", "inclusion", "exclusion", "criteria", ":") or token.lower() in (
                "inclusion", "exclusion", "criteria")
    # items_of_tokens with whole-line spans (slow tokenizers) finds the same items
    line_offsets = np.array([[text.rfind("\n", 0, s) + 1, text.find("\n", e) % (len(text) + 1) or len(text)]
                             for s, e in offsets])
    line_items = items_of_tokens(line_offsets, spans)
    assert (line_items[out.item[1:-1] >= 0] == out.item[1:-1][out.item[1:-1] >= 0]).all()


def test_token_cache_hit_and_edit(tmp_path, trials):
    enc = minilm_encoder()
    path = tmp_path / "states.sqlite"
    items = trials[3].active_criteria
    first = CriteriaEncoder(enc, "token", EncoderCache(path)).encode(items)
    with ForwardCounter(enc) as counter:
        again = CriteriaEncoder(enc, "token", EncoderCache(path)).encode(items)
    assert counter.calls == 0 and _same(first, again)
    edited = [Criterion(c.text, c.kind) for c in items]
    edited[0].text = "Adults aged 18 to 75 years"
    with ForwardCounter(enc) as counter:
        CriteriaEncoder(enc, "token", EncoderCache(path)).encode(edited)
    assert counter.sequences >= 1  # the whole text is one cache entry at token granularity


# -- build_cache -----------------------------------------------------------------------------------
def test_build_cache_reports_progress_and_cancels_between_batches(trials, monkeypatch):
    from engine.features import text_encoder

    monkeypatch.setitem(text_encoder._CHUNK, "criterion", 16)  # batches of 16 items instead of 256
    enc = minilm_encoder()
    trials = trials[:2]
    texts = {item_text(c) for t in trials for c in t.active_criteria}
    assert len(texts) > 16, "needs more than one batch of items"
    seen: list[tuple[int, int]] = []
    state = TaskState(lambda done, total, text: seen.append((done, total)))
    state_cancel = TaskState(lambda done, total, text: done >= 16 and state_cancel.cancel())
    cache = EncoderCache.in_memory()
    with pytest.raises(Cancelled):
        build_cache(trials, enc, "criterion", state_cancel, cache=cache)
    assert len(cache) == 16  # the finished batch stays stored
    report = build_cache(trials, enc, "criterion", state, cache=cache)
    rest = len(texts) - 16
    assert report.encoded == rest and report.texts == len(texts)
    assert report.trials == len(trials) and report.items == sum(len(t.active_criteria) for t in trials)
    assert seen[0] == (0, rest) and seen[-1] == (rest, rest) and len(seen) == 1 + -(-rest // 16)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert build_cache(trials, enc, "criterion", None, cache=cache).encoded == 0


def test_opening_waits_for_a_lock_another_process_holds(tmp_path):
    """Processes that start together (torchrun's ranks) open the cache at once; one that finds the file
    locked waits for it instead of falling back to memory and losing its work."""
    path = tmp_path / "busy.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    releaser = threading.Timer(1.0, lambda: holder.execute("COMMIT"))
    releaser.start()
    store = SqliteStore(path, "t")  # a fresh file: turning on WAL needs the lock the holder keeps for 1 s
    releaser.join()
    assert store.path == path and not store.problems
    store.put_many({"k": b"v"})
    assert SqliteStore(path, "t").get_many(["k"]) == {"k": b"v"}
