"""Dry run: resolve, validate and size a veRL 0.9.1 PPO/GRPO config without launching anything.

``python -m planning.dry_run [--n-gpus N] [--nnodes N] [--gpu-mem-gib 80] [--model-spec NAME_OR_PATH]
[--save FILE] [--no-yaml] [--strict-memory] -- <hydra overrides...>``

1. Composes veRL's own Hydra config (``ppo_trainer`` from the installed ``verl/trainer/config``, exactly
   what ``@hydra.main`` in ``verl/trainer/main_ppo.py`` composes) with the stage script's overrides.
2. Runs veRL's own validation: ``verl.utils.config.validate_config`` (what ``main_ppo.main`` calls before
   starting Ray; it builds ``FSDPActorConfig`` and runs its ``__post_init__``/``validate``), then the
   dataclass conversions the workers do at start-up (``RolloutConfig``, ``AlgoConfig``, the reference
   ``ActorConfig`` after the key renames of ``engine_workers.ActorRolloutRefWorker.init_model``) and the
   loading of the custom reward function (``verl.trainer.ppo.reward.get_custom_reward_fn``).
3. Checks the batch-size rules that veRL only asserts inside live workers (reproduced arithmetic, sources
   cited per check): mini-batch vs data-parallel size, micro-batches, token budgets, rollout TP.
4. Prints the resolved YAML, the checks and a per-GPU memory estimate (:mod:`planning.memory`).

No Ray, no GPU, no model download: it finishes in a few seconds on a laptop.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import io
import logging
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from data_prep.fileio import atomic_write_text
from planning import startup
from planning.memory import (
    MemoryEstimate,
    ModelSpec,
    ModelSpecError,
    TrainingSetup,
    estimate_memory,
    load_model_spec,
)

logger = logging.getLogger(__name__)

DEFAULT_CONFIG_NAME = "ppo_trainer"
# Advantage estimators whose baseline is the group of n samples of one prompt.
GROUP_ESTIMATORS = {"grpo", "rloo", "grpo_passk", "reinforce_plus_plus_baseline", "opo", "gpg"}


class DryRunError(Exception):
    """A user mistake in the overrides or options (reported as one line, exit code 2)."""


@dataclass
class Check:
    """One validation outcome: ``status`` is ``ok``, ``warn`` or ``error``."""

    name: str
    status: str
    message: str = ""

    def line(self) -> str:
        """One printable line."""
        text = f"{self.status:<5} {self.name}"
        return f"{text}: {self.message}" if self.message else text


@dataclass
class DryRunResult:
    """Everything a dry run found: the composed config, the checks and the memory estimate."""

    config: Any
    overrides: list[str]
    checks: list[Check] = field(default_factory=list)
    memory: MemoryEstimate | None = None
    memory_note: str = ""
    startup: startup.StartupValues | None = None

    @property
    def errors(self) -> list[Check]:
        """Checks that would make the real run fail."""
        return [check for check in self.checks if check.status == "error"]

    @property
    def warnings(self) -> list[Check]:
        """Checks that would not stop the run but deserve a look."""
        return [check for check in self.checks if check.status == "warn"]

    def resolved_yaml(self) -> str:
        """The config as YAML with every interpolation resolved."""
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        try:
            return OmegaConf.to_yaml(self.config, resolve=True)
        except OmegaConfBaseException as exc:
            raise DryRunError(f"cannot resolve the config: {_one_line(exc)}") from exc


def _one_line(exc: BaseException | str) -> str:
    """Collapse an exception message to one line (veRL/Hydra messages span several)."""
    text = str(exc) if str(exc) else type(exc).__name__
    return " ".join(text.split())


def verl_config_dir() -> Path:
    """``verl/trainer/config`` of the installed veRL, located without importing veRL."""
    spec = importlib.util.find_spec("verl")
    if spec is None or not spec.submodule_search_locations:
        raise DryRunError("veRL is not installed in this Python environment")
    return Path(list(spec.submodule_search_locations)[0]) / "trainer" / "config"


def _override_key(override: str) -> str:
    """The key part of a Hydra override (``+a.b=1`` -> ``a.b``)."""
    return override.split("=", 1)[0].lstrip("+~")


def compose_config(overrides: Sequence[str], config_name: str = DEFAULT_CONFIG_NAME) -> Any:
    """Compose veRL's Hydra config with the overrides, as ``python -m verl.trainer.main_ppo`` would.

    Raises:
        DryRunError: unknown keys, unparsable overrides, unknown config name.
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException, HydraException, OverrideParseException

    config_dir = verl_config_dir()
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base=None):
            return compose(config_name=config_name, overrides=list(overrides))
    except OverrideParseException as exc:
        raise DryRunError(f"cannot parse override: {_one_line(exc)}") from exc
    except ConfigCompositionException as exc:
        message = _one_line(exc)
        for override in overrides:
            key = _override_key(override)
            if f"'{key}'" in message and not override.startswith("+"):
                raise DryRunError(
                    f"unknown config key '{key}' in override '{override}': veRL's {config_name} has no such "
                    f"key (check the spelling, or write +{override} to add a new key)"
                ) from exc
        raise DryRunError(f"cannot apply overrides: {message}") from exc
    except HydraException as exc:
        raise DryRunError(f"cannot compose veRL config '{config_name}': {_one_line(exc)}") from exc


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """veRL prints notices to stdout; keep stdout for the YAML and tables (notices go to the debug log)."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        for line in buffer.getvalue().splitlines():
            logger.debug("veRL: %s", line)


def _verl_check(name: str, func: Any, *args: Any) -> Check:
    """Run one of veRL's validators and turn its exception (if any) into a Check."""
    import warnings

    try:
        with _stdout_to_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcome = func(*args)
    except Exception as exc:  # noqa: BLE001 - veRL raises AssertionError/ValueError/Hydra/OmegaConf errors
        cause = exc.__cause__ if exc.__cause__ is not None and not str(exc).strip() else exc
        return Check(name, "error", _one_line(cause))
    return Check(name, "ok", outcome if isinstance(outcome, str) else "")


def _ref_config_as_worker_builds_it(cfg: Any) -> Any:
    """The reference config after the renames of ``ActorRolloutRefWorker.init_model`` (veRL 0.9.1)."""
    from omegaconf import open_dict

    ref = copy.deepcopy(cfg.actor_rollout_ref.ref)
    with open_dict(ref):
        ref.ppo_mini_batch_size = cfg.actor_rollout_ref.actor.ppo_mini_batch_size
        ref.ppo_micro_batch_size = ref.pop("log_prob_micro_batch_size", None)
        ref.ppo_micro_batch_size_per_gpu = ref.pop("log_prob_micro_batch_size_per_gpu", None)
        ref.use_dynamic_bsz = ref.pop("log_prob_use_dynamic_bsz", False)
        ref.ppo_max_token_len_per_gpu = ref.pop("log_prob_max_token_len_per_gpu", None)
    return ref


def _load_reward_function(cfg: Any) -> str:
    """Load the custom reward function the way veRL's reward loop does (after the legacy-key migration)."""
    from verl.experimental.reward_loop.reward_loop import migrate_legacy_reward_impl
    from verl.trainer.ppo.reward import get_custom_reward_fn, resolve_reward_manager_cls

    migrated = copy.deepcopy(cfg)
    migrate_legacy_reward_impl(migrated)
    reward_file = migrated.reward.custom_reward_function.get("path")
    if reward_file and not Path(os.path.expanduser(reward_file)).is_file():
        raise FileNotFoundError(f"custom reward function file not found: {reward_file}")
    reward_fn = get_custom_reward_fn(migrated)
    manager = resolve_reward_manager_cls(migrated)
    if reward_fn is None:
        return f"none configured (veRL's default scoring), reward manager {manager.__name__}"
    return f"{migrated.reward.custom_reward_function.name} from {reward_file}, reward manager {manager.__name__}"


def verl_validation(cfg: Any) -> list[Check]:
    """veRL's own checks: ``validate_config`` plus the dataclass conversions done at worker start-up."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    with _stdout_to_stderr():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            use_ref = bool(need_reference_policy(cfg))
            use_critic = bool(need_critic(cfg))
    arc = cfg.actor_rollout_ref
    checks = [
        _verl_check("veRL validate_config (main_ppo)", validate_config, copy.deepcopy(cfg), use_ref, use_critic),
        _verl_check("veRL RolloutConfig", omega_conf_to_dataclass, arc.rollout),
        _verl_check("veRL AlgoConfig", omega_conf_to_dataclass, cfg.algorithm),
    ]
    if use_ref:
        ref_config = _ref_config_as_worker_builds_it(cfg)
        checks.append(_verl_check("veRL reference ActorConfig", omega_conf_to_dataclass, ref_config))
    checks.append(_verl_check("veRL custom reward function", _load_reward_function, cfg))
    return checks


def _group_multiple(train_seqs: int, multiple: int) -> int:
    """Round up to a multiple, as the v1 trainer pads a batch (``_get_required_batch_multiple``)."""
    return math.ceil(train_seqs / multiple) * multiple


def batch_size_checks(cfg: Any, spec: ModelSpec | None) -> list[Check]:
    """Batch-size, token-budget and parallelism rules that veRL asserts only inside live workers."""
    from omegaconf import OmegaConf

    def get(key: str, default: Any = None) -> Any:
        value = OmegaConf.select(cfg, key, default=default)
        return default if value is None else value

    checks: list[Check] = []

    def add(name: str, ok: bool, message: str, severity: str = "error") -> None:
        checks.append(Check(name, "ok" if ok else severity, "" if ok else message))

    actor, rollout, ref = "actor_rollout_ref.actor", "actor_rollout_ref.rollout", "actor_rollout_ref.ref"
    n_gpus, nnodes = int(get("trainer.n_gpus_per_node", 1)), int(get("trainer.nnodes", 1))
    world = n_gpus * nnodes
    sp = int(get(f"{actor}.ulysses_sequence_parallel_size", 1))
    train_bs, n = int(get("data.train_batch_size")), int(get(f"{rollout}.n", 1))
    mini = int(get(f"{actor}.ppo_mini_batch_size"))
    dynamic = bool(get(f"{actor}.use_dynamic_bsz", False))
    max_seq = int(get("data.max_prompt_length")) + int(get("data.max_response_length"))
    train_seqs, mini_seqs = train_bs * n, mini * n

    add("world size", world >= 1 and sp >= 1 and world % sp == 0,
        f"n_gpus_per_node × nnodes ({world}) must be a positive multiple of ulysses_sequence_parallel_size ({sp})")
    dp = max(1, world // max(1, sp))
    add("mini-batch <= train batch", mini <= train_bs,
        f"actor.ppo_mini_batch_size ({mini}) must be <= data.train_batch_size ({train_bs}); a larger mini-batch "
        "makes veRL pad the step with dummy sequences")
    add("train batch is whole mini-batches", train_bs % mini == 0,
        f"data.train_batch_size ({train_bs}) is not a multiple of actor.ppo_mini_batch_size ({mini}); veRL's v1 "
        "trainer pads the batch with dummy sequences to a whole number of mini-batches", severity="warn")
    add("mini-batch x n vs data-parallel size", mini_seqs % dp == 0,
        f"ppo_mini_batch_size × rollout.n = {mini} × {n} = {mini_seqs} must be divisible by the data-parallel "
        f"size n_gpus × nnodes / ulysses_sp = {dp} (asserted in veRL's TrainingWorker.train_mini_batch)")
    add("train batch x n vs GPUs", train_seqs % world == 0,
        f"data.train_batch_size × rollout.n = {train_bs} × {n} = {train_seqs} must be divisible by n_gpus × nnodes "
        f"= {world}" + ("" if not dynamic else " (with dynamic batch size veRL pads instead)"),
        severity="warn" if dynamic else "error")
    add("actor/rollout dynamic-bsz agree", dynamic == bool(get(f"{rollout}.log_prob_use_dynamic_bsz", dynamic)),
        "actor.use_dynamic_bsz and rollout.log_prob_use_dynamic_bsz must be equal (asserted in "
        "ActorRolloutRefWorker.init_model)")

    use_ref = bool(get("algorithm.use_kl_in_reward", False)) or bool(get(f"{actor}.use_kl_loss", False))
    if dynamic:
        budgets = [(f"{actor}.ppo_max_token_len_per_gpu", get(f"{actor}.ppo_max_token_len_per_gpu")),
                   (f"{rollout}.log_prob_max_token_len_per_gpu", get(f"{rollout}.log_prob_max_token_len_per_gpu"))]
        if use_ref and bool(get(f"{ref}.log_prob_use_dynamic_bsz", dynamic)):
            budgets.append((f"{ref}.log_prob_max_token_len_per_gpu", get(f"{ref}.log_prob_max_token_len_per_gpu")))
        for key, budget in budgets:
            add(f"token budget {key.rsplit('.', 2)[-2]}", budget is not None and int(budget) * sp >= max_seq,
                f"{key} ({budget}) × ulysses_sp ({sp}) must be >= max_prompt_length + max_response_length "
                f"({max_seq}); veRL's rearrange_micro_batches asserts it the first time a response reaches full "
                "length")
    else:
        micro = get(f"{actor}.ppo_micro_batch_size_per_gpu")
        per_gpu_mini = mini_seqs // dp
        add("actor micro-batch", micro is None or (int(micro) > 0 and per_gpu_mini % int(micro) == 0),
            f"per-GPU mini-batch ppo_mini_batch_size × n / dp = {per_gpu_mini} must be divisible by "
            f"actor.ppo_micro_batch_size_per_gpu ({micro}) (asserted in prepare_micro_batches)")
        padded_per_gpu = _group_multiple(train_seqs, math.lcm(dp, mini_seqs)) // dp
        log_prob_keys = [f"{rollout}.log_prob_micro_batch_size_per_gpu"]
        if use_ref:
            log_prob_keys.append(f"{ref}.log_prob_micro_batch_size_per_gpu")
        for key in log_prob_keys:
            value = get(key)
            divides = value is None or (int(value) > 0 and padded_per_gpu % int(value) == 0)
            add(f"log-prob micro-batch {key.split('.')[1]}", divides,
                f"per-GPU batch train_batch_size × n / dp = {padded_per_gpu} must be divisible by {key} ({value}) "
                "(asserted in prepare_micro_batches)")

    tp = int(get(f"{rollout}.tensor_model_parallel_size", 1))
    rollout_dp = int(get(f"{rollout}.data_parallel_size", 1))
    pp = int(get(f"{rollout}.pipeline_model_parallel_size", 1))
    replica = tp * rollout_dp * pp
    add("rollout TP divides GPUs", tp >= 1 and world % replica == 0,
        f"rollout tensor_model_parallel_size × data_parallel_size × pipeline ({replica}) must divide n_gpus × "
        f"nnodes ({world}) (asserted in ActorRolloutRefWorker.init_model)")
    add("rollout TP within a node", tp >= 1 and n_gpus % tp == 0,
        f"rollout tensor_model_parallel_size ({tp}) does not divide n_gpus_per_node ({n_gpus}): a vLLM replica "
        "would span nodes", severity="warn")
    if spec is not None:
        kv = spec.num_kv_heads
        add("KV heads vs TP", kv % tp == 0 or tp % kv == 0,
            f"{spec.name} has {kv} KV heads: rollout tensor_model_parallel_size {tp} must divide it or be a "
            "multiple of it (vLLM refuses)")
        if spec.max_position_embeddings:
            add("context length", max_seq <= int(spec.max_position_embeddings),
                f"max_prompt_length + max_response_length ({max_seq}) exceeds {spec.name}'s "
                f"max_position_embeddings ({spec.max_position_embeddings})")
    max_model_len = get(f"{rollout}.max_model_len")
    if max_model_len is not None:
        add("rollout max_model_len", int(max_model_len) >= max_seq,
            f"rollout.max_model_len ({max_model_len}) < max_prompt_length + max_response_length ({max_seq})")

    estimator = str(get("algorithm.adv_estimator", ""))
    add("group size", estimator not in GROUP_ESTIMATORS or n > 1,
        f"algorithm.adv_estimator={estimator} needs rollout.n > 1 (with one sample per prompt every advantage "
        "is 0)", severity="warn")
    add("sampling temperature", not (n > 1 and float(get(f"{rollout}.temperature", 1.0)) == 0.0),
        f"rollout.temperature=0 with rollout.n={n}: all samples of a prompt are identical", severity="warn")
    add("free_cache_engine", bool(get(f"{rollout}.free_cache_engine", True)),
        "rollout.free_cache_engine=False keeps vLLM's KV cache and weights on the GPU during training",
        severity="warn")
    for key in ("data.train_files", "data.val_files"):
        files = get(key)
        paths = [files] if isinstance(files, str) else list(files or [])
        missing = [p for p in paths if not Path(os.path.expanduser(str(p))).exists()]
        add(f"{key} exist", not missing, f"{key} not found (yet): {', '.join(map(str, missing))}", severity="warn")
    return checks


def _resolve_spec(cfg: Any, model_spec: str | None) -> tuple[ModelSpec | None, str]:
    """The model architecture: --model-spec (errors are fatal) or the config's model path (errors are notes)."""
    if model_spec:
        try:
            return load_model_spec(model_spec), ""
        except ModelSpecError as exc:
            raise DryRunError(str(exc)) from exc
    from omegaconf import OmegaConf

    model_path = str(OmegaConf.select(cfg, "actor_rollout_ref.model.path", default=""))
    try:
        return load_model_spec(model_path), ""
    except ModelSpecError:
        return None, (
            f"no memory estimate: model '{model_path}' is neither a local folder with config.json nor in "
            "planning/model_specs.json (pass --model-spec NAME_OR_PATH)"
        )


def dry_run(
    overrides: Sequence[str],
    n_gpus: int | None = None,
    nnodes: int | None = None,
    gpu_mem_gib: float = 80.0,
    model_spec: str | None = None,
    config_name: str = DEFAULT_CONFIG_NAME,
    strict_memory: bool = False,
) -> DryRunResult:
    """Compose, validate and size a config. ``n_gpus``/``nnodes`` are appended as the last overrides.

    Raises:
        DryRunError: the overrides cannot even be composed, or ``model_spec`` is unknown.
    """
    all_overrides = list(overrides)
    if n_gpus is not None:
        all_overrides.append(f"trainer.n_gpus_per_node={n_gpus}")
    if nnodes is not None:
        all_overrides.append(f"trainer.nnodes={nnodes}")
    if gpu_mem_gib <= 0:
        raise DryRunError(f"--gpu-mem-gib must be positive, got {gpu_mem_gib}")
    cfg = compose_config(all_overrides, config_name=config_name)
    result = DryRunResult(config=cfg, overrides=all_overrides)
    result.resolved_yaml()  # surfaces broken interpolations as a DryRunError
    spec, result.memory_note = _resolve_spec(cfg, model_spec)
    result.checks.extend(verl_validation(cfg))
    try:
        result.checks.extend(batch_size_checks(cfg, spec))
    except (TypeError, ValueError) as exc:  # e.g. a non-integer batch size that veRL's check already flagged
        result.checks.append(Check("batch-size rules", "error", f"cannot evaluate: {_one_line(exc)}"))

    if spec is not None and spec.hf_config is not None:
        try:
            with _stdout_to_stderr():
                result.startup = startup.resolve(cfg, spec.hf_config)
            result.checks.append(Check("start-up values (veRL/transformers/vLLM code)", "ok"))
        except Exception as exc:  # noqa: BLE001 - StartupError, or what veRL's own code raises
            result.checks.append(Check("start-up values (veRL/transformers/vLLM code)", "error", _one_line(exc)))

    device = str(cfg.trainer.get("device", "cuda"))
    if spec is not None and device == "cpu":
        result.memory_note = "no GPU memory estimate: trainer.device=cpu"
    elif spec is not None:
        try:
            setup = TrainingSetup.from_config(cfg, gpu_mem_gib=gpu_mem_gib)
        except (TypeError, ValueError) as exc:
            result.memory_note = f"no memory estimate: {_one_line(exc)}"
        else:
            result.memory = estimate_memory(spec, setup)
            phase, peak = result.memory.peak()
            severity = "error" if strict_memory else "warn"
            result.checks.append(Check(
                "memory estimate", "ok" if peak <= result.memory.capacity_bytes else severity,
                "" if peak <= result.memory.capacity_bytes else
                f"estimated peak {peak / 1024**3:.1f} GiB in '{phase}' exceeds {gpu_mem_gib:g} GiB per GPU"))
            # vLLM's own config objects and its start-up KV check, given the plan's KV-cache memory
            # (vLLM measures that on the GPU).
            if result.startup is not None:
                try:
                    startup.check_kv_cache(result.startup.vllm_config, result.memory.kv.kv_cache_bytes,
                                           setup.max_seq_len)
                    result.checks.append(Check("vLLM KV check (vLLM's code)", "ok"))
                except Exception as exc:  # noqa: BLE001 - StartupError, or what vLLM's own code raises
                    result.checks.append(Check("vLLM KV check (vLLM's code)", "error", _one_line(exc)))
    return result


def _split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Options before ``--``, Hydra overrides after it."""
    argv = list(argv)
    if "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1 :]
    return argv, []


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser (options only; overrides follow ``--``)."""
    parser = argparse.ArgumentParser(
        prog="python -m planning.dry_run",
        description="Compose + validate veRL's config with Hydra overrides and estimate per-GPU memory.",
        epilog="Example: python -m planning.dry_run --n-gpus 4 -- algorithm.adv_estimator=grpo ...",
    )
    parser.add_argument("--n-gpus", type=int, help="set trainer.n_gpus_per_node (applied after the overrides)")
    parser.add_argument("--nnodes", type=int, help="set trainer.nnodes (applied after the overrides)")
    parser.add_argument("--gpu-mem-gib", type=float, default=80.0, help="memory of one GPU in GiB (default 80)")
    parser.add_argument("--model-spec", help="model for the memory estimate: built-in name or local HF folder "
                        "(default: actor_rollout_ref.model.path)")
    parser.add_argument("--config-name", default=DEFAULT_CONFIG_NAME, help="veRL config name (default ppo_trainer)")
    parser.add_argument("--save", type=Path, help="write the resolved YAML to this file (atomically)")
    parser.add_argument("--no-yaml", action="store_true", help="do not print the resolved YAML")
    parser.add_argument("--strict-memory", action="store_true",
                        help="treat an estimated OOM as an error (exit 2) instead of a warning")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (0 ok, 2 config/user error)."""
    options, overrides = _split_argv(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    parser.add_argument("overrides", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(options)
    overrides = list(args.overrides) + overrides
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    try:
        result = dry_run(
            overrides,
            n_gpus=args.n_gpus,
            nnodes=args.nnodes,
            gpu_mem_gib=args.gpu_mem_gib,
            model_spec=args.model_spec,
            config_name=args.config_name,
            strict_memory=args.strict_memory,
        )
        if result.errors:
            problems = "; ".join(f"({i}) {c.name}: {c.message}" for i, c in enumerate(result.errors, 1))
            raise DryRunError(f"{len(result.errors)} config problem(s): {problems}")
        yaml_text = result.resolved_yaml()
        if args.save:
            atomic_write_text(args.save, yaml_text)
    except DryRunError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    for check in result.warnings:
        print(f"warning: {check.name}: {check.message}", file=sys.stderr)
    if not args.no_yaml:
        print(f"# resolved veRL config ({args.config_name} + {len(result.overrides)} overrides)")
        print(yaml_text)
    print("# checks")
    for check in result.checks:
        print(check.line())
    print()
    if result.startup is not None:
        print("# start-up values (as veRL's workers resolve them)")
        print("\n".join(result.startup.lines()))
        print()
    if result.memory is not None:
        print(result.memory.to_table())
    else:
        print(result.memory_note)
    if args.save:
        print(f"\nresolved config written to {args.save}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
