#!/usr/bin/env bash
# The GPU benchmark in one command, on a machine with an NVIDIA GPU:
#   benchmarks/gpu.sh              # venv .venv-gpu with .[gpu,dev], then python -m benchmarks.run --gpu
#   benchmarks/gpu.sh --dry-run    # (or GPU_DRY_RUN=1) the same run on the CPU, tiny, with .venv
# Writes gpu_results.json and gpu_results.md to GPU_OUT_DIR (default benchmarks/; see benchmarks/gpu.py).
# Bounded: the install by INSTALL_TIMEOUT_S (default 180), the run by RUN_TIMEOUT_S (default 270):
# with `make data` (seconds where the Debian package or a cached download exists), under 8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=${GPU_DRY_RUN:-0}
for arg in "$@"; do
  case $arg in
    --dry-run) dry_run=1 ;;
    *) echo "benchmarks/gpu.sh: unknown argument '$arg' (expected --dry-run)" >&2; exit 2 ;;
  esac
done
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

if [[ $dry_run == 1 ]]; then
  venv=${GPU_VENV:-.venv}
  [[ -x $venv/bin/python ]] || make install
  out=${GPU_OUT_DIR:-benchmarks}/RESULTS.md  # gpu_results.* go beside it
  exec timeout "${RUN_TIMEOUT_S:-270}" "$venv/bin/python" -m benchmarks.run --gpu --dry-run --out "$out"
fi

if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "benchmarks/gpu.sh: nvidia-smi finds no NVIDIA GPU; run with --dry-run to try it on the CPU" >&2
  exit 2
fi
nvidia-smi -L
venv=${GPU_VENV:-.venv-gpu}
if [[ ! -f $venv/bin/.installed-gpu ]]; then
  python3 -m venv "$venv"
  timeout "${INSTALL_TIMEOUT_S:-180}" "$venv/bin/pip" install --quiet -e ".[gpu,dev]"
  touch "$venv/bin/.installed-gpu"
fi
make --no-print-directory data  # Fashion-MNIST (Debian package, or genlab downloads it)
timeout "${RUN_TIMEOUT_S:-270}" "$venv/bin/python" -m benchmarks.run --gpu --out "${GPU_OUT_DIR:-benchmarks}/RESULTS.md"
