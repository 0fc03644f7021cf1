"""What the tests that launch the stage scripts with MODEL=tiny share: their settings, data and checks.

Each launch pays Ray's, veRL's and vLLM's start-up (about 2 minutes on a 2-core machine, far more than
the tiny steps), so one launch serves as many checks as it can: the two-node test
(tests/test_multinode_cluster.py) shows chaining, resume after a kill and the weights carried from stage
to stage in the same three launches.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

import launch_group

REPO_ROOT = Path(__file__).resolve().parents[1]


def stage_env(work: Path, **extra: str) -> dict:
    """A tiny stage launch under ``work``: 2 prompts x 2 samples, 16 response tokens, no validation."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "VLLM_"))}
    env.update(
        PROFILE="cpu", MODEL="tiny", EXPERIMENT="chain", RUNS_DIR=str(work / "runs"),
        DATA_DIR=str(work / "data"), LOGGERS="console,file", TRAIN_BATCH="2", ROLLOUT_N="2",
        MINI_BATCH="2", MICRO_BATCH="4", MAX_RESPONSE_LEN="16", VAL_MAX_SAMPLES="2",
        TEST_FREQ="-1", VAL_BEFORE_TRAIN="False",
    )
    env.update(extra)
    return env


def build_small_data(work: Path) -> None:
    subprocess.run(
        [str(REPO_ROOT / ".venv/bin/python"), "-m", "data_prep.build", "--out", str(work / "data"),
         "--train-people", "3", "5", "--test-people", "2", "3", "4", "5", "6", "7", "8",
         "--train-size", "16", "--test-size", "2", "--no-progress"],
        cwd=REPO_ROOT, check=True, capture_output=True,
    )


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for shard in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(str(shard)))
    assert tensors, f"no safetensors in {folder}"
    return tensors


def until_checkpointed(proc: subprocess.Popen, tracker: Path, step: int) -> bool:
    """Wait (bounded) until veRL's ``tracker`` file names ``step`` or the launch ends; True if it still runs."""
    deadline = time.monotonic() + launch_group.timeout_s(launch_group.TINY_LAUNCH_S)
    while time.monotonic() < deadline and proc.poll() is None:
        if tracker.is_file() and tracker.read_text().strip() == str(step):
            break  # the step is checkpointed; the next has not finished
        time.sleep(0.2)
    return proc.poll() is None


def jsonl_rows(path: Path) -> list[dict]:
    """The records of a JSON-lines file a launch wrote (metrics, rollout dumps); blank lines skipped."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def logged_steps(stage_dir: Path) -> tuple[list[int], list[int]]:
    """(steps the killed attempt logged, kept aside as ``metrics.1.jsonl``; steps in ``metrics.jsonl``).

    veRL's file logger truncates on restart: the launch keeps what a killed attempt logged aside and merges
    it back, so a stage's metrics.jsonl holds every logged step once.
    """
    def steps(path: Path) -> list[int]:
        rows = jsonl_rows(path) if path.is_file() else []
        return [row["step"] for row in rows if row.get("step") is not None]
    return steps(stage_dir / "metrics.1.jsonl"), steps(stage_dir / "metrics.jsonl")
