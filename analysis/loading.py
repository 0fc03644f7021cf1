"""Reading what a veRL run leaves on disk: rollout/validation dumps and metric logs.

* Rollout and validation dumps (``trainer.rollout_data_dir`` /
  ``trainer.validation_data_dir``) are directories of ``<step>.jsonl`` files,
  one JSON object per response with ``input``, ``output``, ``gts``, ``score``,
  ``step`` and optional extras (``uid``, ``request_id``, reward extras).
* veRL's ``file`` logger writes ``{"step": N, "data": {metric: value}}`` lines.
* A wandb run's history can be fetched through the wandb API (optional, thin).

Bad lines never stop a run: a truncated last line (a file still being
written) or a malformed line is skipped and reported as a one-line warning;
unknown fields are ignored; each row's own ``step`` field wins over the file
name, so files holding several steps are fine.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.errors import AnalysisInputError
from reward_fns.kk_answer import GROUND_TRUTH_LIST_FIELDS

try:  # orjson ships with veRL's dependencies; it parses ~5x faster than json.
    import orjson

    _loads = orjson.loads
    _DECODE_ERRORS: tuple[type[Exception], ...] = (orjson.JSONDecodeError, ValueError)
except ImportError:  # pragma: no cover - exercised only without orjson
    _loads = json.loads
    _DECODE_ERRORS = (ValueError,)

log = logging.getLogger(__name__)

DUMP_SUFFIX = ".jsonl"


@dataclass
class ParsedLine:
    """One decoded JSON object and where it sits in its file."""

    offset: int  # byte offset of the line, to read the response back later
    line_no: int  # 1-based
    record: dict[str, Any]


@dataclass
class ParsedFile:
    """The good lines of a jsonl file and one-line warnings about the bad ones."""

    path: Path
    lines: list[ParsedLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bad_line_nos: list[int] = field(default_factory=list)  # 1-based: malformed, not an object, or truncated


def list_dump_files(directory: str | Path) -> list[Path]:
    """The ``*.jsonl`` files of a dump directory, in step order when names are numbers.

    Raises :class:`AnalysisInputError` for a missing path, a non-directory or a
    directory without any ``.jsonl`` file.
    """
    root = Path(directory)
    if not root.exists():
        raise AnalysisInputError(f"dump directory does not exist: {root}")
    if not root.is_dir():
        raise AnalysisInputError(f"not a directory: {root}")
    files = [p for p in root.iterdir() if p.suffix == DUMP_SUFFIX and p.is_file()]
    if not files:
        raise AnalysisInputError(f"no {DUMP_SUFFIX} dump files in {root}")
    return sorted(files, key=_step_sort_key)


def _step_sort_key(path: Path) -> tuple[int, int, str]:
    stem = path.stem
    return (0, int(stem), stem) if stem.isdigit() else (1, 0, stem)


def step_from_file_name(path: Path) -> int | None:
    """``12.jsonl`` -> 12; None when the name is not a number."""
    return int(path.stem) if path.stem.isdigit() else None


def parse_jsonl(path: Path) -> ParsedFile:
    """Decode every line of ``path``; bad lines become warnings, never exceptions."""
    parsed = ParsedFile(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        parsed.warnings.append(f"{path.name}: cannot read ({exc.strerror or exc})")
        return parsed
    chunks = data.split(b"\n")
    offset = 0
    last_index = len(chunks) - 1
    malformed = 0
    first_bad = 0
    for index, chunk in enumerate(chunks):
        line_offset = offset
        offset += len(chunk) + 1
        if not chunk.strip():
            continue
        try:
            record = _loads(chunk)
        except _DECODE_ERRORS:
            record = None
        if not isinstance(record, dict):
            parsed.bad_line_nos.append(index + 1)
            if index == last_index:  # no trailing newline: still being written
                parsed.warnings.append(f"{path.name}: skipped truncated last line {index + 1}")
            else:
                malformed += 1
                first_bad = first_bad or index + 1
            continue
        parsed.lines.append(ParsedLine(line_offset, index + 1, record))
    if malformed:
        parsed.warnings.append(f"{path.name}: skipped {malformed} malformed line(s), first at line {first_bad}")
    return parsed


def read_jsonl(path: str | Path, strict: bool = False) -> list[ParsedLine]:
    """The JSON-object lines of any jsonl file (dumps, the ``file`` logger's metrics): the kit's one reader.

    Lenient (default): a missing file gives no lines, bad lines are skipped and logged. ``strict`` (the
    evaluation reports, whose numbers must not silently drop records): a missing file or any bad line
    raises :class:`AnalysisInputError` naming it.
    """
    file_path = Path(path)
    if not file_path.is_file():
        if strict:
            raise AnalysisInputError(f"file not found: {file_path}")
        return []
    parsed = parse_jsonl(file_path)
    if strict and parsed.bad_line_nos:
        bad = parsed.bad_line_nos
        raise AnalysisInputError(f"{file_path} line {bad[0]} is not a JSON object ({len(bad)} such line(s))")
    if strict and parsed.warnings:  # unreadable file
        raise AnalysisInputError(parsed.warnings[0])
    for warning in parsed.warnings:
        log.warning(warning)
    return parsed.lines


def read_record_at(path: str | Path, offset: int) -> dict[str, Any]:
    """Read back the single JSON object whose line starts at byte ``offset``."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        line = handle.readline()
    try:
        record = _loads(line)
    except _DECODE_ERRORS as exc:
        raise AnalysisInputError(f"{path}: no JSON object at byte {offset} (file changed since it was analysed?)") from exc
    if not isinstance(record, dict):
        raise AnalysisInputError(f"{path}: no JSON object at byte {offset}")
    return record


def row_step(record: dict[str, Any], file_step: int | None) -> int | None:
    """The row's ``step`` field, else the file's step, else None."""
    value = record.get("step")
    if isinstance(value, bool):
        value = None
    if isinstance(value, (int, float)) and value == value:  # NaN check
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return file_step


# numpy's repr of a 1-D array, as json.dumps(default=str) writes it:
# "['Zoey' 'Bob']" or "[ True False]".
_NUMPY_STR_ITEM = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
_NUMPY_BOOL_LIST = re.compile(r"^\[\s*(?:(?:True|False)\s*)*\]$")


def repair_numpy_repr(value: Any) -> Any:
    """Turn numpy array reprs that ``default=str`` JSON dumping leaves into lists.

    Only for ``gts`` fields; anything that is not such a repr is returned
    unchanged (JSON strings are left for ``reward_fns`` to decode).  Parsed
    with regexes, never evaluated.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not (text.startswith("[") and text.endswith("]")) or "," in text:
        return value
    if _NUMPY_BOOL_LIST.match(text):
        return [token == "True" for token in text[1:-1].split()]
    items = [single or double for single, double in _NUMPY_STR_ITEM.findall(text)]
    if items or text[1:-1].strip() == "":
        return items
    return value


def repair_ground_truth(gts: Any) -> Any:
    """Apply :func:`repair_numpy_repr` to the list-valued fields of a ground-truth dict."""
    if not isinstance(gts, dict):
        return gts
    return {key: repair_numpy_repr(val) if key in GROUND_TRUTH_LIST_FIELDS else val for key, val in gts.items()}


def load_metrics_file(path: str | Path) -> pd.DataFrame:
    """veRL ``file`` logger jsonl -> one row per step, one column per metric.

    Several lines for one step (training and validation logged apart) are
    merged, the later value winning.  Bad lines are skipped with a warning.
    """
    file_path = Path(path)
    if not file_path.is_file():
        raise AnalysisInputError(f"metrics file does not exist: {file_path}")
    parsed = parse_jsonl(file_path)
    for warning in parsed.warnings:
        log.warning(warning)
    rows = list(_metric_rows(parsed.lines))
    if not rows:
        raise AnalysisInputError(f"no {{\"step\": N, \"data\": {{...}}}} lines in metrics file {file_path}")
    return metric_rows_to_frame(rows)


def _metric_rows(lines: list[ParsedLine]) -> Iterator[dict[str, Any]]:
    for line in lines:
        step = row_step(line.record, None)
        data = line.record.get("data")
        if step is None or not isinstance(data, dict):
            continue
        row = {key: val for key, val in data.items() if isinstance(val, (int, float)) and not isinstance(val, bool)}
        row["step"] = step
        yield row


def metric_rows_to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows of ``{"step": N, metric: value}`` -> a step-sorted frame, one row per step."""
    frame = pd.DataFrame(rows)
    if frame.empty or "step" not in frame:
        return pd.DataFrame({"step": pd.Series([], dtype="int64")})
    frame = frame.dropna(subset=["step"])
    frame["step"] = frame["step"].astype("int64")
    merged = frame.groupby("step", sort=True).last().reset_index()
    return merged


def load_wandb_history(run_path: str, keys: list[str] | None = None) -> pd.DataFrame:
    """A wandb run's history (``entity/project/run_id``) in the metrics-file shape.

    Needs network access and wandb credentials; optional and deliberately thin.
    """
    try:
        import wandb
    except ImportError as exc:  # pragma: no cover - wandb is installed with veRL
        raise AnalysisInputError("the wandb package is not installed") from exc
    try:
        run = wandb.Api().run(run_path)
        history = list(run.scan_history(keys=keys))
    except Exception as exc:  # wandb raises many network/auth error types
        raise AnalysisInputError(f"cannot read wandb run {run_path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    return wandb_history_to_frame(history)


def wandb_history_to_frame(history: list[dict[str, Any]]) -> pd.DataFrame:
    """wandb history rows (``_step`` or ``step`` plus metrics) -> metrics frame."""
    rows = []
    for entry in history:
        step = entry.get("step", entry.get("_step"))
        if step is None:
            continue
        row = {k: v for k, v in entry.items() if not k.startswith("_") and isinstance(v, (int, float)) and not isinstance(v, bool)}
        row["step"] = int(step)
        rows.append(row)
    return metric_rows_to_frame(rows)
