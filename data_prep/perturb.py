"""Locally perturbed twins of our puzzles: ``python -m data_prep.perturb --out data/kk_perturbed``.

The six perturbations of Xie et al. 2024 ("On Memorization of Large Language Models in Logical
Reasoning", arXiv:2410.23123), made from the puzzles ``data_prep.build`` generates with the same
seed. Math-level types change the logic and are solved again; language-level types change only the
wording. Writes, for each N::

    {out}/{N}ppl/test.parquet                  the clean test puzzles that were perturbed
    {out}/{N}ppl/test_{type}.parquet           their twins (extra_info.index = the clean row's index)
    {out}/{N}ppl/train_sample.parquet          a fixed sample of training puzzles (the first rows)
    {out}/{N}ppl/train_sample_{type}.parquet   their twins
    {out}/perturb_stats.json                   counts, solution changes, leakage, the command

Every twin depends only on (seed, split, N, index, type). See data_prep/README.md for what each type
changes and guarantees.
"""
from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from data_prep.build import BuildConfig, generate_all
from data_prep.card import SplitRows
from data_prep.cli import OneLineArgumentParser, add_prompt_arguments, configure_logging, run_cli
from data_prep.dataset import (
    CLEAN,
    GENERATED_SOURCE,
    MATH_PERTURBATIONS,
    PERTURBATIONS,
    TRAIN_SAMPLE,
    PromptOptions,
    make_row,
    split_path,
    write_parquet,
)
from data_prep.errors import DataPrepError
from data_prep.fileio import atomic_write_text
from data_prep.generator import Puzzle, _StatementSampler, index_rng, make_puzzle
from data_prep.names import UNCOMMON_NAMES
from data_prep.render import draw_wording, render_quiz, solution_text
from data_prep.roles import PERTURBATION_PAIRS, RolePair
from data_prep.solver import assignment_to_roles, canonical_form, consistency_mask
from data_prep.statements import LEAF_OPS, Statement, statements_from_json

SPLIT_FILES = {"test": "test", "train": TRAIN_SAMPLE}  # split -> file stem of its clean rows


@dataclass(frozen=True)
class PerturbConfig:
    """What to perturb: the clean suite (``build``), the types, how many rows, the redraw budget."""

    build: BuildConfig = field(default_factory=BuildConfig)
    types: tuple[str, ...] = PERTURBATIONS
    test_size: int | None = None  # first rows per N of each test set (None: all)
    train_sample: int = 100  # first rows per N of each train set
    max_attempts: int = 1000  # perturbed_statement draws per twin

    def validate(self) -> None:
        self.build.validate()
        unknown = [t for t in self.types if t not in PERTURBATIONS]
        if unknown or not self.types:
            raise DataPrepError(f"--types must name some of {', '.join(PERTURBATIONS)} (got {' '.join(self.types) or 'none'})")
        if len(set(self.types)) != len(self.types):
            raise DataPrepError(f"--types lists a type twice: {' '.join(self.types)}")
        if self.test_size is not None and self.test_size < 0:
            raise DataPrepError(f"--test-size must be >= 0, got {self.test_size}")
        if self.train_sample < 0:
            raise DataPrepError(f"--train-sample must be >= 0, got {self.train_sample}")
        for split in ("test", "train"):
            for n_people in self.build.people(split):
                if self.rows(split, n_people) > self.build.size(split, n_people):
                    flag = "--test-size" if split == "test" else "--train-sample"
                    raise DataPrepError(f"{flag} {self.rows(split, n_people)} is more than the {self.build.size(split, n_people)} "
                                        f"{split} puzzles of {n_people}ppl")
        if self.max_attempts < 1:
            raise DataPrepError(f"--max-attempts must be >= 1, got {self.max_attempts}")

    def rows(self, split: str, n_people: int) -> int:
        if split == "train":
            return self.train_sample
        return self.build.size(split, n_people) if self.test_size is None else self.test_size

    def command(self, out_dir: str) -> str:
        args = ["python", "-m", "data_prep.perturb", "--out", out_dir, "--seed", str(self.build.seed), "--types", *self.types]
        if self.test_size is not None:
            args += ["--test-size", str(self.test_size)]
        args += ["--train-sample", str(self.train_sample), "--max-attempts", str(self.max_attempts)]
        args += ["--test-people", *map(str, self.build.test_people), "--train-people", *map(str, self.build.train_people)]
        prompt = self.build.prompt
        args += ["--template", prompt.template, "--prompt-style", prompt.prompt_style]
        args.append("--prefill-think" if prompt.think_prefilled else "--no-prefill-think")
        return shlex.join(args)


@dataclass(frozen=True)
class Twin:
    """One perturbed puzzle and the wording it is written in."""

    puzzle: Puzzle
    names: tuple[str, ...]
    phrasings: tuple[str, ...]
    roles: RolePair
    order: tuple[int, ...] | None = None  # speaking order of the statements (None: introduction order)


def _leaf_paths(stmt: Statement, path: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    if stmt[0] in LEAF_OPS:
        return [path]
    return [p for i, sub in enumerate(stmt[1:], 1) for p in _leaf_paths(sub, path + (i,))]


def _replace(stmt: Statement, path: tuple[int, ...], new: Statement) -> Statement:
    if not path:
        return new
    head = path[0]
    return stmt[:head] + (_replace(stmt[head], path[1:], new),) + stmt[head + 1:]


def _distinct_operands(stmt: Statement) -> bool:
    """No connective repeats an operand ("A and A" reads as a mistake; the generator never writes it)."""
    if stmt[0] in LEAF_OPS:
        return True
    operands = stmt[1:]
    return len(set(operands)) == len(operands) and all(_distinct_operands(sub) for sub in operands)


def _leaf_candidates(puzzle: Puzzle, rng: random.Random) -> list[tuple[int, Statement]]:
    """Every single-leaf change (speaker, new statement), in an order shuffled by ``rng``: the leaf
    becomes any of the other 2N - 1 leaves (another person and/or the other role)."""
    n_people = puzzle.n_people
    candidates = []
    for speaker, old in enumerate(puzzle.statements):
        for path in _leaf_paths(old):
            leaf = old
            for step in path:
                leaf = leaf[step]
            for person in range(n_people):
                for op in LEAF_OPS:
                    if (op, person) != leaf:
                        new = _replace(old, path, (op, person))
                        if _distinct_operands(new):
                            candidates.append((speaker, new))
    rng.shuffle(candidates)
    return candidates


def _statement_candidates(puzzle: Puzzle, sampler: _StatementSampler, rng: random.Random, max_attempts: int):
    """Up to ``max_attempts`` (speaker, freshly sampled statement) draws."""
    for _ in range(max_attempts):
        speaker = int(rng.random() * puzzle.n_people)
        yield speaker, sampler.statement(rng, sampler.depth)


def _math_twin(kind: str, puzzle: Puzzle, sampler: _StatementSampler, rng: random.Random, train: set[str],
               max_attempts: int) -> tuple[Puzzle | None, bool]:
    """A uniquely solvable twin with one statement (or one leaf) changed; (twin, solution changed).

    The first candidate whose unique solution differs from the original's wins; failing that, the
    first uniquely solvable one with the same solution; failing that (no candidate is uniquely
    solvable), None. A twin is never the original puzzle nor a training puzzle (by canonical form)."""
    n_people = puzzle.n_people
    if kind == "perturbed_leaf":
        candidates = _leaf_candidates(puzzle, rng)
    else:
        candidates = _statement_candidates(puzzle, sampler, rng, max_attempts)
    fallback: tuple[tuple[Statement, ...], tuple[bool, ...], str] | None = None
    for speaker, new in candidates:
        if new == puzzle.statements[speaker] or not _distinct_operands(new):
            continue
        statements = puzzle.statements[:speaker] + (new,) + puzzle.statements[speaker + 1:]
        consistent = consistency_mask(statements)
        if not consistent or consistent & (consistent - 1):
            continue  # no solution, or several
        canonical = canonical_form(statements)
        if canonical == puzzle.canonical or canonical in train:
            continue  # the same puzzle, or a training puzzle (leakage)
        solution = assignment_to_roles(consistent.bit_length() - 1, n_people)
        if solution != puzzle.solution:
            return make_puzzle(statements, solution, canonical), True
        if fallback is None:
            fallback = (statements, solution, canonical)
    return (make_puzzle(*fallback) if fallback else None), False


def perturb_puzzle(kind: str, puzzle: Puzzle, names: Sequence[str], phrasings: Sequence[str], roles: RolePair,
                   rng: random.Random, sampler: _StatementSampler, train: set[str], max_attempts: int) -> tuple[Twin | None, bool]:
    """The ``kind`` twin of one puzzle written with ``names``/``phrasings``/``roles``; (twin, solution changed).
    None when a math-level type finds no uniquely solvable twin."""
    names, phrasings = tuple(names), tuple(phrasings)
    if kind in MATH_PERTURBATIONS:
        twin, changed = _math_twin(kind, puzzle, sampler, rng, train, max_attempts)
        return (Twin(twin, names, phrasings, roles) if twin else None), changed
    if kind == "random_pair":
        return Twin(puzzle, names, phrasings, RolePair.parse(PERTURBATION_PAIRS[int(rng.random() * len(PERTURBATION_PAIRS))])), False
    if kind == "flip_role":
        return Twin(puzzle, names, phrasings, RolePair(roles.lying, roles.truthful)), False
    if kind == "uncommon_name":
        pool = [name for name in UNCOMMON_NAMES if name not in names]
        return Twin(puzzle, tuple(rng.sample(pool, len(names))), phrasings, roles), False
    if kind == "reorder_statement":
        order = list(range(puzzle.n_people))
        while order == sorted(order):  # N >= 2, so another order exists
            rng.shuffle(order)
        return Twin(puzzle, names, phrasings, roles, tuple(order)), False
    raise DataPrepError(f"unknown perturbation {kind!r}")


def twin_row(twin: Twin, kind: str, original: Puzzle, split: str, index: int, options: PromptOptions) -> dict[str, Any]:
    """The parquet row of a twin (or of a clean puzzle when ``kind`` is clean)."""
    puzzle = twin.puzzle
    return make_row(
        source=GENERATED_SOURCE,
        quiz=render_quiz(puzzle.statements, twin.names, twin.roles, twin.phrasings, twin.order),
        names=twin.names,
        solution_text=solution_text(twin.names, puzzle.solution, twin.roles),
        puzzle=puzzle,
        split=split,
        index=index,
        options=PromptOptions(options.template, options.prompt_style, options.think_prefilled, twin.roles),
        perturbation=kind,
        original_puzzle_id=original.puzzle_id,
        train_sample=split == "train",
    )


@dataclass(frozen=True)
class PerturbedSet:
    """The rows of one written file and how many twins changed their solution."""

    split: str
    n_people: int
    kind: str
    rows: list[dict[str, Any]]
    changed: int
    no_twin: int = 0  # clean puzzles without a uniquely solvable twin of this type (left out)

    @property
    def name(self) -> str:
        stem = SPLIT_FILES[self.split]
        return stem if self.kind == CLEAN else f"{stem}_{self.kind}"


def perturb_parts(config: PerturbConfig, parts: Sequence[SplitRows], progress: bool = True) -> list[PerturbedSet]:
    """Clean rows and twins of the first rows of every (split, N) of an in-memory clean suite."""
    build = config.build
    train: dict[int, set[str]] = {}  # N -> canonical forms of the training puzzles (a twin must not be one)
    for part in parts:
        if part.split == "train":
            train.setdefault(part.n_people, set()).update(p.canonical for p in part.puzzles)
    todo = [(part, config.rows(part.split, part.n_people)) for part in parts]
    total = sum(count * (1 + len(config.types)) for _, count in todo)
    sets: list[PerturbedSet] = []
    with tqdm(total=total, desc="twins", unit="pz", disable=not progress, file=sys.stderr, leave=False) as bar:
        for part, count in todo:
            if count == 0:
                continue
            n_people, split = part.n_people, part.split
            sampler = _StatementSampler(build.puzzle_config(n_people))
            wordings = [draw_wording(index_rng(build.seed, split, n_people, i, stream="render"), n_people) for i in range(count)]
            roles = build.prompt.roles
            clean = [twin_row(Twin(part.puzzles[i], names, tuple(ph), roles), CLEAN, part.puzzles[i], split, i, build.prompt)
                     for i, (names, ph) in enumerate(wordings)]
            sets.append(PerturbedSet(split, n_people, CLEAN, clean, 0))
            bar.update(count)
            for kind in config.types:
                rows, changed = [], 0
                for index, (names, phrasings) in enumerate(wordings):
                    original = part.puzzles[index]
                    rng = index_rng(build.seed, f"{split}/{kind}", n_people, index, stream="perturb")
                    twin, did_change = perturb_puzzle(kind, original, names, phrasings, roles, rng, sampler,
                                                      train.get(n_people, set()), config.max_attempts)
                    if twin is not None:
                        rows.append(twin_row(twin, kind, original, split, index, build.prompt))
                    changed += did_change
                    bar.update(1)
                sets.append(PerturbedSet(split, n_people, kind, rows, changed, count - len(rows)))
    return sets


def set_stats(item: PerturbedSet, train_canonical: set[str]) -> dict[str, Any]:
    """Counts recomputed from the rows: solution changes, unchanged math-level twins, leakage into train."""
    canon = [canonical_form(statements_from_json(row["extra_info"]["statements"])) for row in item.rows]
    same_puzzle = sum(row["extra_info"]["puzzle_id"] == row["extra_info"]["original_puzzle_id"] for row in item.rows)
    stats = {"rows": len(item.rows), "same_puzzle": same_puzzle}
    if item.kind in MATH_PERTURBATIONS:
        stats["solution_changed"] = item.changed
        stats["solution_unchanged"] = len(item.rows) - item.changed
        stats["no_twin"] = item.no_twin
        stats["in_train"] = sum(form in train_canonical for form in canon)
    return stats


@dataclass(frozen=True)
class PerturbResult:
    files: tuple[Path, ...]
    stats: dict[str, Any]


def perturb_dataset(config: PerturbConfig, out_dir: Path, progress: bool = True, out_label: str | None = None) -> PerturbResult:
    """Generate the clean suite in memory, perturb it, and write every file (nothing is written on error)."""
    config.validate()
    parts = generate_all(config.build, progress)
    sets = perturb_parts(config, parts, progress)
    train_canonical: dict[int, set[str]] = {}
    for part in parts:
        if part.split == "train":
            train_canonical.setdefault(part.n_people, set()).update(p.canonical for p in part.puzzles)
    stats: dict[str, Any] = {"command": config.command(out_label or str(out_dir)), "files": {}}
    files = []
    for item in sets:
        path = split_path(out_dir, item.n_people, item.name)
        stats["files"][path.relative_to(out_dir).as_posix()] = set_stats(item, train_canonical.get(item.n_people, set()))
        write_parquet(item.rows, path)
        files.append(path)
    stats_path = out_dir / "perturb_stats.json"
    atomic_write_text(stats_path, json.dumps(stats, indent=2, sort_keys=True) + "\n")
    return PerturbResult(tuple(files) + (stats_path,), stats)


def summary_lines(result: PerturbResult, out_dir: Path) -> list[str]:
    files = result.stats["files"]
    math = [s for s in files.values() if "solution_changed" in s]
    lines = [f"{len(files)} files, {sum(s['rows'] for s in files.values())} rows -> {out_dir}"]
    if math:
        lines.append(
            f"math-level twins: {sum(s['solution_changed'] for s in math)} changed their solution, "
            f"{sum(s['solution_unchanged'] for s in math)} kept it (no changed twin found), "
            f"{sum(s['no_twin'] for s in math)} puzzles have no uniquely solvable twin (left out); "
            f"{sum(s['in_train'] for s in math)} are training puzzles"
        )
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = OneLineArgumentParser(prog="python -m data_prep.perturb", description=__doc__.split("\n\n")[0].replace("``", ""))
    parser.add_argument("--out", required=True, help="output directory, e.g. data/kk_perturbed")
    parser.add_argument("--seed", type=int, default=42, help="seed of the clean suite (data_prep.build --seed; default: 42)")
    parser.add_argument("--types", nargs="+", default=list(PERTURBATIONS), metavar="TYPE",
                        help=f"perturbations to build (default: all six: {' '.join(PERTURBATIONS)})")
    parser.add_argument("--test-size", type=int, default=None, metavar="ROWS",
                        help="perturb the first ROWS test puzzles of each N (default: all)")
    parser.add_argument("--train-sample", type=int, default=100, metavar="ROWS",
                        help="perturb the first ROWS training puzzles of each N (default: 100)")
    parser.add_argument("--max-attempts", type=int, default=1000,
                        help="perturbed_statement draws per twin (perturbed_leaf tries every leaf change) (default: 1000)")
    parser.add_argument("--test-people", type=int, nargs="*", default=[2, 3, 4, 5, 6, 7, 8], metavar="N",
                        help="as data_prep.build (default: 2 3 4 5 6 7 8)")
    parser.add_argument("--train-people", type=int, nargs="*", default=[3, 4, 5, 6, 7], metavar="N",
                        help="as data_prep.build (default: 3 4 5 6 7)")
    add_prompt_arguments(parser, roles=False)
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> PerturbConfig:
    prompt = PromptOptions(template=args.template, prompt_style=args.prompt_style, think_prefilled=args.prefill_think)
    build = BuildConfig(seed=args.seed, test_people=tuple(args.test_people), train_people=tuple(args.train_people), prompt=prompt)
    return PerturbConfig(build=build, types=tuple(args.types), test_size=args.test_size, train_sample=args.train_sample,
                         max_attempts=args.max_attempts)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.verbose)

    def body() -> int:
        out_dir = Path(args.out)
        result = perturb_dataset(config_from_args(args), out_dir, progress=not args.no_progress, out_label=args.out)
        print("\n".join(summary_lines(result, out_dir)))
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
