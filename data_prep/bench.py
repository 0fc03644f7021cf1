"""Generator speed: ``python -m data_prep.bench [--json]``.

Prints unique puzzles per second (generate + exact uniqueness + canonical dedup + difficulty, no
rendering) for N = 3, 5, 8, 12, 16 on one core (this process), and the wall time to build the
whole default suite (5,200 rows, parquet + card) into a temporary directory. ``--perturb`` adds the
time to perturb the default test suite (700 puzzles x 6 types, the clean suite generated beforehand)
and the wall time of the whole default ``python -m data_prep.perturb`` (suite, test twins, training
sample twins, files).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from data_prep.build import BuildConfig, build_dataset, generate_all
from data_prep.cli import OneLineArgumentParser, run_cli
from data_prep.errors import DataPrepError
from data_prep.generator import PuzzleConfig, generate_puzzles
from data_prep.perturb import PerturbConfig, perturb_dataset, perturb_parts

BENCH_PEOPLE = (3, 5, 8, 12, 16)


def puzzles_per_second(n_people: int, min_seconds: float, seed: int = 0) -> float:
    """Generate growing batches until ``min_seconds`` passed; every puzzle is distinct from all
    earlier ones (earlier canonical forms are excluded), as in a real build."""
    config = PuzzleConfig(n_people=n_people)
    seen: set[str] = set()
    batch, elapsed = 50, 0.0
    while elapsed < min_seconds:
        start = time.perf_counter()
        puzzles = generate_puzzles(config, seed, f"bench{len(seen)}", batch, exclude=seen)
        seen.update(p.canonical for p in puzzles)
        elapsed += time.perf_counter() - start
        batch = min(batch * 2, 4000)
    return len(seen) / elapsed


def suite_seconds() -> float:
    """Wall time of ``build_dataset`` with the default configuration (no progress bar)."""
    with tempfile.TemporaryDirectory(prefix="kk_bench_") as tmp:
        start = time.perf_counter()
        build_dataset(BuildConfig(), Path(tmp), progress=False)
        return time.perf_counter() - start


def perturb_seconds() -> tuple[float, float]:
    """(seconds to perturb the default test suite with all six types, seconds of the default perturb command)."""
    config = PerturbConfig(train_sample=0)
    parts = generate_all(config.build, progress=False)
    start = time.perf_counter()
    perturb_parts(config, parts, progress=False)
    test_only = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="kk_bench_") as tmp:
        start = time.perf_counter()
        perturb_dataset(PerturbConfig(), Path(tmp), progress=False)
        return test_only, time.perf_counter() - start


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = OneLineArgumentParser(prog="python -m data_prep.bench", description=__doc__.split("\n\n")[0].replace("``", ""))
    parser.add_argument("--json", action="store_true", help='print one JSON object {"puzzles_per_s": {...}, "suite_s": ...}')
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum timed seconds per N (default: 2)")
    parser.add_argument("--people", type=int, nargs="+", default=list(BENCH_PEOPLE), metavar="N", help="people counts to time")
    parser.add_argument("--skip-suite", action="store_true", help="do not time the default suite build")
    parser.add_argument("--perturb", action="store_true", help="also time the perturbations (data_prep.perturb)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def body() -> int:
        if args.seconds <= 0:
            raise DataPrepError(f"--seconds must be > 0, got {args.seconds}")
        rates = {}
        for n_people in args.people:
            rates[str(n_people)] = round(puzzles_per_second(n_people, args.seconds), 1)
            if not args.json:
                print(f"N={n_people:>2}: {rates[str(n_people)]:>9.1f} unique puzzles/s", flush=True)
        suite = None if args.skip_suite else round(suite_seconds(), 3)
        perturbed = perturb_seconds() if args.perturb else None
        if args.json:
            result = {"puzzles_per_s": rates, "suite_s": suite}
            if perturbed:
                result.update(perturb_test_suite_s=round(perturbed[0], 3), perturb_command_s=round(perturbed[1], 3))
            print(json.dumps(result))
        else:
            if suite is not None:
                print(f"default suite (5,200 rows + card): {suite:.2f} s")
            if perturbed:
                print(f"perturbing the default test suite (700 puzzles x 6 types): {perturbed[0]:.2f} s")
                print(f"default perturb command (suite + 700 test and 500 training puzzles x 6 types + files): {perturbed[1]:.2f} s")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
