"""The pieces of ``python -m launcher.cpu_step_bench`` that run without a launch (the launch itself is
the benchmark: minutes, recorded in docs/benchmarks.md)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from launcher import cpu_step_bench

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = REPO_ROOT / ".cache" / "models" / "tiny-qwen2"


@pytest.mark.skipif(not (TINY / "config.json").is_file(), reason="embedded tiny model not prepared")
def test_parameter_count_matches_the_loaded_tensors():
    tensors = {}
    for shard in TINY.glob("*.safetensors"):
        tensors.update(load_file(str(shard)))
    assert cpu_step_bench.count_parameters(TINY) == sum(t.numel() for t in tensors.values()) > 0


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_matmul_roofline_is_measured(dtype):
    assert cpu_step_bench.matmul_gflops(dtype, threads=1, n=256, seconds=0.05) > 0


def test_step_records_keep_training_steps_only(tmp_path):
    lines = [{"step": 1, "data": {"training/global_step": 1, "timing_s/gen": 2.5}},
             {"step": 2, "data": {"val-core/x": 0.1}},
             {"step": 2, "data": {"training/global_step": 2, "timing_s/gen": 1.5}}]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    steps = cpu_step_bench.step_records(tmp_path)
    assert sorted(steps) == [1, 2] and steps[2]["timing_s/gen"] == 1.5


def test_bad_env_item_is_one_line_error(capsys):
    assert cpu_step_bench.main(["--env", "NOVALUE"]) == 2
    assert capsys.readouterr().err.strip() == "error: --env takes KEY=VALUE, not 'NOVALUE'"
