#!/usr/bin/env bash
# Memorisation over a run: LiMem for every saved checkpoint of a stage.
#   bash run_scripts/eval_memorisation.sh STAGE [NAME] [hydra overrides...]
# STAGE: a stage of $EXPERIMENT (stage1_warmup, stage2_hightemp, stage3_anneal/final, ...).
# Runs eval.sh greedy-only (EVAL_SAMPLED=0) on the clean and perturbed sets for
# each checkpoint (eval/NAME_step<k>/), then evaluation.limem_trend writes
# eval/NAME_limem/limem_by_step.csv, .md (printed) and .png.  The PERTURB_*
# settings of eval.sh apply.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -ge 1 ]] || kk_die "usage: bash run_scripts/eval_memorisation.sh STAGE [NAME] [hydra overrides...]"
STAGE="$1"; shift
NAME="${1:-}"; [[ $# -ge 1 && "$1" != *=* ]] && shift || NAME=""
[[ -n "$NAME" ]] || NAME="$(echo "${EXPERIMENT}_$STAGE" | tr '/' '_')"

listing="$("$PYTHON" -m launcher.chain all-weights "$(kk_stage_dir "$STAGE")/checkpoints" --stage-name "$STAGE")" || exit 2
pairs=()
while read -r step weights; do
  kk_log "LiMem of $STAGE step $step ($weights)"
  EVAL_SAMPLED=0 PERTURB=1 bash "$HERE/eval.sh" "$weights" "${NAME}_step$step" "$@" < /dev/null
  pairs+=("$step=eval/${NAME}_step$step")
done <<< "$listing"
[[ "$DRY_RUN" == 1 ]] && exit 0
"$PYTHON" -m evaluation.limem_trend --name "$NAME" --out "eval/${NAME}_limem" "${pairs[@]}"
