"""Reading dumps and metric logs: bad lines are skipped with warnings, never fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.errors import AnalysisInputError
from analysis.loading import (
    list_dump_files,
    load_metrics_file,
    parse_jsonl,
    read_record_at,
    repair_ground_truth,
    repair_numpy_repr,
    row_step,
    wandb_history_to_frame,
)


def _row(step: int, output: str = "x", **extra: object) -> dict:
    return {"input": "user\nq\nassistant\n<think>", "output": output, "gts": None, "score": 0.0, "step": step, **extra}


def _write(path: Path, rows: list[dict], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail, encoding="utf-8")
    return path


def test_missing_and_empty_directories_raise_input_errors(tmp_path: Path) -> None:
    with pytest.raises(AnalysisInputError, match="does not exist"):
        list_dump_files(tmp_path / "nope")
    with pytest.raises(AnalysisInputError, match="no .jsonl dump files"):
        list_dump_files(tmp_path)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(AnalysisInputError, match="no .jsonl dump files"):
        list_dump_files(tmp_path)
    with pytest.raises(AnalysisInputError, match="not a directory"):
        list_dump_files(tmp_path / "notes.txt")


def test_dump_files_are_in_numeric_step_order(tmp_path: Path) -> None:
    for name in ("10", "2", "1", "latest"):
        _write(tmp_path / f"{name}.jsonl", [_row(1)])
    assert [p.stem for p in list_dump_files(tmp_path)] == ["1", "2", "10", "latest"]


def test_truncated_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = _write(tmp_path / "3.jsonl", [_row(3, "a"), _row(3, "b")], tail='{"input": "user", "outp')
    parsed = parse_jsonl(path)
    assert [line.record["output"] for line in parsed.lines] == ["a", "b"]
    assert parsed.warnings == ["3.jsonl: skipped truncated last line 3"]


def test_malformed_middle_lines_are_counted_once(tmp_path: Path) -> None:
    path = tmp_path / "1.jsonl"
    path.write_text(json.dumps(_row(1, "a")) + "\nnot json\n[1, 2]\n" + json.dumps(_row(1, "b")) + "\n\n")
    parsed = parse_jsonl(path)
    assert [line.record["output"] for line in parsed.lines] == ["a", "b"]
    assert parsed.warnings == ["1.jsonl: skipped 2 malformed line(s), first at line 2"]


def test_offsets_read_the_same_record_back(tmp_path: Path) -> None:
    rows = [_row(1, "first"), _row(1, "second ünïcode 中文"), _row(2, "third")]
    path = _write(tmp_path / "1.jsonl", rows)
    parsed = parse_jsonl(path)
    for line, row in zip(parsed.lines, rows):
        assert read_record_at(path, line.offset)["output"] == row["output"]
    assert [line.line_no for line in parsed.lines] == [1, 2, 3]


def test_row_step_prefers_the_row_field() -> None:
    assert row_step({"step": 7}, 3) == 7
    assert row_step({"step": "8"}, 3) == 8
    assert row_step({"step": 9.0}, 3) == 9
    assert row_step({}, 3) == 3
    assert row_step({"step": None}, None) is None
    assert row_step({"step": True}, 4) == 4  # a bool is not a step


def test_numpy_reprs_from_default_str_dumping_are_repaired() -> None:
    assert repair_numpy_repr("['Zoey' 'Bob' \"O'Neil\"]") == ["Zoey", "Bob", "O'Neil"]
    assert repair_numpy_repr("[ True False  True]") == [True, False, True]
    assert repair_numpy_repr('["Zoey", "Bob"]') == '["Zoey", "Bob"]'  # JSON text: left for reward_fns
    assert repair_numpy_repr(["a"]) == ["a"]
    gts = repair_ground_truth({"names": "['A' 'B']", "solution": "[ True False]", "roles": ["knight", "knave"],
                               "solution_text": "(1) A is a knight"})
    assert gts == {"names": ["A", "B"], "solution": [True, False], "roles": ["knight", "knave"],
                   "solution_text": "(1) A is a knight"}


def test_metrics_file_merges_lines_per_step_and_skips_bad_ones(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "run.jsonl"
    lines = [
        {"step": 1, "data": {"critic/score/mean": 0.5, "note": "text is dropped"}},
        {"step": 1, "data": {"val-core/acc": 0.2}},
        {"step": 2, "data": {"critic/score/mean": 0.7, "flag": True}},
        {"no_step": 1},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"step": 3, "da')
    frame = load_metrics_file(path)
    assert frame["step"].tolist() == [1, 2]
    assert frame.loc[0, "critic/score/mean"] == 0.5 and frame.loc[0, "val-core/acc"] == 0.2
    assert frame.loc[1, "critic/score/mean"] == 0.7
    assert "note" not in frame.columns and "flag" not in frame.columns
    assert "skipped truncated last line" in caplog.text


def test_metrics_file_errors(tmp_path: Path) -> None:
    with pytest.raises(AnalysisInputError, match="does not exist"):
        load_metrics_file(tmp_path / "missing.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(AnalysisInputError, match="no "):
        load_metrics_file(empty)


def test_wandb_history_rows_become_the_metrics_shape() -> None:
    frame = wandb_history_to_frame([
        {"_step": 0, "_runtime": 3.0, "critic/score/mean": 0.1},
        {"_step": 1, "critic/score/mean": 0.3, "table": {"x": 1}},
        {"no": "step"},
    ])
    assert frame["step"].tolist() == [0, 1]
    assert frame["critic/score/mean"].tolist() == [0.1, 0.3]
    assert "_runtime" not in frame.columns
