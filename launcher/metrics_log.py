"""Keeps a stage's ``metrics.jsonl`` whole across resumed runs.

veRL's ``file`` logger opens ``$VERL_FILE_LOGGER_PATH`` with mode ``"wb"``, so a
run resumed after a crash would erase the metrics of every step before it.
``run_scripts/common.sh`` therefore calls, around each launch:

    python -m launcher.metrics_log rotate runs/x/stage/metrics.jsonl   # before: keep the old file as metrics.N.jsonl
    python -m launcher.metrics_log merge  runs/x/stage/metrics.jsonl   # after: one file, one record per step

``merge`` reads the rotated attempts in order and then the current file; for a
step logged twice (a step redone after a crash) the later record wins.  Records
without a step (e.g. a final validation) are kept in order.  Lines that do not
parse (a half-written last line of a killed run) are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from analysis.loading import read_jsonl
from data_prep.fileio import atomic_write_text

_ATTEMPT = re.compile(r"\.(\d+)\.jsonl$")


def attempt_files(current: Path) -> list[Path]:
    """Rotated attempts ``metrics.1.jsonl, metrics.2.jsonl, ...`` in order."""
    stem = current.name[: -len(".jsonl")] if current.name.endswith(".jsonl") else current.name
    found = []
    for path in current.parent.glob(f"{stem}.*.jsonl"):
        match = _ATTEMPT.search(path.name)
        if match and path.name == f"{stem}.{match.group(1)}.jsonl":
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def rotate(current: Path) -> Path | None:
    """Move a non-empty ``current`` aside as the next ``metrics.N.jsonl``."""
    if not current.is_file() or current.stat().st_size == 0:
        return None
    existing = attempt_files(current)
    number = int(_ATTEMPT.search(existing[-1].name).group(1)) + 1 if existing else 1
    stem = current.name[: -len(".jsonl")]
    target = current.with_name(f"{stem}.{number}.jsonl")
    os.replace(current, target)
    return target


def merge(current: Path) -> int:
    """Rewrite ``current`` as attempts + current, one record per step; returns the record count."""
    sources = attempt_files(current) + ([current] if current.is_file() else [])
    by_step: dict[int, dict] = {}
    unstepped: list[dict] = []
    for source in sources:
        for record in (line.record for line in read_jsonl(source)):
            step = record.get("step")
            if isinstance(step, int):
                by_step[step] = record
            else:
                unstepped.append(record)
    merged = [by_step[step] for step in sorted(by_step)] + unstepped
    atomic_write_text(current, "".join(json.dumps(record) + "\n" for record in merged))
    return len(merged)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launcher.metrics_log", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("rotate", "merge"))
    parser.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    if args.command == "rotate":
        rotate(args.path)
    else:
        merge(args.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
