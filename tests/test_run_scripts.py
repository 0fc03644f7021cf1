"""The run scripts as a user calls them: dry runs of every GPU stage, and bad inputs.

Nothing here starts Ray: the dry run composes and validates veRL's config, and
every bad input is caught by the preflight checks before Ray would start.  The
real GRPO runs (chaining, resume) are in tests/test_multinode_cluster.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import launch_group

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGE_SCRIPTS = {
    "stage1_warmup": {"n": 32, "temperature": 1.0, "lr": 4e-7, "files": ["3ppl"], "algo": "grpo"},
    "stage2_hightemp": {"n": 64, "temperature": 1.2, "lr": 4e-7, "files": ["5ppl"], "algo": "grpo"},
    "paper_reinforce": {"n": 8, "temperature": 0.7, "lr": 4e-7, "algo": "reinforce_plus_plus",
                        "files": ["3ppl", "4ppl", "5ppl", "6ppl", "7ppl"]},
}
ANNEAL = [(1.1, 3e-7), (1.0, 2.5e-7), (0.9, 2e-7)]


def run_script(script: str, tmp_path: Path, *args: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "VLLM_", "TQ_"))}
    env.update(RUNS_DIR=str(tmp_path / "runs"), EXPERIMENT="t", LOGGERS="console,file")
    env.update(env_overrides)
    # a dry run or a bad input never starts Ray, but a bug that let one through must not leave it running
    return launch_group.run(["bash", f"run_scripts/{script}", *args], cwd=REPO_ROOT, env=env,
                            timeout=launch_group.timeout_s(600))


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "ray" not in proc.stderr.lower()
    return errors[0]


@pytest.fixture(scope="module")
def gpu_dry_run(tmp_path_factory):
    """One GPU dry run per stage script, shared by the tests that read it (each costs a vLLM import)."""
    done = {}

    def get(stage: str) -> tuple[subprocess.CompletedProcess, Path]:
        if stage not in done:
            tmp = tmp_path_factory.mktemp(stage)
            done[stage] = (run_script(f"{stage}.sh", tmp, PROFILE="gpu", DRY_RUN="1"), tmp)
        return done[stage]

    return get


@pytest.mark.parametrize("stage", sorted(STAGE_SCRIPTS))
def test_gpu_dry_run_of_stage_script(stage, gpu_dry_run):
    proc, tmp_path = gpu_dry_run(stage)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "fits" in proc.stdout and "EXCEEDS" not in proc.stdout
    cfg = OmegaConf.load(tmp_path / "runs" / "t" / stage / "dry_run_config.yaml")
    want = STAGE_SCRIPTS[stage]
    assert cfg.actor_rollout_ref.rollout.n == want["n"]
    assert cfg.actor_rollout_ref.rollout.temperature == pytest.approx(want["temperature"])
    assert cfg.actor_rollout_ref.actor.optim.lr == pytest.approx(want["lr"])
    assert cfg.data.train_batch_size == 8
    assert cfg.trainer.n_gpus_per_node == 4
    assert cfg.actor_rollout_ref.actor.kl_loss_coef == pytest.approx(0.001)
    assert cfg.actor_rollout_ref.actor.entropy_coeff == pytest.approx(0.001)  # Logic-RL's fork
    assert cfg.actor_rollout_ref.rollout.max_model_len == 512 + 4096
    assert cfg.algorithm.adv_estimator == want["algo"]
    assert [f.split("/")[-2] for f in cfg.data.train_files] == want["files"]
    assert len(cfg.data.val_files) == 7  # N = 2..8
    assert "<think>" in cfg.actor_rollout_ref.model.custom_chat_template


@pytest.mark.parametrize("stage", sorted(STAGE_SCRIPTS))
def test_gpu_dry_run_prints_what_the_workers_resolve(stage, gpu_dry_run):
    proc, _ = gpu_dry_run(stage)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # prompt cap 512 + response cap 4096; torch's SDPA (see README "Attention")
    assert "max_model_len       4,608 (set)" in proc.stdout
    assert "attn_implementation sdpa (set, importable here)" in proc.stdout


# The three start-up faults of the GPU profile, each put back by one override: the dry run
# must stop with one line that names the setting and the fix (planning/startup.py).
FAULTS = {
    "max_model_len": ("actor_rollout_ref.rollout.max_model_len=null",
                      ["max_model_len is 1,010,000", "max_model_len=4608"]),
    "attention": ("actor_rollout_ref.model.override_config.attn_implementation=flash_attention_2",
                  ["attn_implementation=flash_attention_2 cannot be used here", "ATTN_IMPL=sdpa"]),
    "dual_chunk": ("~actor_rollout_ref.rollout.engine_kwargs.vllm.hf_overrides",
                   ["dual_chunk_attention_config", "hf_overrides={dual_chunk_attention_config:null}"]),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_gpu_dry_run_refuses_each_start_up_fault(fault, tmp_path):
    if fault == "attention":
        import importlib.util

        if importlib.util.find_spec("flash_attn") is not None:
            pytest.skip("flash-attn is importable on this machine")
    override, needles = FAULTS[fault]
    line = one_error_line(run_script("stage2_hightemp.sh", tmp_path, override, PROFILE="gpu", DRY_RUN="1"))
    for needle in needles:
        assert needle in line, line


def test_gpu_dry_run_of_anneal_sub_runs(tmp_path):
    proc = run_script("stage3_anneal.sh", tmp_path, PROFILE="gpu", DRY_RUN="1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    subs = sorted((tmp_path / "runs" / "t" / "stage3_anneal").iterdir())
    assert len(subs) == len(ANNEAL)
    for sub, (temperature, lr) in zip(subs, ANNEAL):
        cfg = OmegaConf.load(sub / "dry_run_config.yaml")
        assert cfg.actor_rollout_ref.rollout.temperature == pytest.approx(temperature)
        assert cfg.actor_rollout_ref.actor.optim.lr == pytest.approx(lr)
        assert cfg.actor_rollout_ref.rollout.n == 16


def test_trailing_hydra_overrides_and_env_win(tmp_path):
    proc = run_script(
        "stage2_hightemp.sh", tmp_path, "actor_rollout_ref.rollout.top_k=7",
        PROFILE="gpu", DRY_RUN="1", ROLLOUT_N="16", ALGO="reinforce_plus_plus",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = OmegaConf.load(tmp_path / "runs" / "t" / "stage2_hightemp" / "dry_run_config.yaml")
    assert cfg.actor_rollout_ref.rollout.top_k == 7
    assert cfg.actor_rollout_ref.rollout.n == 16
    assert cfg.algorithm.adv_estimator == "reinforce_plus_plus"


def test_dry_run_rejects_gpu_count_that_breaks_batch_division(tmp_path):
    line = one_error_line(run_script("stage2_hightemp.sh", tmp_path, PROFILE="gpu", DRY_RUN="1", N_GPUS="3"))
    assert "divisible" in line or "divide" in line


def test_unknown_profile(tmp_path):
    line = one_error_line(run_script("stage1_warmup.sh", tmp_path, PROFILE="tpu"))
    assert "profile" in line and "tpu" in line


def test_missing_data_file(tmp_path):
    line = one_error_line(run_script(
        "smoke_cpu.sh", tmp_path, PROFILE="cpu", MODEL="tiny",
        SMOKE_DATA=str(tmp_path / "data"), TRAIN_FILES=str(tmp_path / "nope.parquet"),
    ))
    assert "nope.parquet" in line and "not found" in line


def test_model_path_that_does_not_exist(tmp_path):
    line = one_error_line(run_script(
        "smoke_cpu.sh", tmp_path, PROFILE="cpu", MODEL="./no/such/model", SMOKE_DATA=str(tmp_path / "data"),
    ))
    assert "no/such/model" in line


def test_reward_file_that_fails_to_import(tmp_path):
    bad = tmp_path / "bad_reward.py"
    bad.write_text("def compute_score(:\n", encoding="utf-8")
    line = one_error_line(run_script(
        "smoke_cpu.sh", tmp_path, PROFILE="cpu", MODEL="tiny", SMOKE_DATA=str(tmp_path / "data"),
        REWARD_FILE=str(bad),
    ))
    assert "bad_reward.py" in line and "SyntaxError" in line


def test_missing_previous_stage_is_named(tmp_path):
    line = one_error_line(run_script("stage2_hightemp.sh", tmp_path, PROFILE="cpu", MODEL="tiny",
                                     DATA_DIR=str(tmp_path / "data")))
    assert "stage1_warmup" in line


def test_launch_refuses_attention_that_cannot_be_imported(tmp_path):
    import importlib.util

    if importlib.util.find_spec("flash_attn") is not None:
        pytest.skip("flash-attn is importable on this machine")
    line = one_error_line(run_script(
        "smoke_cpu.sh", tmp_path, PROFILE="cpu", MODEL="tiny", ATTN_IMPL="flash_attention_2",
        SMOKE_DATA=str(tmp_path / "data"),
    ))
    assert "attn_implementation=flash_attention_2" in line and "ATTN_IMPL=sdpa" in line


def test_memorisation_over_a_stage_without_checkpoints_is_named(tmp_path):
    line = one_error_line(run_script("eval_memorisation.sh", tmp_path, "stage2_hightemp", PROFILE="cpu"))
    assert "stage2_hightemp" in line and "checkpoint" in line


def test_ray_address_where_no_cluster_answers_is_one_line(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = run_script("smoke_cpu.sh", tmp_path, PROFILE="cpu", MODEL="tiny", SMOKE_DATA=str(tmp_path / "data"),
                      RAY_ADDRESS=f"127.0.0.1:{port}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    line = errors[0]
    assert f"RAY_ADDRESS=127.0.0.1:{port}" in line and "no Ray cluster answers" in line



@pytest.mark.parametrize("template", sorted((REPO_ROOT / "run_scripts" / "slurm").glob("*.sbatch")),
                         ids=lambda p: p.name)
def test_slurm_template_parses_and_its_directives_are_read(template):
    assert subprocess.run(["bash", "-n", str(template)], capture_output=True).returncode == 0
    # sbatch reads #SBATCH lines only up to the first command
    lines = template.read_text(encoding="utf-8").splitlines()
    first_command = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("#"))
    directives = [i for i, line in enumerate(lines) if line.startswith("#SBATCH")]
    assert directives and max(directives) < first_command
    assert "RAY_ADDRESS=" in template.read_text(encoding="utf-8")


def test_cpu_profile_sizes_the_transfer_queue_to_the_cores(tmp_path):
    """veRL's transfer queue asks for 8 torch threads by default and warns at every put/get on fewer cores."""
    key = "+ray_kwargs.ray_init.runtime_env.env_vars.TQ_NUM_THREADS="
    for given, check in (({}, lambda n: 0 < int(n) <= os.cpu_count()), ({"TQ_NUM_THREADS": "3"}, lambda n: n == "3")):
        proc = run_script("stage1_warmup.sh", tmp_path, PROFILE="cpu", PRINT_OVERRIDES="1", **given)
        assert proc.returncode == 0, proc.stderr[-3000:]
        values = [item[len(key):].strip("'") for item in proc.stdout.split("\0") if item.startswith(key)]
        assert len(values) == 1 and check(values[0]), values
