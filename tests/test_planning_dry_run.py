"""Dry run of the GPU profile: veRL's real Hydra config + validation, our batch-size rules, memory table.

The GPU-profile overrides come from ``planning.gpu_plan`` (the settings of docs/gpu_memory_plan.md), one
list per stage; the run scripts' ``DRY_RUN=1`` mode passes its own lists through the same code path.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from planning import dry_run as dry_run_module
from planning.dry_run import DryRunError, dry_run, main
from planning.gpu_plan import STAGES, stage_overrides

REPO_ROOT = Path(__file__).resolve().parents[1]
VLLM_CHECK = "vLLM KV check (vLLM's code)"


@pytest.fixture(params=sorted(STAGES))
def gpu_stage(request: pytest.FixtureRequest) -> tuple[str, list[str]]:
    """(stage name, GPU-profile overrides) for each of the three stages."""
    return request.param, stage_overrides(request.param)


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    return errors[0]


def test_gpu_profile_stage_resolves_and_validates(gpu_stage: tuple[str, list[str]]) -> None:
    stage, overrides = gpu_stage
    result = dry_run(overrides)
    assert not result.errors, [c.line() for c in result.errors]
    cfg = result.config
    expected_n = {"stage1_warmup": 32, "stage2_hightemp": 64, "stage3_anneal": 16, "paper_reinforce": 8}[stage]
    assert cfg.actor_rollout_ref.rollout.n == expected_n
    assert cfg.algorithm.adv_estimator == ("reinforce_plus_plus" if stage == "paper_reinforce" else "grpo")
    # what the workers settle on (planning/startup.py), the same for every recipe
    assert result.startup is not None and result.startup.max_model_len == 512 + 4096
    assert result.startup.attn_implementation == "sdpa"
    # Interpolations of veRL's config follow our overrides (the ref budget derives from the actor's).
    assert OmegaConf.select(cfg, "actor_rollout_ref.ref.log_prob_max_token_len_per_gpu") == 16384
    names = {check.name for check in result.checks}
    assert "veRL validate_config (main_ppo)" in names and "mini-batch x n vs data-parallel size" in names
    assert VLLM_CHECK in names  # vLLM's own ModelConfig/VllmConfig and start-up KV check passed
    assert result.memory is not None and result.memory.fits()
    assert result.memory.kv.holds_all_rollouts


def test_vllm_own_kv_check_refuses_the_unset_max_model_len() -> None:
    # Unset, veRL's fallback hands vLLM the shipped config.json's max_position_embeddings; vLLM's own
    # check_enough_kv_cache_memory, built from that config.json, then refuses the plan's KV cache.
    result = dry_run(stage_overrides("stage2_hightemp") + ["actor_rollout_ref.rollout.max_model_len=null"])
    assert result.startup is not None and result.startup.max_model_len == 1_010_000
    [error] = result.errors
    assert error.name == VLLM_CHECK
    assert "max seq len (1010000)" in error.message and "max_model_len=4608" in error.message
    # The same plan with a KV budget cut to a quarter still holds one 4608-token sequence.
    quarter = dry_run(stage_overrides("stage2_hightemp") + ["actor_rollout_ref.rollout.gpu_memory_utilization=0.25"])
    assert VLLM_CHECK in {check.name for check in quarter.checks} and not quarter.errors


def test_cli_prints_yaml_checks_and_memory_table(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--n-gpus", "4", "--", *stage_overrides("stage2_hightemp")])
    out = capsys.readouterr().out
    assert rc == 0
    resolved = OmegaConf.create(out.split("# checks")[0].split("\n", 1)[1])
    assert resolved.actor_rollout_ref.rollout.temperature == 1.2
    assert "| **total** |" in out and "KV capacity:" in out


def test_bad_mini_batch_divisibility_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    # 1 prompt × 6 samples per mini-batch cannot be split over 4 data-parallel GPUs.
    overrides = stage_overrides("stage2_hightemp") + [
        "actor_rollout_ref.rollout.n=6",
        "actor_rollout_ref.actor.ppo_mini_batch_size=1",
    ]
    rc = main(["--no-yaml", "--", *overrides])
    captured = capsys.readouterr()
    assert rc == 2
    line = _one_error_line(captured.err)
    assert "ppo_mini_batch_size × rollout.n = 1 × 6 = 6 must be divisible by the data-parallel size" in line
    assert captured.out == ""


def test_unknown_key_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    overrides = stage_overrides("stage1_warmup") + ["actor_rollout_ref.actor.ppo_mini_batch_sise=8"]
    rc = main(["--", *overrides])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2
    assert "unknown config key 'actor_rollout_ref.actor.ppo_mini_batch_sise'" in line


def test_added_key_unknown_to_verl_dataclass_is_caught_by_verl_validation() -> None:
    result = dry_run(stage_overrides("stage1_warmup") + ["+actor_rollout_ref.actor.not_a_field=1"])
    assert any("not_a_field" in check.message for check in result.errors)


def test_token_budget_below_max_sequence_is_error() -> None:
    result = dry_run(stage_overrides("stage2_hightemp") + ["actor_rollout_ref.actor.ppo_max_token_len_per_gpu=4000"])
    messages = [check.message for check in result.errors]
    longest = result.config.data.max_prompt_length + result.config.data.max_response_length
    assert longest > 4000
    # actor, rollout and ref budgets interpolate from the actor's value: all three are short of it.
    assert sum(f"must be >= max_prompt_length + max_response_length ({longest})" in m for m in messages) == 3


def test_fixed_micro_batches_use_verl_and_our_rules() -> None:
    no_micro = dry_run(stage_overrides("stage2_hightemp") + [
        "actor_rollout_ref.actor.use_dynamic_bsz=False", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=null"])
    assert any("ppo_micro_batch_size" in check.message and check.name.startswith("veRL") for check in no_micro.errors)

    fixed = [
        "actor_rollout_ref.actor.use_dynamic_bsz=False",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=16",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=16",
    ]
    good = dry_run(stage_overrides("stage2_hightemp") + fixed + ["actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4"])
    assert not good.errors, [c.line() for c in good.errors]
    bad = dry_run(stage_overrides("stage2_hightemp") + fixed + ["actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=3"])
    assert [check.name for check in bad.errors] == ["actor micro-batch"]
    assert "= 128 must be divisible by actor.ppo_micro_batch_size_per_gpu (3)" in bad.errors[0].message


def test_tensor_parallel_must_divide_attention_heads() -> None:
    result = dry_run(
        stage_overrides("stage2_hightemp")
        + ["trainer.n_gpus_per_node=8", "actor_rollout_ref.rollout.tensor_model_parallel_size=8"]
    )
    [error] = result.errors  # vLLM's own VllmConfig (ModelConfig.verify_with_parallel_config)
    assert error.name.startswith("start-up values") and "vLLM's config refuses" in error.message
    assert "must be divisible by tensor parallel size (8)" in error.message


def test_tensor_parallel_must_divide_gpus() -> None:
    result = dry_run(stage_overrides("stage3_anneal") + ["actor_rollout_ref.rollout.tensor_model_parallel_size=3"])
    assert "rollout TP divides GPUs" in [check.name for check in result.errors]


def test_flags_override_gpu_count_and_change_the_estimate() -> None:
    four = dry_run(stage_overrides("stage2_hightemp"))
    eight = dry_run(stage_overrides("stage2_hightemp"), n_gpus=8)
    assert eight.config.trainer.n_gpus_per_node == 8
    assert eight.memory is not None and four.memory is not None
    assert eight.memory.peak()[1] < four.memory.peak()[1]


def test_estimated_oom_is_warning_or_strict_error(capsys: pytest.CaptureFixture[str]) -> None:
    overrides = stage_overrides("stage2_hightemp") + ["actor_rollout_ref.model.enable_gradient_checkpointing=False"]
    assert main(["--no-yaml", "--", *overrides]) == 0
    assert "estimated peak" in capsys.readouterr().err
    assert main(["--no-yaml", "--strict-memory", "--", *overrides]) == 2
    assert "exceeds 80 GiB per GPU" in _one_error_line(capsys.readouterr().err)


def test_save_writes_resolved_yaml_atomically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "stage" / "dry_run_config.yaml"
    rc = main(["--no-yaml", "--save", str(target), "--", *stage_overrides("stage3_anneal")])
    assert rc == 0
    saved = OmegaConf.load(target)
    assert saved.actor_rollout_ref.actor.optim.lr == 2e-7
    assert "${" not in target.read_text()  # interpolations resolved
    assert sorted(p.name for p in target.parent.iterdir()) == ["dry_run_config.yaml"]


def test_missing_reward_file_is_error_and_real_reward_loads() -> None:
    missing = dry_run(stage_overrides("stage1_warmup") + ["reward.custom_reward_function.path=reward_fns/absent.py"])
    assert any("reward function file not found" in check.message for check in missing.errors)
    reward_file = REPO_ROOT / "reward_fns" / "kk.py"
    if not reward_file.is_file():
        pytest.skip("reward_fns/kk.py not in the tree yet")
    loaded = dry_run(stage_overrides("stage1_warmup") + [f"reward.custom_reward_function.path={reward_file}"])
    reward_check = next(c for c in loaded.checks if c.name == "veRL custom reward function")
    assert reward_check.status == "ok" and "compute_score" in reward_check.message


def test_unknown_model_spec_and_unparsable_override(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DryRunError, match="unknown model spec 'no-such-model'"):
        dry_run(stage_overrides("stage1_warmup"), model_spec="no-such-model")
    assert main(["--", "data.train_batch_size"]) == 2
    assert "cannot parse override" in _one_error_line(capsys.readouterr().err)


def test_cpu_device_skips_gpu_estimate() -> None:
    result = dry_run(stage_overrides("stage1_warmup") + ["trainer.device=cpu"])
    assert result.memory is None and "trainer.device=cpu" in result.memory_note


def test_config_dir_is_the_installed_verl() -> None:
    config_dir = dry_run_module.verl_config_dir()
    assert (config_dir / "ppo_trainer.yaml").is_file()
