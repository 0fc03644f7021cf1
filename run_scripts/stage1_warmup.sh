#!/usr/bin/env bash
# Stage 1 of Logic-RL: warm-up and format.  3-person puzzles, default sampling,
# the strict format reward (format -1 / answer -2 on a format failure = -3).
#   bash run_scripts/stage1_warmup.sh [hydra overrides...]
#   PROFILE=gpu DRY_RUN=1 bash run_scripts/stage1_warmup.sh     # resolve + validate + memory estimate
# Settings (GPU and CPU values): recipes/stage1_warmup.yaml over recipes/common.yaml;
# each is an environment variable that wins over the files.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
kk_run_recipe stage1_warmup "$@"
