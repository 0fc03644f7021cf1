# shellcheck shell=bash
# Sourced by every run script.  Chooses the profile (cpu|gpu) and the run
# folders, and launches veRL's own GRPO entry point
#   python -m verl.trainer.main_ppo
# with this project's data, reward and overrides.  The settings are data:
# recipes/common.yaml (shared) and recipes/<stage>.yaml, resolved by
# `python -m recipes` (recipes/__init__.py) once per run into the override list;
# bash here only controls processes (chaining, the launch, memwatch, signals).
# Every setting is an environment variable that wins over the files; trailing
# arguments of a run script are passed to veRL verbatim as Hydra overrides
# (they win over both).
#
# Main knobs (see README.md and recipes/ for the per-stage ones):
#   PROFILE=auto|cpu|gpu   auto: gpu when nvidia-smi lists a GPU, else cpu
#   MODEL=smollm2|tiny|PATH|HF_ID   default: smollm2 on cpu, Qwen2.5-7B-Instruct-1M on gpu
#   N_GPUS, NNODES         GPUs per node and nodes (Ray cluster: see README)
#   EXPERIMENT             runs/<EXPERIMENT>/<stage>/ holds everything a run writes
#   DATA_DIR               default data/kk (built by python -m data_prep.build)
#   ALGO=grpo|reinforce_plus_plus
#   DRY_RUN=1              resolve and validate the config, print it and a memory estimate; launch nothing
#   CPU_DTYPE=auto|bf16|fp32  CPU profile: compute dtype of actor, reference and vLLM (auto: bf16 only
#                          with native bf16 GEMM, else fp32; platforms/cpu_dtype.py)
#   LOGGERS                default console,file,wandb (wandb offline unless WANDB_API_KEY is set)

set -euo pipefail

KK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$KK_ROOT"

kk_die() { echo "error: $*" >&2; exit 2; }
kk_log() { echo "[kk] $*" >&2; }

# ---------------------------------------------------------------- python env
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python
  else kk_die "no .venv here: run 'bash run_scripts/setup.sh' first (or set PYTHON)"; fi
fi
export PYTHONPATH="$KK_ROOT${PYTHONPATH:+:$PYTHONPATH}"
export TOKENIZERS_PARALLELISM=false
export RAY_DEDUP_LOGS=1
# kk_verl_module MODULE: veRL imports it in each of its processes (its plug-in point), once in the list
kk_verl_module() {
  [[ ",${VERL_USE_EXTERNAL_MODULES:-}," == *",$1,"* ]] && return 0
  export VERL_USE_EXTERNAL_MODULES="$1${VERL_USE_EXTERNAL_MODULES:+,$VERL_USE_EXTERNAL_MODULES}"
}
kk_verl_module launcher.wandb_in_ray   # wandb's service ended with the run, not by a failing exit hook

# ------------------------------------------------------------------ profile
kk_gpu_count() {
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true
  else
    echo 0
  fi
}

PROFILE="${PROFILE:-auto}"
case "$PROFILE" in
  auto)
    _gpus="$(kk_gpu_count)"
    if [[ "$_gpus" -gt 0 ]]; then PROFILE=gpu; KK_PROFILE_REASON="auto: nvidia-smi lists $_gpus GPU(s)"
    else PROFILE=cpu; KK_PROFILE_REASON="auto: no GPU visible (nvidia-smi absent or lists none)"; fi ;;
  cpu|gpu) KK_PROFILE_REASON="set by PROFILE=$PROFILE" ;;
  *) kk_die "unknown profile '$PROFILE' (PROFILE must be cpu, gpu or auto)" ;;
esac
export PROFILE

# kk_default VAR GPU_VALUE CPU_VALUE: set VAR from the profile unless the user set it
# (eval.sh's own settings; the training recipes' are in recipes/).
kk_default() {
  local name="$1" gpu="$2" cpu="$3"
  if [[ -z "${!name:-}" ]]; then
    if [[ "$PROFILE" == gpu ]]; then printf -v "$name" '%s' "$gpu"; else printf -v "$name" '%s' "$cpu"; fi
  fi
  export "${name?}"
}

# The run folders (recipes/common.yaml), which the shell needs before any run.
_kk_folders="$("$PYTHON" -m recipes shell EXPERIMENT RUNS_DIR DATA_DIR MODELS_DIR REWARD_FILE)" || exit 2
eval "$_kk_folders"
: "${DRY_RUN:=0}"
# PRINT_OVERRIDES=1: print the exact override list of each run (NUL-separated, one empty item
# after each run) and launch nothing.
: "${PRINT_OVERRIDES:=0}"
[[ "$PRINT_OVERRIDES" == 1 ]] && DRY_RUN=1
export DRY_RUN PRINT_OVERRIDES

# --------------------------------------------------------- CPU environment
if [[ "$PROFILE" == cpu ]]; then
  : "${HF_HUB_OFFLINE:=1}"
  export HF_HUB_OFFLINE TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
  kk_verl_module platforms.verl_cpu
  export VERL_PLATFORM=cpu
  export VERL_ENGINE_DEVICE=cuda          # the FSDP engine is registered for cuda/npu only; FSDP2 runs on CPU+gloo
  export VLLM_TARGET_DEVICE=cpu
  export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"   # GiB of KV cache for vLLM-CPU
  export VLLM_LOGGING_LEVEL="${VLLM_LOGGING_LEVEL:-WARNING}"
  # veRL's transfer queue asks torch for 8 threads (its default) at every put/get, and warns each time that a
  # 2-core machine has fewer: ask for the physical cores, counted as it counts them (psutil)
  : "${TQ_NUM_THREADS:=$("$PYTHON" -c 'import psutil; print(psutil.cpu_count(logical=False) or psutil.cpu_count())')}"
  export TQ_NUM_THREADS
fi

# ---------------------------------------------------------------- helpers
# kk_stage_dir STAGE -> runs/<experiment>/<stage>
kk_stage_dir() { echo "$RUNS_DIR/$EXPERIMENT/$1"; }

# kk_ensure_data DIR [data_prep.build args...]: build the puzzles once (deterministic).
kk_ensure_data() {
  local dir="$1"; shift
  if [[ ! -f "$dir/README.md" ]]; then
    kk_log "building puzzles into $dir (python -m data_prep.build)"
    "$PYTHON" -m data_prep.build --out "$dir" "$@" >&2 || kk_die "building the data in $dir failed"
  fi
}

# kk_chain_from PREV_STAGE: HF weights of the previous stage's last checkpoint
# (a clear error naming PREV_STAGE when it has none).  In a dry run nothing has
# been trained: it prints nothing, and the base model (INIT_MODEL's default) stands in.
kk_chain_from() {
  local prev="$1" ckpt
  [[ "$DRY_RUN" == 1 ]] && return 0
  ckpt="$(kk_stage_dir "$prev")/checkpoints"
  "$PYTHON" -m launcher.chain latest-weights "$ckpt" --stage-name "$prev" || exit 2
}

# kk_test_files N...: the test parquet of each number of people (eval.sh; recipes name only N).
kk_test_files() { local n; for n in "$@"; do printf '%s ' "$DATA_DIR/${n}ppl/test.parquet"; done; }

# kk_export_settings: a run script may set a setting without exporting it (`: "${LR:=1e-6}"`);
# export every one the recipe files name, so that the resolver (recipes, in launcher.launch) sees it.
kk_export_settings() {
  local name
  for name in $(grep -ohE '^[A-Z][A-Z0-9_]*:' "$KK_ROOT"/recipes/*.yaml | tr -d : | sort -u) ANNEAL_SCHEDULE; do
    if [[ -v "$name" ]]; then export "${name?}"; fi
  done
}

# kk_run_recipe RECIPE [hydra overrides...]: every run of recipes/RECIPE.yaml, in order (stage 3: one
# per schedule entry, each starting from the previous one's weights).
kk_run_recipe() {
  local recipe="$1"; shift
  [[ "$DRY_RUN" == 1 ]] || kk_ensure_data "$DATA_DIR"
  kk_export_settings
  local plan after stage prev="" n=0
  plan="$("$PYTHON" -m recipes runs "$recipe")" || exit 2
  while IFS=$'\t' read -r -u 3 stage after; do
    if [[ -n "$prev" ]]; then INIT_MODEL="$(kk_chain_from "$prev")"
    elif [[ -n "$after" && -z "${INIT_MODEL:-}" ]]; then INIT_MODEL="$(kk_chain_from "$after")"; fi
    # not exported: KK_* variables go to the Ray workers' environment
    kk_recipe_name="$recipe" ; kk_recipe_run="$n"
    kk_run_stage "$stage" "$@"
    prev="$stage"; n=$((n + 1))
  done 3<<< "$plan"
  unset kk_recipe_name kk_recipe_run
  # A recipe of several runs: its final weights, for eval.sh and anything chained after it.
  if [[ "$DRY_RUN" != 1 && "$prev" == */* ]]; then
    ln -sfn "$(basename "$(kk_stage_dir "$prev")")" "$(kk_stage_dir "$recipe")/final"
    kk_log "$recipe final weights: $(kk_chain_from "$prev")"
  fi
}

# kk_stop_launch SIGNAL: the run script got SIGNAL; memwatch stops the launch's whole process tree
# (driver, the Ray it started, workers, vLLM) and the script exits 128+signal.
kk_stop_launch() {
  kk_log "$1: stopping the launch (pid $KK_LAUNCH_PID and its process tree)"
  kill -TERM "$KK_LAUNCH_PID" 2>/dev/null
  wait "$KK_LAUNCH_PID" 2>/dev/null
  wait  # tee
  exit $((128 + $(kill -l "$1")))
}

# kk_run_stage STAGE [extra hydra overrides...]: one run into runs/<EXPERIMENT>/STAGE.  Its settings:
# recipes/common.yaml, the recipe run kk_recipe_name / kk_recipe_run if set (kk_run_recipe), and the
# environment (TRAIN_FILES VAL_FILES ROLLOUT_N TEMPERATURE LR where no recipe gives them).
kk_run_stage() {
  local stage="$1"; shift
  local out
  out="$(realpath -m "$(kk_stage_dir "$stage")")"
  if [[ -f "$out/COMPLETED" && "$DRY_RUN" != 1 && "${FORCE:-0}" != 1 ]]; then
    kk_log "stage $stage already completed ($out/COMPLETED); FORCE=1 runs it again"
    return 0
  fi
  kk_export_settings
  # launcher.launch checks the inputs (launcher/preflight.py) and composes the overrides (recipes); in a dry run it
  # also validates them (planning/dry_run.py), with PRINT_OVERRIDES=1 it prints them.  Otherwise it
  # writes the launch's environment and overrides (NUL-separated, an empty item between) and the banner.
  local list rc=0
  list="$(mktemp)"
  "$PYTHON" -m launcher.launch ${kk_recipe_name:+--recipe "$kk_recipe_name" --run "$kk_recipe_run"} \
    --stage "$stage" --out "$out" --python "$PYTHON" --profile-reason "$KK_PROFILE_REASON" \
    --emit "$list" -- "$@" || rc=$?
  if [[ "$rc" -ne 0 || "$DRY_RUN" == 1 ]]; then rm -f "$list"; [[ "$rc" -eq 0 ]] && return 0; exit "$rc"; fi
  local -a items overrides=()
  mapfile -d '' -t items < "$list"
  rm -f "$list"
  local i
  for ((i = 0; i < ${#items[@]}; i++)); do
    [[ -z "${items[i]}" ]] && break
    export "${items[i]?}"   # WANDB_MODE, WANDB_DIR, VERL_FILE_LOGGER_PATH
  done
  overrides=("${items[@]:i+1}")

  mkdir -p "$out"
  # veRL's file logger truncates its file: keep an earlier (crashed) attempt's metrics.
  "$PYTHON" -m launcher.metrics_log rotate "$VERL_FILE_LOGGER_PATH"
  local rc
  set +e
  # memwatch samples the whole process tree (Ray workers, vLLM) into memory.json, and stops that tree
  # when it gets a stop signal or this shell dies.  It runs in the background so that a SIGTERM/Ctrl-C
  # reaches the trap at once (bash defers traps until a foreground command ends).  On an existing
  # cluster it also watches the nodes: a run that loses one ends with an error line naming the node and
  # the checkpoint a restart resumes from (veRL's resume_mode=auto reads $out/checkpoints).
  "$PYTHON" -m launcher.memwatch --out "$out/memory.json" \
    ${RAY_ADDRESS:+--ray-address "$RAY_ADDRESS" --checkpoints "$out/checkpoints" --node-loss-grace "$NODE_LOSS_GRACE"} -- \
    "$PYTHON" -m verl.trainer.main_ppo "${overrides[@]}" > >(tee -a "$out/train.log") 2>&1 &
  KK_LAUNCH_PID=$!
  trap 'kk_stop_launch TERM' TERM
  trap 'kk_stop_launch INT' INT
  trap 'kk_stop_launch HUP' HUP
  wait "$KK_LAUNCH_PID"
  rc=$?
  trap - TERM INT HUP
  set -e
  "$PYTHON" -m launcher.metrics_log merge "$VERL_FILE_LOGGER_PATH" || true
  if [[ "$rc" -ne 0 ]]; then
    kk_log "stage $stage failed with exit code $rc; the full log is $out/train.log"
    return "$rc"
  fi
  date -u +%Y-%m-%dT%H:%M:%SZ > "$out/COMPLETED"
  kk_log "stage $stage finished: $out"
}
