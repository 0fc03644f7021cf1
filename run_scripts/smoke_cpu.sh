#!/usr/bin/env bash
# A short, real GRPO job through veRL's own entry point with this project's
# puzzles and reward: rollout/validation dumps, the file logger, and a final
# checkpoint under runs/<EXPERIMENT>/smoke/.  Defaults: the embedded SmolLM2
# on CPU, batch 4 x n 4, 256 response tokens, 3 steps.
#   bash run_scripts/smoke_cpu.sh [hydra overrides...]
#   MODEL=tiny TOTAL_STEPS=2 bash run_scripts/smoke_cpu.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

: "${SMOKE_DATA:=data/kk_smoke}"
kk_ensure_data "$SMOKE_DATA" --train-people 3 --test-people 2 3 --train-size 64 --test-size 8 --no-progress

export EXPERIMENT="${EXPERIMENT_OVERRIDE:-${SMOKE_EXPERIMENT:-smoke_cpu}}"
: "${TRAIN_FILES:=$SMOKE_DATA/3ppl/train.parquet}"
: "${VAL_FILES:=$SMOKE_DATA/2ppl/test.parquet $SMOKE_DATA/3ppl/test.parquet}"
: "${TRAIN_BATCH:=4}" "${ROLLOUT_N:=4}" "${MINI_BATCH:=4}" "${MICRO_BATCH:=4}"
: "${TEMPERATURE:=1.0}" "${TOP_P:=1.0}" "${TOP_K:=-1}"
: "${LR:=1e-6}" "${KL_COEF:=0.001}" "${EPOCHS:=1}" "${TOTAL_STEPS:=3}"
: "${MAX_PROMPT_LEN:=512}" "${MAX_RESPONSE_LEN:=256}"
: "${SAVE_FREQ:=$TOTAL_STEPS}" "${TEST_FREQ:=$TOTAL_STEPS}" "${VAL_BEFORE_TRAIN:=False}"
# INIT_MODEL: recipes/common.yaml (MODEL)
kk_run_stage smoke "$@"
