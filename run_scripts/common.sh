# shellcheck shell=bash
# Sourced by every run script.  Chooses the profile (cpu|gpu), the model and
# the run folders, checks the inputs, and launches veRL's own GRPO entry point
#   python -m verl.trainer.main_ppo
# with this project's data, reward and overrides.  Everything is an
# environment variable with a default; trailing arguments of a run script are
# passed to veRL verbatim as Hydra overrides (they win over ours).
#
# Main knobs (see README.md for the per-stage ones):
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

# kk_default VAR GPU_VALUE CPU_VALUE: set VAR from the profile unless the user set it.
kk_default() {
  local name="$1" gpu="$2" cpu="$3"
  if [[ -z "${!name:-}" ]]; then
    if [[ "$PROFILE" == gpu ]]; then printf -v "$name" '%s' "$gpu"; else printf -v "$name" '%s' "$cpu"; fi
  fi
  export "${name?}"
}

kk_default MODEL "Qwen/Qwen2.5-7B-Instruct-1M" smollm2   # Logic-RL's base model / the embedded one
kk_default N_GPUS 4 1                                     # Logic-RL: 4xA100
kk_default NNODES 1 1
kk_default ALGO grpo grpo                                 # Logic-RL: GRPO (REINFORCE++ the faster alternative)
kk_default LOGGERS "console,file,wandb" "console,file,wandb"
# The actor's attention (transformers' attn_implementation).  veRL's default is
# flash_attention_2, which needs the flash-attn package; verl[vllm] does not bring
# it, and PyPI has flash-attn 2.8.3 only as source (nvcc + a long CUDA build), so
# both profiles use torch's own SDPA (README, "GPU start-up").  ATTN_IMPL=flash_attention_2
# once flash-attn is installed; setup, the dry run and the preflight refuse one that
# transformers cannot build here.
kk_default ATTN_IMPL sdpa sdpa
: "${EXPERIMENT:=logic_rl_${PROFILE}}"
: "${RUNS_DIR:=runs}"
: "${DATA_DIR:=data/kk}"
: "${MODELS_DIR:=.cache/models}"
: "${REWARD_FILE:=reward_fns/kk.py}"
: "${DRY_RUN:=0}"
# PRINT_OVERRIDES=1: print the exact override list (NUL-separated, one empty item
# after each run) and launch nothing; planning/gpu_plan.py reads the scripts this way.
: "${PRINT_OVERRIDES:=0}"
[[ "$PRINT_OVERRIDES" == 1 ]] && DRY_RUN=1
export EXPERIMENT RUNS_DIR DATA_DIR MODELS_DIR REWARD_FILE DRY_RUN

case "$ALGO" in grpo|reinforce_plus_plus) ;; *) kk_die "unknown ALGO '$ALGO' (grpo or reinforce_plus_plus)";; esac

# ------------------------------------------------------------------- model
# Embedded names resolve to folders prepared offline by launcher.models.
kk_resolve_model() {
  local name="$1"
  case "$name" in
    smollm2) kk_ensure_model smollm2 "$MODELS_DIR/smollm2-135m-instruct" ;;
    tiny)    kk_ensure_model tiny "$MODELS_DIR/tiny-qwen2" ;;
    *)       echo "$name" ;;
  esac
}
kk_ensure_model() {
  local name="$1" dir="$2"
  if [[ ! -f "$dir/config.json" ]]; then
    kk_log "preparing the embedded model '$name' in $dir (one time)"
    "$PYTHON" -m launcher.models prepare "$name" --out "$dir" >&2 || kk_die "could not prepare model '$name'"
  fi
  echo "$dir"
}

# --------------------------------------------------------- CPU environment
if [[ "$PROFILE" == cpu ]]; then
  : "${HF_HUB_OFFLINE:=1}"
  export HF_HUB_OFFLINE TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
  export VERL_USE_EXTERNAL_MODULES="platforms.verl_cpu${VERL_USE_EXTERNAL_MODULES:+,$VERL_USE_EXTERNAL_MODULES}"
  export VERL_PLATFORM=cpu
  export VERL_ENGINE_DEVICE=cuda          # the FSDP engine is registered for cuda/npu only; FSDP2 runs on CPU+gloo
  export VLLM_TARGET_DEVICE=cpu
  export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"   # GiB of KV cache for vLLM-CPU
  export VLLM_LOGGING_LEVEL="${VLLM_LOGGING_LEVEL:-WARNING}"
fi

# Hydra overrides that make veRL run on CPU (see platforms/verl_cpu.py for why).
KK_CPU_OVERRIDES=(
  trainer.device=cpu
  actor_rollout_ref.actor.strategy=fsdp2
  actor_rollout_ref.ref.strategy=fsdp2
  actor_rollout_ref.model.use_remove_padding=False
  actor_rollout_ref.model.enable_gradient_checkpointing=False
  actor_rollout_ref.actor.use_torch_compile=False
  actor_rollout_ref.actor.fsdp_config.use_torch_compile=False
  actor_rollout_ref.ref.fsdp_config.use_torch_compile=False
  actor_rollout_ref.rollout.enforce_eager=True
  +actor_rollout_ref.rollout.enable_sleep_mode=False
  actor_rollout_ref.rollout.free_cache_engine=False
  actor_rollout_ref.rollout.agent.num_workers=1
  actor_rollout_ref.rollout.tensor_model_parallel_size=1
  reward.num_workers=1
  transfer_queue.backend.SimpleStorage.num_data_storage_units=1
  data.dataloader_num_workers=0
)
# The one logical GPU per node that veRL's resource pools ask for (platforms/verl_cpu.py), when the
# run starts its own Ray.  A cluster started with `ray start` has its resources already (--num-gpus on
# each node), and ray.init refuses num_gpus/num_cpus when it connects to one.
KK_CPU_OWN_RAY_OVERRIDES=(
  +ray_kwargs.ray_init.num_gpus=1
  ray_kwargs.ray_init.num_cpus=8
)

# kk_runtime_env_overrides: what every Ray worker needs, on any node, through the job's runtime
# environment (veRL merges ray_kwargs.ray_init.runtime_env into ray.init's).  On a cluster started with
# `ray start`, workers inherit their own raylet's environment, not this shell's: the interpreter, the
# repository on PYTHONPATH (platforms.verl_cpu, reward_fns), and the settings below are passed
# explicitly.  Paths (model, data, reward file, outputs) are absolute in the config itself.
KK_RUNTIME_ENV_PREFIXES=(VERL_ VLLM_ HF_ TRANSFORMERS_ TOKENIZERS_ WANDB_ KK_ OMP_ PYTHONPATH)
kk_runtime_env_overrides() {
  local name value python_abs
  python_abs="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"   # not realpath: keep the venv
  printf '%s\n' "ray_kwargs.ray_init.runtime_env.py_executable=$(kk_hydra_quote "$python_abs")"
  while IFS= read -r name; do
    for prefix in "${KK_RUNTIME_ENV_PREFIXES[@]}"; do
      if [[ "$name" == "$prefix"* ]]; then
        value="${!name}"
        [[ "$value" == *$'\n'* || "$value" == *'${'* ]] && continue   # one line each; no OmegaConf interpolation
        # secrets stay out: veRL prints ray.init's arguments into train.log (README, "Several nodes")
        [[ "$name" == *_KEY || "$name" == *_TOKEN || "$name" == *_SECRET ]] && continue
        printf '%s\n' "+ray_kwargs.ray_init.runtime_env.env_vars.$name=$(kk_hydra_quote "$value")"
        break
      fi
    done
  done < <(compgen -e | sort)
}
# kk_hydra_quote VALUE: a single-quoted Hydra string (\ and ' escaped).
kk_hydra_quote() {
  local v="${1//\\/\\\\}"
  printf "'%s'" "${v//\'/\\\'}"
}

# kk_cpu_dtype: on the CPU profile, choose the compute dtype once (platforms/cpu_dtype.py holds the
# rule) into KK_CPU_DTYPE, KK_CPU_DTYPE_REASON and the overrides KK_CPU_DTYPE_OVERRIDES.
KK_CPU_DTYPE=""
KK_CPU_DTYPE_OVERRIDES=()
kk_cpu_dtype() {
  [[ "$PROFILE" == cpu && -z "$KK_CPU_DTYPE" ]] || return 0
  local out
  out="$("$PYTHON" -m platforms.cpu_dtype)" || exit 2
  mapfile -t KK_CPU_DTYPE_OVERRIDES < <(tail -n +2 <<<"$out")
  KK_CPU_DTYPE="$(head -n 1 <<<"$out" | cut -f1)"
  KK_CPU_DTYPE_REASON="$(head -n 1 <<<"$out" | cut -f2-)"
}

# Hydra overrides of the GPU profile's memory plan (docs/gpu_memory_plan.md):
# token-budgeted micro-batches, packed sequences, activation checkpointing,
# actor offload while vLLM generates.
KK_GPU_OVERRIDES=(
  actor_rollout_ref.model.use_remove_padding=True
  actor_rollout_ref.model.enable_gradient_checkpointing=True
  actor_rollout_ref.actor.use_dynamic_bsz=True
  "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=${MAX_TOKENS_PER_GPU:-16384}"
  actor_rollout_ref.actor.fsdp_config.param_offload=True
  actor_rollout_ref.actor.fsdp_config.optimizer_offload=True
  actor_rollout_ref.ref.fsdp_config.param_offload=True
  actor_rollout_ref.rollout.free_cache_engine=True
  # The entropy bonus (ENTROPY_COEFF) needs the entropy with its gradient: computed in
  # 2048-token chunks and recomputed in backward, so no second logits-sized tensor.
  actor_rollout_ref.actor.entropy_from_logits_with_chunking=True
  actor_rollout_ref.actor.entropy_checkpointing=True
)

# GPU-profile overrides a CPU cannot run, each with why.  GPU_PATH_ON_CPU=1 runs the
# CPU profile plus every other GPU-profile override (tests/test_gpu_profile_on_cpu.py),
# so that only device code is left untested.
KK_GPU_ONLY_OVERRIDES=(
  actor_rollout_ref.rollout.free_cache_engine   # frees vLLM's memory through its sleep mode: Platform.is_sleep_mode_available() is CUDA/ROCm/XPU only
)
kk_gpu_overrides_runnable_on_cpu() {
  local item key skip
  for item in "${KK_GPU_OVERRIDES[@]}"; do
    key="${item%%=*}"; skip=0
    for gpu_only in "${KK_GPU_ONLY_OVERRIDES[@]}"; do [[ "$key" == "$gpu_only" ]] && skip=1; done
    [[ "$skip" == 1 ]] || printf '%s\n' "$item"
  done
}

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
# been trained, so the base model stands in.
kk_chain_from() {
  local prev="$1" ckpt
  if [[ "$DRY_RUN" == 1 ]]; then echo "$MODEL"; return; fi
  ckpt="$(kk_stage_dir "$prev")/checkpoints"
  "$PYTHON" -m launcher.chain latest-weights "$ckpt" --stage-name "$prev" || exit 2
}

# kk_test_files N... / kk_train_files N...: the test / train parquet of each number of people.
kk_test_files() { local n; for n in "$@"; do printf '%s ' "$DATA_DIR/${n}ppl/test.parquet"; done; }
kk_train_files() { local n; for n in "$@"; do printf '%s ' "$DATA_DIR/${n}ppl/train.parquet"; done; }

# KL_COEF=0 drops the KL loss and with it the reference model (a whole forward pass).
kk_is_zero() { awk -v x="$1" 'BEGIN { exit !(x + 0 == 0) }'; }

kk_hydra_list() {  # "a,b c" -> [a,b,c]
  local items
  items="$(echo "$*" | tr ' ' ',' | sed 's/,,*/,/g; s/^,//; s/,$//')"
  echo "[$items]"
}

kk_banner() {
  kk_log "======================================================================"
  kk_log " stage      : $1"
  kk_log " profile    : $PROFILE ($KK_PROFILE_REASON)"
  kk_log " model      : $2"
  kk_log " algorithm  : $ALGO   gpus: ${N_GPUS}x${NNODES}   batch: $TRAIN_BATCH x n=$ROLLOUT_N"
  kk_log " sampling   : T=$TEMPERATURE top_p=$TOP_P top_k=$TOP_K   lr=$LR   kl=$KL_COEF"
  [[ -n "$KK_CPU_DTYPE" ]] && kk_log " dtype      : $KK_CPU_DTYPE ($KK_CPU_DTYPE_REASON)"
  kk_log " output     : $3"
  kk_log "======================================================================"
}

# Settings every run shares (GPU | CPU).  A run script states only what differs,
# before kk_run_stage; each value here is used only where the script left it unset.
# Differences from the sources are listed in README.md ("Differences from the sources").
kk_stage_defaults() {
  kk_default TRAIN_BATCH 8 4                      # Logic-RL and the paper: train batch 8
  kk_default MINI_BATCH "$TRAIN_BATCH" "$TRAIN_BATCH"   # one on-policy update per step
  kk_default MICRO_BATCH 16 4                     # GPU: superseded by dynamic batch size (token budget)
  kk_default TOP_P 1.0 1.0
  kk_default TOP_K -1 -1
  kk_default KL_COEF 0.001 0.001                  # Logic-RL: KL loss 0.001, low_var_kl
  kk_default ENTROPY_COEFF 0.001 0                # Logic-RL's fork: 0.001; CPU: 0, as measured in docs/experiments
  kk_default EPOCHS 1 1
  kk_default MAX_PROMPT_LEN 512 512               # K&K prompts are under 300 tokens (Logic-RL)
  kk_default MAX_RESPONSE_LEN 4096 256            # the paper: 4096 (Logic-RL's main_grpo.sh: 2048); CPU: docs/gpu_memory_plan.md
  # CPU: a small random validation subset; set but empty (eval.sh's greedy run) means all
  [[ -v VAL_MAX_SAMPLES ]] || kk_default VAL_MAX_SAMPLES "" 8
  kk_default SAVE_FREQ 50 2
  kk_default TEST_FREQ 10 2
  kk_default VAL_BEFORE_TRAIN False False
  kk_default INIT_MODEL "$MODEL" "$MODEL"
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

# kk_run_stage STAGE [extra hydra overrides...]
# Needs: TRAIN_FILES VAL_FILES ROLLOUT_N TEMPERATURE LR, plus kk_stage_defaults'
# settings; optional TOTAL_STEPS GPU_MEM_UTIL TP_SIZE
kk_run_stage() {
  local stage="$1"; shift
  kk_stage_defaults
  local out model_path chat_override logger_list
  # Paths handed to veRL are made absolute here: Ray workers (on other nodes
  # too, with a shared filesystem) do not share this shell's working directory.
  out="$(realpath -m "$(kk_stage_dir "$stage")")"
  if [[ -f "$out/COMPLETED" && "$DRY_RUN" != 1 && "${FORCE:-0}" != 1 ]]; then
    kk_log "stage $stage already completed ($out/COMPLETED); FORCE=1 runs it again"
    return 0
  fi
  model_path="$(kk_resolve_model "$INIT_MODEL")"
  [[ -e "$model_path" ]] && model_path="$(realpath "$model_path")"
  local reward_file train_list="" val_list="" f
  reward_file="$(realpath -m "$REWARD_FILE")"
  for f in $TRAIN_FILES; do train_list+="$(realpath -m "$f") "; done
  for f in $VAL_FILES; do val_list+="$(realpath -m "$f") "; done

  # shellcheck disable=SC2086
  local -a data_files=($train_list $val_list)
  if [[ "$DRY_RUN" == 1 ]]; then  # the config is checked, not the files (a stage may not have run yet)
    chat_override="$("$PYTHON" -m launcher.preflight --config-only --prefill "${PREFILL_THINK:-1}" \
        --template "${TEMPLATE:-instruct}" --reward-file "$reward_file")" || exit 2
  else
    chat_override="$("$PYTHON" -m launcher.preflight --data "${data_files[@]}" \
        --model "$model_path" --attn-impl "$ATTN_IMPL" --reward-file "$reward_file" \
        ${RAY_ADDRESS:+--ray-address "$RAY_ADDRESS" --nnodes "$NNODES" --n-gpus "$N_GPUS"})" || exit 2
  fi

  logger_list="$LOGGERS"
  if [[ ",$logger_list," == *",wandb,"* && -z "${WANDB_API_KEY:-}" ]]; then
    export WANDB_MODE="${WANDB_MODE:-offline}"
  fi
  export WANDB_DIR="$out"

  local -a overrides=(
    "algorithm.adv_estimator=$ALGO"
    "data.train_files=$(kk_hydra_list $train_list)"
    "data.val_files=$(kk_hydra_list $val_list)"
    "data.train_batch_size=$TRAIN_BATCH"
    "data.max_prompt_length=$MAX_PROMPT_LEN"
    "data.max_response_length=$MAX_RESPONSE_LEN"
    "data.filter_overlong_prompts=True"
    "data.truncation=error"
    "actor_rollout_ref.model.path=$model_path"
    "+actor_rollout_ref.model.override_config.attn_implementation=$ATTN_IMPL"
    "actor_rollout_ref.actor.optim.lr=$LR"
    "actor_rollout_ref.actor.ppo_mini_batch_size=$MINI_BATCH"
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=$MICRO_BATCH"
    "actor_rollout_ref.actor.use_kl_loss=$(kk_is_zero "$KL_COEF" && echo False || echo True)"
    "actor_rollout_ref.actor.kl_loss_coef=$KL_COEF"
    "actor_rollout_ref.actor.kl_loss_type=low_var_kl"
    "actor_rollout_ref.actor.entropy_coeff=$ENTROPY_COEFF"
    "actor_rollout_ref.actor.checkpoint.save_contents=[model,optimizer,extra,hf_model]"
    "actor_rollout_ref.rollout.name=vllm"
    "actor_rollout_ref.rollout.n=$ROLLOUT_N"
    "actor_rollout_ref.rollout.temperature=$TEMPERATURE"
    "actor_rollout_ref.rollout.top_p=$TOP_P"
    "actor_rollout_ref.rollout.top_k=$TOP_K"
    "actor_rollout_ref.rollout.gpu_memory_utilization=${GPU_MEM_UTIL:-0.7}"
    "actor_rollout_ref.rollout.tensor_model_parallel_size=${TP_SIZE:-1}"
    # Unset, veRL gives vLLM the model's max_position_embeddings (1,010,000 for the
    # 1M model), and vLLM refuses to start when its KV cache cannot hold that.
    "actor_rollout_ref.rollout.max_model_len=$((MAX_PROMPT_LEN + MAX_RESPONSE_LEN))"
    # Qwen2.5-*-1M configs carry dual_chunk_attention_config; vLLM then builds
    # dual-chunk rotary + attention layers that its current attention backends do
    # not take (on CPU it fails at start).  Below chunk_size (262,144) tokens the
    # result equals ordinary attention, which is what the HF actor computes, so
    # the rollout drops the key.  No effect on models without it.
    "+actor_rollout_ref.rollout.engine_kwargs.vllm.hf_overrides={dual_chunk_attention_config:null}"
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=$MICRO_BATCH"
    "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=$MICRO_BATCH"
    "actor_rollout_ref.rollout.val_kwargs.temperature=${VAL_TEMPERATURE:-0}"
    "actor_rollout_ref.rollout.val_kwargs.do_sample=${VAL_DO_SAMPLE:-False}"
    "actor_rollout_ref.rollout.val_kwargs.n=${VAL_N:-1}"
    "reward.custom_reward_function.path=$reward_file"
    "reward.custom_reward_function.name=compute_score"
    "trainer.logger=$(kk_hydra_list "${logger_list//,/ }")"
    "trainer.project_name=${PROJECT:-logic_rl}"
    "trainer.experiment_name=${EXPERIMENT}_${stage}"
    "trainer.n_gpus_per_node=$N_GPUS"
    "trainer.nnodes=$NNODES"
    "trainer.total_epochs=$EPOCHS"
    "trainer.save_freq=${SAVE_FREQ:-50}"
    "trainer.test_freq=${TEST_FREQ:-10}"
    "trainer.val_before_train=${VAL_BEFORE_TRAIN:-True}"
    "trainer.resume_mode=auto"
    "trainer.default_local_dir=$out/checkpoints"
    "trainer.rollout_data_dir=$out/rollouts"
    "trainer.validation_data_dir=$out/validation"
    "hydra.run.dir=$out/hydra"
  )
  [[ -n "${TOTAL_STEPS:-}" ]] && overrides+=("trainer.total_training_steps=$TOTAL_STEPS")
  # BYPASS_OLD_LOGPROB=1: take old log-probs from the rollout engine instead of a
  # recompute pass (valid when each step makes one on-policy update).
  [[ "${BYPASS_OLD_LOGPROB:-0}" == 1 ]] && overrides+=("algorithm.rollout_correction.bypass_mode=True")
  if [[ -n "${VAL_MAX_SAMPLES:-}" ]]; then  # a random subset across all N, the same every time
    overrides+=("data.val_max_samples=$VAL_MAX_SAMPLES" "data.validation_shuffle=True" "data.seed=${DATA_SEED:-1}")
  fi
  [[ -n "$chat_override" ]] && overrides+=("$chat_override")
  if [[ "$PROFILE" == gpu ]]; then overrides+=("${KK_GPU_OVERRIDES[@]}")
  else
    kk_cpu_dtype
    overrides+=("${KK_CPU_OVERRIDES[@]}" "${KK_CPU_DTYPE_OVERRIDES[@]}")
    [[ -n "${RAY_ADDRESS:-}" ]] || overrides+=("${KK_CPU_OWN_RAY_OVERRIDES[@]}")
    if [[ "${GPU_PATH_ON_CPU:-0}" == 1 ]]; then
      mapfile -t -O "${#overrides[@]}" overrides < <(kk_gpu_overrides_runnable_on_cpu)
    fi
  fi
  export VERL_FILE_LOGGER_PATH="$out/metrics.jsonl"   # before the runtime env is built: the trainer is a Ray actor
  mapfile -t -O "${#overrides[@]}" overrides < <(kk_runtime_env_overrides)
  [[ -n "${REWARD_KWARGS:-}" ]] && for kv in $REWARD_KWARGS; do overrides+=("+reward.custom_reward_function.reward_kwargs.$kv"); done
  overrides+=("$@")   # the user's trailing overrides win

  if [[ "$PRINT_OVERRIDES" == 1 ]]; then
    printf '%s\0' "${overrides[@]}" ""
    return
  fi
  if [[ "$DRY_RUN" == 1 ]]; then
    [[ -n "$KK_CPU_DTYPE" ]] && kk_log "dtype: $KK_CPU_DTYPE ($KK_CPU_DTYPE_REASON); trailing overrides win"
    "$PYTHON" -m planning.dry_run --n-gpus "$N_GPUS" --nnodes "$NNODES" \
      --model-spec "${MODEL_SPEC:-$model_path}" --save "$out/dry_run_config.yaml" -- "${overrides[@]}"
    return
  fi

  mkdir -p "$out"
  # veRL's file logger truncates its file: keep an earlier (crashed) attempt's metrics.
  "$PYTHON" -m launcher.metrics_log rotate "$VERL_FILE_LOGGER_PATH"
  kk_banner "$stage" "$model_path" "$out"
  local rc
  set +e
  # memwatch samples the whole process tree (Ray workers, vLLM) into memory.json, and stops that tree
  # when it gets a stop signal or this shell dies.  It runs in the background so that a SIGTERM/Ctrl-C
  # reaches the trap at once (bash defers traps until a foreground command ends).
  "$PYTHON" -m launcher.memwatch --out "$out/memory.json" -- \
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
