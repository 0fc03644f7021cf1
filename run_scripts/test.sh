#!/usr/bin/env bash
# Set-up (idempotent), then the whole test suite on CPU.
#   bash run_scripts/test.sh [pytest args...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SETUP_FLAVOUR="${SETUP_FLAVOUR:-cpu}" bash run_scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline PROFILE=cpu
exec .venv/bin/python -m pytest tests -q -ra --durations=15 "$@"
