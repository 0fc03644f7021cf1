"""Per-GPU memory estimate for a veRL 0.9.1 GRPO run (FSDP actor + colocated vLLM rollout).

The estimate is on paper: it multiplies architecture numbers by the settings of the resolved config. It
follows what veRL 0.9.1's FSDP engine and vLLM actually keep on the GPU in each phase of a step:

* ``rollout``: vLLM awake (it takes ``gpu_memory_utilization`` × GPU memory: its bf16 weights, a profiled
  activation workspace and the KV cache), plus whatever the actor leaves on the GPU (params unless
  ``param_offload``, AdamW moments unless ``optimizer_offload``; gradients are freed by zero_grad).
* ``log-prob``: vLLM asleep (``free_cache_engine``), the actor's params loaded for a forward (the engine's
  eval mode loads params only), FSDP bf16 compute copies, one micro-batch of inference activations and its
  fp32 logits. The reference model uses the same buffers: veRL forces CPU offload for forward-only
  engines (``verl/workers/engine/fsdp/transformer_impl.py``), so its sharded params never stay on the GPU.
* ``actor update``: params + gradients + AdamW moments (veRL's train mode loads all of them back even with
  offload on, so offload only helps the rollout phase), FSDP compute copies and unsharded gradient buffers,
  activations of one micro-batch (with or without gradient checkpointing) and the logits with their
  gradient.

Assumptions are named constants below; the docs (``docs/gpu_memory_plan.md``) repeat them.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

logger = logging.getLogger(__name__)

GIB = 1024**3
MODEL_SPECS_FILE = Path(__file__).with_name("model_specs.json")
# Real config.json files of the GPU models, one folder per model named <org>--<name> (see its README).
MODEL_CONFIGS_DIR = Path(__file__).with_name("model_configs")

DTYPE_BYTES = {"fp32": 4, "float32": 4, "bf16": 2, "bfloat16": 2, "fp16": 2, "float16": 2}
BF16 = 2
FP32 = 4

# Fixed overheads (assumptions, not measured here): CUDA context + NCCL buffers + allocator slack of the
# trainer process, and what a sleeping vLLM process still holds (context + CUDA-graph pool).
TRAINER_CONTEXT_GIB = 1.0
VLLM_ASLEEP_GIB = 1.0
# Inside vLLM's budget: non-torch memory (context, NCCL) and the CUDA-graph pool when not enforce_eager.
VLLM_NON_TORCH_GIB = 0.5
VLLM_CUDA_GRAPH_GIB = 0.5
# Without remove-padding a dynamic-batch micro-batch is padded to its longest sequence; assuming the mean
# sequence is half the longest, the padded tensor holds about twice the counted tokens.
NO_RMPAD_PADDING_FACTOR = 2.0


class ModelSpecError(ValueError):
    """The architecture of a model could not be determined (unknown name, bad config.json)."""


@dataclass(frozen=True)
class ModelSpec:
    """Architecture numbers of a decoder-only (Llama/Qwen2-style) model."""

    name: str
    hidden_size: int
    num_layers: int
    num_attention_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool
    head_dim: int
    qkv_bias: bool = False
    max_position_embeddings: int | None = None
    # The config.json mapping it came from: the start-up checks build transformers' and veRL's own
    # objects from it (planning/startup.py).
    hf_config: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def kv_dim(self) -> int:
        """Width of the K (or V) projection: kv heads × head dim."""
        return self.num_kv_heads * self.head_dim

    def embedding_params(self) -> int:
        """Input embedding plus an untied lm_head (FSDP's root unit in veRL's wrap policy)."""
        embed = self.vocab_size * self.hidden_size
        return embed if self.tie_word_embeddings else 2 * embed

    def layer_params(self) -> int:
        """Parameters of one decoder layer (attention, SwiGLU MLP, two RMSNorms)."""
        h, q_dim = self.hidden_size, self.num_attention_heads * self.head_dim
        attention = h * q_dim + 2 * h * self.kv_dim + q_dim * h
        if self.qkv_bias:
            attention += q_dim + 2 * self.kv_dim
        mlp = 3 * h * self.intermediate_size
        return attention + mlp + 2 * h

    def num_params(self) -> int:
        """Total parameter count (embeddings, all layers, final norm)."""
        return self.embedding_params() + self.num_layers * self.layer_params() + self.hidden_size


def spec_from_hf_config(config: Mapping[str, Any], name: str) -> ModelSpec:
    """Build a :class:`ModelSpec` from a HuggingFace ``config.json`` mapping."""
    try:
        hidden = int(config["hidden_size"])
        heads = int(config["num_attention_heads"])
        head_dim = int(config.get("head_dim") or hidden // heads)
        # Qwen2 hard-codes q/k/v biases in its modeling code; Llama-style configs say it in attention_bias.
        qkv_bias = bool(config.get("attention_bias", config.get("model_type") == "qwen2"))
        return ModelSpec(
            name=name,
            hidden_size=hidden,
            num_layers=int(config["num_hidden_layers"]),
            num_attention_heads=heads,
            num_kv_heads=int(config.get("num_key_value_heads") or heads),
            intermediate_size=int(config["intermediate_size"]),
            vocab_size=int(config["vocab_size"]),
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
            head_dim=head_dim,
            qkv_bias=qkv_bias,
            max_position_embeddings=config.get("max_position_embeddings"),
            hf_config=dict(config),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelSpecError(f"model config for {name} lacks or mangles an architecture field ({exc})") from exc


def builtin_specs() -> dict[str, dict[str, Any]]:
    """Built-in models (name -> config.json mapping): the shipped ``model_configs/``, then ``model_specs.json``."""
    table = {folder.name.replace("--", "/", 1): json.loads((folder / "config.json").read_text(encoding="utf-8"))
             for folder in sorted(MODEL_CONFIGS_DIR.iterdir()) if (folder / "config.json").is_file()}
    extra = json.loads(MODEL_SPECS_FILE.read_text(encoding="utf-8"))
    table.update({name: entry for name, entry in extra.items() if not name.startswith("_")})
    return table


def _lookup_builtin(name: str) -> tuple[str, dict[str, Any]] | None:
    """Match a name against the table: full id, or the part after the org, case-insensitively."""
    wanted = name.rstrip("/").lower()
    wanted_short = wanted.rsplit("/", 1)[-1]
    for key, entry in builtin_specs().items():
        key_lower = key.lower()
        if wanted in (key_lower, key_lower.rsplit("/", 1)[-1]) or wanted_short == key_lower.rsplit("/", 1)[-1]:
            return key, entry
    return None


def load_model_spec(name_or_path: str) -> ModelSpec:
    """Resolve a model: a local folder (or config.json file) first, else the built-in table.

    Raises:
        ModelSpecError: if neither a local config nor a table entry exists.
    """
    path = Path(name_or_path).expanduser()
    config_file = path / "config.json" if path.is_dir() else path
    if config_file.is_file() and config_file.suffix == ".json":
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelSpecError(f"cannot read model config {config_file}: {exc}") from exc
        if not isinstance(config, dict):
            raise ModelSpecError(f"model config {config_file} is not a JSON object")
        return spec_from_hf_config(config, name=str(name_or_path))
    found = _lookup_builtin(name_or_path)
    if found is None:
        known = ", ".join(builtin_specs())
        raise ModelSpecError(
            f"unknown model spec '{name_or_path}': not a local folder with config.json and not in "
            f"planning/model_specs.json (known: {known})"
        )
    key, entry = found
    return spec_from_hf_config(entry, name=key)


@dataclass(frozen=True)
class TrainingSetup:
    """The settings of a resolved veRL config that drive memory (see :meth:`from_config`)."""

    n_gpus_per_node: int
    nnodes: int
    gpu_mem_gib: float
    train_batch_size: int
    rollout_n: int
    prompt_length: int
    response_length: int
    use_dynamic_bsz: bool = True
    ppo_max_token_len_per_gpu: int = 16384
    ppo_micro_batch_size_per_gpu: int | None = None
    log_prob_max_token_len_per_gpu: int = 16384
    log_prob_micro_batch_size_per_gpu: int | None = None
    gradient_checkpointing: bool = True
    use_remove_padding: bool = True
    param_offload: bool = False
    optimizer_offload: bool = False
    fsdp2_offload_policy: bool = False
    actor_param_dtype: str = "fp32"
    ulysses_sp: int = 1
    rollout_tp: int = 1
    gpu_memory_utilization: float = 0.5
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    free_cache_engine: bool = True
    enforce_eager: bool = False

    @property
    def world_size(self) -> int:
        """GPUs the FSDP actor shards over (fsdp_size=-1: all of them)."""
        return self.n_gpus_per_node * self.nnodes

    @property
    def max_seq_len(self) -> int:
        """Longest sequence a step can produce: prompt + response."""
        return self.prompt_length + self.response_length

    @classmethod
    def from_config(cls, cfg: Any, gpu_mem_gib: float) -> TrainingSetup:
        """Read the relevant keys of a composed veRL ``ppo_trainer`` config (OmegaConf DictConfig)."""
        from omegaconf import OmegaConf

        def get(key: str, default: Any = None) -> Any:
            value = OmegaConf.select(cfg, key, default=default)
            return default if value is None else value

        actor = "actor_rollout_ref.actor"
        rollout = "actor_rollout_ref.rollout"
        world = int(get("trainer.n_gpus_per_node", 1)) * int(get("trainer.nnodes", 1))
        micro = get(f"{actor}.ppo_micro_batch_size_per_gpu")
        if micro is None and get(f"{actor}.ppo_micro_batch_size") is not None:
            micro = max(1, int(get(f"{actor}.ppo_micro_batch_size")) // world)
        log_prob_micro = get(f"{rollout}.log_prob_micro_batch_size_per_gpu")
        if log_prob_micro is None and get(f"{rollout}.log_prob_micro_batch_size") is not None:
            log_prob_micro = max(1, int(get(f"{rollout}.log_prob_micro_batch_size")) // world)
        strategy = str(get(f"{actor}.strategy", "fsdp"))
        return cls(
            n_gpus_per_node=int(get("trainer.n_gpus_per_node", 1)),
            nnodes=int(get("trainer.nnodes", 1)),
            gpu_mem_gib=float(gpu_mem_gib),
            train_batch_size=int(get("data.train_batch_size", 1)),
            rollout_n=int(get(f"{rollout}.n", 1)),
            prompt_length=int(get("data.max_prompt_length", 512)),
            response_length=int(get("data.max_response_length", 512)),
            use_dynamic_bsz=bool(get(f"{actor}.use_dynamic_bsz", False)),
            ppo_max_token_len_per_gpu=int(get(f"{actor}.ppo_max_token_len_per_gpu", 16384)),
            ppo_micro_batch_size_per_gpu=None if micro is None else int(micro),
            log_prob_max_token_len_per_gpu=int(get(f"{rollout}.log_prob_max_token_len_per_gpu", 16384)),
            log_prob_micro_batch_size_per_gpu=None if log_prob_micro is None else int(log_prob_micro),
            gradient_checkpointing=bool(get("actor_rollout_ref.model.enable_gradient_checkpointing", True)),
            use_remove_padding=bool(get("actor_rollout_ref.model.use_remove_padding", False)),
            param_offload=bool(get(f"{actor}.fsdp_config.param_offload", False)),
            optimizer_offload=bool(get(f"{actor}.fsdp_config.optimizer_offload", False)),
            fsdp2_offload_policy=strategy == "fsdp2" and bool(get(f"{actor}.fsdp_config.offload_policy", False)),
            actor_param_dtype=str(get(f"{actor}.fsdp_config.model_dtype", "fp32")),
            ulysses_sp=int(get(f"{actor}.ulysses_sequence_parallel_size", 1)),
            rollout_tp=int(get(f"{rollout}.tensor_model_parallel_size", 1)),
            gpu_memory_utilization=float(get(f"{rollout}.gpu_memory_utilization", 0.5)),
            max_num_seqs=int(get(f"{rollout}.max_num_seqs", 256)),
            max_num_batched_tokens=int(get(f"{rollout}.max_num_batched_tokens", 8192)),
            free_cache_engine=bool(get(f"{rollout}.free_cache_engine", True)),
            enforce_eager=bool(get(f"{rollout}.enforce_eager", False)),
        )


@dataclass
class KVCachePlan:
    """What vLLM's budget buys in KV cache, per rollout replica (tensor-parallel group)."""

    vllm_budget_bytes: float
    vllm_weights_bytes: float
    vllm_workspace_bytes: float
    kv_cache_bytes: float
    kv_bytes_per_token: float
    capacity_tokens: int
    replicas: int
    sequences_per_replica: int
    concurrent_sequences: int
    tokens_needed: int
    full_length_concurrency: int

    @property
    def holds_all_rollouts(self) -> bool:
        """True if every concurrently scheduled rollout fits at full length (no preemption)."""
        return self.capacity_tokens >= self.tokens_needed


@dataclass
class MemoryEstimate:
    """Per-GPU bytes by phase and component, plus the KV-cache plan."""

    model: ModelSpec
    setup: TrainingSetup
    phases: dict[str, dict[str, float]]
    kv: KVCachePlan
    update_tokens: int
    log_prob_tokens: int
    notes: list[str] = field(default_factory=list)

    def phase_totals(self) -> dict[str, float]:
        """Total bytes per phase."""
        return {phase: sum(parts.values()) for phase, parts in self.phases.items()}

    def peak(self) -> tuple[str, float]:
        """(phase, bytes) of the highest phase."""
        totals = self.phase_totals()
        phase = max(totals, key=totals.__getitem__)
        return phase, totals[phase]

    @property
    def capacity_bytes(self) -> float:
        """The GPU's memory."""
        return self.setup.gpu_mem_gib * GIB

    def fits(self) -> bool:
        """Peak within the GPU (vLLM's own start-up KV check runs in the dry run: planning.startup)."""
        return self.peak()[1] <= self.capacity_bytes

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (GiB figures)."""
        phase, peak = self.peak()
        return {
            "model": self.model.name,
            "num_params": self.model.num_params(),
            "setup": asdict(self.setup),
            "phases_gib": {p: {k: v / GIB for k, v in parts.items()} for p, parts in self.phases.items()},
            "phase_totals_gib": {p: v / GIB for p, v in self.phase_totals().items()},
            "peak_phase": phase,
            "peak_gib": peak / GIB,
            "fits": self.fits(),
            "kv": {**asdict(self.kv), "holds_all_rollouts": self.kv.holds_all_rollouts},
            "update_tokens_per_micro_batch": self.update_tokens,
            "log_prob_tokens_per_micro_batch": self.log_prob_tokens,
            "notes": list(self.notes),
        }

    def to_table(self) -> str:
        """Markdown table of GiB per component and phase, followed by the KV-cache lines."""
        phases = list(self.phases)
        components: list[str] = []
        for parts in sorted(self.phases.values(), key=len, reverse=True):  # the fullest phase sets the order
            components.extend(name for name in parts if name not in components)
        s = self.setup
        lines = [
            f"per-GPU memory estimate: {self.model.name} ({self.model.num_params() / 1e9:.2f}e9 params), "
            f"{s.n_gpus_per_node} GPUs x {s.nnodes} node(s), {s.gpu_mem_gib:g} GiB each",
            "",
            "| component (GiB per GPU) | " + " | ".join(phases) + " |",
            "|---|" + "---:|" * len(phases),
        ]
        for name in components:
            cells = [f"{self.phases[p][name] / GIB:.1f}" if name in self.phases[p] else "-" for p in phases]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        totals = self.phase_totals()
        lines.append("| **total** | " + " | ".join(f"**{totals[p] / GIB:.1f}**" for p in phases) + " |")
        phase, peak = self.peak()
        verdict = "fits" if peak <= self.capacity_bytes else "EXCEEDS the GPU"
        kv = self.kv
        lines += [
            "",
            f"peak: {peak / GIB:.1f} GiB in '{phase}' of {s.gpu_mem_gib:g} GiB -> {verdict}",
            f"micro-batch tokens per GPU: actor update {self.update_tokens}, log-prob {self.log_prob_tokens}",
            f"vLLM: budget {kv.vllm_budget_bytes / GIB:.1f} GiB = weights {kv.vllm_weights_bytes / GIB:.1f} + "
            f"workspace {kv.vllm_workspace_bytes / GIB:.1f} + KV cache {kv.kv_cache_bytes / GIB:.1f} GiB "
            f"({kv.kv_bytes_per_token / 1024:.1f} KiB/token/GPU, TP={s.rollout_tp}, {kv.replicas} replica(s))",
            f"KV capacity: {kv.capacity_tokens:,} tokens per replica; needed {kv.tokens_needed:,} "
            f"= {kv.concurrent_sequences} concurrent sequences x {s.max_seq_len} tokens "
            f"({kv.sequences_per_replica} sequences per replica per step)",
        ]
        if kv.holds_all_rollouts:
            lines.append("KV verdict: all rollouts of a step fit at full length at once")
        else:
            lines.append(
                f"KV verdict: {kv.full_length_concurrency} full-length sequences at once; vLLM queues/preempts "
                "the rest (slower, not an OOM)"
            )
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def activation_bytes_per_token_per_layer(spec: ModelSpec) -> int:
    """Saved activations of one decoder layer for backward, bytes per token (bf16, flash attention).

    RMSNorm inputs in fp32 (2 × 4h), q/k/v + attention output (2h + 4·kv_dim + 2h), normed inputs of the
    projections (2 × 2h), and the SwiGLU intermediates gate, up, silu(gate), product (4 × 2i).
    """
    h, i = spec.hidden_size, spec.intermediate_size
    return 8 * h + 2 * h + 4 * spec.kv_dim + 2 * h + 4 * h + 8 * i


def training_activation_bytes(spec: ModelSpec, tokens: int, gradient_checkpointing: bool) -> float:
    """Activations held for one micro-batch of ``tokens`` tokens during forward/backward."""
    per_layer = activation_bytes_per_token_per_layer(spec)
    head = 6 * spec.hidden_size  # final norm (fp32 input) + lm_head input
    if gradient_checkpointing:
        # Only each layer's bf16 input is kept; one layer is recomputed at a time in backward.
        per_token = spec.num_layers * BF16 * spec.hidden_size + per_layer + head
    else:
        per_token = spec.num_layers * per_layer + head
    return float(tokens) * per_token


def inference_activation_bytes(spec: ModelSpec, tokens: int) -> float:
    """Working set of a no-grad forward: one layer's hidden states and MLP intermediates."""
    return float(tokens) * (2 * BF16 * spec.hidden_size + 2 * BF16 * spec.intermediate_size)


def logits_bytes(spec: ModelSpec, tokens: int, with_grad: bool) -> float:
    """fp32 logits (vocab × tokens × 4 bytes), doubled in training for their gradient."""
    return float(tokens) * spec.vocab_size * FP32 * (2 if with_grad else 1)


def micro_batch_tokens(setup: TrainingSetup, for_update: bool) -> int:
    """Tokens one GPU processes in one micro-batch (worst case: sequences at full length)."""
    if setup.use_dynamic_bsz:
        budget = setup.ppo_max_token_len_per_gpu if for_update else setup.log_prob_max_token_len_per_gpu
        tokens = max(budget, setup.max_seq_len)
        if not setup.use_remove_padding:
            tokens = int(tokens * NO_RMPAD_PADDING_FACTOR)
        return tokens
    micro = setup.ppo_micro_batch_size_per_gpu if for_update else setup.log_prob_micro_batch_size_per_gpu
    sequences = micro if micro else 1
    return math.ceil(sequences * setup.max_seq_len / max(1, setup.ulysses_sp))


def kv_cache_plan(spec: ModelSpec, setup: TrainingSetup) -> KVCachePlan:
    """How many KV tokens vLLM's budget buys per replica vs. what a step's rollouts need."""
    tp = max(1, setup.rollout_tp)
    budget = setup.gpu_memory_utilization * setup.gpu_mem_gib * GIB
    weights = spec.num_params() * BF16 / tp
    h, i = spec.hidden_size, spec.intermediate_size
    # vLLM profiles a forward of max_num_batched_tokens (hidden-state copies + MLP intermediates) and the
    # sampler's fp32 logits/probs for max_num_seqs sequences.
    workspace = (
        setup.max_num_batched_tokens * (8 * h + 6 * i / tp)
        + setup.max_num_seqs * spec.vocab_size * FP32 * 2
        + VLLM_NON_TORCH_GIB * GIB
        + (0 if setup.enforce_eager else VLLM_CUDA_GRAPH_GIB * GIB)
    )
    kv_cache = max(0.0, budget - weights - workspace)
    kv_heads_per_gpu = math.ceil(spec.num_kv_heads / tp)  # KV heads are replicated when tp > kv heads
    kv_per_token = 2 * spec.num_layers * kv_heads_per_gpu * spec.head_dim * BF16
    capacity = int(kv_cache // kv_per_token)
    replicas = max(1, setup.world_size // tp)
    per_replica = math.ceil(setup.train_batch_size * setup.rollout_n / replicas)
    concurrent = min(per_replica, setup.max_num_seqs)
    return KVCachePlan(
        vllm_budget_bytes=budget,
        vllm_weights_bytes=weights,
        vllm_workspace_bytes=workspace,
        kv_cache_bytes=kv_cache,
        kv_bytes_per_token=kv_per_token,
        capacity_tokens=capacity,
        replicas=replicas,
        sequences_per_replica=per_replica,
        concurrent_sequences=concurrent,
        tokens_needed=concurrent * setup.max_seq_len,
        full_length_concurrency=capacity // setup.max_seq_len,
    )


def estimate_memory(spec: ModelSpec, setup: TrainingSetup) -> MemoryEstimate:
    """Per-GPU memory by phase for the given model and settings (see the module docstring)."""
    world = max(1, setup.world_size)
    n_params = spec.num_params()
    param_bytes = DTYPE_BYTES.get(setup.actor_param_dtype.lower(), FP32)
    # FSDP keeps params in model_dtype (veRL default fp32: they are the fp32 master weights); gradients
    # and AdamW's exp_avg/exp_avg_sq take the dtype of the params.
    params = n_params * param_bytes / world
    grads = n_params * param_bytes / world
    moments = 2 * n_params * param_bytes / world
    on_cpu = setup.fsdp2_offload_policy  # FSDP2 CPUOffloadPolicy: shards live on CPU, step runs there
    compute_copies = (spec.embedding_params() + 2 * spec.layer_params()) * BF16
    unsharded_grads = (spec.embedding_params() + spec.layer_params()) * FP32
    trainer_ctx = TRAINER_CONTEXT_GIB * GIB
    vllm_budget = setup.gpu_memory_utilization * setup.gpu_mem_gib * GIB
    vllm_idle = VLLM_ASLEEP_GIB * GIB if setup.free_cache_engine else vllm_budget

    update_tokens = micro_batch_tokens(setup, for_update=True)
    log_prob_tokens = micro_batch_tokens(setup, for_update=False)
    sp = max(1, setup.ulysses_sp)

    vllm = "vLLM (awake: gpu_memory_utilization x GPU; then asleep)"
    params_row, moments_row, ctx_row = "actor params (sharded)", "AdamW moments (sharded)", "CUDA context / NCCL"
    activations_row, logits_row = "activations (one micro-batch)", "logits fp32 (+ grad in update)"
    rollout = {
        vllm: vllm_budget,
        params_row: 0.0 if (setup.param_offload or on_cpu) else params,
        moments_row: 0.0 if (setup.optimizer_offload or on_cpu) else moments,
        ctx_row: trainer_ctx,
    }
    log_prob = {
        vllm: vllm_idle,
        params_row: 0.0 if on_cpu else params,
        moments_row: 0.0 if (setup.optimizer_offload or on_cpu) else moments,
        "FSDP bf16 compute copies": compute_copies,
        activations_row: inference_activation_bytes(spec, log_prob_tokens) / sp,
        logits_row: logits_bytes(spec, log_prob_tokens, with_grad=False) / sp,
        ctx_row: trainer_ctx,
    }
    update = {
        vllm: vllm_idle,
        params_row: 0.0 if on_cpu else params,
        "actor grads (sharded)": 0.0 if on_cpu else grads,
        moments_row: 0.0 if on_cpu else moments,
        "FSDP bf16 compute copies": compute_copies,
        "unsharded grads (reduce-scatter)": unsharded_grads,
        activations_row: training_activation_bytes(spec, update_tokens, setup.gradient_checkpointing) / sp,
        logits_row: logits_bytes(spec, update_tokens, with_grad=True) / sp,
        ctx_row: trainer_ctx,
    }
    notes = []
    if setup.param_offload or setup.optimizer_offload:
        notes.append("veRL's train mode reloads offloaded params/optimizer, so offload only frees the rollout phase")
    if not setup.free_cache_engine:
        notes.append("free_cache_engine=False keeps vLLM's whole budget during training")
    if setup.fsdp2_offload_policy:
        notes.append("FSDP2 offload_policy keeps params/grads/optimizer on CPU (the optimizer step runs there)")
    return MemoryEstimate(
        model=spec,
        setup=setup,
        phases={"rollout": rollout, "log-prob": log_prob, "actor update": update},
        kv=kv_cache_plan(spec, setup),
        update_tokens=update_tokens,
        log_prob_tokens=log_prob_tokens,
        notes=notes,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m planning.memory [--model-spec NAME_OR_PATH] [--list]``: show architecture numbers."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m planning.memory", description=main.__doc__)
    parser.add_argument("--model-spec", help="model name from planning/model_specs.json or a local HF folder")
    parser.add_argument("--list", action="store_true", help="list the built-in model specs")
    args = parser.parse_args(argv)
    names = list(builtin_specs()) if args.list or not args.model_spec else [args.model_spec]
    try:
        specs = [load_model_spec(name) for name in names]
    except ModelSpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("| model | params | layers | hidden | heads/kv | intermediate | vocab | tied |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for spec in specs:
        print(
            f"| {spec.name} | {spec.num_params() / 1e9:.3f}e9 | {spec.num_layers} | {spec.hidden_size} | "
            f"{spec.num_attention_heads}/{spec.num_kv_heads} | {spec.intermediate_size} | {spec.vocab_size} | "
            f"{spec.tie_word_embeddings} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
