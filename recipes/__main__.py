"""``python -m recipes``: the recipe files' settings for the shell (run_scripts/common.sh); a run itself is
``python -m launcher.launch``.

    python -m recipes shell NAME...          export lines for common.yaml settings (sourced once by common.sh)
    python -m recipes runs RECIPE            one line per run: <run folder><TAB><the stage it starts after>
    python -m recipes show RECIPE [--run I]  the resolved settings of a run, NAME=value
PROFILE (cpu|gpu) comes from the environment, as do the settings that win over the recipe files.
Errors are one line, ``error: ...``, exit status 2.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Sequence

from recipes import RecipeError, common, pick_run, resolve_settings, runs


def _profile() -> str:
    return os.environ.get("PROFILE", "cpu")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recipes", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_shell = sub.add_parser("shell")
    p_shell.add_argument("names", nargs="+")
    p_runs = sub.add_parser("runs")
    p_runs.add_argument("recipe")
    p_show = sub.add_parser("show")
    p_show.add_argument("recipe")
    p_show.add_argument("--run", type=int, default=0)
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
            for key, value in sorted(pick_run(args.recipe, args.run, profile).settings.items()):
                print(f"{key}={value}")
            return 0
        raise AssertionError(args.command)
    except ValueError as exc:  # RecipeError
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
