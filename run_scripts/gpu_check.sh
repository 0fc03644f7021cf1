#!/usr/bin/env bash
# The first thing to run on a new GPU machine: set-up, then 2 steps of every
# stage and of the paper's recipe under the GPU profile with the embedded
# SmolLM2-135M (GPU sizes: n=32/64/16/8, 4096-token responses), then the
# evaluation; it ends with one screen: steps run, peak GPU memory, speed.
# A few minutes on one GPU; it exercises the GPU code path, not the 7B's memory.
#   bash run_scripts/gpu_check.sh           # N_GPUS defaults to the GPUs nvidia-smi lists
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/setup.sh"
export PROFILE=gpu MODEL="${GPU_CHECK_MODEL:-smollm2}" EXPERIMENT="${EXPERIMENT:-gpu_check}"
export TOTAL_STEPS=2 SAVE_FREQ=2 TEST_FREQ=2 VAL_BEFORE_TRAIN=False VAL_MAX_SAMPLES=32
export ANNEAL_SCHEDULE="1.1:3e-7:1 0.9:2e-7:1"
USER_N_GPUS="${N_GPUS:-}"
source "$HERE/common.sh"
N_GPUS="${USER_N_GPUS:-$(kk_gpu_count)}"
[[ "$N_GPUS" -gt 0 ]] || kk_die "gpu_check.sh needs a GPU (nvidia-smi lists none)"
export N_GPUS

for script in stage1_warmup stage2_hightemp stage3_anneal paper_reinforce; do
  kk_log "gpu_check: $script"
  bash "$HERE/$script.sh"
done
VAL_MAX_SAMPLES=70 EVAL_K=2 bash "$HERE/eval.sh" stage3_anneal/final "${EXPERIMENT}_final"

root="$(kk_stage_dir "")"
"$PYTHON" -m planning.gpu_check "$root"stage1_warmup "$root"stage2_hightemp "$root"stage3_anneal/[0-9]* \
  "$root"paper_reinforce "eval/${EXPERIMENT}_final/greedy" "eval/${EXPERIMENT}_final/sampled"
