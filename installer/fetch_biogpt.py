#!/usr/bin/env python3
"""Download microsoft/biogpt on a connected machine into a folder ready for the offline one.

    installer/dev.sh python installer/fetch_biogpt.py --out ./biogpt          (or the installed app's python)
    ... [--repo microsoft/biogpt] [--revision main] [--cache-dir DIR] [--local-files-only]

Takes config, tokenizer files and safetensors weights (when the repository has only pytorch_model.bin,
that is downloaded and converted here with `torch.load(weights_only=True)`, so the analyst's machine
never reads a pickle), checks the folder with the same code `cladmop import-backbone` runs (files, then a
real load and a test sentence), and writes SHA256SUMS, which the import verifies after the transfer.
Carry the folder over (or put it in a bundle: installer/build_bundle --backbone biogpt-local=./biogpt),
then: cladmop import-backbone ./biogpt --name biogpt-local.

`--local-files-only` takes the files from the Hugging Face cache of this machine instead of the network
(e.g. a copy downloaded earlier by transformers); the tests use it against a fake cache.
"""
from __future__ import annotations

import argparse
import fnmatch
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SMALL_FILES = ["config.json", "generation_config.json", "vocab.json", "merges.txt", "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.txt",
               "*.model"]
SAFE_WEIGHTS = ["model.safetensors", "model-*-of-*.safetensors", "model.safetensors.index.json"]
PICKLE_WEIGHTS = ["pytorch_model.bin", "pytorch_model-*-of-*.bin", "pytorch_model.bin.index.json"]


def _engine():
    """engine.model_store, from the installed app or from this checkout."""
    try:
        import engine.model_store as store
    except ImportError:
        sys.path.insert(0, str(HERE.parent))
        import engine.model_store as store
    return store


def _matching(folder: Path, patterns: list[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir()
                  if p.is_file() and any(fnmatch.fnmatch(p.name, pat) for pat in patterns))


def download(repo: str, revision: str, cache_dir: Path | None, local_files_only: bool, echo) -> Path:
    """The snapshot folder with config, tokenizer and weights (safetensors when the repo has them)."""
    from huggingface_hub import snapshot_download

    common = dict(revision=revision, cache_dir=str(cache_dir) if cache_dir else None,
                  local_files_only=local_files_only)
    echo(f"{repo}@{revision}: config, tokenizer and safetensors weights")
    snapshot = Path(snapshot_download(repo, allow_patterns=SMALL_FILES + SAFE_WEIGHTS, **common))
    if not _matching(snapshot, SAFE_WEIGHTS):
        echo(f"{repo} has no safetensors weights; downloading pytorch_model.bin to convert it here")
        snapshot = Path(snapshot_download(repo, allow_patterns=SMALL_FILES + PICKLE_WEIGHTS, **common))
    return snapshot


def prepare(snapshot: Path, out: Path, echo) -> Path:
    """Copy/convert into `out` (atomically), check it like the import does, write SHA256SUMS."""
    store = _engine()
    out = out.resolve()
    if out.exists() and any(out.iterdir()):
        raise store.ModelError(f"{out}: exists and is not empty; choose a new --out folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name in _matching(snapshot, SMALL_FILES):
            shutil.copyfile(snapshot / name, staging / name)
        safe = _matching(snapshot, SAFE_WEIGHTS)
        if safe:
            for name in safe:
                shutil.copyfile(snapshot / name, staging / name)
        else:
            pickles = _matching(snapshot, PICKLE_WEIGHTS)
            if not pickles:
                raise store.ModelError(f"{snapshot}: no weights (neither safetensors nor pytorch_model.bin)")
            echo("converting pytorch_model.bin to safetensors (weights only, no code runs)")
            store.convert_pickle_weights(snapshot, staging, pickles)
        echo("checking the folder as `cladmop import-backbone` will (files, load, a test sentence)")
        try:
            check, encoder = store.validate_folder(staging)
        except store.ModelError as e:
            raise store.ModelError(str(e).replace(str(staging), f"{snapshot} (copied)")) from e
        echo(f"ok: {check.config.get('model_type')}, {encoder.final_layer} layers x {encoder.hidden_size}, "
             f"levels {'/'.join(map(str, encoder.level_layers))}")
        del encoder
        lines = [f"# {snapshot.parent.parent.name.replace('models--', '').replace('--', '/')} @ {snapshot.name}, "
                 f"prepared {time.strftime('%Y-%m-%d')} by installer/fetch_biogpt.py\n"]
        for path in sorted(staging.iterdir()):
            lines.append(f"{store.sha256_file(path)}  {path.name}\n")
        (staging / store.FOLDER_SUMS).write_text("".join(lines), encoding="utf-8")
        if out.exists():
            out.rmdir()
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fetch_biogpt.py", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="new folder to write (e.g. ./biogpt)")
    parser.add_argument("--repo", default="microsoft/biogpt")
    parser.add_argument("--revision", default="main", help="branch, tag or commit (pin a commit for audits)")
    parser.add_argument("--cache-dir", type=Path, help="Hugging Face cache to use (default: the user's)")
    parser.add_argument("--local-files-only", action="store_true",
                        help="no network: take the files from the Hugging Face cache")
    args = parser.parse_args(argv)
    echo = lambda text: print(f"[fetch_biogpt] {text}", file=sys.stderr, flush=True)  # noqa: E731
    store = _engine()
    try:
        snapshot = download(args.repo, args.revision, args.cache_dir, args.local_files_only, echo)
        out = prepare(snapshot, args.out, echo)
    except store.ModelError as e:
        print(f"fetch_biogpt: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - huggingface_hub errors: offline, unknown repo, gated, ...
        print(f"fetch_biogpt: error: {args.repo}@{args.revision}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    echo(f"done: {out}\n  next, on the offline machine: cladmop import-backbone {out} --name biogpt-local")
    return 0


if __name__ == "__main__":
    sys.exit(main())
