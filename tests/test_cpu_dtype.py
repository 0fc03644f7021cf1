"""The CPU profile's compute dtype: the rule with the hardware capability mocked both ways, the
``CPU_DTYPE`` override, and the overrides the run scripts really compose (``PRINT_OVERRIDES=1`` and
``DRY_RUN=1``) carrying the choice into veRL's config for the actor, the reference model and vLLM.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import launch_group
from planning.dry_run import dry_run
from platforms import cpu_dtype
from platforms.cpu_dtype import choose_cpu_dtype

REPO_ROOT = Path(__file__).resolve().parents[1]
AVX2_EPYC_FLAGS = {"sse4_2", "avx", "avx2", "fma", "f16c"}            # the 2-core EPYC
AVX512_NO_BF16 = AVX2_EPYC_FLAGS | {"avx512f", "avx512bw", "avx512vl", "avx512dq"}
ZEN4_FLAGS = AVX512_NO_BF16 | {"avx512_bf16", "avx512_vnni"}
SAPPHIRE_RAPIDS_FLAGS = ZEN4_FLAGS | {"amx_bf16", "amx_tile"}


def mock_cpu(monkeypatch: pytest.MonkeyPatch, flags: set[str], onednn: bool) -> None:
    monkeypatch.setattr(cpu_dtype, "cpu_flags", lambda: set(flags))
    monkeypatch.setattr(cpu_dtype, "onednn_bf16_supported", lambda: onednn)


@pytest.mark.parametrize("flags, onednn, want", [
    (AVX2_EPYC_FLAGS, False, "fp32"),        # no bf16 at all: torch's reference GEMM loop
    (AVX512_NO_BF16, True, "fp32"),          # oneDNN says yes but only emulates bf16
    (ZEN4_FLAGS, False, "fp32"),             # the instruction without a oneDNN that uses it
    (ZEN4_FLAGS, True, "bf16"),
    (SAPPHIRE_RAPIDS_FLAGS, True, "bf16"),
    ({"fp", "asimd", "bf16"}, True, "bf16"),  # Arm with BF16
])
def test_auto_rule_follows_the_mocked_capability(monkeypatch, flags, onednn, want):
    mock_cpu(monkeypatch, flags, onednn)
    choice = choose_cpu_dtype({})
    assert choice.dtype == want
    assert choice.reason.startswith("auto: ")
    if want == "fp32":
        assert ("oneDNN" in choice.reason) == (not onednn) and ("CPU flags" in choice.reason) == (
            not flags & {"avx512_bf16", "amx_bf16", "bf16"})
    else:
        assert any(flag in choice.reason for flag in flags & {"avx512_bf16", "amx_bf16", "bf16"})


@pytest.mark.parametrize("flags, onednn", [(AVX2_EPYC_FLAGS, False), (SAPPHIRE_RAPIDS_FLAGS, True)])
@pytest.mark.parametrize("forced", ["bf16", "fp32", "FP32 "])
def test_cpu_dtype_env_wins_over_the_hardware(monkeypatch, flags, onednn, forced):
    mock_cpu(monkeypatch, flags, onednn)
    choice = choose_cpu_dtype({"CPU_DTYPE": forced})
    assert choice.dtype == forced.strip().lower()
    assert "CPU_DTYPE" in choice.reason


def test_auto_and_empty_mean_the_rule(monkeypatch):
    mock_cpu(monkeypatch, AVX2_EPYC_FLAGS, False)
    assert choose_cpu_dtype({"CPU_DTYPE": "auto"}).dtype == choose_cpu_dtype({"CPU_DTYPE": ""}).dtype == "fp32"


def test_bad_cpu_dtype_is_one_line_error(tmp_path):
    env = {**os.environ, "CPU_DTYPE": "half", "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([str(REPO_ROOT / ".venv/bin/python"), "-m", "platforms.cpu_dtype"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == ["error: CPU_DTYPE must be bf16, fp32 or auto, not 'half'"]


def test_cpu_flags_reads_this_machine():
    flags = cpu_dtype.cpu_flags()
    if Path("/proc/cpuinfo").is_file():
        assert flags, "no flags line found in /proc/cpuinfo"


# ------------------------------------------------------------ the composed overrides of the CPU profile
def script_overrides(tmp_path: Path, *args: str, **env_extra: str) -> list[str]:
    """The exact override list of ``stage1_warmup.sh`` on the CPU profile (``PRINT_OVERRIDES=1``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "VLLM_", "CPU_DTYPE"))}
    env.update(PROFILE="cpu", PRINT_OVERRIDES="1", RUNS_DIR=str(tmp_path / "runs"), EXPERIMENT="t", **env_extra)
    proc = launch_group.run(["bash", "run_scripts/stage1_warmup.sh", *args], cwd=REPO_ROOT, env=env,
                            timeout=launch_group.timeout_s(600))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [item for item in proc.stdout.split("\0") if item]


def composed_dtypes(overrides: list[str]) -> tuple[str, str, str]:
    """(actor param dtype, reference param dtype, vLLM dtype) in veRL's composed config."""
    result = dry_run(overrides)
    assert not result.errors, [c.line() for c in result.errors]
    arr = result.config.actor_rollout_ref
    return (arr.actor.fsdp_config.mixed_precision.param_dtype, arr.ref.fsdp_config.mixed_precision.param_dtype,
            arr.rollout.dtype)


@pytest.mark.parametrize("forced, want", [("fp32", ("fp32", "fp32", "float32")),
                                          ("bf16", ("bf16", "bf16", "bfloat16"))])
def test_cpu_profile_config_carries_the_forced_dtype(tmp_path, forced, want):
    assert composed_dtypes(script_overrides(tmp_path, CPU_DTYPE=forced)) == want


def test_cpu_profile_auto_uses_this_machines_choice(tmp_path):
    choice = choose_cpu_dtype({})
    actor, ref, rollout = composed_dtypes(script_overrides(tmp_path))
    assert actor == ref == choice.dtype
    assert rollout == {"bf16": "bfloat16", "fp32": "float32"}[choice.dtype]


def test_trailing_hydra_override_wins_over_the_choice(tmp_path):
    overrides = script_overrides(tmp_path, "actor_rollout_ref.rollout.dtype=bfloat16",
                                 "++actor_rollout_ref.ref.fsdp_config.mixed_precision.param_dtype=bf16",
                                 CPU_DTYPE="fp32")
    assert composed_dtypes(overrides) == ("fp32", "bf16", "bfloat16")


def test_gpu_profile_is_untouched(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "VLLM_"))}
    env.update(PROFILE="gpu", PRINT_OVERRIDES="1", RUNS_DIR=str(tmp_path / "runs"), CPU_DTYPE="fp32")
    proc = launch_group.run(["bash", "run_scripts/stage1_warmup.sh"], cwd=REPO_ROOT, env=env,
                            timeout=launch_group.timeout_s(600))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not [item for item in proc.stdout.split("\0") if "dtype" in item]


def test_dry_run_prints_the_choice_and_its_reason(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "VLLM_"))}
    env.update(PROFILE="cpu", DRY_RUN="1", CPU_DTYPE="fp32", RUNS_DIR=str(tmp_path / "runs"), EXPERIMENT="t")
    proc = launch_group.run(["bash", "run_scripts/stage1_warmup.sh"], cwd=REPO_ROOT, env=env,
                            timeout=launch_group.timeout_s(600))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "dtype: fp32 (set by CPU_DTYPE=fp32)" in proc.stderr
