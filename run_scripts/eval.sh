#!/usr/bin/env bash
# Scores a model on the K&K test sets (N = 2..8) through veRL's own validation
# loop (trainer.val_only=True) and the same reward as training - one parser.
#   bash run_scripts/eval.sh CHECKPOINT [NAME] [hydra overrides...]
# CHECKPOINT: an HF model folder, a stage name of this experiment
# (stage1_warmup, stage2_hightemp, stage3_anneal/final, ...), or a model name
# (smollm2, tiny, Qwen/...).  Writes eval/NAME/: greedy/ and sampled/ runs
# (metrics + validation dumps), accuracy.csv, accuracy.md (printed) and
# accuracy.png beside the Logic-RL paper's reference rows.
#   pass@1 greedy; pass@1 at T=1.0 (the original's setting, mean over EVAL_K samples);
#   pass@k over EVAL_K samples.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ $# -ge 1 ]] || kk_die "usage: bash run_scripts/eval.sh CHECKPOINT [NAME] [hydra overrides...]"
CHECKPOINT="$1"; shift
NAME="${1:-}"; [[ $# -ge 1 && "$1" != *=* ]] && shift || NAME=""
[[ -n "$NAME" ]] || NAME="$(echo "$CHECKPOINT" | tr '/' '_' | sed 's/^[._]*//')"

if [[ -d "$(kk_stage_dir "$CHECKPOINT")" ]]; then
  weights="$(kk_chain_from "$CHECKPOINT")"      # a stage of this experiment
else
  weights="$CHECKPOINT"                          # a folder or a model name
fi
[[ "$DRY_RUN" == 1 ]] || kk_ensure_data "$DATA_DIR"

kk_default VAL_FILES "$(kk_test_files 2 3 4 5 6 7 8)" "$(kk_test_files 2 3 4 5 6 7 8)"
kk_default VAL_MAX_SAMPLES "" 28                # CPU: a random subset over all N (GPU: all 700)
kk_default EVAL_K 8 2                           # samples per prompt for pass@1(T=1.0) and pass@k
kk_default MAX_RESPONSE_LEN 4096 256
kk_default MICRO_BATCH 16 4
export TRAIN_FILES="${TRAIN_FILES:-$DATA_DIR/3ppl/train.parquet}"   # unused with val_only, but veRL loads it
export TRAIN_BATCH=4 ROLLOUT_N=1 MINI_BATCH=4 TOP_P=1.0 TOP_K=-1 LR=0 KL_COEF=0 EPOCHS=1
export MAX_PROMPT_LEN="${MAX_PROMPT_LEN:-512}" INIT_MODEL="$weights" VAL_BEFORE_TRAIN=True FORCE=1
export RUNS_DIR=eval EXPERIMENT="$NAME" TEMPERATURE=1.0

VAL_TEMPERATURE=0 VAL_DO_SAMPLE=False VAL_N=1 \
  kk_run_stage greedy trainer.val_only=True "$@"
VAL_TEMPERATURE=1.0 VAL_DO_SAMPLE=True VAL_N="$EVAL_K" \
  kk_run_stage sampled trainer.val_only=True "$@"
[[ "$DRY_RUN" == 1 ]] && exit 0

"$PYTHON" -m launcher.eval_report --name "$NAME" --out "eval/$NAME" \
  --greedy "eval/$NAME/greedy/metrics.jsonl" --sampled "eval/$NAME/sampled/metrics.jsonl" \
  --sampled-dump "eval/$NAME/sampled/validation" --sampled-temperature 1.0
