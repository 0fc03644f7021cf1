#!/usr/bin/env bash
# The whole experiment, end to end: set-up, the puzzles, stage 1 -> 2 -> 3 (each
# starting from the previous stage's weights), evaluation on N = 2..8, and the
# rollout analysis report.  On a machine without a GPU this is the CPU profile:
# the embedded SmolLM2-135M-Instruct and small sizes (about 22-55 minutes on 2
# cores, by CPU: README.md); with GPUs it is the Logic-RL run itself.
#   bash run_scripts/quickstart.sh
# Everything is resumable: finished stages are skipped, an interrupted one resumes.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/setup.sh"
export EXPERIMENT="${EXPERIMENT:-quickstart}"

bash "$HERE/stage1_warmup.sh"
bash "$HERE/stage2_hightemp.sh"
bash "$HERE/stage3_anneal.sh"
bash "$HERE/eval.sh" stage3_anneal/final "${EXPERIMENT}_final"

source "$HERE/common.sh"
for stage in stage1_warmup stage2_hightemp; do
  dir="$(kk_stage_dir "$stage")"
  kk_log "analysis report for $stage -> $dir/analysis"
  "$PYTHON" -m analysis report --rollouts "$dir/rollouts" --val "$dir/validation" \
    --metrics "$dir/metrics.jsonl" --puzzles "$DATA_DIR" --out "$dir/analysis" --no-progress
done
kk_log "done: runs/$EXPERIMENT/ (training), eval/${EXPERIMENT}_final/ (accuracy), */analysis/report.html"
