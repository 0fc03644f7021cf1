#!/usr/bin/env bash
# A stage-1-like GRPO run on CPU with the embedded SmolLM2-135M-Instruct: does the
# strict format reward get learned?  Results: docs/experiments/cpu_format_learning.md
#
#   VARIANT=learn   bash run_scripts/experiments/cpu_format_learning.sh   # lr 1e-5, <think> prefilled
#   VARIANT=control bash run_scripts/experiments/cpu_format_learning.sh   # lr 0: nothing can learn
#   VARIANT=noprefill bash run_scripts/experiments/cpu_format_learning.sh # lr 1e-5, no prefill
#   VARIANT=learn PROMPT_STYLE=schematic RUN_NAME=learn_schematic bash ...  # no example answer
#   VARIANT=learn PROMPT_STYLE=no_example RUN_NAME=learn_no_example bash ... # nothing pasteable at all
# Any knob below can be overridden by its environment variable, and trailing
# arguments are Hydra overrides.  Each variant writes runs/cpu_format_learning/<variant>/
# plus memory.json (peak memory of the whole process tree and of the system).
# One run needs ~15 GiB; do not run two at once on a 24 GiB machine (Ray's
# memory monitor kills a worker at 95% and the run dies).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VARIANT="${VARIANT:-learn}"
case "$VARIANT" in
  learn)     : "${LR:=1e-5}"; : "${PREFILL:=1}"; : "${TOTAL_STEPS:=40}" ;;
  control)   : "${LR:=0}";    : "${PREFILL:=1}"; : "${TOTAL_STEPS:=15}" ;;
  noprefill) : "${LR:=1e-5}"; : "${PREFILL:=0}"; : "${TOTAL_STEPS:=15}" ;;
  *)         : "${LR:?set LR for a custom VARIANT}"; : "${PREFILL:=1}"; : "${TOTAL_STEPS:=40}" ;;
esac
source "$HERE/../common.sh"

# Data: 2- and 3-person puzzles.  PROMPT_STYLE=logic_rl is the original wording,
# whose tag example "<think> reasoning process here </think><answer> answer here
# </answer>" passes the format when pasted; PROMPT_STYLE=schematic keeps that but
# gives the answer lines as placeholders; PROMPT_STYLE=no_example names the tags in
# words, so no part of the instruction is a well-formed response (data_prep/templates.py).
: "${PROMPT_STYLE:=logic_rl}"
: "${RUN_NAME:=$VARIANT}"            # runs/cpu_format_learning/<RUN_NAME>/
if [[ "$PREFILL" == 1 ]]; then PREFILL_FLAG=--prefill-think; else PREFILL_FLAG=--no-prefill-think; fi
EXP_DATA="${EXP_DATA:-data/cpu_format_learning/${PROMPT_STYLE}_prefill${PREFILL}}"
kk_ensure_data "$EXP_DATA" --train-people 2 3 --test-people 2 3 --train-size 200 --test-size 16 \
  --prompt-style "$PROMPT_STYLE" "$PREFILL_FLAG" --seed 7 --no-progress

export EXPERIMENT="${EXPERIMENT_OVERRIDE:-cpu_format_learning}"
: "${TRAIN_FILES:=$EXP_DATA/2ppl/train.parquet $EXP_DATA/3ppl/train.parquet}"
: "${VAL_FILES:=$EXP_DATA/2ppl/test.parquet $EXP_DATA/3ppl/test.parquet}"
: "${TRAIN_BATCH:=4}" "${ROLLOUT_N:=8}"          # the issue's batch 4 prompts x n = 8
: "${MINI_BATCH:=4}"                              # one on-policy update per step ...
: "${MICRO_BATCH:=2}"                             # actor worker RSS measured 7.2 GiB (8.5 GiB at 8)
: "${BYPASS_OLD_LOGPROB:=1}"                      # ... so old log-probs = rollout log-probs
: "${KL_COEF:=0}"                                 # no KL: no reference model pass
: "${TEMPERATURE:=1.0}" "${TOP_P:=1.0}" "${TOP_K:=-1}"
: "${EPOCHS:=100}" "${MAX_PROMPT_LEN:=512}" "${MAX_RESPONSE_LEN:=256}"
: "${SAVE_FREQ:=10}" "${TEST_FREQ:=-1}" "${VAL_BEFORE_TRAIN:=False}"   # checkpoints: a crashed run resumes
# INIT_MODEL: recipes/common.yaml (MODEL)
export BYPASS_OLD_LOGPROB
# Seeds are fixed (data seed 7, veRL's dataloader and vLLM seeds at their defaults)
# so that learn and control see the same prompts in the same order.  The run's
# peak memory lands in runs/cpu_format_learning/<RUN_NAME>/memory.json.
kk_run_stage "$RUN_NAME" "$@"
