#!/usr/bin/env bash
# Stage 1 of Logic-RL: warm-up and format.  3-person puzzles, default sampling,
# the strict format reward (format -1 / answer -2 on a format failure = -3).
#   bash run_scripts/stage1_warmup.sh [hydra overrides...]
#   PROFILE=gpu DRY_RUN=1 bash run_scripts/stage1_warmup.sh     # resolve + validate + memory estimate
# Every value below is an environment variable (GPU default | CPU default).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ "$DRY_RUN" == 1 ]] || kk_ensure_data "$DATA_DIR"

kk_default TRAIN_FILES "$DATA_DIR/3ppl/train.parquet" "$DATA_DIR/3ppl/train.parquet"   # Logic-RL: stage 1 on 3ppl
kk_default VAL_FILES "$(kk_test_files 2 3 4 5 6 7 8)" "$(kk_test_files 2 3)"
kk_default ROLLOUT_N 32 4                       # Logic-RL: 32 rollouts per prompt in stage 1
kk_default TEMPERATURE 1.0 1.0                  # Logic-RL: default sampling in stage 1
kk_default LR 4e-7 1e-5                         # authors' later guidance: 1e-6 unstable, ~4e-7 stable; CPU: docs/experiments
kk_default TOTAL_STEPS "" 2                     # CPU: a couple of steps, to exercise the chain
kk_default VAL_BEFORE_TRAIN True False
kk_run_stage stage1_warmup "$@"
