"""Air-gapped bundles: build one on a connected machine, verify and unpack it on the offline one.

    python3.11 installer/bundle.py build [options]        (installer/build_bundle runs this)
    python3.11 installer/bundle.py unpack FILE.tar DEST    verify + extract; prints the bundle folder
    python3.11 installer/bundle.py verify FOLDER           check SHA256SUMS of an unpacked bundle
    python3.11 installer/bundle.py field FOLDER KEY        one value of bundle.json (for the installers)

A bundle is one uncompressed tar (wheels are already compressed) holding one folder:

    cladmop-studio-<version>-<os>-<machine>-<torch variant>/
      bundle.json    what is inside: app version, platform, glibc floor, torch build, backbones
      SHA256SUMS     sha256 of every other file; install refuses a missing, changed or extra file
      wheels/        the application wheel, torch and every dependency for the target platform
      resources/     the shipped resources (default model, ICD-10 table, examples)
      backbones/     optional language-model folders, imported into the model store on install
      installer/     install.sh, install.ps1 and their helpers;  INSTALL.md: the install guide
    <archive>.sha256 beside the tar: checked before unpacking when present

Standard library only: it runs with the bare Python 3.11 of the target machine.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

FORMAT = "cladmop-bundle"
SUMS = "SHA256SUMS"
INFO = "bundle.json"
HERE = Path(__file__).resolve().parent
PYTORCH_INDEX = "https://download.pytorch.org/whl"
INSTALLER_FILES = ("install.sh", "install.ps1", "bundle.py", "torch_cuda.tsv", "cladmop-studio.svg")
#: target platforms pip can fill a wheelhouse for from another machine (pip download --platform)
PLATFORMS = {
    "linux-x86_64": dict(os="Linux", machine="x86_64", tags=[f"manylinux_2_{m}_x86_64" for m in range(39, 16, -1)]
                         + ["manylinux2014_x86_64", "linux_x86_64"]),
    "linux-aarch64": dict(os="Linux", machine="aarch64", tags=[f"manylinux_2_{m}_aarch64" for m in range(39, 16, -1)]
                          + ["manylinux2014_aarch64", "linux_aarch64"]),
    "windows-amd64": dict(os="Windows", machine="AMD64", tags=["win_amd64"]),
    "macos-arm64": dict(os="Darwin", machine="arm64", tags=[f"macosx_{v}_0_arm64" for v in range(15, 10, -1)]),
}
_MACHINE_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


class BundleError(Exception):
    """A problem with a bundle, worded for the person installing."""


# -- checksums --------------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bundle_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != SUMS)


def write_sums(root: Path) -> None:
    lines = [f"{sha256(root / rel)}  {rel}\n" for rel in bundle_files(root)]
    (root / SUMS).write_text("".join(lines), encoding="utf-8")


def verify(root: Path) -> int:
    """Every file listed in SHA256SUMS is present and intact, and nothing unlisted was added."""
    sums = root / SUMS
    if not sums.is_file():
        raise BundleError(f"{sums}: missing - not a CLaDMoP bundle, or an incomplete copy")
    listed: dict[str, str] = {}
    for n, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), 1):
        m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line.strip())
        if not m or m.group(2).startswith("/") or ".." in Path(m.group(2)).parts:
            raise BundleError(f"{sums}: line {n} is not 'sha256  relative/path'")
        listed[m.group(2)] = m.group(1)
    for rel, digest in listed.items():
        path = root / rel
        if not path.is_file():
            raise BundleError(f"{path}: missing from the bundle (listed in {SUMS})")
        if sha256(path) != digest:
            raise BundleError(f"{path}: checksum mismatch - the bundle is damaged or was changed; copy it again")
    extra = sorted(set(bundle_files(root)) - set(listed))
    if extra:
        raise BundleError(f"{root / extra[0]}: not listed in {SUMS}; refusing a bundle with unverified files")
    return len(listed)


# -- unpacking (offline machine) --------------------------------------------------------------------
def unpack(archive: Path, dest: Path) -> Path:
    archive = Path(archive)
    outer = archive.with_name(archive.name + ".sha256")
    if outer.is_file():
        expected = outer.read_text(encoding="utf-8").split()[0].lower()
        if sha256(archive) != expected:
            raise BundleError(f"{archive}: checksum differs from {outer.name} - the copy is damaged; copy it again")
    try:
        with tarfile.open(archive, "r:*") as tar:
            tops = {Path(m.name).parts[0] for m in tar.getmembers() if Path(m.name).parts}
            if len(tops) != 1:
                raise BundleError(f"{archive}: not a CLaDMoP bundle (expected one top folder, found {len(tops)})")
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
                tar.extractall(dest, filter="data")  # refuses absolute paths, '..', devices, links out
            else:
                for member in tar.getmembers():
                    parts = Path(member.name).parts
                    if member.name.startswith(("/", "\\")) or ".." in parts or not (member.isfile() or member.isdir()):
                        raise BundleError(f"{archive}: unsafe entry {member.name!r}; refusing the bundle")
                tar.extractall(dest)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise BundleError(f"{archive}: cannot unpack ({e}); the file is damaged or not a bundle") from e
    root = Path(dest) / tops.pop()
    verify(root)
    check_platform(read_info(root))
    return root


def read_info(root: Path) -> dict:
    try:
        info = json.loads((root / INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BundleError(f"{root / INFO}: unreadable ({e})") from e
    if info.get("format") != FORMAT:
        raise BundleError(f"{root / INFO}: not a CLaDMoP bundle description")
    return info


def _machine(name: str) -> str:
    return _MACHINE_ALIASES.get(name.lower(), name.lower())


def check_platform(info: dict) -> None:
    """Refuse a bundle made for another OS, processor, Python or an older C library, before installing."""
    here_os, here_machine = platform.system(), platform.machine()
    if info["os"] != here_os or _machine(info["machine"]) != _machine(here_machine):
        raise BundleError(f"this bundle is for {info['os']} {info['machine']}; this machine is {here_os} "
                          f"{here_machine}: build one for it (installer/build_bundle --platform ...)")
    if info.get("python") != f"{sys.version_info[0]}.{sys.version_info[1]}":
        raise BundleError(f"this bundle needs Python {info.get('python')}; {sys.executable} is "
                          f"{platform.python_version()}")
    floor = info.get("glibc")
    if here_os == "Linux" and floor:
        libc, version = platform.libc_ver()
        if libc == "glibc" and _version_tuple(version) < _version_tuple(floor):
            raise BundleError(f"this bundle needs glibc {floor} or newer ({info.get('glibc_needed_by')}); "
                              f"this machine has {version}: upgrade the OS (see INSTALL.md, requirements)")


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


# -- building (connected machine) -------------------------------------------------------------------
def host_platform() -> str:
    system, machine = platform.system(), _machine(platform.machine())
    for key, value in PLATFORMS.items():
        if value["os"] == system and _machine(value["machine"]) == machine:
            return key
    raise BundleError(f"no bundle platform for {system} {machine}")


def pip(*args: str, log) -> bool:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", *args]
    print(f"[build_bundle] pip {' '.join(args)}", file=log, flush=True)
    return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode == 0


def glibc_floor(wheels: Path) -> tuple[str | None, str | None]:
    """The newest glibc any wheel needs (its oldest manylinux tag), and which wheel sets it."""
    floor, by = None, None
    for wheel in wheels.glob("*.whl"):
        needs = [(int(a), int(b)) for a, b in re.findall(r"manylinux_(\d+)_(\d+)_", wheel.name)]
        needs += [(2, 17)] if "manylinux2014" in wheel.name else []
        if needs and (floor is None or min(needs) > floor):
            floor, by = min(needs), wheel.name.split("-")[0]
    return (f"{floor[0]}.{floor[1]}" if floor else None), by


def build(args) -> Path:
    source = Path(args.source).resolve()
    pyproject = (source / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version\s*=\s*"([^"]+)"', pyproject, re.M).group(1)
    target = args.platform or host_platform()
    if target not in PLATFORMS:
        raise BundleError(f"--platform must be one of {', '.join(PLATFORMS)}")
    spec = PLATFORMS[target]
    foreign = target != host_platform()
    variant = args.torch or ("macos" if spec["os"] == "Darwin" else "cpu")
    torch_spec = args.torch_spec or (f"torch=={args.torch_version}" if variant == "macos"
                                     else f"torch=={args.torch_version}+{variant}")
    name = f"cladmop-studio-{version}-{target}-{variant}"
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".building-", dir=out))
    root = work / name
    wheels = root / "wheels"
    log_path = out / f"{name}.log"
    started = time.monotonic()
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            step = lambda text: print(f"[build_bundle] {text}", file=sys.stderr, flush=True)  # noqa: E731
            wheels.mkdir(parents=True)
            platform_args = []
            if foreign:
                for tag in spec["tags"]:
                    platform_args += ["--platform", tag]
                platform_args += ["--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
                                  "--only-binary=:all:"]

            step(f"application wheel from {source}")
            src = work / "src"
            src.mkdir()
            for item in ("pyproject.toml", "README.md", "engine", "desktop"):
                copy = shutil.copytree if (source / item).is_dir() else shutil.copy2
                copy(source / item, src / item, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                                    if (source / item).is_dir() else {}))
            if not pip("wheel", "--no-deps", "-w", str(wheels), str(src), log=log):
                raise BundleError(f"could not build the application wheel (log: {log_path})")
            app_wheel = next(wheels.glob("cladmop_studio-*.whl")).name

            step(f"{torch_spec} for {target}")
            index = args.torch_index_url or f"{PYTORCH_INDEX}/{variant}"
            got = pip("download", "--no-deps", "-d", str(wheels), *platform_args, torch_spec, log=log)
            if not got and variant != "macos" and not args.torch_index_url:
                step(f"not on the configured package sources; trying {index}")
            if not got:
                got = pip("download", "--no-deps", "-d", str(wheels), *platform_args, "--index-url", index,
                          torch_spec, log=log)
            torch_wheels = list(wheels.glob("torch-*.whl"))
            if not got or len(torch_wheels) != 1:
                raise BundleError(f"could not download {torch_spec} (log: {log_path})")
            torch_version = torch_wheels[0].name.split("-")[1]
            constraints = work / "constraints.txt"
            constraints.write_text(f"torch=={torch_version}\n")

            step("dependencies (the large part)")
            extra = ["--extra-index-url", index] if variant.startswith("cu") else []
            if foreign:
                ok = pip("download", "-d", str(wheels), *platform_args, "--find-links", str(wheels),
                         "-c", str(constraints), *extra, str(wheels / app_wheel), log=log)
            else:
                ok = pip("wheel", "-w", str(wheels), "--find-links", str(wheels), "-c", str(constraints), *extra,
                         str(wheels / app_wheel), log=log)
            if not ok:
                raise BundleError(f"could not collect the dependencies for {target} (log: {log_path})")
            sdists = [p.name for p in wheels.iterdir() if not p.name.endswith(".whl")]
            if sdists:
                raise BundleError(f"{', '.join(sdists)}: no wheel for {target}; the offline install cannot "
                                  f"build them (build the bundle on a {target} machine)")

            step("resources, models and installer")
            shutil.copytree(source / "resources", root / "resources",
                            ignore=shutil.ignore_patterns("__pycache__", ".*"))
            for name_dir in args.model or []:
                model_name, folder = _named_folder(name_dir, "--model")
                if not (folder / "model.json").is_file():
                    raise BundleError(f"{folder}: not a CLaDMoP model folder (no model.json)")
                shutil.copytree(folder, root / "resources" / "models" / model_name,
                                ignore=shutil.ignore_patterns(".*"), dirs_exist_ok=True)
            backbones = []
            for name_dir in args.backbone or []:
                backbone_name, folder = _named_folder(name_dir, "--backbone")
                copy_backbone(folder, root / "backbones" / backbone_name)
                backbones.append(backbone_name)
            (root / "installer").mkdir()
            for item in INSTALLER_FILES:
                shutil.copy2(HERE / item, root / "installer" / item)
            if (source / "docs" / "INSTALL.md").is_file():
                shutil.copy2(source / "docs" / "INSTALL.md", root / "INSTALL.md")

            glibc, glibc_by = glibc_floor(wheels) if spec["os"] == "Linux" else (None, None)
            info = {"format": FORMAT, "version": 1, "app_version": version, "app_wheel": app_wheel,
                    "platform": target, "os": spec["os"], "machine": spec["machine"], "python": "3.11",
                    "glibc": glibc, "glibc_needed_by": glibc_by, "torch": torch_version,
                    "torch_variant": variant, "backbones": backbones,
                    "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "built_on": platform.platform(),
                    "wheels": len(list(wheels.glob("*.whl")))}
            (root / INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
            step("checksums")
            write_sums(root)
            archive = out / f"{name}.tar"
            step(f"writing {archive}")
            partial = out / f".{name}.tar.partial"
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
                tar.add(root, arcname=name)
            os.replace(partial, archive)
            (out / f"{archive.name}.sha256").write_text(f"{sha256(archive)}  {archive.name}\n", encoding="utf-8")
        size = archive.stat().st_size / 2**20
        print(f"[build_bundle] {archive} ({size:.0f} MiB, {info['wheels']} wheels, torch {torch_version}) "
              f"in {time.monotonic() - started:.0f} s", file=sys.stderr)
        return archive
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _named_folder(value: str, option: str) -> tuple[str, Path]:
    name, sep, folder = value.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name) or not Path(folder).is_dir():
        raise BundleError(f"{option} {value!r}: expected NAME=FOLDER with an existing folder")
    return name, Path(folder).resolve()


def copy_backbone(folder: Path, dest: Path) -> None:
    """Top-level files of a Hugging Face folder, safetensors weights only (the target never unpickles)."""
    if not (folder / "config.json").is_file():
        raise BundleError(f"{folder}: no config.json - not a Hugging Face model folder")
    if not any((folder / f).is_file() for f in ("model.safetensors", "model.safetensors.index.json")):
        raise BundleError(f"{folder}: no safetensors weights; convert it first (installer/fetch_biogpt.py "
                          f"writes safetensors) or import it with --allow-pickle and bundle the store copy")
    dest.mkdir(parents=True)
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and not path.name.endswith((".bin", ".h5", ".msgpack",
                                                                                         ".ot", ".onnx", ".pt")):
            shutil.copy2(path, dest / path.name)


# -- command line -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bundle.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build an offline bundle (run on a connected machine)")
    p.add_argument("--out", default="dist", help="folder for the archive (default ./dist)")
    p.add_argument("--platform", choices=sorted(PLATFORMS), help="target platform (default: this machine's)")
    p.add_argument("--torch", help="torch build: cpu (default), cu126, cu128, ... (macOS: macos)")
    p.add_argument("--torch-version", default="2.13.0")
    p.add_argument("--torch-spec", help="exact pip requirement for torch (overrides --torch/--torch-version)")
    p.add_argument("--torch-index-url", help="where the torch build comes from (default: configured sources, "
                                            "then https://download.pytorch.org/whl/<build>)")
    p.add_argument("--backbone", action="append", metavar="NAME=FOLDER",
                   help="a language-model folder to import on install (repeatable), e.g. biogpt-local=./biogpt")
    p.add_argument("--model", action="append", metavar="NAME=FOLDER",
                   help="an extra CLaDMoP model folder, installed as resources/models/NAME (repeatable)")
    p.add_argument("--source", default=str(HERE.parent), help="the application source (default: this checkout)")
    p = sub.add_parser("unpack", help="verify and unpack a bundle; prints the bundle folder")
    p.add_argument("archive", type=Path)
    p.add_argument("dest", type=Path)
    p = sub.add_parser("verify", help="check an unpacked bundle against its SHA256SUMS")
    p.add_argument("folder", type=Path)
    p = sub.add_parser("field", help="print one bundle.json value (lists: one per line)")
    p.add_argument("folder", type=Path)
    p.add_argument("key")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(build(args))
        elif args.command == "unpack":
            print(unpack(args.archive, args.dest))
        elif args.command == "verify":
            print(f"{verify(args.folder)} files verified", file=sys.stderr)
        else:
            value = read_info(args.folder).get(args.key)
            print("\n".join(value) if isinstance(value, list) else ("" if value is None else value))
    except BundleError as e:
        print(f"bundle: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
