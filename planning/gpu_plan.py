"""The on-paper GPU memory plan: Qwen2.5-7B-Instruct-1M, 4×A100-80GB, the three Logic-RL stages.

The stage settings are read from the stage scripts themselves (``PRINT_OVERRIDES=1``), so the doc's
tables are those of what ``run_scripts/stage*.sh`` would launch; the counter-examples below are applied
on top of stage 2.
``python -m planning.gpu_plan`` runs the dry run on each stage and prints the estimator's tables, which is
how the tables in the doc were produced. The tests use the same lists as the GPU-profile fixture.
"""
from __future__ import annotations

import argparse
import json
import sys
import functools
import os
import subprocess
from pathlib import Path
from typing import Sequence

MODEL = "Qwen/Qwen2.5-7B-Instruct-1M"
N_GPUS = 4
GPU_MEM_GIB = 80.0
REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES = ("stage1_warmup", "stage2_hightemp", "stage3_anneal", "paper_reinforce")  # run_scripts/<name>.sh


@functools.lru_cache(maxsize=None)
def _script_overrides(stage: str) -> tuple[tuple[str, ...], ...]:
    """The override lists ``run_scripts/<stage>.sh`` passes to veRL on the GPU profile (one per run).

    The scripts are the single source of the stage settings: they print their exact lists with
    ``PRINT_OVERRIDES=1`` (nothing is launched).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "VLLM_"))}
    env.update(PROFILE="gpu", PRINT_OVERRIDES="1", MODEL=MODEL, N_GPUS=str(N_GPUS), NNODES="1")
    for knob in ("ROLLOUT_N", "TEMPERATURE", "LR", "TRAIN_BATCH", "MAX_RESPONSE_LEN", "ANNEAL_SCHEDULE", "ALGO"):
        env.pop(knob, None)  # the scripts' own GPU defaults, not a caller's experiment
    proc = subprocess.run(
        ["bash", str(REPO_ROOT / "run_scripts" / f"{stage}.sh")], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{stage}.sh could not print its overrides: {proc.stderr.strip()[-500:]}")
    runs: list[tuple[str, ...]] = []
    current: list[str] = []
    for item in proc.stdout.split("\0"):
        if item:
            current.append(item)
        elif current:
            runs.append(tuple(current))
            current = []
    return tuple(runs)


# Counter-examples shown in the doc, applied on top of stage 2 (veRL's defaults are offload off and
# gradient checkpointing on; turning checkpointing off shows what it saves).
NO_CHECKPOINTING_OVERRIDES: list[str] = [
    "actor_rollout_ref.model.enable_gradient_checkpointing=False",
    "actor_rollout_ref.actor.fsdp_config.param_offload=False",
    "actor_rollout_ref.actor.fsdp_config.optimizer_offload=False",
]
NO_OFFLOAD_OVERRIDES: list[str] = [
    "actor_rollout_ref.actor.fsdp_config.param_offload=False",
    "actor_rollout_ref.actor.fsdp_config.optimizer_offload=False",
]


def stage_overrides(stage: str) -> list[str]:
    """The GPU-profile overrides of one stage script (stage 3: its last, coolest sub-run)."""
    if stage not in STAGES:
        raise KeyError(f"unknown stage '{stage}' (known: {', '.join(STAGES)})")
    return list(_script_overrides(stage)[-1])


def plan_variants() -> dict[str, list[str]]:
    """The configurations tabulated in docs/gpu_memory_plan.md, by title."""
    variants = {stage: stage_overrides(stage) for stage in STAGES}
    variants["stage2 without offload"] = stage_overrides("stage2_hightemp") + NO_OFFLOAD_OVERRIDES
    variants["stage2 without offload, TP=2, gpu_memory_utilization=0.5"] = (
        stage_overrides("stage2_hightemp") + NO_OFFLOAD_OVERRIDES + [
            "actor_rollout_ref.rollout.tensor_model_parallel_size=2",
            "actor_rollout_ref.rollout.gpu_memory_utilization=0.5",
        ]
    )
    variants["stage2 with ppo_max_token_len_per_gpu=32768"] = stage_overrides("stage2_hightemp") + [
        "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=32768"
    ]
    variants["stage2 without gradient checkpointing and offload"] = (
        stage_overrides("stage2_hightemp") + NO_CHECKPOINTING_OVERRIDES
    )
    return variants


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m planning.gpu_plan [--json]``: dry-run every plan variant and print its memory table."""
    from planning.dry_run import DryRunError, dry_run

    parser = argparse.ArgumentParser(prog="python -m planning.gpu_plan", description=main.__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args(argv)
    report: dict[str, dict] = {}
    for title, overrides in plan_variants().items():
        try:
            result = dry_run(overrides, model_spec=MODEL, gpu_mem_gib=GPU_MEM_GIB)
        except DryRunError as exc:
            print(f"error: {title}: {exc}", file=sys.stderr)
            return 2
        errors = [f"{c.name}: {c.message}" for c in result.errors]
        if args.json:
            report[title] = {"errors": errors, **(result.memory.to_dict() if result.memory else {})}
            continue
        print(f"### {title}\n")
        for error in errors:
            print(f"config error: {error}")
        if result.memory is not None:
            print(result.memory.to_table())
        print()
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
