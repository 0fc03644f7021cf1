#!/usr/bin/env bash
# Set-up (idempotent), then the whole test suite on CPU.
#   bash run_scripts/test.sh [pytest args...]
# Two pytest-xdist workers: the tests that start Ray, vLLM or a launch run one at a time on one of them
# and use about one core while they start up; the other tests run beside them at a lower CPU priority
# (tests/conftest.py).
# TEST_WORKERS=0 runs everything in one process (needed for pytest's -s).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SETUP_FLAVOUR="${SETUP_FLAVOUR:-cpu}" bash run_scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline PROFILE=cpu
exec .venv/bin/python -m pytest tests -q -ra --durations=15 -n "${TEST_WORKERS:-2}" "$@"
