#!/usr/bin/env bash
# Stage 3 of Logic-RL: annealing.  veRL has no temperature schedule, so the stage
# is a chain of sub-runs, each starting from the previous one's weights, with the
# temperature and learning rate stepped down.  Edit the one list below (or set
# ANNEAL_SCHEDULE) - entries are TEMPERATURE:LR:STEPS; STEPS empty = one epoch.
# Starts from stage 2's last checkpoint (INIT_MODEL=PATH overrides); finished
# sub-runs are skipped on a re-run, an interrupted one resumes.
#   bash run_scripts/stage3_anneal.sh [hydra overrides...]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ "$DRY_RUN" == 1 ]] || kk_ensure_data "$DATA_DIR"

# Logic-RL: temperature back to normal step by step (1.2 -> 0.9) and the learning
# rate down level by level to 2e-7.
kk_default ANNEAL_SCHEDULE "1.1:3e-7: 1.0:2.5e-7: 0.9:2e-7:" "1.1:1e-5:1 0.9:5e-6:1"

kk_default TRAIN_FILES "$DATA_DIR/5ppl/train.parquet" "$DATA_DIR/5ppl/train.parquet"
kk_default VAL_FILES "$(kk_test_files 2 3 4 5 6 7 8)" "$(kk_test_files 3 5)"
kk_default ROLLOUT_N 16 4                       # Logic-RL: 16 rollouts per prompt in stage 3
kk_default SAVE_FREQ 50 1
kk_default TEST_FREQ 10 1

read -r -a SCHEDULE <<< "$ANNEAL_SCHEDULE"
[[ ${#SCHEDULE[@]} -gt 0 ]] || kk_die "ANNEAL_SCHEDULE is empty"
if [[ -z "${INIT_MODEL:-}" ]]; then INIT_MODEL="$(kk_chain_from stage2_hightemp)"; fi
prev=""
for i in "${!SCHEDULE[@]}"; do
  IFS=: read -r TEMPERATURE LR STEPS <<< "${SCHEDULE[$i]}"
  [[ -n "$TEMPERATURE" && -n "$LR" ]] || kk_die "bad ANNEAL_SCHEDULE entry '${SCHEDULE[$i]}' (want TEMPERATURE:LR:STEPS)"
  export TEMPERATURE LR TOTAL_STEPS="$STEPS"
  sub="stage3_anneal/$((i + 1))_T${TEMPERATURE}_lr${LR}"
  [[ -n "$prev" ]] && INIT_MODEL="$(kk_chain_from "$prev")"
  kk_run_stage "$sub" "$@"
  prev="$sub"
done
# The stage's final weights, for eval.sh and anything chained after stage 3.
if [[ "$DRY_RUN" != 1 ]]; then
  ln -sfn "$(basename "$(kk_stage_dir "$prev")")" "$(kk_stage_dir stage3_anneal)/final"
  kk_log "stage 3 final weights: $(kk_chain_from "$prev")"
fi
