"""``python -m recipes``: the run scripts' one call per run (run_scripts/common.sh).

    python -m recipes shell NAME...          export lines for common.yaml settings (sourced once by common.sh)
    python -m recipes runs RECIPE            one line per run: <run folder><TAB><the stage it starts after>
    python -m recipes show RECIPE [--run I]  the resolved settings of a run, NAME=value
    python -m recipes launch [--recipe R --run I] --stage S --out DIR -- [hydra overrides...]
        PRINT_OVERRIDES=1: print the override list, NUL-separated, one empty item after it;
        DRY_RUN=1: the dry run (planning/dry_run.py) on it;
        else: write the launch's NAME=value environment, an empty item and the overrides (NUL-separated)
        to --emit, and print the banner with the resolved values.
PROFILE (cpu|gpu) comes from the environment, as do the settings that win over the recipe files.
Errors are one line, ``error: ...``, exit status 2.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Sequence

from recipes import RecipeError, banner, common, compose, repo_path, resolve_settings, runs


def _profile() -> str:
    return os.environ.get("PROFILE", "cpu")


def _run(recipe: str | None, index: int, profile: str):
    plan = runs(recipe, profile)
    if not 0 <= index < len(plan):
        raise RecipeError(f"recipe '{recipe}' has {len(plan)} run(s), not a run {index}")
    return plan[index]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    trailing: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, trailing = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(prog="python -m recipes", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_shell = sub.add_parser("shell")
    p_shell.add_argument("names", nargs="+")
    p_runs = sub.add_parser("runs")
    p_runs.add_argument("recipe")
    p_show = sub.add_parser("show")
    p_show.add_argument("recipe")
    p_show.add_argument("--run", type=int, default=0)
    p_launch = sub.add_parser("launch")
    p_launch.add_argument("--recipe", default="")
    p_launch.add_argument("--run", type=int, default=0)
    p_launch.add_argument("--stage", required=True, help="the run's folder under runs/<EXPERIMENT>/")
    p_launch.add_argument("--out", required=True)
    p_launch.add_argument("--python", default=sys.executable, help="the interpreter every Ray worker runs")
    p_launch.add_argument("--profile-reason", default="")
    p_launch.add_argument("--emit", help="where a real launch's environment and overrides go")
    args = parser.parse_args(argv)
    profile = _profile()
    try:
        if args.command == "shell":
            defaults = {k: v for k, v in common().items() if k[:1].isupper()}
            values = resolve_settings(defaults, profile, os.environ)
            for name in args.names:
                if name not in values:
                    raise RecipeError(f"{name} is not a setting of recipes/common.yaml")
                print(f"export {name}={shlex.quote(values[name])}")
            return 0
        if args.command == "runs":
            for run in runs(args.recipe, profile):
                print(f"{run.stage}\t{run.after}")
            return 0
        if args.command == "show":
            for key, value in sorted(_run(args.recipe, args.run, profile).settings.items()):
                print(f"{key}={value}")
            return 0
        return _launch(args, profile, trailing)
    except ValueError as exc:  # RecipeError, a bad CPU_DTYPE; _launch turns PreflightError into RecipeError
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _launch(args, profile: str, trailing: list[str]) -> int:
    from launcher.preflight import PreflightError

    run = _run(args.recipe or None, args.run, profile)
    run.stage = args.stage
    printing = os.environ.get("PRINT_OVERRIDES", "0") == "1"
    dry = printing or os.environ.get("DRY_RUN", "0") == "1"
    try:
        composed = compose(run, profile, args.out, trailing=trailing, full_checks=not dry, python=args.python)
    except PreflightError as exc:
        raise RecipeError(str(exc)) from exc
    if printing:
        sys.stdout.write("".join(f"{item}\0" for item in composed.overrides) + "\0")
        return 0
    if dry:
        from planning import dry_run

        if composed.dtype_note:
            print(f"[kk] dtype: {composed.dtype_note}; trailing overrides win", file=sys.stderr)
        s = composed.settings
        return dry_run.main(["--n-gpus", s["N_GPUS"], "--nnodes", s["NNODES"],
                             "--model-spec", os.environ.get("MODEL_SPEC") or composed.model_path,
                             "--save", f"{repo_path(args.out)}/dry_run_config.yaml", "--",
                             *composed.overrides])
    if not args.emit:
        raise RecipeError("launch needs --emit FILE outside a dry run")
    items = [f"{k}={v}" for k, v in composed.env.items()] + [""] + composed.overrides
    with open(args.emit, "w", encoding="utf-8") as f:
        f.write("".join(f"{item}\0" for item in items))
    for line in banner(args.stage, profile, args.profile_reason, composed, repo_path(args.out)):
        print(f"[kk] {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
