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
kk_default VAL_MAX_SAMPLES "" 8                 # CPU: a small random validation subset
kk_default TRAIN_BATCH 8 4                      # Logic-RL: train batch 8
kk_default ROLLOUT_N 32 4                       # Logic-RL: 32 rollouts per prompt in stage 1
kk_default TEMPERATURE 1.0 1.0                  # Logic-RL: default sampling in stage 1
kk_default TOP_P 1.0 1.0
kk_default TOP_K -1 -1
kk_default LR 4e-7 1e-5                         # authors' later guidance: 1e-6 unstable, ~4e-7 stable; CPU: docs/experiments
kk_default KL_COEF 0.001 0.001                  # Logic-RL: KL loss 0.001, low_var_kl
kk_default EPOCHS 1 1                           # authors' guidance: stage 1 runs one epoch
kk_default TOTAL_STEPS "" 2                     # CPU: a couple of steps, to exercise the chain
kk_default MAX_PROMPT_LEN 512 512               # K&K prompts are under 300 tokens (Logic-RL)
kk_default MAX_RESPONSE_LEN 4096 256            # docs/gpu_memory_plan.md
kk_default MINI_BATCH 8 4                       # one on-policy update per step
kk_default MICRO_BATCH 16 4                     # GPU: superseded by dynamic batch size (token budget)
kk_default SAVE_FREQ 50 2
kk_default TEST_FREQ 10 2
kk_default VAL_BEFORE_TRAIN True False
kk_default INIT_MODEL "$MODEL" "$MODEL"
kk_run_stage stage1_warmup "$@"
