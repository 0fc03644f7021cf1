"""``python -m analysis features``: per-response features to parquet or csv.

With ``with_text`` the lenient think and answer parts are added (read back
from the dumps file by file, so only one file's text is in memory at a time).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.collect import DEFAULT_WORKERS
from analysis.errors import AnalysisInputError
from analysis.features import CLAIMS_PER_FILE, split_lenient
from analysis.loading import read_record_at
from analysis.report import load_run_features, write_csv_atomic
from data_prep.fileio import atomic_write

SUFFIXES = (".parquet", ".csv")


def export_features(
    rollouts: str | Path,
    out: str | Path,
    *,
    tokenizer: str | Path | None = None,
    max_response_length: int | None = None,
    cache_dir: str | Path | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: bool = True,
    with_text: bool = False,
    claims_per_file: int = CLAIMS_PER_FILE,
    puzzles: str | Path | None = None,
) -> Path:
    """Write one row per response (plus ``length_unit``) to ``out``."""
    target = Path(out)
    if target.suffix not in SUFFIXES:
        raise AnalysisInputError(f"--out must end in .parquet or .csv, got {target.name}")
    cache = Path(cache_dir) if cache_dir else target.parent / ".cache"
    run = load_run_features(rollouts, cache, tokenizer, max_response_length, workers, progress, claims_per_file,
                            puzzles)
    frame = run.frame.copy()
    frame.insert(frame.columns.get_loc("length") + 1, "length_unit", run.length_unit)
    if with_text:
        frame = _with_text(frame, run.directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".csv":
        return write_csv_atomic(frame, target)
    return atomic_write(target, lambda tmp: frame.to_parquet(tmp, index=False))


def _with_text(frame: pd.DataFrame, directory: Path) -> pd.DataFrame:
    thinks: list[str] = []
    answers: list[str] = []
    for file_name, offset, prefilled in zip(frame["file"].astype(str), frame["offset"], frame["think_prefilled"]):
        output = str(read_record_at(directory / file_name, int(offset)).get("output", ""))
        parts = split_lenient(output, bool(prefilled))
        thinks.append(parts.think)
        answers.append(parts.answer)
    return frame.assign(think=thinks, answer=answers)
