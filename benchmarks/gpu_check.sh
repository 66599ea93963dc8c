#!/usr/bin/env bash
# The CUDA path end to end on a GPU machine (benchmarks/gpu_check.py): GPU vs CPU predictions, timings,
# a short fine-tune read back on the CPU, peak GPU memory. Installs torch (CLADMOP_TORCH_SPEC) into its own
# venv .venv-gpu: from PyPI, the Linux torch==2.13.0 wheel is the CUDA build.
#   bash benchmarks/gpu_check.sh [--records 40] [--tolerance 0.02]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CLADMOP_VENV="${CLADMOP_VENV:-$ROOT/.venv-gpu}" CLADMOP_TORCH_SPEC="${CLADMOP_TORCH_SPEC:-torch==2.13.0}"
exec "$ROOT/installer/dev.sh" python "$ROOT/benchmarks/gpu_check.py" "$@"
