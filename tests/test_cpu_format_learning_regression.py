"""Regression guard for the CPU format-learning experiment (docs/experiments/cpu_format_learning.md).

The experiment itself runs for an hour and is not part of the suite.  This
runs its script for 3 real GRPO steps of the embedded SmolLM2-135M-Instruct,
small sizes, with the KL loss on, and checks that every step logged finite
reward, policy loss and KL values.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

import launch_group

REPO_ROOT = Path(__file__).resolve().parents[1]
STEPS = 3
pytestmark = [pytest.mark.e2e, pytest.mark.exclusive]


def test_three_real_steps_of_the_embedded_model_log_finite_values(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "VLLM_"))}
    env.update(
        PROFILE="cpu", MODEL="smollm2", VARIANT="learn", TOTAL_STEPS=str(STEPS),
        RUNS_DIR=str(tmp_path / "runs"), EXP_DATA=str(tmp_path / "data"), LOGGERS="console,file",
        TRAIN_BATCH="2", ROLLOUT_N="2", MINI_BATCH="2", MICRO_BATCH="4", MAX_RESPONSE_LEN="48",
        KL_COEF="0.001",
    )
    proc = launch_group.run(["bash", "run_scripts/experiments/cpu_format_learning.sh"], cwd=REPO_ROOT, env=env,
                            timeout=launch_group.timeout_s(launch_group.SMOLLM2_LAUNCH_S))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = tmp_path / "runs" / "cpu_format_learning" / "learn"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    by_step = {r["step"]: r["data"] for r in records if "training/global_step" in r["data"]}
    assert sorted(by_step) == list(range(1, STEPS + 1))
    for step, data in by_step.items():
        for key in ("critic/score/mean", "actor/pg_loss", "actor/kl_loss"):
            assert key in data, f"step {step} has no {key}"
            assert math.isfinite(float(data[key])), f"step {step}: {key}={data[key]}"
        assert -3.0 <= data["critic/score/mean"] <= 3.0
    memory = json.loads((run / "memory.json").read_text())
    assert memory["peak_process_tree_gib"] > 0
