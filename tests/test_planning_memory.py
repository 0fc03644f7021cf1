"""Sanity relations of the per-GPU memory estimator (each can fail if a formula is wired wrongly)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from planning.memory import (
    GIB,
    ModelSpecError,
    TrainingSetup,
    builtin_specs,
    estimate_memory,
    load_model_spec,
    main,
)

SEVEN_B = "Qwen/Qwen2.5-7B-Instruct-1M"


@pytest.fixture
def setup() -> TrainingSetup:
    """Stage-2-like settings on 4×80 GiB."""
    return TrainingSetup(
        n_gpus_per_node=4, nnodes=1, gpu_mem_gib=80, train_batch_size=8, rollout_n=64,
        prompt_length=400, response_length=4096, use_dynamic_bsz=True, ppo_max_token_len_per_gpu=16384,
        log_prob_max_token_len_per_gpu=16384, gradient_checkpointing=True, use_remove_padding=True,
        param_offload=False, optimizer_offload=False, rollout_tp=1, gpu_memory_utilization=0.6,
    )


def _sharded_state(estimate) -> float:
    update = estimate.phases["actor update"]
    return sum(v for k, v in update.items() if "(sharded)" in k)


def test_seven_b_parameter_count_from_spec() -> None:
    spec = load_model_spec(SEVEN_B)
    assert 7.5e9 < spec.num_params() < 7.7e9  # Qwen2.5-7B: 7.61e9
    assert spec.hidden_size == 3584 and spec.num_layers == 28 and spec.num_kv_heads == 4
    assert not spec.tie_word_embeddings and spec.vocab_size == 152064


def test_small_models_and_tied_embeddings() -> None:
    smol = load_model_spec("SmolLM2-135M-Instruct")
    assert 1.30e8 < smol.num_params() < 1.40e8
    assert smol.embedding_params() == 49152 * 576  # tied: one matrix
    half_b = load_model_spec("qwen/qwen2.5-0.5b-instruct")  # case-insensitive lookup
    assert 4.8e8 < half_b.num_params() < 5.0e8


def test_local_config_json_matches_builtin_entry(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(builtin_specs()[SEVEN_B]))
    local = load_model_spec(str(tmp_path))
    assert local.num_params() == load_model_spec(SEVEN_B).num_params()
    assert local.name == str(tmp_path)


def test_bad_specs_raise() -> None:
    with pytest.raises(ModelSpecError, match="unknown model spec"):
        load_model_spec("Llama-9000")


def test_bad_local_config_raises(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(ModelSpecError, match="architecture field"):
        load_model_spec(str(tmp_path))


def test_more_gpus_means_less_per_gpu_state(setup: TrainingSetup) -> None:
    spec = load_model_spec(SEVEN_B)
    four = estimate_memory(spec, setup)
    eight = estimate_memory(spec, dataclasses.replace(setup, n_gpus_per_node=8))
    two_nodes = estimate_memory(spec, dataclasses.replace(setup, nnodes=2))
    assert _sharded_state(eight) == pytest.approx(_sharded_state(four) / 2)
    assert _sharded_state(two_nodes) == pytest.approx(_sharded_state(eight))
    # fp32 params + grads + 2 AdamW moments = 16 bytes per parameter, split over 4 GPUs.
    assert _sharded_state(four) == pytest.approx(spec.num_params() * 16 / 4)


def test_offload_frees_the_rollout_phase_only(setup: TrainingSetup) -> None:
    spec = load_model_spec(SEVEN_B)
    resident = estimate_memory(spec, setup).phase_totals()
    offloaded = estimate_memory(spec, dataclasses.replace(setup, param_offload=True, optimizer_offload=True))
    totals = offloaded.phase_totals()
    freed = spec.num_params() * (4 + 8) / 4  # fp32 params + AdamW moments, sharded over 4
    assert totals["rollout"] == pytest.approx(resident["rollout"] - freed)
    assert totals["actor update"] == pytest.approx(resident["actor update"])  # veRL reloads them to train


def test_fsdp2_offload_policy_keeps_shards_off_gpu(setup: TrainingSetup) -> None:
    spec = load_model_spec(SEVEN_B)
    on_gpu = estimate_memory(spec, setup).phase_totals()["actor update"]
    on_cpu = estimate_memory(spec, dataclasses.replace(setup, fsdp2_offload_policy=True)).phase_totals()
    assert on_cpu["actor update"] < on_gpu - spec.num_params() * 15 / 4


def test_gradient_checkpointing_means_fewer_activations(setup: TrainingSetup) -> None:
    spec = load_model_spec(SEVEN_B)
    key = "activations (one micro-batch)"
    with_ckpt = estimate_memory(spec, setup).phases["actor update"][key]
    without = estimate_memory(spec, dataclasses.replace(setup, gradient_checkpointing=False)).phases["actor update"][key]
    assert without > 5 * with_ckpt


def test_token_budget_drives_activations_and_logits(setup: TrainingSetup) -> None:
    spec = load_model_spec(SEVEN_B)
    small = estimate_memory(spec, setup)
    big = estimate_memory(spec, dataclasses.replace(setup, ppo_max_token_len_per_gpu=32768))
    logits = "logits fp32 (+ grad in update)"
    assert big.phases["actor update"][logits] == pytest.approx(2 * small.phases["actor update"][logits])
    assert small.phases["actor update"][logits] == pytest.approx(16384 * spec.vocab_size * 4 * 2)
    padded = estimate_memory(spec, dataclasses.replace(setup, use_remove_padding=False))
    assert padded.update_tokens == 2 * small.update_tokens
    fixed = estimate_memory(spec, dataclasses.replace(setup, use_dynamic_bsz=False, ppo_micro_batch_size_per_gpu=2))
    assert fixed.update_tokens == 2 * (400 + 4096)


def test_kv_cache_plan(setup: TrainingSetup) -> None:
    spec = load_model_spec(SEVEN_B)
    tp1 = estimate_memory(spec, setup).kv
    assert tp1.kv_bytes_per_token == 2 * 28 * 4 * 128 * 2  # K and V, 28 layers, 4 KV heads × 128, bf16
    assert tp1.replicas == 4 and tp1.sequences_per_replica == 128
    assert tp1.tokens_needed == 128 * 4496
    more = estimate_memory(spec, dataclasses.replace(setup, gpu_memory_utilization=0.8)).kv
    assert more.capacity_tokens > tp1.capacity_tokens
    tp2 = estimate_memory(spec, dataclasses.replace(setup, rollout_tp=2)).kv
    assert tp2.kv_bytes_per_token == tp1.kv_bytes_per_token / 2
    assert tp2.vllm_weights_bytes == pytest.approx(tp1.vllm_weights_bytes / 2)
    assert tp2.capacity_tokens > 2 * tp1.capacity_tokens  # half the bytes per token and half the weights
    starved = estimate_memory(spec, dataclasses.replace(setup, gpu_memory_utilization=0.2)).kv
    assert starved.full_length_concurrency == 0 and not starved.holds_all_rollouts


def test_estimate_fits_and_reports(setup: TrainingSetup) -> None:
    estimate = estimate_memory(load_model_spec(SEVEN_B), setup)
    phase, peak = estimate.peak()
    assert peak == max(estimate.phase_totals().values())
    assert estimate.fits() == (peak <= 80 * GIB)
    table = estimate.to_table()
    assert "| **total** |" in table and phase in table
    summary = estimate.to_dict()
    assert summary["peak_gib"] == pytest.approx(peak / GIB)
    json.dumps(summary)


def test_cli_lists_specs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    assert SEVEN_B in capsys.readouterr().out
    assert main(["--model-spec", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model spec") and err.count("\n") == 1
