"""Speed of the launcher helpers (the dry run must take seconds on a laptop, not minutes).

``python -m planning.bench [--repeat N] [--json]`` prints:

* ``dry_run_cli_s``: wall time of a cold ``python -m planning.dry_run --no-yaml -- <stage-2 GPU overrides>``
  (new interpreter: imports of Hydra, OmegaConf, veRL and torch included), median of N runs;
* ``dry_run_warm_s``: one in-process :func:`planning.dry_run.dry_run` once imports are warm, median over the
  three plan stages × N;
* ``memory_estimate_us``: one :func:`planning.memory.estimate_memory` call, in microseconds.

The CPU training-step benchmark is ``python -m launcher.cpu_step_bench``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]


def time_cli_dry_run(repeat: int) -> list[float]:
    """Wall seconds of cold dry-run CLI invocations."""
    from planning.gpu_plan import stage_overrides

    command = [sys.executable, "-m", "planning.dry_run", "--no-yaml", "--", *stage_overrides("stage2_hightemp")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT)}
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO_ROOT, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def time_warm_dry_run(repeat: int) -> list[float]:
    """Seconds per in-process dry run after a first, untimed one (imports warm)."""
    from planning.dry_run import dry_run
    from planning.gpu_plan import STAGES, stage_overrides

    dry_run(stage_overrides("stage1_warmup"))
    times = []
    for _ in range(repeat):
        for stage in STAGES:
            start = time.perf_counter()
            dry_run(stage_overrides(stage))
            times.append(time.perf_counter() - start)
    return times


def time_memory_estimate(calls: int = 2000) -> float:
    """Microseconds per memory estimate."""
    from planning.memory import TrainingSetup, estimate_memory, load_model_spec

    spec = load_model_spec("Qwen/Qwen2.5-7B-Instruct-1M")
    setup = TrainingSetup(n_gpus_per_node=4, nnodes=1, gpu_mem_gib=80, train_batch_size=8, rollout_n=64,
                          prompt_length=400, response_length=4096)
    start = time.perf_counter()
    for _ in range(calls):
        estimate_memory(spec, setup)
    return (time.perf_counter() - start) / calls * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m planning.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    cli = time_cli_dry_run(args.repeat)
    warm = time_warm_dry_run(args.repeat)
    figures = {
        "dry_run_cli_s": round(statistics.median(cli), 2),
        "dry_run_cli_max_s": round(max(cli), 2),
        "dry_run_warm_s": round(statistics.median(warm), 3),
        "memory_estimate_us": round(time_memory_estimate(), 1),
        "repeat": args.repeat,
        "cpu_count": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>20}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
