"""Build the Knights-and-Knaves veRL datasets: ``python -m data_prep.build --out data/kk``.

Writes ``{out}/{N}ppl/train.parquet`` (N = 3..7, 900 rows each by default) and
``{out}/{N}ppl/test.parquet`` (N = 2..8, 100 rows each), plus the dataset card
``{out}/README.md`` and ``{out}/stats.json``. Test puzzles are generated first and excluded from
train (by canonical form); the same command gives byte-identical files.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm import tqdm

from data_prep.card import SplitRows, card_json, card_markdown, leakage_report, split_stats
from data_prep.cli import OneLineArgumentParser, add_prompt_arguments, configure_logging, load_token_counter, run_cli
from data_prep.dataset import GENERATED_SOURCE, PromptOptions, make_row, split_path, write_parquet
from data_prep.errors import DataPrepError
from data_prep.fileio import atomic_write_text
from data_prep.generator import Puzzle, PuzzleConfig, StatementMix, generate_puzzles, index_rng
from data_prep.render import render_puzzle
from data_prep.roles import RolePair
from data_prep.templates import chat_template_path

logger = logging.getLogger(__name__)

SPLITS = ("test", "train")  # generation order: train must avoid every test puzzle


@dataclass(frozen=True)
class BuildConfig:
    """Everything that determines the built files."""

    seed: int = 42
    train_people: tuple[int, ...] = (3, 4, 5, 6, 7)
    test_people: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)
    train_sizes: tuple[int, ...] = (900,)  # one value for every N, or one per --train-people entry
    test_sizes: tuple[int, ...] = (100,)
    depth: int = 2
    width: int = 2
    mix: StatementMix = field(default_factory=StatementMix)
    max_attempts: int = 5000
    prompt: PromptOptions = field(default_factory=PromptOptions)

    def people(self, split: str) -> tuple[int, ...]:
        return self.train_people if split == "train" else self.test_people

    def size(self, split: str, n_people: int) -> int:
        sizes = self.train_sizes if split == "train" else self.test_sizes
        return sizes[0] if len(sizes) == 1 else sizes[self.people(split).index(n_people)]

    def puzzle_config(self, n_people: int) -> PuzzleConfig:
        return PuzzleConfig(n_people=n_people, depth=self.depth, width=self.width, mix=self.mix, max_attempts=self.max_attempts)

    def validate(self) -> None:
        for split in SPLITS:
            flag = f"--{split}-people"
            people = self.people(split)
            for n_people in people:  # the generator's own rules, with this CLI's flags in the messages
                self.puzzle_config(n_people).validate(
                    {"n_people": flag, "depth": "--depth", "width": "--width", "max_attempts": "--max-attempts"})
            if len(set(people)) != len(people):
                raise DataPrepError(f"{flag} lists a number of people twice: {' '.join(map(str, people))}")
            sizes = self.train_sizes if split == "train" else self.test_sizes
            if len(sizes) not in (1, len(people)) and people:
                raise DataPrepError(f"--{split}-size takes one value or one per {flag} entry ({len(people)}), got {len(sizes)}")
            if any(size < 0 for size in sizes):
                raise DataPrepError(f"--{split}-size must be >= 0, got {' '.join(map(str, sizes))}")
        if not any(self.size(split, n) for split in SPLITS for n in self.people(split)):
            raise DataPrepError("nothing to build: every split is empty (check --train-people/--test-people and sizes)")
        self.prompt.validate()

    def command(self, out_dir: str) -> str:
        """The CLI call that rebuilds this configuration."""
        args = ["python", "-m", "data_prep.build", "--out", out_dir, "--seed", str(self.seed)]
        for split in SPLITS:
            args += [f"--{split}-people", *map(str, self.people(split))]
            args += [f"--{split}-size", *map(str, self.train_sizes if split == "train" else self.test_sizes)]
        args += ["--depth", str(self.depth), "--width", str(self.width), "--mix", self.mix.describe()]
        args += ["--max-attempts", str(self.max_attempts), "--template", self.prompt.template]
        args += ["--prompt-style", self.prompt.prompt_style, "--roles", ",".join(self.prompt.roles.as_list())]
        args.append("--prefill-think" if self.prompt.think_prefilled else "--no-prefill-think")
        return shlex.join(args)


@dataclass(frozen=True)
class BuildResult:
    """Paths written (parquet files first, then the card), the card statistics, and parquet files
    already in the output directory that this build did not write (left untouched)."""

    files: tuple[Path, ...]
    stats: dict[str, Any]
    other_parquet: tuple[Path, ...] = ()


def render_rows(puzzles: Sequence[Puzzle], config: BuildConfig, split: str, n_people: int) -> list[dict[str, Any]]:
    """Rows for one (split, N): names/phrasing drawn from a render stream separate from sampling,
    so changing role words or names never changes which puzzles are chosen."""
    rows = []
    for index, puzzle in enumerate(puzzles):
        rng = index_rng(config.seed, split, n_people, index, stream="render")
        rendered = render_puzzle(puzzle.statements, puzzle.solution, config.prompt.roles, rng)
        rows.append(
            make_row(
                source=GENERATED_SOURCE,
                quiz=rendered.quiz,
                names=rendered.names,
                solution_text=rendered.solution_text,
                puzzle=puzzle,
                split=split,
                index=index,
                options=config.prompt,
            )
        )
    return rows


def generate_all(config: BuildConfig, progress: bool = True) -> list[SplitRows]:
    """Generate and render every (split, N) in memory; nothing is written if any request fails."""
    total = sum(config.size(split, n) for split in SPLITS for n in config.people(split))
    parts: list[SplitRows] = []
    test_canonical: dict[int, set[str]] = {}
    with tqdm(total=total, desc="puzzles", unit="pz", disable=not progress, file=sys.stderr, leave=False) as bar:
        for split in SPLITS:
            for n_people in config.people(split):
                count = config.size(split, n_people)
                if count == 0:
                    continue
                bar.set_postfix_str(f"{split} {n_people}ppl")
                exclude = test_canonical.get(n_people, set()) if split == "train" else set()
                puzzles = generate_puzzles(
                    config.puzzle_config(n_people), config.seed, split, count, exclude=exclude, on_puzzle=lambda: bar.update(1)
                )
                if split == "test":
                    test_canonical[n_people] = {p.canonical for p in puzzles}
                rows = render_rows(puzzles, config, split, n_people)
                parts.append(SplitRows(split, n_people, f"{n_people}ppl/{split}.parquet", puzzles, rows))
    return parts


def build_dataset(
    config: BuildConfig,
    out_dir: Path,
    tokenizer_path: str | None = None,
    progress: bool = True,
    out_label: str | None = None,
) -> BuildResult:
    """Generate, write the parquet files and the dataset card. ``out_label`` is how the card's
    rebuild command names the output directory (default: ``out_dir`` as given)."""
    config.validate()
    count_tokens: Callable[[list[dict[str, str]]], int] | None = None
    tokenizer_name = None
    if tokenizer_path is not None:
        count_tokens, tokenizer_name = load_token_counter(tokenizer_path, config.prompt.template, config.prompt.think_prefilled)
    parts = generate_all(config, progress)
    files = []
    for part in parts:
        path = split_path(out_dir, part.n_people, part.split)
        write_parquet(part.rows, path)
        logger.debug("wrote %d rows to %s", len(part.rows), path)
        files.append(path)
    template_file = chat_template_path(config.prompt.template, config.prompt.think_prefilled)
    stats = {
        "command": config.command(out_label or str(out_dir)),
        "config": {
            "seed": config.seed,
            "depth": config.depth,
            "width": config.width,
            "mix": config.mix.describe(),
            "template": config.prompt.template,
            "prompt_style": config.prompt.prompt_style,
            "think_prefilled": config.prompt.think_prefilled,
            "roles": config.prompt.roles.as_list(),
            "chat_template": f"data_prep/chat_templates/{template_file.name}" if template_file else None,
        },
        "splits": {},
        "totals": {},
        "leakage": leakage_report(parts),
        "tokenizer": tokenizer_name,
    }
    for part in parts:
        stats["splits"].setdefault(part.split, {})[str(part.n_people)] = split_stats(part, count_tokens)
        stats["totals"][part.split] = stats["totals"].get(part.split, 0) + len(part.rows)
    card_paths = (out_dir / "stats.json", out_dir / "README.md")
    atomic_write_text(card_paths[0], card_json(stats))
    atomic_write_text(card_paths[1], card_markdown(stats))
    other = tuple(sorted(p for p in out_dir.glob("*ppl/*.parquet") if p not in set(files)))
    return BuildResult(tuple(files) + card_paths, stats, other)


def summary_lines(result: BuildResult, out_dir: Path) -> list[str]:
    """Short table printed after a build."""
    has_tokens = result.stats.get("tokenizer") is not None
    lines = [f"{'split':<6}{'N':>3}{'rows':>7}{'knight%':>9}{'difficulty':>12}{'chars':>8}" + (f"{'tokens':>8}" if has_tokens else "")]
    for split in sorted(result.stats["splits"]):
        for n_people, s in sorted(result.stats["splits"][split].items(), key=lambda kv: int(kv[0])):
            line = (
                f"{split:<6}{n_people:>3}{s['rows']:>7}{100 * s['knight_ratio']:>8.1f}%"
                f"{s['difficulty_mean']:>12.2f}{s['prompt_chars']['mean']:>8.0f}"
            )
            if has_tokens:
                line += f"{s['prompt_tokens']['mean']:>8.0f}"
            lines.append(line)
    leakage = result.stats["leakage"]
    lines.append(
        f"leakage: {leakage['duplicates_within_split']} duplicates within a split, {leakage['test_in_train']} test puzzles in train"
    )
    lines.append(f"wrote {len(result.files)} files to {out_dir} (card: {out_dir / 'README.md'})")
    if result.other_parquet:
        listed = ", ".join(str(p.relative_to(out_dir)) for p in result.other_parquet)
        lines.append(f"note: {len(result.other_parquet)} parquet file(s) in {out_dir} come from an earlier build and are not in this card: {listed}")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = OneLineArgumentParser(prog="python -m data_prep.build", description=__doc__.split("\n\n")[0].replace("``", ""))
    parser.add_argument("--out", required=True, help="output directory, e.g. data/kk")
    parser.add_argument("--seed", type=int, default=42, help="dataset seed (default: 42)")
    parser.add_argument("--train-people", type=int, nargs="*", default=[3, 4, 5, 6, 7], metavar="N",
                        help="people counts with a train split (default: 3 4 5 6 7; none = no train split)")
    parser.add_argument("--test-people", type=int, nargs="*", default=[2, 3, 4, 5, 6, 7, 8], metavar="N",
                        help="people counts with a test split (default: 2 3 4 5 6 7 8; none = no test split)")
    parser.add_argument("--train-size", type=int, nargs="+", default=[900], metavar="ROWS",
                        help="train rows per N: one value, or one per --train-people entry (default: 900)")
    parser.add_argument("--test-size", type=int, nargs="+", default=[100], metavar="ROWS",
                        help="test rows per N: one value, or one per --test-people entry (default: 100)")
    parser.add_argument("--depth", type=int, default=2, help="max statement depth, leaf = 1 (default: 2)")
    parser.add_argument("--width", type=int, default=2, help="max operands of and/or (default: 2)")
    parser.add_argument("--mix", default="", metavar="KEY=W,...",
                        help="statement-type weights, keys leaf,not,and,or,implies,iff (default: all 1)")
    parser.add_argument("--max-attempts", type=int, default=5000,
                        help="candidate puzzles tried per row before giving up (default: 5000)")
    parser.add_argument("--tokenizer", default=None, metavar="PATH",
                        help="local tokenizer directory: adds prompt lengths in tokens to the card")
    add_prompt_arguments(parser)
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> BuildConfig:
    return BuildConfig(
        seed=args.seed,
        train_people=tuple(args.train_people),
        test_people=tuple(args.test_people),
        train_sizes=tuple(args.train_size),
        test_sizes=tuple(args.test_size),
        depth=args.depth,
        width=args.width,
        mix=StatementMix.parse(args.mix),
        max_attempts=args.max_attempts,
        prompt=PromptOptions(
            template=args.template,
            prompt_style=args.prompt_style,
            think_prefilled=args.prefill_think,
            roles=RolePair.parse(args.roles),
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.verbose)

    def body() -> int:
        config = config_from_args(args)
        out_dir = Path(args.out)
        result = build_dataset(config, out_dir, tokenizer_path=args.tokenizer, progress=not args.no_progress, out_label=args.out)
        print("\n".join(summary_lines(result, out_dir)))
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
