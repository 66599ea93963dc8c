"""Full installs in a temporary prefix: from source (CPU torch) and from an offline bundle built here,
installed with the network blocked. Each checks the installed `cladmop` and `cladmop-studio`, a re-run
(upgrade in place) and --uninstall (nothing left behind).

Slow (minutes: ~1 GB of wheels are unpacked twice); `.ci/run` runs them with the rest of the suite.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTALL_SH = REPO / "installer" / "install.sh"
BUILD_BUNDLE = REPO / "installer" / "build_bundle"
EXAMPLE = "examples/NCT09990001.xml"
SHIPPED_MODEL = REPO / "resources" / "models" / "default" / "model.json"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform != "linux", reason="install.sh is tested on Linux here")]

#: logs every outgoing connection a Python process of the install tries, then refuses it
NETWORK_GUARD = '''
import os, socket
_real = socket.socket.connect
def _guard(self, address, *args):
    if self.family == getattr(socket, "AF_UNIX", None):
        return _real(self, address, *args)
    with open(os.environ["CLADMOP_NETWORK_LOG"], "a") as log:
        log.write(f"{os.getpid()} connect {address!r}\\n")
    raise OSError("network blocked by the install test")
socket.socket.connect = _guard
socket.socket.connect_ex = lambda self, address: _guard(self, address) or 0
'''


def run(cmd, env, timeout=1500, check=True, cwd=None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=timeout,
                            cwd=cwd)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} -> {result.returncode}\n{result.stdout[-3000:]}\n"
                    f"{result.stderr[-5000:]}")
    return result


def user_env(tmp: Path) -> dict:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp / "root" / "xdg"), "CLADMOP_HOME": str(tmp / "home"),
           "QT_QPA_PLATFORM": "offscreen"}
    env.pop("CLADMOP_RESOURCES", None)
    return env


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def check_installed_app(root: Path, env: dict, tmp: Path) -> None:
    """`cladmop` and `cladmop-studio` from the launchers work, outside the source tree."""
    bin_dir, venv = root / "bin", root / "prefix" / "venv"
    for name in ("cladmop", "cladmop-studio"):
        assert "removed by install.sh --uninstall" in (bin_dir / name).read_text()
    out = run([bin_dir / "cladmop", "--help"], env, cwd=tmp).stdout
    assert "import-backbone" in out and "predict" in out
    where = run([venv / "bin" / "python", "-c", "import engine, desktop; from engine.paths import resources_dir; "
                 "print(engine.__file__); print(resources_dir())"], env, cwd=tmp).stdout.split()
    assert where[0].startswith(str(venv)) and not where[0].startswith(str(REPO))  # not an editable install
    assert where[1] == str(venv / "share" / "cladmop" / "resources")
    shot = tmp / "studio.png"
    run([bin_dir / "cladmop-studio", "--no-model", "--screenshot", shot, Path(where[1]) / EXAMPLE], env,
        timeout=300, cwd=tmp)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    entry = (root / "xdg" / "applications" / "cladmop-studio.desktop").read_text()
    assert f'Exec="{venv}/bin/cladmop-studio" %F' in entry


def test_install_from_source_rerun_and_uninstall(tmp_path):
    env, root = user_env(tmp_path), tmp_path / "root"
    args = [INSTALL_SH, "--prefix", root / "prefix", "--bin-dir", root / "bin", "--torch", "cpu"]
    started = time.monotonic()
    first = run(args, env)
    minutes = (time.monotonic() - started) / 60
    assert "installed from source" in first.stderr and "torch        2.13.0+cpu (CPU build)" in first.stderr
    check_installed_app(root, env, tmp_path)
    record = (root / "prefix" / ".cladmop-install").read_text()

    started = time.monotonic()
    again = run(args, env)
    assert "upgrading the existing environment" in again.stderr
    assert "torch 2.13.0+cpu is already installed" in again.stderr
    assert sorted(l for l in (root / "prefix" / ".cladmop-install").read_text().splitlines()
                  if l.startswith(("created=", "made_dir="))) == \
        sorted(l for l in record.splitlines() if l.startswith(("created=", "made_dir=")))
    print(f"\n[timing] source install {minutes:.1f} min, re-run {(time.monotonic() - started) / 60:.1f} min")

    run([root / "prefix" / "installer" / "install.sh", "--uninstall", "--prefix", root / "prefix"], env)
    assert files_under(root) == []  # every file and folder the installer made is gone, and only those


# -- offline bundle ----------------------------------------------------------------------------------
def network_namespace_works() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def bundle_install(tmp_path_factory):
    """Build a bundle here (with a tiny BioGPT in it), then install it with no network at all."""
    from engine.records import load_records
    from tiny_models import build_tiny_biogpt

    tmp = tmp_path_factory.mktemp("bundle")
    env, root = user_env(tmp), tmp / "root"
    lines = [c.text for t in load_records([REPO / "resources" / "examples"]).trials for c in t.criteria]
    biogpt = build_tiny_biogpt(tmp / "biogpt", lines, vocab_size=400)
    started = time.monotonic()
    run([BUILD_BUNDLE, "--out", tmp / "dist", "--backbone", f"biogpt-local={biogpt}"], env)
    build_minutes = (time.monotonic() - started) / 60
    archive = next((tmp / "dist").glob("cladmop-studio-*.tar"))

    guard = tmp / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NETWORK_GUARD)
    network_log = tmp / "network-attempts.log"
    offline = {**env, "PYTHONPATH": str(guard), "CLADMOP_NETWORK_LOG": str(network_log)}
    probe = [sys.executable, "-c", "import socket; socket.create_connection(('1.1.1.1', 443), timeout=5)"]
    install = [INSTALL_SH, "--bundle", archive, "--prefix", root / "prefix", "--bin-dir", root / "bin"]
    namespace = network_namespace_works()
    if namespace:  # a network namespace with no interfaces: nothing can leave, whatever the code does
        probe_result = run(["unshare", "-n", *probe], env, check=False)
        assert probe_result.returncode != 0 and "unreachable" in probe_result.stderr.lower()
        install = ["unshare", "-n", *install]
    started = time.monotonic()
    result = run(install, offline)
    install_minutes = (time.monotonic() - started) / 60
    print(f"\n[timing] bundle build {build_minutes:.1f} min ({archive.stat().st_size / 2**20:.0f} MiB), "
          f"offline install {install_minutes:.1f} min, network namespace: {namespace}")
    return dict(tmp=tmp, root=root, env=env, archive=archive, result=result, network_log=network_log,
                namespace=namespace)


def test_bundle_installs_without_network(bundle_install):
    b = bundle_install
    assert "installed from bundle" in b["result"].stderr
    assert not b["network_log"].exists(), b["network_log"].read_text()  # no process even tried
    log = (b["root"] / "prefix" / "install.log").read_text()
    looked = [line for line in log.splitlines() if line.startswith("Looking in")]
    assert looked and all("/wheels" in line and "indexes" not in line for line in looked), looked
    info = json.loads(subprocess.run(["tar", "-xOf", b["archive"], "--wildcards", "*/bundle.json"],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["torch"] == "2.13.0+cpu" and info["backbones"] == ["biogpt-local"]
    assert info["glibc"] and info["app_wheel"].startswith("cladmop_studio-")


def test_bundle_install_gives_working_commands_and_the_bundled_backbone(bundle_install):
    b = bundle_install
    check_installed_app(b["root"], b["env"], b["tmp"])
    listed = json.loads(run([b["root"] / "bin" / "cladmop", "backbones", "--json", "--verify"], b["env"]).stdout)
    assert [e["name"] for e in listed] == ["biogpt-local"] and listed[0]["hidden_size"] == 32


@pytest.mark.skipif(not SHIPPED_MODEL.is_file(), reason="the shipped default model is not trained yet "
                    "(resources/models/default/model.json absent)")
def test_bundle_install_predicts_with_the_shipped_model(bundle_install):
    b = bundle_install
    resources = b["root"] / "prefix" / "venv" / "share" / "cladmop" / "resources"
    out = run([b["root"] / "bin" / "cladmop", "predict", resources / EXAMPLE, "--json", "--no-ablation"], b["env"],
              cwd=b["tmp"]).stdout
    assert 0 < json.loads(out.splitlines()[0])["probability"] < 1


def test_bundle_uninstall_removes_everything_it_made(bundle_install):
    b = bundle_install
    run([b["root"] / "prefix" / "installer" / "install.sh", "--uninstall", "--prefix", b["root"] / "prefix"],
        b["env"])
    assert files_under(b["root"]) == []
    registry = json.loads((b["tmp"] / "home" / "backbones" / "registry.json").read_text())
    assert registry["backbones"] == {}  # the backbone the install imported went with it
