#!/usr/bin/env bash
# Stage 2 of Logic-RL: high temperature, many rollouts - the main, longest stage.
# 5-person puzzles, T=1.2 (1.5 collapsed into gibberish), the largest n.
# Starts from stage 1's last checkpoint automatically (INIT_MODEL=PATH overrides).
#   bash run_scripts/stage2_hightemp.sh [hydra overrides...]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ "$DRY_RUN" == 1 ]] || kk_ensure_data "$DATA_DIR"

kk_default TRAIN_FILES "$DATA_DIR/5ppl/train.parquet" "$DATA_DIR/5ppl/train.parquet"   # Logic-RL: stages 2-3 on 5ppl
kk_default VAL_FILES "$(kk_test_files 2 3 4 5 6 7 8)" "$(kk_test_files 3 5)"
kk_default ROLLOUT_N 64 4                       # Logic-RL: 64 rollouts per prompt in stage 2
kk_default TEMPERATURE 1.2 1.2                  # Logic-RL: ~1.2; 1.5 collapsed into gibberish
kk_default TOP_P 0.95 0.95                      # Logic-RL "adjusted top-p/top-k" without publishing values: our choice,
kk_default TOP_K 100 100                        #   cutting the far tail that T=1.2 would otherwise sample
kk_default LR 4e-7 1e-5                         # authors' guidance: ~4e-7 stable
kk_default EPOCHS 2 1                           # authors' guidance: stages 2-3 run 2-3 epochs
kk_default TOTAL_STEPS "" 2
if [[ -z "${INIT_MODEL:-}" ]]; then INIT_MODEL="$(kk_chain_from stage1_warmup)"; fi
kk_run_stage stage2_hightemp "$@"
