"""Real tiny runs of the stage scripts on CPU: resume after a kill, then chaining.

1. ``stage1_warmup.sh`` (MODEL=tiny, 2 steps, a checkpoint every step, a high
   learning rate so the weights move) is killed once step 1's checkpoint is on
   disk, then started again: it must resume from step 1 and finish step 2.
2. ``stage2_hightemp.sh`` then chains from stage 1 with learning rate 0, so its
   own final weights must equal stage 1's final weights tensor by tensor - and
   differ from the base model.  That checks the weights, not only the path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import launch_group

REPO_ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e


def stage_env(work: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "VLLM_"))}
    env.update(
        PROFILE="cpu", MODEL="tiny", EXPERIMENT="chain", RUNS_DIR=str(work / "runs"),
        DATA_DIR=str(work / "data"), LOGGERS="console,file", TRAIN_BATCH="2", ROLLOUT_N="2",
        MINI_BATCH="2", MICRO_BATCH="4", MAX_RESPONSE_LEN="16", VAL_MAX_SAMPLES="2",
        TEST_FREQ="-1", VAL_BEFORE_TRAIN="False",
    )
    env.update(extra)
    return env


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for shard in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(str(shard)))
    assert tensors, f"no safetensors in {folder}"
    return tensors


def build_small_data(work: Path) -> None:
    subprocess.run(
        [str(REPO_ROOT / ".venv/bin/python"), "-m", "data_prep.build", "--out", str(work / "data"),
         "--train-people", "3", "5", "--test-people", "2", "3", "4", "5", "6", "7", "8",
         "--train-size", "16", "--test-size", "2", "--no-progress"],
        cwd=REPO_ROOT, check=True, capture_output=True,
    )


def until_checkpointed(proc: subprocess.Popen, tracker: Path, step: int) -> bool:
    """Wait (bounded) until veRL's ``tracker`` file names ``step`` or the launch ends; True if it still runs."""
    deadline = time.monotonic() + launch_group.timeout_s(launch_group.TINY_LAUNCH_S)
    while time.monotonic() < deadline and proc.poll() is None:
        if tracker.is_file() and tracker.read_text().strip() == str(step):
            break  # the step is checkpointed; the next has not finished
        time.sleep(0.2)
    return proc.poll() is None


@pytest.fixture(scope="module")
def chained_runs(tmp_path_factory):
    work = tmp_path_factory.mktemp("chain")
    build_small_data(work)
    stage1 = work / "runs" / "chain" / "stage1_warmup"
    env1 = stage_env(work, TOTAL_STEPS="2", SAVE_FREQ="1", LR="1e-3")
    ray_tmp = Path("/tmp") / f"kkray_{os.getpid()}"  # short: Ray's socket paths have a length limit
    killed_env = {**env1, "RAY_TMPDIR": str(ray_tmp)}

    # First attempt: killed as soon as step 1's checkpoint is complete.
    first = launch_group.start(["bash", "run_scripts/stage1_warmup.sh"], killed_env, cwd=REPO_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed = until_checkpointed(first, stage1 / "checkpoints" / "latest_checkpointed_iteration.txt", step=1)
    launch_group.stop(first)  # SIGKILL skips Ray's clean-up: its processes go by the launch's marker
    shutil.rmtree(ray_tmp, ignore_errors=True)  # nor does Ray remove its session folder

    resumed_at = time.time()
    second = launch_group.run(["bash", "run_scripts/stage1_warmup.sh"], cwd=REPO_ROOT,
                              env={**env1, "VERL_LOGGING_LEVEL": "INFO"},
                              timeout=launch_group.timeout_s(launch_group.TINY_LAUNCH_S))
    stage2 = launch_group.run(["bash", "run_scripts/stage2_hightemp.sh"], cwd=REPO_ROOT,
                              env=stage_env(work, TOTAL_STEPS="1", SAVE_FREQ="1", LR="0"),
                              timeout=launch_group.timeout_s(launch_group.TINY_LAUNCH_S))
    return {"work": work, "killed": killed, "resumed_at": resumed_at, "second": second, "stage2": stage2, "stage1": stage1,
            "stage2_dir": work / "runs" / "chain" / "stage2_hightemp"}


def test_stage1_was_killed_mid_run_then_resumed(chained_runs):
    assert chained_runs["killed"], "stage 1 finished before it could be killed"
    second = chained_runs["second"]
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    stage1 = chained_runs["stage1"]
    assert "Resuming from" in second.stdout and "global_step_1" in second.stdout
    # step 1 was not redone: its rollout dump predates the second launch, step 2's does not
    step1_dump = stage1 / "rollouts" / "1.jsonl"  # written after the checkpoint, so it may not exist
    assert not step1_dump.exists() or step1_dump.stat().st_mtime < chained_runs["resumed_at"]
    assert (stage1 / "rollouts" / "2.jsonl").stat().st_mtime > chained_runs["resumed_at"]
    # veRL's file logger truncates on restart: what the killed attempt logged is kept aside and
    # merged back, so the stage's metrics.jsonl holds every logged step once
    first_attempt = stage1 / "metrics.1.jsonl"
    logged_before_kill = [json.loads(line)["step"] for line in first_attempt.read_text().splitlines()
                          if line.strip()] if first_attempt.is_file() else []
    assert logged_before_kill in ([], [1])
    steps = [json.loads(line).get("step") for line in (stage1 / "metrics.jsonl").read_text().splitlines()
             if line.strip()]
    assert [s for s in steps if s is not None] == logged_before_kill + [2]
    assert (chained_runs["stage1"] / "COMPLETED").is_file()


def test_stage2_starts_from_stage1_weights(chained_runs):
    stage2 = chained_runs["stage2"]
    assert stage2.returncode == 0, stage2.stdout[-3000:] + stage2.stderr[-3000:]
    s1 = load_weights(chained_runs["stage1"] / "checkpoints" / "global_step_2" / "actor" / "huggingface")
    s2 = load_weights(chained_runs["stage2_dir"] / "checkpoints" / "global_step_1" / "actor" / "huggingface")
    base = load_weights(REPO_ROOT / ".cache" / "models" / "tiny-qwen2")
    shared = sorted(set(s1) & set(s2) & set(base))
    assert shared
    # lr=0 in stage 2: its weights are exactly what it started from, i.e. stage 1's.
    assert all(torch.equal(s1[k], s2[k]) for k in shared)
    # and stage 1 really trained (lr 1e-3), so this is not the base model passing through.
    assert any(not torch.allclose(s1[k].float(), base[k].float()) for k in shared)
    assert str(chained_runs["stage1"] / "checkpoints") in stage2.stdout + stage2.stderr
