#!/usr/bin/env bash
# Developer/CI bootstrap: makes ./.venv (Python 3.11) if needed, installs the project in it,
# then runs the given command inside it. `installer/dev.sh test` runs the whole test suite.
# Re-installs only when pyproject.toml changed (hash kept in .venv/.cladmop-installed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CLADMOP_VENV:-$ROOT/.venv}"
TORCH_SPEC="${CLADMOP_TORCH_SPEC:-torch==2.13.0}"

find_python() {
  for cand in "${CLADMOP_PYTHON:-}" python3.11 python3 python; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      echo "$cand"; return 0
    fi
  done
  echo "error: Python 3.11 is required (deepchem 2.8 needs <3.12); set CLADMOP_PYTHON" >&2
  return 1
}

stamp="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)-$TORCH_SPEC"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.cladmop-installed" 2>/dev/null)" != "$stamp" ]; then
  PY="$(find_python)"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  log="$VENV/install.log"
  echo "[dev.sh] installing into $VENV (one time, ~2 minutes; log: $log)" >&2
  if ! { "$VENV/bin/python" -m pip install --upgrade pip \
         && "$VENV/bin/python" -m pip install "$TORCH_SPEC" \
         && "$VENV/bin/python" -m pip install -e "$ROOT[dev]"; } >"$log" 2>&1; then
    grep -v "is ignored: it is neither" "$log" | tail -30 >&2
    echo "[dev.sh] installation failed; full log: $log" >&2
    exit 1
  fi
  echo "$stamp" > "$VENV/.cladmop-installed"
fi

export PATH="$VENV/bin:$PATH"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
cd "$ROOT"
if [ "${1:-}" = "test" ]; then
  shift
  export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
  exec python -m pytest "$@"
fi
[ $# -gt 0 ] || { echo "usage: installer/dev.sh test [pytest args] | COMMAND [ARGS...]" >&2; exit 2; }
exec "$@"
