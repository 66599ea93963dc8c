"""The application's model store: language-model backbones imported from local folders, by name.

    <user data>/backbones/registry.json     name -> type, sizes, source, sha256 of every file
    <user data>/backbones/<name>/           config, tokenizer files, weights (safetensors only)

`ModelStore.import_folder` checks a Hugging Face folder file by file (config, tokenizer, weights), copies
what the loader needs, converts pickle weights to safetensors when the user allows them (so nothing in
the store is ever unpickled at run time), loads the copy with the backbone loader itself and encodes a
sentence, then records checksums and registers the name. `resolve_store_name("biogpt-local")` turns a
registered name into the spec `load_backbone` takes, after checking the files against the registry;
`open_backbone(spec)` loads a backbone by whatever the user typed (a registered name or a loader spec).
The CLI (`cladmop import-backbone | backbones | remove-backbone`) and the GUI's model manager use this.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import struct
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.atomic import atomic_write_text, replace_directory
from engine.errors import ModelError
from engine.model.checkpoint import sha256_file
from engine.paths import user_data_dir
from engine.tasks import TaskState

REGISTRY = "registry.json"
FORMAT = "cladmop-backbones"
#: names the loader already gives a meaning to
RESERVED_NAMES = ("minilm", "biogpt")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: checksums written by installer/fetch_biogpt.py; verified on import (a damaged transfer), never copied
FOLDER_SUMS = "SHA256SUMS"
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
#: never copied: pickles (converted instead), other frameworks' weights, remote code (never run)
_SKIPPED_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".h5", ".msgpack", ".ot", ".onnx",
                     ".gguf", ".py", ".pyc", ".lock", ".md")
_SKIPPED_NAMES = (".gitattributes", FOLDER_SUMS)
#: a sentence every encoder must turn into finite states before it is registered
PROBE_TEXT = "Inclusion: adults aged 18 years or older with type 2 diabetes mellitus"
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
                "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


@dataclass
class StoredBackbone:
    """One registered backbone, as recorded in registry.json."""

    name: str
    model_type: str
    hidden_size: int
    layers: int
    levels: list[int]
    max_length: int
    source: str  # the folder it was imported from
    imported_at: str
    converted_from_pickle: bool = False
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    sizes: dict[str, int] = field(default_factory=dict)
    folder: Path = Path()  # filled in by the store, not saved

    @property
    def spec(self) -> str:
        """What `load_backbone` takes for this backbone."""
        return f"biogpt:{self.folder}" if self.model_type == "biogpt" else str(self.folder)

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())

    def describe(self) -> str:
        return (f"{self.name}: {self.model_type}, {self.layers} layers x {self.hidden_size}, levels "
                f"{'/'.join(map(str, self.levels))}, {self.total_bytes / 2**20:.1f} MiB, from {self.source}")

    def to_record(self) -> dict:
        record = asdict(self)
        record.pop("folder")
        return record


@dataclass
class FolderCheck:
    """What `check_folder` found: the config and the weight files to take (and whether to convert)."""

    folder: Path
    config: dict
    weight_files: list[str]  # safetensors files (shards + index), or the pickles to convert
    pickled: bool


# -- file checks --------------------------------------------------------------------------------------
def check_folder(folder: Path, allow_pickle: bool = False) -> FolderCheck:
    """Check config, tokenizer and weight files of a Hugging Face folder without loading the model.

    Runs the backbone loader's own folder check first, then reads each file enough to name the one
    that is missing, truncated or malformed. Safetensors weights are preferred; pickle-only weights
    (pytorch_model.bin) are refused unless `allow_pickle`, because unpickling can run code.
    """
    from engine.features.backbones import _check_folder

    folder = Path(folder).expanduser()
    if folder.is_dir():
        _check_folder_sums(folder)  # a damaged transfer first: it explains any other bad file
    config = _check_folder(folder, tokenizer_files=())
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise ModelError(f"{folder / 'config.json'}: no model_type - not a transformers model config")
    if model_type == "biogpt":
        _check_folder(folder, tokenizer_files=("vocab.json", "merges.txt"), all_tokenizer_files=True)
    _check_tokenizer_files(folder, config)
    safe = _safetensors_files(folder)
    if safe:
        for name in safe:
            if name.endswith(".safetensors"):
                check_safetensors(folder / name)
        return FolderCheck(folder, config, safe, pickled=False)
    pickles = _pickle_files(folder)
    if not pickles:
        raise ModelError(f"{folder}: no usable weights file (expected model.safetensors or pytorch_model.bin)")
    if not allow_pickle:
        raise ModelError(f"{folder / pickles[0]}: pickle weights can run code when they are loaded; "
                         f"convert them to safetensors (installer/fetch_biogpt.py does) or import with "
                         f"--allow-pickle to convert them on import")
    return FolderCheck(folder, config, pickles, pickled=True)


def validate_folder(folder: Path, allow_pickle: bool = False, device: str = "cpu"):
    """`check_folder`, then a load with the backbone loader and a test sentence: (FolderCheck, encoder).

    Pickle weights must be converted first (`convert_pickle_weights`); this never unpickles.
    """
    check = check_folder(folder, allow_pickle=allow_pickle)
    if check.pickled:
        raise ModelError(f"{check.folder / check.weight_files[0]}: convert pickle weights before loading them")
    return check, load_test(check.folder, check.config, check.folder, device, check.weight_files)


def _check_folder_sums(folder: Path) -> None:
    sums = folder / FOLDER_SUMS
    if not sums.is_file():
        return
    for line in sums.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        digest, _, name = line.strip().partition("  ")
        path = folder / name
        if not path.is_file():
            raise ModelError(f"{path}: missing (listed in {sums.name}); the copy is incomplete")
        if sha256_file(path) != digest.lower():
            raise ModelError(f"{path}: checksum differs from {sums.name}; the copy is damaged - copy it again")


def _check_tokenizer_files(folder: Path, config: dict) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json"):
        path = folder / name
        if path.is_file():
            data = _read_json(path, "tokenizer file")
            if name == "vocab.json":
                if not isinstance(data, dict) or not data or not all(isinstance(v, int) for v in data.values()):
                    raise ModelError(f"{path}: not a token -> id vocabulary")
                vocab_size = config.get("vocab_size")
                if isinstance(vocab_size, int) and max(data.values()) >= vocab_size:
                    raise ModelError(f"{path}: token ids go up to {max(data.values())} but config.json's "
                                     f"vocab_size is {vocab_size} - tokenizer and weights do not belong together")
    merges = folder / "merges.txt"
    if merges.is_file():
        try:
            lines = [line for line in merges.read_text(encoding="utf-8").splitlines()
                     if line.strip() and not line.startswith("#version")]
        except (OSError, UnicodeDecodeError) as e:
            raise ModelError(f"{merges}: unreadable BPE merges ({e})") from e
        bad = next((i for i, line in enumerate(lines, 1) if len(line.split(" ")) != 2), None)
        if not lines or bad is not None:
            raise ModelError(f"{merges}: not a BPE merges file (line {bad or 1} is not 'a b')")
    known = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
             "tokenizer.model")
    if not any((folder / name).is_file() for name in known):
        raise ModelError(f"{folder}: tokenizer file missing: none of {', '.join(known)}")


def check_safetensors(path: Path) -> dict:
    """Read a safetensors header and check the file holds every tensor it lists; returns the header."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ModelError(f"{path}: truncated (no safetensors header)")
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, 100 * 2**20):
                raise ModelError(f"{path}: not a safetensors file (header length {n} for {size} bytes)")
            header = json.loads(f.read(n).decode("utf-8"))
    except OSError as e:
        raise ModelError(f"{path}: unreadable ({e})") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: damaged safetensors header ({e})") from e
    if not isinstance(header, dict):
        raise ModelError(f"{path}: damaged safetensors header")
    data_bytes, end, count = size - 8 - n, 0, 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, stop = info["data_offsets"]
            expected = math.prod(info["shape"]) * _DTYPE_BYTES[info["dtype"]]
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{path}: damaged entry for tensor {name!r} ({e})") from e
        if stop - begin != expected:
            raise ModelError(f"{path}: tensor {name!r} has {stop - begin} bytes, its shape needs {expected}")
        end, count = max(end, stop), count + 1
    if end > data_bytes:
        raise ModelError(f"{path}: truncated ({size} bytes; the tensors it lists need {8 + n + end})")
    if count == 0:
        raise ModelError(f"{path}: holds no tensors")
    return header


def shape_mismatch(folder: Path, weight_files: list[str]) -> str | None:
    """The first tensor whose shape differs from what config.json builds, as 'file: tensor ...'."""
    import torch
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        with torch.device("meta"):
            model = AutoModel.from_config(config)
    except Exception:  # noqa: BLE001 - the caller reports the loader's own error instead
        return None
    expected = {k: list(v.shape) for k, v in model.state_dict().items()}
    prefix = f"{model.base_model_prefix}."
    for name in weight_files:
        if not name.endswith(".safetensors"):
            continue
        for key, info in check_safetensors(folder / name).items():
            want = expected.get(key[len(prefix):] if key.startswith(prefix) else key)
            if key != "__metadata__" and want is not None and want != info["shape"]:
                return f"{name}: tensor {key} is {info['shape']} but config.json makes it {want}"
    return None


def _safetensors_files(folder: Path) -> list[str]:
    if (folder / "model.safetensors").is_file():
        return ["model.safetensors"]
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return ["model.safetensors.index.json", *_shards(index)]
    return []


def _pickle_files(folder: Path) -> list[str]:
    if (folder / "pytorch_model.bin").is_file():
        return ["pytorch_model.bin"]
    index = folder / "pytorch_model.bin.index.json"
    if index.is_file():
        return ["pytorch_model.bin.index.json", *_shards(index)]
    return []


def _shards(index: Path) -> list[str]:
    data = _read_json(index, "weights index")
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise ModelError(f"{index}: no weight_map - not a sharded-weights index")
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        if not isinstance(shard, str) or Path(shard).name != shard:
            raise ModelError(f"{index}: bad shard name {shard!r}")
        if not (index.parent / shard).is_file():
            raise ModelError(f"{index.parent / shard}: missing (listed in {index.name})")
    return shards


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: not a readable JSON {what} ({e})") from e


# -- pickle -> safetensors ----------------------------------------------------------------------------
def convert_pickle_weights(source: Path, dest: Path, files: list[str]) -> list[str]:
    """Write safetensors copies of pickle weights (one file or shards + index) into `dest`.

    `torch.load(weights_only=True)` reads tensors only, so a hostile pickle cannot run code here.
    Tensors that share memory (tied embeddings) are stored as separate copies.
    """
    import torch
    from safetensors.torch import save_file

    renamed = {name: name.replace("pytorch_model", "model").replace(".bin", ".safetensors")
               for name in files if name.endswith(".bin")}
    for old, new in renamed.items():
        try:
            with warnings.catch_warnings():  # torch's notes on pickle protocols are not for the user
                warnings.simplefilter("ignore")
                state = torch.load(source / old, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch raises many types for a damaged pickle
            raise ModelError(f"{source / old}: cannot read the pickle weights ({type(e).__name__}: {e})") from e
        if not isinstance(state, dict):
            raise ModelError(f"{source / old}: holds a {type(state).__name__}, not a state dict of tensors")
        seen: set[int] = set()
        tensors = {}
        for key, value in state.items():
            if not isinstance(value, torch.Tensor):
                continue
            ptr = value.untyped_storage().data_ptr()
            tensors[key] = value.detach().clone().contiguous() if ptr in seen else value.detach().contiguous()
            seen.add(ptr)
        save_file(tensors, str(dest / new), metadata={"format": "pt"})
    index_name = next((n for n in files if n.endswith(".index.json")), None)
    if index_name:
        data = _read_json(source / index_name, "weights index")
        data["weight_map"] = {k: renamed[v] for k, v in data["weight_map"].items()}
        atomic_write_text(dest / "model.safetensors.index.json", json.dumps(data, indent=2))
        return ["model.safetensors.index.json", *renamed.values()]
    return list(renamed.values())


# -- the store ----------------------------------------------------------------------------------------
class ModelStore:
    """Imported backbones under `root` (default `<user data>/backbones`), listed in registry.json."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root else user_data_dir() / "backbones"

    # -- reading --------------------------------------------------------------------------------------
    def list(self) -> list[StoredBackbone]:
        return [self._entry(name, record) for name, record in sorted(self._read_registry().items())]

    def get(self, name: str) -> StoredBackbone:
        record = self._read_registry().get(name)
        if record is None:
            known = ", ".join(sorted(self._read_registry())) or "none yet"
            raise ModelError(f"no imported backbone named '{name}' in {self.root} (imported: {known}); "
                             f"import one with `cladmop import-backbone FOLDER --name {name}`")
        return self._entry(name, record)

    def __contains__(self, name: str) -> bool:
        return name in self._read_registry()

    def verify(self, name: str, full: bool = True) -> StoredBackbone:
        """Check the files against the registry; `full` hashes every file, else only changed ones.

        A file whose size differs, or whose checksum differs, or that was not recorded at import,
        is refused with its name (a damaged or tampered copy).
        """
        entry = self.get(name)
        if not entry.folder.is_dir():
            raise ModelError(f"{entry.folder}: the folder of backbone '{name}' is missing; "
                             f"re-import it or `cladmop remove-backbone {name}`")
        present = {p.name for p in entry.folder.iterdir() if not p.name.startswith(".")}
        unknown = sorted(present - set(entry.files))
        if unknown:
            raise ModelError(f"{entry.folder / unknown[0]}: not recorded when '{name}' was imported; "
                             f"refusing an unverified file")
        stamps = self._read_stamps(entry)
        for file_name, digest in entry.files.items():
            path = entry.folder / file_name
            if not path.is_file():
                raise ModelError(f"{path}: missing (recorded when '{name}' was imported)")
            stat = path.stat()
            if stat.st_size != entry.sizes.get(file_name, stat.st_size):
                raise ModelError(f"{path}: size changed since import; the file was changed or damaged")
            if full or stamps.get(file_name) != stat.st_mtime_ns:
                if sha256_file(path) != digest:
                    raise ModelError(f"{path}: checksum mismatch; the file was changed or damaged")
                stamps[file_name] = stat.st_mtime_ns
        self._write_stamps(entry, stamps)
        return entry

    def resolve(self, name: str) -> str:
        """The loader spec of a registered backbone, after a check of its files (see `verify`)."""
        return self.verify(name, full=False).spec

    # -- changing -------------------------------------------------------------------------------------
    def import_folder(self, source: Path | str, name: str | None = None, *, allow_pickle: bool = False,
                      replace: bool = False, device: str = "cpu", state: TaskState | None = None) -> StoredBackbone:
        """Check, copy, convert, load-test, checksum and register a Hugging Face folder as `name`."""
        state = state or TaskState()
        source = Path(source).expanduser().resolve()
        check = check_folder(source, allow_pickle=allow_pickle)
        name = name or default_name(source)
        validate_name(name)
        if name in self and not replace:
            raise ModelError(f"a backbone named '{name}' is already imported ({self.get(name).source}); "
                             f"choose another --name or replace it (--replace)")
        files = _files_to_copy(source, check)
        self._prepare_root(sum((source / f).stat().st_size for f in files))
        staging = Path(tempfile.mkdtemp(prefix=f".importing-{name}-", dir=self.root))
        try:
            for i, file_name in enumerate(files):
                state.progress(i, len(files) + 2, f"copying {file_name}")
                shutil.copyfile(source / file_name, staging / file_name)
            if check.pickled:
                state.progress(len(files), len(files) + 2, "converting pickle weights to safetensors")
                for converted in convert_pickle_weights(source, staging, check.weight_files):
                    check_safetensors(staging / converted)
            state.progress(len(files) + 1, len(files) + 2, "loading the model to test it")
            weights = [f for f in os.listdir(staging) if f.startswith("model") and "safetensors" in f]
            encoder = load_test(staging, check.config, source, device, weights)
            entry = StoredBackbone(
                name=name, model_type=check.config["model_type"], hidden_size=encoder.hidden_size,
                layers=encoder.final_layer, levels=list(encoder.level_layers), max_length=encoder.max_length,
                source=str(source), imported_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                converted_from_pickle=check.pickled)
            del encoder
            for path in sorted(staging.iterdir()):
                entry.files[path.name] = sha256_file(path)
                entry.sizes[path.name] = path.stat().st_size
            with self._locked():
                target = self.root / name
                if name in self._read_registry() and not replace:
                    raise ModelError(f"a backbone named '{name}' was imported meanwhile; choose another --name")
                replace_directory(staging, target)
                registry = self._read_registry()
                registry[name] = entry.to_record()
                self._write_registry(registry)
                self._write_stamps(entry, {f: (target / f).stat().st_mtime_ns for f in entry.files})
            state.progress(len(files) + 2, len(files) + 2, "imported")
            return self.get(name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def remove(self, name: str) -> StoredBackbone:
        """Unregister `name` and delete its folder (only the store's own copy, never the source)."""
        entry = self.get(name)
        with self._locked():
            registry = self._read_registry()
            registry.pop(name, None)
            self._write_registry(registry)
            shutil.rmtree(entry.folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            (self.root / f".{name}.stamps.json").unlink()
        return entry

    # -- internals ------------------------------------------------------------------------------------
    def _entry(self, name: str, record: dict) -> StoredBackbone:
        fields = {k: v for k, v in record.items() if k in StoredBackbone.__dataclass_fields__}
        try:
            entry = StoredBackbone(**{**fields, "name": name})
        except TypeError as e:
            raise ModelError(f"{self.root / REGISTRY}: damaged entry for '{name}' ({e})") from e
        entry.folder = self.root / name
        return entry

    def _read_registry(self) -> dict:
        path = self.root / REGISTRY
        if not path.is_file():
            return {}
        data = _read_json(path, "backbone registry")
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("backbones"), dict):
            raise ModelError(f"{path}: not a CLaDMoP backbone registry")
        return data["backbones"]

    def _write_registry(self, backbones: dict) -> None:
        atomic_write_text(self.root / REGISTRY, json.dumps(
            {"format": FORMAT, "version": 1, "backbones": backbones}, indent=2, sort_keys=True))

    def _read_stamps(self, entry: StoredBackbone) -> dict:
        """mtimes of files already hashed, so a routine load re-hashes only files that changed."""
        with contextlib.suppress(OSError, ValueError):
            stamps = json.loads((self.root / f".{entry.name}.stamps.json").read_text())
            if stamps.get("imported_at") == entry.imported_at:
                return stamps["files"]
        return {}

    def _write_stamps(self, entry: StoredBackbone, stamps: dict) -> None:
        with contextlib.suppress(OSError):  # a read-only store still loads; it just hashes again
            atomic_write_text(self.root / f".{entry.name}.stamps.json",
                              json.dumps({"imported_at": entry.imported_at, "files": stamps}))

    def _prepare_root(self, needed_bytes: int) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".write-test-")
            probe.close()
        except OSError as e:
            raise ModelError(f"{self.root}: cannot write the model store ({e.strerror or e}); "
                             f"set CLADMOP_HOME to a folder you can write") from e
        free = shutil.disk_usage(self.root).free
        if free < needed_bytes * 1.1 + 2**26:
            raise ModelError(f"{self.root}: not enough disk space to import ({needed_bytes / 2**30:.2f} GiB "
                             f"needed, {free / 2**30:.2f} GiB free)")

    @contextlib.contextmanager
    def _locked(self, timeout: float = 60.0):
        """A lock file around registry changes (the CLI and the GUI may import at the same time)."""
        lock = self.root / ".registry.lock"
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                break
            except FileExistsError:
                with contextlib.suppress(OSError):
                    if time.time() - lock.stat().st_mtime > 600:  # left by a crashed process
                        lock.unlink()
                        continue
                if time.monotonic() > deadline:
                    raise ModelError(f"{lock}: the model store is busy (another import?); try again") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                lock.unlink()


def _files_to_copy(source: Path, check: FolderCheck) -> list[str]:
    """Config, tokenizer and other small files of the top level, plus the chosen safetensors weights."""
    weights = set() if check.pickled else set(check.weight_files)
    files = []
    for path in sorted(source.iterdir()):
        name = path.name
        if not path.is_file() or name.startswith(".") or name in _SKIPPED_NAMES:
            continue
        if name in weights or (not name.endswith(_SKIPPED_SUFFIXES) and not name.endswith(".safetensors")
                               and name not in PICKLE_WEIGHTS + SAFE_WEIGHTS):
            files.append(name)
    return files


def load_test(folder: Path, config: dict, source: Path, device: str, weight_files: list[str]):
    """Load `folder` exactly as prediction will and encode one sentence; errors name `source`."""
    import numpy as np

    from engine.features.backbones import load_backbone

    spec = f"biogpt:{folder}" if config.get("model_type") == "biogpt" else str(folder)
    try:
        encoder = load_backbone(spec, device=device)
        encoded = encoder.encode([PROBE_TEXT])[0]
    except ModelError as e:
        mismatch = shape_mismatch(folder, sorted(weight_files)) if "weights" in str(e) else None
        message = f"{folder}/{mismatch} - weights and config do not belong together" if mismatch else str(e)
        raise ModelError(message.replace(str(folder), str(source))) from e
    except Exception as e:  # noqa: BLE001 - a model that loads but cannot run
        raise ModelError(f"{source}: the model loads but cannot encode text ({type(e).__name__}: {e})") from e
    if encoded.final.shape[0] == 0 or not np.isfinite(encoded.final).all():
        raise ModelError(f"{source}: the model gives no finite states for a test sentence - damaged weights?")
    return encoder


# -- names --------------------------------------------------------------------------------------------
def validate_name(name: str) -> None:
    if not NAME_PATTERN.match(name or ""):
        raise ModelError(f"backbone name {name!r}: use letters, digits, '.', '_' or '-' (at most 64, "
                         f"starting with a letter or digit)")
    if name.lower() in RESERVED_NAMES:
        raise ModelError(f"backbone name '{name}' is reserved; choose another (e.g. '{name}-local')")


def default_name(folder: Path) -> str:
    """The folder's name made into a store name; 'biogpt' becomes 'biogpt-local'."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(folder).name).strip("-._")[:58] or "backbone"
    return f"{slug}-local" if slug.lower() in RESERVED_NAMES else slug


def resolve_store_name(spec: str, store: ModelStore | None = None) -> str | None:
    """The loader spec for a registered name, or None when `spec` is not a registered name.

    A spec with a path separator or a scheme (`biogpt:`) is never a name, so folders keep working.
    """
    if not NAME_PATTERN.match(spec) or spec.lower() in RESERVED_NAMES:
        return None
    store = store or ModelStore()
    try:
        known = spec in store
    except ModelError:
        if Path(spec).exists():  # a damaged registry must not block a folder given by its path
            return None
        raise
    return store.resolve(spec) if known else None


def open_backbone(spec: str = "minilm", device="auto", *, max_length: int | None = None):
    """The `TextEncoder` for what a user typed: a name imported with `cladmop import-backbone`, or any
    spec `load_backbone` takes. Names are resolved here, by their owner, so the loader need not know
    the store (the store loads through the loader)."""
    from engine.features.backbones import load_backbone

    return load_backbone(resolve_store_name(str(spec).strip()) or spec, device, max_length=max_length)
