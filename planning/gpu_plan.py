"""The on-paper GPU memory plan: Qwen2.5-7B-Instruct-1M, 4×A100-80GB, the three Logic-RL stages.

The stage settings are the recipe files' (recipes/<stage>.yaml over recipes/common.yaml, resolved in-process
by ``recipes``), so the doc's tables are those of what ``run_scripts/stage*.sh`` would launch; the
counter-examples below are applied on top of stage 2.
``python -m planning.gpu_plan`` runs the dry run on each stage and prints the estimator's tables, which is
how the tables in the doc were produced. The tests use the same lists as the GPU-profile fixture.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

import recipes

MODEL = "Qwen/Qwen2.5-7B-Instruct-1M"
N_GPUS = 4
GPU_MEM_GIB = 80.0
REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES = recipes.RECIPES  # recipes/<name>.yaml, run by run_scripts/<name>.sh


def plan_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the plan resolves the recipes in: the GPU profile on the doc's machine, and none of a
    caller's experiment settings (only the variables the run scripts pass to Ray workers are kept)."""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items()
           if k.startswith(recipes.RUNTIME_ENV_PREFIXES) and not k.startswith(("VERL_", "VLLM_"))}
    env.update(PROFILE="gpu", MODEL=MODEL, N_GPUS=str(N_GPUS), NNODES="1")
    return env


@functools.lru_cache(maxsize=None)
def _recipe_overrides(stage: str) -> tuple[tuple[str, ...], ...]:
    """The override lists ``run_scripts/<stage>.sh`` passes to veRL on the GPU profile (one per run)."""
    env = plan_environ()
    out = []
    for run in recipes.runs(stage, "gpu", env):
        stage_dir = REPO_ROOT / run.settings["RUNS_DIR"] / run.settings["EXPERIMENT"] / run.stage
        composed = recipes.compose(run, "gpu", str(stage_dir), environ=env)
        out.append(tuple(composed.overrides))
    return tuple(out)


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
    """The GPU-profile overrides of one recipe (stage 3: its last, coolest sub-run)."""
    if stage not in STAGES:
        raise KeyError(f"unknown stage '{stage}' (known: {', '.join(STAGES)})")
    return list(_recipe_overrides(stage)[-1])


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
