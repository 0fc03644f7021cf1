"""Interleaved A/B of the per-file feature code: another checkout against this one, in one process.

    git worktree add /tmp/base <commit>
    python -m analysis.ab_bench /tmp/base --dump DIR [--rounds 2] [--every 10]

On these shared machines the CPU's speed drifts by 15-50 % within minutes (the same cold report took 120 s
and 149 s of CPU twenty minutes apart), so two runs one after the other cannot show a 5 % change. Here both
versions of ``analysis.features.features_of_file`` (and everything the base imports: its ``analysis``,
``reward_fns``, ``data_prep``) are loaded into one process and run on each dump file in turn, the order
swapped every file; the drift then falls on both alike. Prints CPU microseconds per response for each, their
ratio, and whether both gave the same feature frames (a speed-up must not change a result). Nothing is
asserted; results go to ``docs/benchmarks.md`` by hand.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("analysis", "reward_fns", "data_prep")  # the project packages the feature code imports


def _project_modules() -> dict[str, ModuleType]:
    return {name: module for name, module in sys.modules.items() if name.split(".")[0] in PACKAGES}


def _activate(modules: dict[str, ModuleType]) -> None:
    """Make ``modules`` the project's modules in ``sys.modules`` (imports done at call time resolve there)."""
    for name in _project_modules():
        del sys.modules[name]
    sys.modules.update(modules)


def _load(tree: Path) -> tuple[ModuleType, dict[str, ModuleType]]:
    """``analysis.features`` as imported from ``tree``, and every project module that import brought."""
    _activate({})
    sys.path.insert(0, str(tree))
    try:
        module = importlib.import_module("analysis.features")
        for lazy in ("reward_fns.kk", "analysis.errors"):  # imported inside functions of features.py
            importlib.import_module(lazy)
    finally:
        sys.path.remove(str(tree))
    if not Path(module.__file__).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"error: analysis.features came from {module.__file__}, not from {tree}")
    return module, _project_modules()


def run_ab(base: Path, dump: Path, rounds: int = 2, every: int = 1) -> dict[str, object]:
    files = sorted(dump.glob("*.jsonl"))[:: max(1, every)]
    if not files:
        raise SystemExit(f"error: no *.jsonl in {dump}")
    original = _project_modules()
    try:
        versions = {"base": _load(base), "this": _load(REPO_ROOT)}
        cpu = dict.fromkeys(versions, 0.0)
        responses = 0
        same = True  # every file's feature frame equal in both versions
        for round_index in range(rounds):
            for index, path in enumerate(files):
                names = list(versions) if (index + round_index) % 2 == 0 else list(reversed(versions))
                frames = []
                for name in names:
                    module, modules = versions[name]
                    _activate(modules)
                    started = time.process_time()
                    frames.append(module.features_of_file(path, module.WordCounter(), module.FeatureOptions()).frame)
                    cpu[name] += time.process_time() - started
                same = same and frames[0].equals(frames[1])
                responses += len(frames[0])
    finally:
        _activate(original)  # the caller's modules again
    per_response = {name: seconds / responses * 1e6 for name, seconds in cpu.items()}
    return {"files": len(files), "rounds": rounds, "responses_per_version": responses,
            "base_code": versions["base"][0].__file__, "this_code": versions["this"][0].__file__,
            "base_us_per_response": round(per_response["base"], 1),
            "this_us_per_response": round(per_response["this"], 1),
            "this_over_base": round(cpu["this"] / cpu["base"], 3), "same_features": same}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.ab_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("base", type=Path, help="another checkout of this repository (e.g. a git worktree)")
    parser.add_argument("--dump", type=Path, required=True, help="directory of <step>.jsonl rollout dumps")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the files (default 2)")
    parser.add_argument("--every", type=int, default=1, help="every k-th file only (e.g. 10 of the bench's 400)")
    args = parser.parse_args(argv)
    if not (args.base / "analysis" / "features.py").is_file():
        print(f"error: {args.base} is not a checkout of this repository (no analysis/features.py)", file=sys.stderr)
        return 2
    print(json.dumps(run_ab(args.base, args.dump, max(1, args.rounds), args.every), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
