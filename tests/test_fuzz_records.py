"""Issue 20: a seeded mutator over the real records in ../shared/data (legacy XML, API v2 JSON, TOP CSV;
without them, over the suite's own in tests/data).
Each of a few hundred mutants either reads (and its drug and condition names pass the name rules) or
is refused with a domain error (RecordError, CladmopError) naming the file; never another exception,
never slower than `SECONDS_PER_CASE`. The mutations are the kinds issue 20 found: giant names and
titles, infinite and 5,000-digit numbers, long lists, UTF-16 without a byte-order mark, wrong types,
truncation and junk bytes. Seeded: a failure names its case and reproduces."""
from __future__ import annotations

import csv
import io
import json
import random
import re
import time
from pathlib import Path

import pytest

from engine.errors import CladmopError
from engine.lookups.drug_names import is_placebo, looks_biologic, name_keys, split_combination
from engine.records import RecordError, read_record
from tests.data_sources import data_dir

DATA = data_dir()

SEED = 20
CASES_PER_FORMAT = 150
#: one read plus the name rules, on the shared 2-core CI machine (a real record: ~5 ms)
SECONDS_PER_CASE = 3.0
HOSTILE_TEXTS = ["d" * 2_000_000, "ab cd " * 400_000, "inf", "1e400", "-1", "NaN", "\x00\x01", "é" * 50_000,
                 "Phase 1/" * 10_000, "aspirin + " * 20_000, "(" * 50_000, "1 mg " * 100_000]
HOSTILE_JSON = ["1e400", "-1e400", "9" * 5000, "NaN", "Infinity", "null", "true", "[]", "{}", '""',
                json.dumps(["x"] * 2_000), json.dumps("d" * 2_000_000), "[" * 500 + "]" * 500]


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(inner, path + (key,))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _leaves(inner, path + (index,))
    yield path


def mutate_bytes(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    how = rng.choice(["truncate", "junk", "utf16", "duplicate"])
    at = rng.randrange(len(data))
    if how == "truncate":
        return how, data[:at]
    if how == "junk":
        return how, data[:at] + rng.choice([b"\xff\xfe", b"\xc3\x28", b"\x00" * 8, b"<", b"&", b"]]>", b"{"]) + data[at:]
    if how == "utf16":
        return how, data.decode("utf-8", "replace").encode(rng.choice(["utf-16-le", "utf-16-be", "utf-16"]))
    return how, data[:at] + data[at:at + 5000] * rng.randint(2, 50) + data[at:]


def mutate_json(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    study = json.loads(data)
    leaves = [p for p in _leaves(study) if p]
    read = [p for p in leaves if p[0] == "protocolSection"]  # what the reader looks at, mostly
    path = rng.choice(read if read and rng.random() < 0.8 else leaves)
    node = study
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "\x00HOSTILE\x00"
    raw = rng.choice(HOSTILE_JSON + [json.dumps(t) for t in HOSTILE_TEXTS])
    return f"{'.'.join(map(str, path))} = {raw[:20]}", json.dumps(study).replace('"\\u0000HOSTILE\\u0000"', raw).encode()


def mutate_xml(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    text = data.decode("utf-8", "replace")
    tags = sorted(set(t for t in re.findall(r"<([a-z_]+)>[^<]", text)))
    tag, hostile = rng.choice(tags), rng.choice(HOSTILE_TEXTS)
    escaped = hostile.replace("&", "&amp;").replace("<", "&lt;").replace("\x00", "").replace("\x01", "")
    if rng.random() < 0.3:  # many copies of an element: conditions, interventions
        block = re.search(rf"<{tag}>.*?</{tag}>", text, re.S)
        return f"{tag} x999", text.replace(block[0], block[0] * 999, 1).encode() if block else data
    return f"<{tag}> = {hostile[:20]!r}", re.sub(rf"<{tag}>[^<]*</{tag}>", lambda m: f"<{tag}>{escaped}</{tag}>",
                                                             text, count=1).encode()


def mutate_csv(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    header, body = rows[0], rows[1:1 + rng.randint(1, 5)]
    column = rng.randrange(len(header))
    hostile = rng.choice(HOSTILE_TEXTS[:6] + ["['" + "d" * 150_000 + "']", str(["x"] * 3000), "[" * 1000,
                                              "__import__('os').system('true')", "[1e400]", "['a', ['b', ['c']]]"])
    rng.choice(body)[column] = hostile
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header] + body)
    return f"{header[column]} = {hostile[:20]!r}", out.getvalue().encode()


def check(path: Path, case: str) -> None:
    """A read and the name rules within the bound; a domain error naming the file; nothing else."""
    started = time.perf_counter()
    try:
        for trial in read_record(path):
            for name in [d.name for d in trial.drugs] + [c.name for c in trial.conditions]:
                name_keys(name), looks_biologic(name), split_combination(name), is_placebo(name)
    except (RecordError, CladmopError) as error:
        assert str(error).startswith(str(path)), f"{case}: {error}"
    except Exception as error:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{case}: {type(error).__name__}: {error}")
    elapsed = time.perf_counter() - started
    assert elapsed < SECONDS_PER_CASE, f"{case}: {elapsed:.1f} s"


def sources(kind: str, rng: random.Random) -> list[Path]:
    folder = {"xml": DATA / "ctgov_xml", "json": DATA / "ctgov_json", "csv": DATA / "top"}[kind]
    found = sorted(folder.glob({"xml": "NCT*.xml", "json": "NCT*.json", "csv": "phase_*_valid.csv"}[kind]))
    return rng.sample(found, min(20, len(found)))


@pytest.mark.parametrize("kind, structural", [("xml", mutate_xml), ("json", mutate_json), ("csv", mutate_csv)])
def test_mutated_real_records_read_or_fail_by_name_within_bounds(kind, structural, tmp_path):
    rng = random.Random(f"{SEED}-{kind}")
    files = sources(kind, rng)
    for number in range(CASES_PER_FORMAT):
        source = rng.choice(files)
        original = source.read_bytes()
        how, data = (structural if rng.random() < 0.7 else mutate_bytes)(original, rng)
        path = tmp_path / f"case{number}{source.suffix}"
        path.write_bytes(data)
        check(path, f"{kind} case {number} ({source.name}: {how})")
        path.unlink()
