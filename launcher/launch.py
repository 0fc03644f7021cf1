"""One run of a recipe, as ``run_scripts/common.sh`` launches it: checks, then the resolved overrides.

    python -m launcher.launch [--recipe R --run I] --stage S --out DIR [--emit FILE] -- [hydra overrides...]

Prepares an embedded model once (``launcher/models.py``), runs the preflight (``launcher/preflight.py``:
the reward file always; the data, model, attention and Ray cluster too for a real launch), composes the
run's overrides from the recipe files (``recipes.compose``, trailing overrides last), then:
PRINT_OVERRIDES=1 prints the list, NUL-separated with one empty item after it; DRY_RUN=1 runs the dry
run on it (``planning/dry_run.py``); else it writes the launch's NAME=value environment, an empty item
and the overrides (NUL-separated) to ``--emit`` and prints the banner with the resolved values.
PROFILE (cpu|gpu) comes from the environment, as do the settings that win over the recipe files.
Errors are one line, ``error: ...``, exit status 2.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

import recipes
from launcher.preflight import PreflightError, preflight


def _prepare_embedded(name: str, settings: dict[str, str]) -> None:
    folder = recipes.embedded_model(name, settings)
    if folder is None or (folder / "config.json").is_file():
        return
    from launcher.models import prepare

    print(f"[kk] preparing the embedded model '{name}' in {folder} (one time)", file=sys.stderr)
    try:
        prepare(name, folder)
    except Exception as exc:  # noqa: BLE001 - one line for the user
        raise recipes.RecipeError(f"could not prepare model '{name}': {exc}") from exc


def launch(args: argparse.Namespace, profile: str, trailing: Sequence[str]) -> int:
    run = recipes.pick_run(args.recipe or None, args.run, profile)
    run.stage = args.stage
    printing = os.environ.get("PRINT_OVERRIDES", "0") == "1"
    dry = printing or os.environ.get("DRY_RUN", "0") == "1"
    s = run.settings
    _prepare_embedded(s["INIT_MODEL"], s)  # a dry run too: it reads the model's config.json
    data = [Path(recipes.repo_path(f)) for f in (s["TRAIN_FILES"] + " " + s["VAL_FILES"]).split()]
    try:
        template, prefilled, _ = preflight(
            reward_file=Path(recipes.repo_path(s["REWARD_FILE"])), config_only=dry, data=data,
            model=recipes.model_path(s["INIT_MODEL"], s), template=s["TEMPLATE"],
            prefill=s["PREFILL_THINK"] == "1", attn_impl=s["ATTN_IMPL"],
            ray_address=None if dry else (os.environ.get("RAY_ADDRESS") or None),
            nnodes=int(s["NNODES"]), n_gpus=int(s["N_GPUS"]))
    except PreflightError as exc:
        raise recipes.RecipeError(str(exc)) from exc
    composed = recipes.compose(run, profile, args.out, trailing=trailing, python=args.python,
                               data_template=None if dry else (template, prefilled))
    if printing:
        sys.stdout.write("".join(f"{item}\0" for item in composed.overrides) + "\0")
        return 0
    if dry:
        from planning import dry_run

        if composed.dtype_note:
            print(f"[kk] dtype: {composed.dtype_note}; trailing overrides win", file=sys.stderr)
        return dry_run.main(["--n-gpus", s["N_GPUS"], "--nnodes", s["NNODES"],
                             "--model-spec", os.environ.get("MODEL_SPEC") or composed.model_path,
                             "--save", f"{recipes.repo_path(args.out)}/dry_run_config.yaml", "--",
                             *composed.overrides])
    if not args.emit:
        raise recipes.RecipeError("launch needs --emit FILE outside a dry run")
    items = [f"{k}={v}" for k, v in composed.env.items()] + [""] + composed.overrides
    with open(args.emit, "w", encoding="utf-8") as f:
        f.write("".join(f"{item}\0" for item in items))
    for line in recipes.banner(args.stage, profile, args.profile_reason, composed, recipes.repo_path(args.out)):
        print(f"[kk] {line}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    trailing: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, trailing = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(prog="python -m launcher.launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="")
    parser.add_argument("--run", type=int, default=0)
    parser.add_argument("--stage", required=True, help="the run's folder under runs/<EXPERIMENT>/")
    parser.add_argument("--out", required=True)
    parser.add_argument("--python", default=sys.executable, help="the interpreter every Ray worker runs")
    parser.add_argument("--profile-reason", default="")
    parser.add_argument("--emit", help="where a real launch's environment and overrides go")
    args = parser.parse_args(argv)
    try:
        return launch(args, os.environ.get("PROFILE", "cpu"), trailing)
    except ValueError as exc:  # RecipeError, a bad CPU_DTYPE
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
