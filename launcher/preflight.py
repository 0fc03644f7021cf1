"""Checks a run's inputs before Ray starts, so a user mistake costs one clear line.

Called (in-process, ``preflight()``) by ``python -m launcher.launch`` from ``run_scripts/common.sh`` right before
``python -m verl.trainer.main_ppo``.
Without it, a missing parquet file or a reward module with a syntax error
surfaces minutes later as a Ray actor traceback.

    python -m launcher.preflight --data FILE [FILE ...] --model PATH_OR_ID \
        --reward-file reward_fns/kk.py [--reward-name compute_score]

On success it prints, on stdout, the Hydra override that installs the chat
template the data was built for (``<think>`` prefilled or raw text), or nothing
when the model's own template is right.  On failure it prints ``error: ...`` on
stderr and exits 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
from pathlib import Path

from recipes import RecipeError, chat_template_override

REQUIRED_COLUMNS = ("data_source", "prompt", "reward_model", "extra_info")
HF_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PreflightError(RuntimeError):
    """A problem with the user's inputs, reported as one line."""


def _read_first_extra_info(path: Path) -> dict:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for non-parquet input
        raise PreflightError(f"data file {path} is not a readable parquet file ({exc})") from None
    names = set(parquet.schema_arrow.names)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise PreflightError(
            f"data file {path} lacks column(s) {', '.join(missing)}; build data with python -m data_prep.build"
        )
    if parquet.metadata.num_rows == 0:
        raise PreflightError(f"data file {path} has no rows")
    table = parquet.read_row_group(0, columns=["extra_info"]).slice(0, 1)
    extra = table.column("extra_info").to_pylist()[0] or {}
    return extra if isinstance(extra, dict) else {}


def check_data(paths: list[Path]) -> tuple[str, bool]:
    """Every file exists and agrees on (template, think_prefilled); returns that pair."""
    if not paths:
        raise PreflightError("no data files given")
    seen: set[tuple[str, bool]] = set()
    for path in paths:
        if not path.is_file():
            raise PreflightError(
                f"data file not found: {path} (build it with: python -m data_prep.build --out data/kk)"
            )
        extra = _read_first_extra_info(path)
        seen.add((str(extra.get("template", "instruct")), bool(extra.get("think_prefilled", False))))
    if len(seen) > 1:
        detail = "; ".join(f"template={t} think_prefilled={p}" for t, p in sorted(seen))
        raise PreflightError(f"data files were built with different prompt templates ({detail}); rebuild them alike")
    return seen.pop()


def check_model(model: str) -> None:
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise PreflightError(f"model path {model} has no config.json (not a HuggingFace model folder)")
        return
    looks_like_path = model.startswith((".", "/", "~")) or not HF_REPO_ID.match(model)
    if looks_like_path:
        raise PreflightError(f"model path does not exist: {model}")
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return
        if not isinstance(try_to_load_from_cache(model, "config.json"), str):
            raise PreflightError(
                f"model {model} is neither a local folder nor in the HuggingFace cache, and HF_HUB_OFFLINE=1"
            )


def check_attention_impl(model: str, attn_implementation: str) -> None:
    """The actor's attention can be imported here, on the machine that launches (one line if not).

    Checked with transformers' own model construction (planning.startup); a hub id not in the cache or
    the built-in table is left to veRL.
    """
    from planning.memory import ModelSpecError, load_model_spec
    from planning.startup import StartupError, check_attention

    name = model
    path = Path(model).expanduser()
    if not path.exists() and HF_REPO_ID.match(model):
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model, "config.json")
            name = cached if isinstance(cached, str) else model
        except ImportError:
            pass
    try:
        spec = load_model_spec(name)
    except ModelSpecError:
        return
    try:
        check_attention(attn_implementation, spec.hf_config or {})
    except StartupError as exc:
        raise PreflightError(str(exc)) from None


def check_ray_cluster(address: str, connect_timeout_s: float = 5.0) -> str:
    """An existing Ray cluster (``RAY_ADDRESS``) answers; returns its bootstrap address.

    Without this, ``ray.init`` inside veRL waits minutes on an address where nothing listens (measured:
    still waiting after 2 minutes). The address is resolved by Ray's own code (``auto`` included); the GCS
    port is then probed with a plain TCP connect, so a dead address costs at most ``connect_timeout_s``.
    """
    import socket

    from ray._private.services import canonicalize_bootstrap_address_or_die

    try:
        bootstrap = canonicalize_bootstrap_address_or_die(address)
    except (ConnectionError, ValueError) as exc:
        raise PreflightError(f"RAY_ADDRESS={address}: {' '.join(str(exc).split())[:300]}") from None
    host, _, port = bootstrap.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=connect_timeout_s).close()
    except OSError as exc:
        raise PreflightError(
            f"RAY_ADDRESS={address}: no Ray cluster answers at {bootstrap} ({exc.strerror or exc}); start one with "
            "'ray start --head' or unset RAY_ADDRESS to let the run start its own"
        ) from None
    return bootstrap


def check_ray_resources(bootstrap: str, nnodes: int, n_gpus: int) -> None:
    """The cluster has ``nnodes`` alive nodes with ``n_gpus`` GPUs each, as Ray's GCS reports them.

    veRL places ``n_gpus`` workers on each of ``nnodes`` nodes and waits for its placement groups; on a
    cluster that is too small that wait does not end. Ray's own node table answers before it starts.
    """
    import logging

    import ray

    try:
        ray.init(address=bootstrap, log_to_driver=False, logging_level=logging.ERROR, configure_logging=False)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
    except Exception as exc:  # noqa: BLE001 - Ray raises many types (auth, version mismatch, ...)
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise PreflightError(
            f"RAY_ADDRESS={bootstrap}: cannot connect as a driver ({type(exc).__name__}: "
            f"{(lines[0] if lines else '')[:300]})"
        ) from None
    finally:
        if ray.is_initialized():
            ray.shutdown()
    fitting = [n for n in nodes if n.get("Resources", {}).get("GPU", 0) >= n_gpus]
    if len(fitting) < nnodes:
        seen = ", ".join(
            f"{n.get('NodeManagerAddress')}:{n.get('NodeManagerPort')} GPU={n.get('Resources', {}).get('GPU', 0):g}"
            for n in nodes
        ) or "none"
        raise PreflightError(
            f"RAY_ADDRESS={bootstrap}: NNODES={nnodes} N_GPUS={n_gpus} needs {nnodes} node(s) with {n_gpus} GPU(s) "
            f"each; the cluster has {len(fitting)} ({len(nodes)} alive: {seen}); missing "
            f"{nnodes - len(fitting)} node(s) x {n_gpus} GPU; add nodes with 'ray start --address={bootstrap} "
            f"--num-gpus={n_gpus}' or lower NNODES"
        )


def check_reward(reward_file: Path, function_name: str) -> None:
    """Import the reward module by path, the way veRL does, and find the function."""
    if not reward_file.is_file():
        raise PreflightError(f"reward file not found: {reward_file}")
    spec = importlib.util.spec_from_file_location("kk_preflight_reward", reward_file)
    if spec is None or spec.loader is None:
        raise PreflightError(f"reward file {reward_file} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise PreflightError(
            f"reward file {reward_file} failed to import: {type(exc).__name__}: {first_line}"
        ) from None
    if not callable(getattr(module, function_name, None)):
        raise PreflightError(f"reward file {reward_file} defines no function {function_name!r}")


def preflight(*, reward_file: Path, reward_name: str = "compute_score", config_only: bool = False,
              data: list[Path] | None = None, model: str | None = None, template: str = "instruct",
              prefill: bool = True, attn_impl: str | None = None, ray_address: str | None = None,
              nnodes: int = 1, n_gpus: int = 1) -> tuple[str, bool, str | None]:
    """Every check of a launch (config_only: the dry run's); returns (template, think_prefilled, override).

    Raises PreflightError with one line for the user.
    """
    if config_only:
        if template not in ("instruct", "base"):
            raise PreflightError(f"TEMPLATE must be instruct or base, not {template!r}")
        think_prefilled = bool(prefill)
    else:
        template, think_prefilled = check_data(list(data or []))
        check_model(model)
        if attn_impl:
            check_attention_impl(model, attn_impl)
    check_reward(reward_file, reward_name)
    if ray_address:
        check_ray_resources(check_ray_cluster(ray_address), nnodes, n_gpus)
    try:
        return template, think_prefilled, chat_template_override(template, think_prefilled)
    except RecipeError as exc:
        raise PreflightError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launcher.preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, nargs="+", help="train and validation parquet files")
    parser.add_argument("--model", help="local HF folder or hub id")
    parser.add_argument("--config-only", action="store_true",
                        help="dry run: skip data and model checks, take the template from --template/--prefill")
    parser.add_argument("--template", default="instruct", choices=("instruct", "base"))
    parser.add_argument("--prefill", type=int, default=1, choices=(0, 1))
    parser.add_argument("--reward-file", type=Path, required=True)
    parser.add_argument("--reward-name", default="compute_score")
    parser.add_argument("--attn-impl", help="the actor's attn_implementation: fail here if it cannot be imported")
    parser.add_argument("--ray-address", help="an existing Ray cluster (RAY_ADDRESS): check that it answers")
    parser.add_argument("--nnodes", type=int, default=1, help="with --ray-address: nodes the run needs")
    parser.add_argument("--n-gpus", type=int, default=1, help="with --ray-address: GPUs per node the run needs")
    parser.add_argument("--json", action="store_true", help="print a JSON summary instead of the override")
    args = parser.parse_args(argv)
    if not args.config_only and (not args.data or not args.model):
        parser.error("--data and --model are required unless --config-only")
    try:
        template, think_prefilled, override = preflight(
            reward_file=args.reward_file, reward_name=args.reward_name, config_only=args.config_only,
            data=args.data, model=args.model, template=args.template, prefill=bool(args.prefill),
            attn_impl=args.attn_impl, ray_address=args.ray_address, nnodes=args.nnodes, n_gpus=args.n_gpus)
    except PreflightError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"template": template, "think_prefilled": think_prefilled, "override": override}))
    elif override:
        print(override)
    return 0


if __name__ == "__main__":
    sys.exit(main())
