"""The on-paper GPU memory plan: Qwen2.5-7B-Instruct-1M, 4×A100-80GB, the three Logic-RL stages.

The override lists below are the memory-relevant settings that ``docs/gpu_memory_plan.md`` argues for
(the run scripts own the full stage settings; these are the ones that decide whether a step fits).
``python -m launcher.gpu_plan`` runs the dry run on each stage and prints the estimator's tables, which is
how the tables in the doc were produced. The tests use the same lists as the GPU-profile fixture.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

MODEL = "Qwen/Qwen2.5-7B-Instruct-1M"
N_GPUS = 4
GPU_MEM_GIB = 80.0

# Settings shared by the three stages on the GPU profile (sources in docs/gpu_memory_plan.md).
COMMON_OVERRIDES: list[str] = [
    "algorithm.adv_estimator=grpo",
    "data.train_batch_size=8",
    "data.max_prompt_length=400",
    "data.max_response_length=4096",
    f"actor_rollout_ref.model.path={MODEL}",
    "actor_rollout_ref.model.use_remove_padding=True",
    "actor_rollout_ref.model.enable_gradient_checkpointing=True",
    "actor_rollout_ref.actor.ppo_mini_batch_size=8",
    "actor_rollout_ref.actor.use_dynamic_bsz=True",
    "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=16384",
    "actor_rollout_ref.actor.use_kl_loss=True",
    "actor_rollout_ref.actor.kl_loss_coef=0.001",
    "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
    "actor_rollout_ref.actor.fsdp_config.param_offload=True",
    "actor_rollout_ref.actor.fsdp_config.optimizer_offload=True",
    "actor_rollout_ref.ref.fsdp_config.param_offload=True",
    "actor_rollout_ref.rollout.name=vllm",
    "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
    "actor_rollout_ref.rollout.gpu_memory_utilization=0.7",
    "actor_rollout_ref.rollout.free_cache_engine=True",
    f"trainer.n_gpus_per_node={N_GPUS}",
    "trainer.nnodes=1",
    "trainer.logger=[console,file]",
]

# What differs per stage (rollout count and sampling; learning rate for the annealing stage).
STAGE_OVERRIDES: dict[str, list[str]] = {
    "stage1_warmup": [
        "data.train_files=data/kk/instruct/3ppl/train.parquet",
        "data.val_files=data/kk/instruct/3ppl/test.parquet",
        "actor_rollout_ref.actor.optim.lr=4e-7",
        "actor_rollout_ref.rollout.n=32",
        "actor_rollout_ref.rollout.temperature=1.0",
    ],
    "stage2_hightemp": [
        "data.train_files=data/kk/instruct/5ppl/train.parquet",
        "data.val_files=data/kk/instruct/5ppl/test.parquet",
        "actor_rollout_ref.actor.optim.lr=4e-7",
        "actor_rollout_ref.rollout.n=64",
        "actor_rollout_ref.rollout.temperature=1.2",
    ],
    "stage3_anneal": [
        "data.train_files=data/kk/instruct/5ppl/train.parquet",
        "data.val_files=data/kk/instruct/5ppl/test.parquet",
        "actor_rollout_ref.actor.optim.lr=2e-7",
        "actor_rollout_ref.rollout.n=16",
        "actor_rollout_ref.rollout.temperature=0.9",
    ],
}

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
    """Common + stage-specific overrides of one stage of the plan."""
    if stage not in STAGE_OVERRIDES:
        raise KeyError(f"unknown stage '{stage}' (known: {', '.join(STAGE_OVERRIDES)})")
    return COMMON_OVERRIDES + STAGE_OVERRIDES[stage]


def plan_variants() -> dict[str, list[str]]:
    """The configurations tabulated in docs/gpu_memory_plan.md, by title."""
    variants = {stage: stage_overrides(stage) for stage in STAGE_OVERRIDES}
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
    """``python -m launcher.gpu_plan [--json]``: dry-run every plan variant and print its memory table."""
    from launcher.dry_run import DryRunError, dry_run

    parser = argparse.ArgumentParser(prog="python -m launcher.gpu_plan", description=main.__doc__)
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
