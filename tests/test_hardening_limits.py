"""Resource limits (issue #5.4): a record of 2,000 criteria items is scored on its first
`MAX_MODEL_CRITERIA` items and the user is told; a batch scores with memory that does not grow with
the number of records (streamed: read, predict, write one record at a time)."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.predict import MAX_MODEL_CRITERIA, limit_criteria
from engine.records.trial import Criterion
from tests.data_sources import data_dir

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "resources" / "examples" / "NCT09990001.xml"


def long_record_xml(n_items: int) -> str:
    """The example record with `n_items` criteria items (half inclusion, half exclusion)."""
    half = n_items // 2
    lines = (["Inclusion Criteria:", ""] + [f"  -  inclusion item {i}: serum creatinine below {i % 9 + 1} mg/dL"
                                             for i in range(half)]
             + ["", "Exclusion Criteria:", ""] + [f"  -  exclusion item {i}: prior therapy number {i}"
                                                   for i in range(n_items - half)])
    text = EXAMPLE.read_text("utf-8")
    return re.sub(r"(<criteria>\s*<textblock>).*?(</textblock>)", lambda m: m[1] + "\n".join(lines) + m[2],
                  text, count=1, flags=re.S)


def test_limit_criteria_keeps_the_first_items_in_record_order():
    from engine.records import read_record

    trial = read_record(EXAMPLE)[0]
    items = [Criterion(f"item {i}", "exclusion" if i % 3 == 0 else "inclusion") for i in range(300)]
    cut, notice = limit_criteria(trial.replace(criteria=items), 128)
    assert [c.text for c in cut.active_criteria] == [f"item {i}" for i in range(128)]
    assert len(cut.criteria) == 300  # nothing deleted: the rest disabled, indices still match the record
    assert "first 128 of the record's 300 criteria items" in notice
    same, none = limit_criteria(trial)
    assert same is trial and none == ""


@pytest.fixture(scope="module")
def predictor():
    from engine.predict import Predictor

    return Predictor.load(device="cpu")


def test_a_record_of_2000_criteria_items_is_scored_and_the_truncation_is_stated(predictor, tmp_path):
    from engine.records import read_record

    path = tmp_path / "long.xml"
    path.write_text(long_record_xml(2_000))
    trial = read_record(path)[0]
    assert len(trial.active_criteria) == 2_000
    prediction = predictor.predict(trial, ablate=False)
    assert prediction.truncated and prediction.criteria_read == MAX_MODEL_CRITERIA == len(prediction.criteria_labels)
    assert prediction.criteria_total == 2_000
    assert f"first {MAX_MODEL_CRITERIA} of the record's 2,000 criteria items" in prediction.notice
    for level in prediction.attention:
        assert level.criteria.shape == (MAX_MODEL_CRITERIA,)
    assert prediction.trial_hash == predictor.prepare(trial).content_hash()  # the record's own hash

    short = predictor.predict(read_record(EXAMPLE)[0], ablate=False)
    assert not short.truncated and short.notice == "" and short.criteria_read == short.criteria_total > 0


def test_the_cli_shows_the_truncation(tmp_path):
    from engine.cli import main

    path = tmp_path / "long.xml"
    path.write_text(long_record_xml(2_000))
    done = subprocess.run([sys.executable, "-m", "engine.cli", "predict", str(path), "--no-ablation", "--device", "cpu"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"NOTE: the model read the first {MAX_MODEL_CRITERIA} of the record's 2,000 criteria items" in done.stdout
    assert main  # the same entry point as `cladmop`


def test_the_streamed_csv_states_the_truncation(predictor, tmp_path):
    from engine.export import write_csv_stream
    from engine.records import iter_records
    from engine.scoring import stream_scores

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "long.xml").write_text(long_record_xml(300))
    (tmp_path / "in" / "short.xml").write_bytes(EXAMPLE.read_bytes().replace(b"NCT09990001", b"NCT09990003"))
    (tmp_path / "in" / "broken.xml").write_text("<clinical_study><id_info>")
    errors = []
    rows = write_csv_stream(stream_scores(predictor, iter_records([tmp_path / "in"], errors.append)),
                            tmp_path / "out.csv")
    assert rows == 2 and len(errors) == 1 and "broken.xml" in str(errors[0])
    table = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert [r["nct_id"] for r in table] == ["NCT09990001", "NCT09990003"]
    assert "first 128 of the record's 300 criteria items" in table[0]["warnings"]
    assert "criteria items" not in table[1]["warnings"]


def heavy_record_xml() -> str:
    """The example record with 999 conditions, ~190 drugs (the limit is 200), one named with 2,000,000
    letters, and a 5 MB title: the heaviest inputs issue 20 found (minutes and gigabytes to predict)."""
    conditions = "".join(f"<condition>rare disease number {i}</condition>" for i in range(999))
    drugs = "".join(f"<intervention><intervention_type>Drug</intervention_type><intervention_name>{name}"
                    f"</intervention_name></intervention>" for name in ["d" * 2_000_000] + [f"drug {i}" for i in range(190)])
    text = re.sub(r"<condition>.*?</condition>", "", EXAMPLE.read_text("utf-8"), flags=re.S)
    text = re.sub(r"<brief_title>.*?</brief_title>", "<brief_title>" + "long title " * 500_000 + "</brief_title>", text,
                  flags=re.S)
    return text.replace("</clinical_study>", conditions + drugs + "</clinical_study>")


def test_the_heaviest_accepted_record_predicts_in_seconds(predictor, tmp_path):
    """Read-time caps (engine/records/limits.py KEPT_*, MAX_NAME_CHARS, MAX_LINE_CHARS) bound the model's
    work: a full prediction with ablations takes seconds, and the Trial says what was cut."""
    from engine.records import read_record

    path = tmp_path / "heavy.xml"
    path.write_text(heavy_record_xml())
    started = time.perf_counter()
    trial = read_record(path)[0]
    prediction = predictor.predict(trial, ablate=True)
    elapsed = time.perf_counter() - started
    assert 0 <= prediction.probability <= 1
    assert elapsed < 120, f"the heavy record took {elapsed:.0f} s"  # before the caps: over 5 minutes
    assert any("999 conditions: the first 128 are read" in w for w in trial.warnings)
    assert any("drug name(s) cut" in w for w in trial.warnings) and any("title cut" in w for w in trial.warnings)


# -- streamed batches: memory does not grow with the number of records ---------------------------------
sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.mark.slow
def test_streamed_scoring_memory_does_not_grow_with_the_batch(tmp_path):
    """Peak RSS of `cladmop export --csv` over 1,500 records stays within 60 MB of the peak over 300
    (the same 30 records cycled with distinct ids, so the encoder cache serves repeats and the
    test stays short; benchmarks/bench_stream.py measures 5,000)."""
    from bench_stream import real_drug_records, score_folder, write_records

    sources = real_drug_records(data_dir(), 30)
    peaks = {}
    for n in (300, 1500):
        write_records(tmp_path / f"r{n}", sources, n)
        peaks[n], _, wrote = score_folder(tmp_path / f"r{n}", tmp_path / f"r{n}.csv")
        assert f"({n} of {n} trials scored)" in wrote
        with (tmp_path / f"r{n}.csv").open() as handle:
            assert sum(1 for _ in csv.DictReader(handle)) == n
    assert peaks[1500] < peaks[300] + 60, peaks
    json.dumps(peaks)
