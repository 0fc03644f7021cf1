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
# Memorisation (PERTURB=1, the default): the greedy run also scores perturbed
# twins (python -m data_prep.perturb) of the test puzzles and of a training
# sample, and evaluation.perturb_report writes perturbation.csv/.md/.png and
# limem.csv (LiMem = Acc x (1 - CR) per N).  PERTURB_TYPES (all | a list),
# PERTURB_TEST_SIZE (puzzles per N; empty = all), PERTURB_TRAIN_SAMPLE,
# PERTURB_ARGS (more data_prep.perturb flags, e.g. --prompt-style).
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
: "${PERTURB:=1}"
kk_default PERTURB_TYPES all flip_role          # CPU: one type, so a first run shows the table
kk_default PERTURB_TEST_SIZE "" 2               # puzzles per N (GPU: all 100)
kk_default PERTURB_TRAIN_SAMPLE 100 1
: "${PERTURB_DIR:=$DATA_DIR/perturbed/${PERTURB_TYPES// /+}_test${PERTURB_TEST_SIZE:-all}_train${PERTURB_TRAIN_SAMPLE}}"
perturb_files=""
if [[ "$PERTURB" == 1 ]]; then
  if [[ "$DRY_RUN" != 1 && ! -f "$PERTURB_DIR/perturb_stats.json" ]]; then
    args=(--out "$PERTURB_DIR" --train-sample "$PERTURB_TRAIN_SAMPLE" --no-progress)
    if [[ "$PERTURB_TYPES" != all ]]; then read -ra types <<< "$PERTURB_TYPES"; args+=(--types "${types[@]}"); fi
    [[ -n "$PERTURB_TEST_SIZE" ]] && args+=(--test-size "$PERTURB_TEST_SIZE")
    kk_log "building perturbed twins into $PERTURB_DIR (python -m data_prep.perturb)"
    # shellcheck disable=SC2086
    "$PYTHON" -m data_prep.perturb "${args[@]}" ${PERTURB_ARGS:-} >&2 || kk_die "building the perturbed sets in $PERTURB_DIR failed"
  fi
  shopt -s nullglob; found=("$PERTURB_DIR"/*ppl/*.parquet); shopt -u nullglob
  perturb_files="${found[*]}"
  [[ "$DRY_RUN" == 1 || -n "$perturb_files" ]] || kk_die "no parquet files in $PERTURB_DIR"
fi
export TRAIN_FILES="${TRAIN_FILES:-$DATA_DIR/3ppl/train.parquet}"   # unused with val_only, but veRL loads it
export TRAIN_BATCH=4 ROLLOUT_N=1 MINI_BATCH=4 TOP_P=1.0 TOP_K=-1 LR=0 KL_COEF=0 EPOCHS=1
export INIT_MODEL="$weights" VAL_BEFORE_TRAIN=True FORCE=1   # response / prompt caps, micro-batch: recipes/common.yaml
export RUNS_DIR=eval EXPERIMENT="$NAME" TEMPERATURE=1.0

# Greedy: the clean sets and their twins, every row (the twins are paired with their clean puzzle).
if [[ -n "$perturb_files" ]]; then
  VAL_FILES="$perturb_files" VAL_MAX_SAMPLES="" VAL_TEMPERATURE=0 VAL_DO_SAMPLE=False VAL_N=1 \
    kk_run_stage greedy trainer.val_only=True "$@"
else
  VAL_TEMPERATURE=0 VAL_DO_SAMPLE=False VAL_N=1 \
    kk_run_stage greedy trainer.val_only=True "$@"
fi
if [[ "${EVAL_SAMPLED:-1}" == 1 ]]; then   # EVAL_SAMPLED=0: greedy only (e.g. LiMem over checkpoints)
  VAL_TEMPERATURE=1.0 VAL_DO_SAMPLE=True VAL_N="$EVAL_K" \
    kk_run_stage sampled trainer.val_only=True "$@"
  sampled_args=(--sampled "eval/$NAME/sampled/metrics.jsonl" --sampled-dump "eval/$NAME/sampled/validation")
else
  sampled_args=()
fi
[[ "$DRY_RUN" == 1 ]] && exit 0

"$PYTHON" -m evaluation.eval_report --name "$NAME" --out "eval/$NAME" \
  --greedy "eval/$NAME/greedy/metrics.jsonl" "${sampled_args[@]}" --sampled-temperature 1.0
if [[ -n "$perturb_files" ]]; then
  # shellcheck disable=SC2086
  "$PYTHON" -m evaluation.perturb_report --name "$NAME" --out "eval/$NAME" \
    --dump "eval/$NAME/greedy/validation" --data $perturb_files
fi
