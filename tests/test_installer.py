"""Installer pieces that run in seconds: torch-build choice, bundle verification, refusals, fetch_biogpt.

The full installs (from source, and from a bundle with the network blocked) are in
test_installer_full.py (slow).
"""
from __future__ import annotations

import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTALLER = REPO / "installer"
INSTALL_SH = INSTALLER / "install.sh"
EXAMPLES = REPO / "resources" / "examples"
sys.path.insert(0, str(INSTALLER))
import bundle  # noqa: E402  (installer/bundle.py: standard library only)


def run(cmd, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=300, **kw)


# -- the torch build ---------------------------------------------------------------------------------
def fake_nvidia_smi(folder: Path, driver: str | None) -> dict:
    """A PATH whose nvidia-smi reports `driver` (None: it fails, as on a machine without the driver)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "nvidia-smi"
    body = f'echo "{driver}"' if driver else 'echo "NVIDIA-SMI has failed" >&2; exit 9'
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def plan(tmp_path, driver, *args) -> dict:
    result = run([INSTALL_SH, "--print-plan", *args], env=fake_nvidia_smi(tmp_path / "bin", driver))
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


@pytest.mark.skipif(platform.system() != "Linux", reason="CUDA builds are chosen on Linux and Windows")
@pytest.mark.parametrize("driver, variant", [
    (None, "cpu"), ("535.183.01", "cpu"), ("560.35.03", "cu126"), ("570.86.10", "cu128"), ("580.95.05", "cu130"),
    ("560.28.03", "cu126"),  # exactly the minimum
])
def test_torch_build_follows_the_driver(tmp_path, driver, variant):
    got = plan(tmp_path, driver)
    assert got["variant"] == variant
    assert got["spec"] == f"torch==2.13.0+{variant}"
    assert got["index"] == f"https://download.pytorch.org/whl/{variant}"
    if driver and variant == "cpu":
        assert "too old" in got["reason"]


@pytest.mark.skipif(platform.system() != "Linux", reason="CUDA builds are chosen on Linux and Windows")
def test_torch_overrides(tmp_path):
    assert plan(tmp_path, "570.86.10", "--torch", "cpu")["variant"] == "cpu"
    assert plan(tmp_path, None, "--torch", "cu126")["spec"] == "torch==2.13.0+cu126"
    custom = plan(tmp_path, "570.86.10", "--torch-spec", "torch==2.13.0+cu128", "--torch-index-url",
                  "https://mirror.example/whl/cu128")
    assert custom == {"variant": "custom", "spec": "torch==2.13.0+cu128",
                      "index": "https://mirror.example/whl/cu128", "reason": "--torch-spec given"}
    refused = run([INSTALL_SH, "--print-plan", "--torch", "cuda"], env=fake_nvidia_smi(tmp_path / "b", None))
    assert refused.returncode != 0 and "no NVIDIA driver found" in refused.stderr
    old = run([INSTALL_SH, "--print-plan", "--torch", "cuda"], env=fake_nvidia_smi(tmp_path / "c", "470.1"))
    assert old.returncode != 0 and "older than every CUDA build" in old.stderr


def test_versions_and_options_agree_across_installers():
    """install.sh, install.ps1, bundle.py and dev.sh pin the same torch; the two installers offer the same."""
    sh, ps1 = INSTALL_SH.read_text(), (INSTALLER / "install.ps1").read_text()
    versions = {re.search(r'^TORCH_VERSION="([^"]+)"', sh, re.M).group(1),
                re.search(r'^\$TorchVersion = "([^"]+)"', ps1, re.M).group(1),
                re.search(r'"--torch-version", default="([^"]+)"', (INSTALLER / "bundle.py").read_text()).group(1),
                re.search(r'torch==([0-9.]+)', (INSTALLER / "dev.sh").read_text()).group(1)}
    assert len(versions) == 1, versions
    sh_options = set(re.findall(r"^\s+(--[a-z-]+)\)", sh, re.M))
    param_block = ps1[ps1.index("param("):ps1.index("\n)\n")]
    ps1_params = set(re.findall(r"\[(?:string|switch)\]\$(\w+)", param_block))
    twins = {"Prefix": "--prefix", "Bundle": "--bundle", "Source": "--source", "Torch": "--torch",
             "TorchSpec": "--torch-spec", "TorchIndexUrl": "--torch-index-url", "Python": "--python",
             "NoShortcut": "--no-launcher", "Uninstall": "--uninstall", "PrintPlan": "--print-plan"}
    assert ps1_params == set(twins)
    assert set(twins.values()) <= sh_options
    assert run(["bash", "-n", INSTALL_SH]).returncode == 0
    assert run(["bash", "-n", INSTALLER / "build_bundle"]).returncode == 0


# -- bundles: verification before anything is installed -----------------------------------------------
def small_bundle(tmp_path: Path, spoil=None, name="cladmop-studio-0.1.0-test") -> Path:
    """A bundle archive with real structure (bundle.json for this machine, files, SHA256SUMS)."""
    root = tmp_path / "make" / name
    (root / "wheels").mkdir(parents=True)
    (root / "wheels" / "payload.whl").write_bytes(os.urandom(2048))
    shutil.copytree(EXAMPLES, root / "resources" / "examples")
    info = {"format": bundle.FORMAT, "version": 1, "os": platform.system(), "machine": platform.machine(),
            "python": "3.11", "glibc": "2.17", "torch": "2.13.0+cpu", "torch_variant": "cpu",
            "app_wheel": "payload.whl", "backbones": []}
    (root / bundle.INFO).write_text(json.dumps(info))
    bundle.write_sums(root)
    if spoil:
        spoil(root)
    archive = tmp_path / f"{name}.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname=name)
    return archive


def test_unpack_verifies_every_file(tmp_path):
    good = small_bundle(tmp_path / "good")
    root = bundle.unpack(good, tmp_path / "out")
    assert (root / "resources" / "examples" / "NCT09990001.xml").is_file()
    assert bundle.verify(root) == len(bundle.bundle_files(root))

    def changed(root):
        (root / "wheels" / "payload.whl").write_bytes(os.urandom(2048))

    def added(root):
        (root / "wheels" / "torch-9.9.9-py3-none-any.whl").write_bytes(b"not from the builder")

    def removed(root):
        (root / "resources" / "examples" / "README.md").unlink()

    def other_os(root):
        info = json.loads((root / bundle.INFO).read_text())
        info["os"] = "Windows" if platform.system() != "Windows" else "Linux"
        (root / bundle.INFO).write_text(json.dumps(info))
        bundle.write_sums(root)

    cases = [(changed, r"wheels/payload.whl: checksum mismatch"),
             (added, r"wheels/torch-9.9.9-py3-none-any.whl: not listed in SHA256SUMS"),
             (removed, r"examples/README.md: missing from the bundle"),
             (other_os, r"this bundle is for (Windows|Linux)")]
    for i, (spoil, message) in enumerate(cases):
        archive = small_bundle(tmp_path / f"bad{i}", spoil)
        with pytest.raises(bundle.BundleError, match=message):
            bundle.unpack(archive, tmp_path / f"out{i}")


def test_unpack_checks_the_outer_checksum_and_refuses_unsafe_archives(tmp_path):
    archive = small_bundle(tmp_path)
    (tmp_path / f"{archive.name}.sha256").write_text(f"{'0' * 64}  {archive.name}\n")
    with pytest.raises(bundle.BundleError, match="checksum differs from .*sha256 - the copy is damaged"):
        bundle.unpack(archive, tmp_path / "out")
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        data = b"owned"
        member = tarfile.TarInfo("../escaped.txt")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    with pytest.raises(bundle.BundleError):
        bundle.unpack(evil, tmp_path / "out2")
    assert not (tmp_path / "escaped.txt").exists()
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(small_bundle(tmp_path / "t").read_bytes()[:5000])
    with pytest.raises(bundle.BundleError, match="truncated.tar"):
        bundle.unpack(truncated, tmp_path / "out3")


def test_install_refuses_a_damaged_bundle_before_creating_anything(tmp_path):
    archive = small_bundle(tmp_path, lambda root: (root / "bundle.json").write_text(
        (root / "bundle.json").read_text().replace('"cpu"', '"cu128"')))
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    result = run([INSTALL_SH, "--bundle", archive, "--prefix", tmp_path / "prefix", "--bin-dir",
                  tmp_path / "bin"], env=env)
    assert result.returncode != 0
    assert "bundle.json: checksum mismatch" in result.stderr
    assert not any((tmp_path / p).exists() for p in ("prefix", "bin", "xdg"))
    result = run([INSTALL_SH, "--bundle", archive, "--torch", "cpu"], env=env)
    assert result.returncode != 0 and "--bundle fixes the torch build" in result.stderr


def test_install_never_takes_over_what_it_did_not_make(tmp_path):
    (tmp_path / "prefix" / "venv").mkdir(parents=True)
    result = run([INSTALL_SH, "--prefix", tmp_path / "prefix", "--bin-dir", tmp_path / "bin"])
    assert result.returncode != 0 and "was not made by this installer" in result.stderr
    result = run([INSTALL_SH, "--uninstall", "--prefix", tmp_path / "prefix"])
    assert result.returncode != 0 and "nothing to uninstall" in result.stderr
    assert (tmp_path / "prefix" / "venv").is_dir()


# -- fetch_biogpt against a fake Hugging Face cache ----------------------------------------------------
@pytest.fixture(scope="module")
def fake_hub_cache(tmp_path_factory) -> Path:
    """A Hugging Face cache holding 'microsoft/biogpt' as an older upload: pytorch_model.bin only."""
    import torch
    from transformers import BioGptForCausalLM

    from engine.records import load_records
    from tiny_models import build_tiny_biogpt

    cache = tmp_path_factory.mktemp("hf") / "cache"
    repo = cache / "models--microsoft--biogpt"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    lines = [c.text for t in load_records([EXAMPLES]).trials for c in t.criteria]
    build_tiny_biogpt(snapshot, lines, vocab_size=400)
    torch.save(BioGptForCausalLM.from_pretrained(snapshot).state_dict(), snapshot / "pytorch_model.bin")
    (snapshot / "model.safetensors").unlink()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return cache


def test_fetch_biogpt_prepares_a_safetensors_folder_the_import_accepts(fake_hub_cache, tmp_path, monkeypatch):
    from engine.errors import ModelError
    from engine.model_store import ModelStore

    out = tmp_path / "biogpt"
    result = run([sys.executable, INSTALLER / "fetch_biogpt.py", "--out", out, "--cache-dir", fake_hub_cache,
                  "--local-files-only"], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert "converting pytorch_model.bin to safetensors" in result.stderr
    files = sorted(p.name for p in out.iterdir())
    assert "model.safetensors" in files and "pytorch_model.bin" not in files and "SHA256SUMS" in files
    assert "@ 0123456789abcdef" in (out / "SHA256SUMS").read_text()

    monkeypatch.setenv("CLADMOP_HOME", str(tmp_path / "home"))
    entry = ModelStore().import_folder(out, "biogpt-local")  # no --allow-pickle needed
    assert not entry.converted_from_pickle and "SHA256SUMS" not in entry.files

    vocab = out / "vocab.json"  # a damaged transfer: same size, other bytes
    data = bytearray(vocab.read_bytes())
    data[5] ^= 1
    vocab.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"biogpt/vocab.json: checksum differs from SHA256SUMS"):
        ModelStore().import_folder(out, "again")

    again = run([sys.executable, INSTALLER / "fetch_biogpt.py", "--out", out, "--cache-dir", fake_hub_cache,
                 "--local-files-only"], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert again.returncode == 2 and "not empty" in again.stderr
    missing = run([sys.executable, INSTALLER / "fetch_biogpt.py", "--out", tmp_path / "x", "--repo", "nobody/none",
                   "--cache-dir", fake_hub_cache, "--local-files-only"], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert missing.returncode == 2 and "nobody/none@main" in missing.stderr and "Traceback" not in missing.stderr
