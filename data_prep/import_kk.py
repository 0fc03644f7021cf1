"""Import published Knights-and-Knaves jsonl files into the same veRL parquet schema.

``python -m data_prep.import_kk people3_num100.jsonl [more.jsonl ...] --out data/kk_published``
writes ``{out}/{N}ppl/{split}.parquet`` (default split ``test``) with data source
``kk_published_{N}ppl``. The original ``quiz`` text is kept as the puzzle; the ``statements``
field (a Python tuple literal) is parsed with ``ast.literal_eval`` and re-solved, and a record
whose ``solution`` is not the unique solution of its statements is rejected. Nothing is downloaded.
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from data_prep.cli import OneLineArgumentParser, add_prompt_arguments, configure_logging, run_cli
from data_prep.dataset import PUBLISHED_SOURCE, PromptOptions, make_row, split_path, write_parquet
from data_prep.errors import DataPrepError
from data_prep.generator import make_puzzle
from data_prep.render import solution_text
from data_prep.roles import RolePair
from data_prep.solver import MAX_PEOPLE, solve
from data_prep.statements import Statement, validate_statement


@dataclass(frozen=True)
class PublishedRecord:
    """The fields of one published record that the importer uses."""

    quiz: str
    names: tuple[str, ...]
    solution: tuple[bool, ...]
    statements: tuple[Statement, ...]
    roles: RolePair
    index: int
    where: str  # "file:line" for error messages


def parse_statements(text: Any, n_people: int, where: str) -> tuple[Statement, ...]:
    """Parse the published ``statements`` string (a Python tuple literal) safely."""
    if isinstance(text, (list, tuple)):
        raw = text  # tolerate files that already store the AST as JSON lists
    elif isinstance(text, str):
        try:
            raw = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            raise DataPrepError(f"{where}: 'statements' is not a Python tuple literal ({type(exc).__name__})") from None
    else:
        raise DataPrepError(f"{where}: 'statements' must be a string holding a tuple literal")
    if not isinstance(raw, (list, tuple)) or len(raw) != n_people:
        raise DataPrepError(f"{where}: 'statements' must hold one statement per name ({n_people})")
    try:
        return tuple(validate_statement(stmt, n_people) for stmt in raw)
    except DataPrepError as exc:
        raise DataPrepError(f"{where}: {exc}") from None


# The published ``knight_knave`` dict: the truthful word under "knight", the lying word under "knave",
# and the article and capitalised forms of both. A missing dict or key means knight/knave.
ROLE_KEYS = ("knight", "knave", "a_knight", "a_knave", "Knight", "Knave")


def _roles(record: dict[str, Any], quiz: str, where: str) -> RolePair:
    """The record's own role words, checked against the rest of the wording and against the quiz."""
    wording = record.get("knight_knave")
    if wording is None:
        wording = {}
    if not isinstance(wording, dict):
        raise DataPrepError(f"{where}: 'knight_knave' must be a dict of role wordings")
    if any(not isinstance(wording.get(key, ""), str) for key in ROLE_KEYS):
        raise DataPrepError(f"{where}: 'knight_knave' values must be strings")
    pair = RolePair(wording.get("knight", "knight").strip(), wording.get("knave", "knave").strip())
    try:
        pair.validate()
    except DataPrepError as exc:
        raise DataPrepError(f"{where}: 'knight_knave': {exc}".replace("--roles ", "")) from None
    for word, role in ((pair.truthful, "knight"), (pair.lying, "knave")):
        article = wording.get(f"a_{role}")
        # The published files write "a" before every word (even "a angel"); "an" is accepted too.
        if article is not None and article.strip() not in (f"a {word}", f"an {word}"):
            raise DataPrepError(f"{where}: 'knight_knave' a_{role}={article!r} does not match {role}={word!r}")
        capital = wording.get(role.capitalize())
        if capital is not None and capital.strip() != word.capitalize():
            raise DataPrepError(f"{where}: 'knight_knave' {role.capitalize()}={capital!r} does not match {role}={word!r}")
        if not re.search(rf"\b{re.escape(word)}", quiz, re.IGNORECASE):
            raise DataPrepError(f"{where}: 'knight_knave' {role}={word!r} never occurs in the quiz text")
    return pair


def parse_record(record: Any, where: str, fallback_index: int) -> PublishedRecord:
    """Validate one decoded jsonl object and re-solve its puzzle."""
    if not isinstance(record, dict):
        raise DataPrepError(f"{where}: expected a JSON object per line")
    missing = [key for key in ("quiz", "names", "solution", "statements") if key not in record]
    if missing:
        raise DataPrepError(f"{where}: missing field(s) {', '.join(missing)}")
    quiz, names, solution = record["quiz"], record["names"], record["solution"]
    if not isinstance(quiz, str) or not quiz.strip():
        raise DataPrepError(f"{where}: 'quiz' must be a non-empty string")
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise DataPrepError(f"{where}: 'names' must be a list of non-empty strings")
    if not 2 <= len(names) <= MAX_PEOPLE:
        raise DataPrepError(f"{where}: {len(names)} names; supported puzzles have 2..{MAX_PEOPLE} people")
    if len(set(names)) != len(names):
        raise DataPrepError(f"{where}: 'names' are not distinct")
    if not isinstance(solution, list) or len(solution) != len(names) or not all(isinstance(s, bool) for s in solution):
        raise DataPrepError(f"{where}: 'solution' must be a list of {len(names)} booleans")
    statements = parse_statements(record["statements"], len(names), where)
    solutions = solve(statements)
    if solutions != [tuple(solution)]:
        found = "no solution" if not solutions else f"{len(solutions)} solution(s), not the stated one"
        raise DataPrepError(f"{where}: 'solution' does not match the statements (solver found {found})")
    index = record.get("index", fallback_index)
    if isinstance(index, bool) or not isinstance(index, int):
        raise DataPrepError(f"{where}: 'index' must be an integer")
    return PublishedRecord(quiz, tuple(names), tuple(solution), statements, _roles(record, quiz, where), index, where)


def read_published(path: Path) -> list[PublishedRecord]:
    """All records of one published jsonl file (blank lines skipped)."""
    if not path.is_file():
        raise DataPrepError(f"input file not found: {path}")
    records = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path.name}:{line_no}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataPrepError(f"{where}: not valid JSON ({exc.msg})") from None
            records.append(parse_record(obj, where, fallback_index=len(records)))
    if not records:
        raise DataPrepError(f"{path}: no records")
    return records


def record_row(record: PublishedRecord, split: str, options: PromptOptions) -> dict[str, Any]:
    """The parquet row of one published record (original quiz text, file's own role words)."""
    puzzle = make_puzzle(record.statements, record.solution)
    row_options = PromptOptions(options.template, options.prompt_style, options.think_prefilled, record.roles)
    return make_row(
        source=PUBLISHED_SOURCE,
        quiz=record.quiz,
        names=record.names,
        solution_text=solution_text(record.names, record.solution, record.roles),
        puzzle=puzzle,
        split=split,
        index=record.index,
        options=row_options,
    )


@dataclass(frozen=True)
class ImportResult:
    files: tuple[Path, ...]
    rows_per_people: dict[int, int]
    duplicate_puzzles: int  # rows whose canonical puzzle already appeared in the same N


def import_files(paths: Sequence[Path], out_dir: Path, split: str = "test", options: PromptOptions | None = None,
                 progress: bool = True) -> ImportResult:
    """Convert published files into ``{out}/{N}ppl/{split}.parquet`` (rows grouped by N, file order kept)."""
    options = options or PromptOptions()
    options.validate()
    if not split or not split.replace("_", "").isalnum():
        raise DataPrepError(f"--split must be a simple name such as test, got {split!r}")
    records = [record for path in paths for record in read_published(Path(path))]
    rows_by_n: dict[int, list[dict[str, Any]]] = {}
    for record in tqdm(records, desc="records", unit="rec", disable=not progress, file=sys.stderr, leave=False):
        rows_by_n.setdefault(len(record.names), []).append(record_row(record, split, options))
    files = []
    duplicates = 0
    for n_people in sorted(rows_by_n):
        rows = rows_by_n[n_people]
        duplicates += sum(count - 1 for count in Counter(r["extra_info"]["puzzle_id"] for r in rows).values())
        path = split_path(out_dir, n_people, split)
        write_parquet(rows, path)
        files.append(path)
    return ImportResult(tuple(files), {n: len(rows) for n, rows in sorted(rows_by_n.items())}, duplicates)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = OneLineArgumentParser(prog="python -m data_prep.import_kk", description=__doc__.split("\n\n")[0].replace("``", ""))
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE.jsonl", help="published K&K jsonl file(s)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--split", default="test", help="split name for the files and extra_info (default: test)")
    add_prompt_arguments(parser, roles=False)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.verbose)

    def body() -> int:
        options = PromptOptions(template=args.template, prompt_style=args.prompt_style, think_prefilled=args.prefill_think)
        result = import_files(args.files, args.out, args.split, options, progress=not args.no_progress)
        for n_people, count in result.rows_per_people.items():
            print(f"{n_people}ppl: {count} rows -> {split_path(args.out, n_people, args.split)}")
        print(f"imported {sum(result.rows_per_people.values())} records ({result.duplicate_puzzles} duplicate puzzles kept)")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
