#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py; docs/workstation.md): CUDA tests, the real-width VGGT TensorRT engine at 32
# frames with its activation-memory bound, the 8B workstation bench and a training step; at most ~10 min on one
# H100/H200, one JSON + markdown summary under runs/gpu_check. `--dry-run` runs the CPU-safe part of every step.
# On a workstation the venv needs CUDA torch and the tensorrt wheel matching it (docs/engines.md).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
exec .venv/bin/python -m bench.gpu_check "$@"
