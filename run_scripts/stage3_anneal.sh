#!/usr/bin/env bash
# Stage 3 of Logic-RL: annealing.  veRL has no temperature schedule, so the stage
# is a chain of sub-runs, each starting from the previous one's weights, with the
# temperature and learning rate stepped down: the `schedule` list of
# recipes/stage3_anneal.yaml (or ANNEAL_SCHEDULE="T:LR:STEPS ..."; STEPS empty =
# one epoch).  Starts from stage 2's last checkpoint (INIT_MODEL=PATH overrides);
# finished sub-runs are skipped on a re-run, an interrupted one resumes.
#   bash run_scripts/stage3_anneal.sh [hydra overrides...]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
kk_run_recipe stage3_anneal "$@"
