"""Privacy (issue #5.3): nothing leaves the machine, and model files never run code when loaded.

- the suite-wide guards of tests/conftest.py (network, the real ~/.cladmop) are themselves tested;
- `cladmop predict` and `cladmop-studio --screenshot` run inside a network namespace with no network
  at all (`unshare -rn`), where a probe proves the cut;
- the shipped model (base + fine-tuned phase adapters) and its backbone load with every pickle entry
  point made to explode.
"""
from __future__ import annotations

import os
import pickle
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import conftest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "resources" / "examples" / "NCT09990001.xml"
BIN = Path(sys.executable).parent


# -- the suite-wide guards ----------------------------------------------------------------------------
@pytest.mark.parametrize("family, address", [(socket.AF_INET, ("127.0.0.1", 9)), (socket.AF_INET, ("93.184.216.34", 80)),
                                             (socket.AF_INET6, ("::1", 9))])
def test_the_suite_guard_refuses_connections(family, address):
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        with pytest.raises(conftest.NetworkAccessError):
            sock.connect(address)
        with pytest.raises(conftest.NetworkAccessError):
            sock.connect_ex(address)


def test_the_suite_guard_refuses_datagrams_and_name_lookups():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(conftest.NetworkAccessError):
            sock.sendto(b"x", ("8.8.8.8", 53))
    with pytest.raises(conftest.NetworkAccessError):
        socket.getaddrinfo("huggingface.co", 443)
    with pytest.raises(conftest.NetworkAccessError):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    assert socket.getaddrinfo("127.0.0.1", 80)  # a literal address needs no lookup


def test_the_suite_never_points_at_the_real_user_folder():
    from engine.paths import cache_dir, user_data_dir

    real = Path.home() / ".cladmop"
    assert real not in user_data_dir().parents and user_data_dir() != real
    assert real not in cache_dir().parents
    assert os.environ["CLADMOP_HOME"] == conftest.SESSION_HOME


def test_the_real_user_folder_audit_recognises_writes_only():
    real = conftest.REAL_USER_DIR
    assert conftest.writes_real_user_dir("open", (f"{real}/cache/x.sqlite", "wb", 0))
    assert conftest.writes_real_user_dir("open", (f"{real}/x", None, os.O_WRONLY | os.O_CREAT))
    assert conftest.writes_real_user_dir("sqlite3.connect", (f"{real}/cache/states.sqlite",))
    assert conftest.writes_real_user_dir("os.mkdir", (real, 0o777, -1))
    assert not conftest.writes_real_user_dir("open", (f"{real}/x", "rb", os.O_RDONLY))
    assert not conftest.writes_real_user_dir("open", (f"{real}-other/x", "wb", 0))
    assert not conftest.writes_real_user_dir("os.mkdir", (conftest.SESSION_HOME, 0o777, -1))


# -- the network namespace ----------------------------------------------------------------------------
def _unshare_available() -> str | None:
    if not shutil.which("unshare"):
        return "no unshare command"
    try:
        done = subprocess.run(["unshare", "-rn", "true"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        return f"unshare failed: {exc}"
    return None if done.returncode == 0 else f"user namespaces unavailable: {done.stderr.strip()}"


_NO_UNSHARE = _unshare_available() if sys.platform.startswith("linux") else "Linux only"
needs_unshare = pytest.mark.skipif(_NO_UNSHARE is not None, reason=_NO_UNSHARE or "")

PROBE = """
import socket
for target in [("1.1.1.1", 53), ("127.0.0.1", 9)]:
    try:
        socket.create_connection(target, timeout=3).close()
        print("REACHED", target)
    except OSError as exc:
        print("CUT", target, exc.errno)
try:
    socket.getaddrinfo("clinicaltrials.gov", 443)
    print("RESOLVED")
except OSError:
    print("NO-DNS")
"""


def _cut_off(args: list[str], tmp_path: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLADMOP_HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(["unshare", "-rn", *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


@needs_unshare
def test_the_namespace_has_no_network(tmp_path):
    done = _cut_off([sys.executable, "-c", PROBE], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "REACHED" not in done.stdout and "RESOLVED" not in done.stdout
    assert done.stdout.count("CUT") == 2 and "NO-DNS" in done.stdout


@needs_unshare
def test_cli_predict_works_with_the_network_cut(tmp_path):
    done = _cut_off([str(BIN / "cladmop"), "predict", str(EXAMPLE), "--device", "cpu", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["nct_id"] == "NCT09990001" and 0.0 < result["probability"] < 1.0
    assert result["ablation"]  # the whole prediction, ablations included, ran offline


@needs_unshare
@pytest.mark.slow
def test_gui_opens_a_record_and_predicts_with_the_network_cut(tmp_path):
    from PySide6.QtGui import QImage

    shot = tmp_path / "shot.png"
    done = _cut_off([str(BIN / "cladmop-studio"), "--workspace", str(tmp_path / "w.cladmop"), "--size", "1200x760",
                     "--open", str(EXAMPLE), "--screenshot", str(shot)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1200, 760)


# -- no unpickling --------------------------------------------------------------------------------------
@pytest.fixture()
def pickle_forbidden(monkeypatch):
    """Every way to unpickle explodes: pickle.load(s), Unpickler, and torch.load unless weights_only."""
    import torch

    calls: list[str] = []

    def refuse(name):
        def explode(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called while loading a model")
        return explode

    real_torch_load = torch.load

    def torch_load(*args, **kwargs):
        if kwargs.get("weights_only") is not True:
            calls.append("torch.load")
            raise AssertionError("torch.load without weights_only=True")
        return real_torch_load(*args, **kwargs)

    monkeypatch.setattr(pickle, "load", refuse("pickle.load"))
    monkeypatch.setattr(pickle, "loads", refuse("pickle.loads"))

    class ExplodingUnpickler(pickle.Unpickler):  # a class still, for modules that subclass it on import
        def load(self):
            calls.append("pickle.Unpickler.load")
            raise AssertionError("pickle.Unpickler.load called while loading a model")

    monkeypatch.setattr(pickle, "Unpickler", ExplodingUnpickler)
    monkeypatch.setattr(torch, "load", torch_load)
    return calls


def test_the_shipped_model_and_its_adapters_load_without_unpickling(pickle_forbidden):
    from engine.predict import Predictor
    from engine.records import read_record

    predictor = Predictor.load(device="cpu")
    assert set(predictor.phases) >= {"I", "II", "III"}  # the fine-tuned LoRA adapters, one per phase
    prediction = predictor.predict(read_record(EXAMPLE)[0], ablate=False)
    assert 0.0 < prediction.probability < 1.0
    assert pickle_forbidden == []


def test_a_freshly_fine_tuned_adapter_loads_without_unpickling(tmp_path, pickle_forbidden):
    """An adapter saved by PEFT here (safetensors) reloads into a model with pickle forbidden."""
    from peft import PeftModel

    from engine.model.checkpoint import ADAPTERS, load_base
    from engine.predict import default_model_dir

    base, _ = load_base(default_model_dir())
    model = PeftModel.from_pretrained(base, str(default_model_dir() / ADAPTERS / "II"), adapter_name="II",
                                      is_trainable=False)
    model.save_pretrained(str(tmp_path / "saved"), selected_adapters=["II"])
    saved = tmp_path / "saved" / "II" if (tmp_path / "saved" / "II").is_dir() else tmp_path / "saved"
    assert (saved / "adapter_model.safetensors").is_file() and not list(saved.glob("*.bin"))
    fresh, _ = load_base(default_model_dir())
    reloaded = PeftModel.from_pretrained(fresh, str(saved), adapter_name="II", is_trainable=False)
    assert reloaded.active_adapter == "II"
    assert pickle_forbidden == []
