"""Stage chaining: the HuggingFace weights of a finished stage's latest checkpoint.

``python -m launcher.chain latest-weights RUN_STAGE_DIR [--stage-name NAME] [--no-merge]`` prints (only)
the absolute path of a HuggingFace model folder on stdout, so a run script can write
``INIT_MODEL="$(python -m launcher.chain latest-weights runs/exp/stage1_warmup/checkpoints)"``.

Layout written by veRL 0.9.1 (``verl/trainer/ppo/v1/trainer_base.py::_save_checkpoint`` and
``verl/utils/checkpoint/fsdp_checkpoint_manager.py``) under ``trainer.default_local_dir``::

    latest_checkpointed_iteration.txt      # written after a save completes (not with async_save)
    global_step_<N>/
        data.pt                            # dataloader state
        actor/
            model_world_size_<W>_rank_<r>.pt, optim_..., extra_state_...   # FSDP shards
            fsdp_config.json               # {"world_size": W, ...}
            huggingface/                   # config + tokenizer always; weights only with hf_model
                                           # in actor.checkpoint.save_contents

Which weights: ``actor/huggingface`` when it holds complete weights (checked with veRL's own
``verl.model_merger.output_validation.validate_hf_model_output``), else an earlier merge in
``actor/huggingface_merged``, else the FSDP shards are merged there with
``python -m verl.model_merger merge --backend fsdp`` (into a temporary folder, then renamed).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

logger = logging.getLogger(__name__)

# veRL's tracker file name (verl.utils.checkpoint.checkpoint_manager.get_checkpoint_tracker_filename);
# spelled out here because importing veRL's checkpoint module costs seconds of torch import.
TRACKER_FILE = "latest_checkpointed_iteration.txt"
STEP_DIR_PATTERN = re.compile(r"^global_step_(\d+)$")
HF_DIR = "huggingface"
MERGED_DIR = "huggingface_merged"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


class ChainError(Exception):
    """Nothing usable to chain from (reported as one line, exit code 2)."""


@dataclass(frozen=True)
class StepCheckpoint:
    """One ``global_step_<N>`` folder of a stage."""

    step: int
    path: Path
    from_tracker: bool

    @property
    def actor_dir(self) -> Path:
        """The actor's checkpoint folder."""
        return self.path / "actor"


def default_stage_name(checkpoint_root: Path) -> str:
    """``runs/exp/stage1_warmup/checkpoints`` -> ``stage1_warmup``; otherwise the folder's own name."""
    root = Path(checkpoint_root)
    return root.parent.name if root.name == "checkpoints" and root.parent.name else root.name


def _missing_stage_error(stage: str, checkpoint_root: Path, detail: str = "") -> ChainError:
    match = re.match(r"^(stage\d+)", stage)
    short = match.group(1) if match else stage
    suffix = f"; {detail}" if detail else ""
    return ChainError(
        f"{stage} has no checkpoint under {checkpoint_root} (run {short} first or set INIT_MODEL){suffix}"
    )


def list_step_dirs(checkpoint_root: Path) -> dict[int, Path]:
    """All ``global_step_<N>`` folders by step number."""
    if not checkpoint_root.is_dir():
        return {}
    steps = {}
    for child in checkpoint_root.iterdir():
        match = STEP_DIR_PATTERN.match(child.name)
        if match and child.is_dir():
            steps[int(match.group(1))] = child
    return steps


def read_tracker(checkpoint_root: Path) -> int | None:
    """The step in veRL's tracker file, or None when absent or unreadable."""
    tracker = checkpoint_root / TRACKER_FILE
    if not tracker.is_file():
        return None
    try:
        return int(tracker.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        logger.warning("ignoring unreadable %s", tracker)
        return None


def candidate_checkpoints(checkpoint_root: Path) -> list[StepCheckpoint]:
    """Checkpoints to try, newest first: the tracker's step alone when it exists, else every step folder.

    The tracker is written after a save completes, so a newer folder without it may be a partial save.
    """
    steps = list_step_dirs(checkpoint_root)
    tracked = read_tracker(checkpoint_root)
    if tracked is not None and tracked in steps:
        return [StepCheckpoint(tracked, steps[tracked], from_tracker=True)]
    if tracked is not None:
        logger.warning(
            "%s names step %d but global_step_%d is missing; using the step folders", TRACKER_FILE, tracked, tracked
        )
    return [StepCheckpoint(step, steps[step], from_tracker=False) for step in sorted(steps, reverse=True)]


def hf_weights_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a complete HF model (veRL's own validator), or None when it is."""
    if not folder.is_dir():
        return f"{folder.name}/ is missing"
    from verl.model_merger.output_validation import validate_hf_model_output

    try:
        validate_hf_model_output(folder)
    except RuntimeError as exc:
        return str(exc).split(": ", 1)[-1]
    return None


def fsdp_shards_problem(actor_dir: Path) -> str | None:
    """Why the FSDP shards of ``actor_dir`` cannot be merged, or None when every rank's file is there."""
    config_file = actor_dir / "fsdp_config.json"
    if not config_file.is_file():
        return "no fsdp_config.json"
    try:
        world_size = int(json.loads(config_file.read_text(encoding="utf-8"))["world_size"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable fsdp_config.json ({exc})"
    missing = [r for r in range(world_size) if not (actor_dir / f"model_world_size_{world_size}_rank_{r}.pt").is_file()]
    if missing:
        return f"model shards missing for rank(s) {missing} of world size {world_size}"
    if not (actor_dir / HF_DIR / "config.json").is_file():
        return f"no {HF_DIR}/config.json for the merger"
    return None


def merge_fsdp_shards(actor_dir: Path, python: str = sys.executable) -> Path:
    """Run veRL's model merger into ``actor/huggingface_merged`` (temporary folder + rename).

    Raises:
        ChainError: the merger failed or produced an incomplete folder.
    """
    target = actor_dir / MERGED_DIR
    staging = actor_dir / f".{MERGED_DIR}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    command = [python, "-m", "verl.model_merger", "merge", "--backend", "fsdp",
               "--local_dir", str(actor_dir), "--target_dir", str(staging)]
    logger.info("merging FSDP shards: %s", " ".join(command))
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    # The merger's chatter is relayed to our stderr: stdout must carry only the resulting path.
    tail: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stderr.write(line)
            if line.strip():
                tail = (tail + [line.strip()])[-20:]
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        errors = [line for line in tail if "Error" in line] or tail
        raise ChainError(f"veRL model merger failed on {actor_dir}: {errors[-1] if errors else proc.returncode}")
    problem = hf_weights_problem(staging)
    if problem:
        shutil.rmtree(staging, ignore_errors=True)
        raise ChainError(f"veRL model merger output for {actor_dir} is incomplete: {problem}")
    if target.exists():
        shutil.rmtree(target)  # an incomplete earlier merge (a complete one is reused before we get here)
    os.replace(staging, target)
    return target


def weights_for_checkpoint(checkpoint: StepCheckpoint, merge: bool = True) -> tuple[Path | None, str]:
    """(HF weights folder, "") for one step, or (None, reason) when it has nothing usable."""
    actor = checkpoint.actor_dir
    if not actor.is_dir():
        return None, f"global_step_{checkpoint.step} has no actor/ folder"
    hf_problem = hf_weights_problem(actor / HF_DIR)
    if hf_problem is None:
        return actor / HF_DIR, ""
    if hf_weights_problem(actor / MERGED_DIR) is None:
        return actor / MERGED_DIR, ""
    shards_problem = fsdp_shards_problem(actor)
    if shards_problem is not None:
        return None, (f"global_step_{checkpoint.step}/actor has neither HF weights ({HF_DIR}: {hf_problem}) "
                      f"nor mergeable FSDP shards ({shards_problem})")
    if not merge:
        return None, f"global_step_{checkpoint.step}/actor has only FSDP shards (merging disabled)"
    return merge_fsdp_shards(actor), ""


def latest_weights(checkpoint_root: Path, stage_name: str | None = None, merge: bool = True) -> Path:
    """Absolute path of the HF weights of the latest usable checkpoint under ``checkpoint_root``.

    Raises:
        ChainError: no checkpoint, or the latest one has neither HF weights nor mergeable shards.
    """
    root = Path(checkpoint_root)
    stage = stage_name or default_stage_name(root)
    candidates = candidate_checkpoints(root)
    if not candidates:
        raise _missing_stage_error(stage, root)
    reasons = []
    for checkpoint in candidates:
        weights, reason = weights_for_checkpoint(checkpoint, merge=merge)
        if weights is not None:
            if reasons:
                logger.warning("skipped newer unusable checkpoint(s): %s", "; ".join(reasons))
            warn_if_no_tokenizer(weights)
            return weights.resolve()
        reasons.append(reason)
    raise _missing_stage_error(stage, root, detail="; ".join(reasons))


def all_weights(checkpoint_root: Path, stage_name: str | None = None, merge: bool = True) -> list[tuple[int, Path]]:
    """(step, absolute HF weights folder) of every usable checkpoint, oldest first (unusable ones are skipped
    with a warning). Raises ChainError when there is none."""
    root = Path(checkpoint_root)
    found = []
    for step, path in sorted(list_step_dirs(root).items()):
        weights, reason = weights_for_checkpoint(StepCheckpoint(step, path, from_tracker=False), merge=merge)
        if weights is None:
            logger.warning("skipped: %s", reason)
        else:
            found.append((step, weights.resolve()))
    if not found:
        raise _missing_stage_error(stage_name or default_stage_name(root), root)
    return found


def warn_if_no_tokenizer(weights: Path) -> None:
    """The next stage loads its tokenizer from the same folder; say so early if it is missing."""
    if not any((weights / name).is_file() for name in TOKENIZER_FILES):
        logger.warning("%s has weights but no tokenizer files; the next stage needs a tokenizer there", weights)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (0 ok, 2 nothing to chain from)."""
    parser = argparse.ArgumentParser(prog="python -m launcher.chain", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    latest = commands.add_parser("latest-weights", help="print the HF weights folder of a stage's latest checkpoint")
    latest.add_argument("checkpoint_root", type=Path, help="the stage's trainer.default_local_dir")
    latest.add_argument("--stage-name", help="name used in messages (default: derived from the path)")
    latest.add_argument("--no-merge", action="store_true", help="fail instead of merging FSDP shards")
    latest.add_argument("--verbose", action="store_true", help="debug logging")
    every = commands.add_parser("all-weights", help="print 'STEP PATH' for every usable checkpoint of a stage, oldest first")
    every.add_argument("checkpoint_root", type=Path, help="the stage's trainer.default_local_dir")
    every.add_argument("--stage-name", help="name used in messages (default: derived from the path)")
    every.add_argument("--no-merge", action="store_true", help="skip checkpoints with only FSDP shards")
    every.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s", stream=sys.stderr)
    try:
        if args.command == "all-weights":
            for step, path in all_weights(args.checkpoint_root, stage_name=args.stage_name, merge=not args.no_merge):
                print(f"{step} {path}")
            return 0
        path = latest_weights(args.checkpoint_root, stage_name=args.stage_name, merge=not args.no_merge)
    except ChainError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
