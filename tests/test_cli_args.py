"""Issue 20.5/20.8: bad command-line values are refused at parse time, before any model is loaded or
record scored, with one line naming the option (engine/arg_types.py); an output path that is a
folder is refused by name (engine.atomic.check_file_target), never an IsADirectoryError traceback."""
from __future__ import annotations

import pytest

from engine.atomic import atomic_write_text
from engine.cli import build_parser
from engine.errors import CladmopError


def refused(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("argv, option", [
    (["evaluate", "--data", "x.csv", "--phase", "I", "--bootstrap", "0"], "--bootstrap"),
    (["evaluate", "--data", "x.csv", "--phase", "I", "--bootstrap", "-1"], "--bootstrap"),
    (["finetune", "--base", "m", "--phase", "I", "--train", "x.csv", "--batch-size", "0"], "--batch-size"),
    (["finetune", "--base", "m", "--phase", "I", "--train", "x.csv", "--epochs", "0"], "--epochs"),
    (["pretrain", "--data", "x.csv", "--out", "m", "--epochs", "zero"], "--epochs"),
    (["predict", "r.xml", "--top", "-3"], "--top"),
], ids=["bootstrap-0", "bootstrap-neg", "batch-size-0", "epochs-0", "epochs-text", "top-neg"])
def test_counts_out_of_range_are_refused_naming_the_option(argv, option, capsys):
    err = refused(argv, capsys)
    assert f"argument {option}:" in err and "is not a whole number of" in err and "Traceback" not in err


def test_an_output_that_is_a_folder_is_refused_before_any_work(tmp_path, capsys):
    err = refused(["evaluate", "--data", "x.csv", "--phase", "I", "--json", str(tmp_path)], capsys)
    assert f"argument --json: {tmp_path}: is a folder; give the name of a file to write" in err
    err = refused(["export", "r.xml", "--csv", str(tmp_path)], capsys)
    assert f"argument --csv: {tmp_path}: is a folder" in err


def test_an_output_under_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    err = refused(["export", "r.xml", "--html", str(tmp_path / "afile" / "report.html")], capsys)
    assert "is a file, not a folder" in err


def test_atomic_writes_to_a_folder_name_the_folder(tmp_path):
    with pytest.raises(CladmopError, match=f"^{tmp_path}: is a folder"):
        atomic_write_text(tmp_path, "results")
    assert list(tmp_path.iterdir()) == []


def test_a_bootstrap_of_no_samples_is_refused_by_the_library():
    from engine.training.metrics import bootstrap_metrics

    with pytest.raises(ValueError, match="at least 1 sample"):
        bootstrap_metrics([0, 1, 0, 1, 1, 0], [0.2, 0.8, 0.3, 0.7, 0.6, 0.4], n=0)
