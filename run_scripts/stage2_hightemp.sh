#!/usr/bin/env bash
# Stage 2 of Logic-RL: high temperature, many rollouts - the main, longest stage.
# 5-person puzzles, T=1.2 (1.5 collapsed into gibberish), the largest n.
# Starts from stage 1's last checkpoint automatically (INIT_MODEL=PATH overrides).
#   bash run_scripts/stage2_hightemp.sh [hydra overrides...]
# Settings (GPU and CPU values): recipes/stage2_hightemp.yaml over recipes/common.yaml;
# each is an environment variable that wins over the files.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
kk_run_recipe stage2_hightemp "$@"
