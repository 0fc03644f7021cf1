"""The benchmark runs end to end at a tiny scale (figures are not asserted: it is a benchmark)."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.bench import main, make_synthetic_dump
from analysis.loading import parse_jsonl
from reward_fns.kk import compute_score


def test_synthetic_dump_is_shaped_like_verl_dumps(tmp_path: Path) -> None:
    size = make_synthetic_dump(tmp_path, responses=40, steps=2, mean_chars=600)
    files = sorted(tmp_path.glob("*.jsonl"))
    assert [f.name for f in files] == ["1.jsonl", "2.jsonl"] and size == sum(f.stat().st_size for f in files)
    lines = parse_jsonl(files[0]).lines
    assert len(lines) == 20
    record = lines[0].record
    assert set(record) == {"input", "output", "gts", "score", "step"}
    assert record["input"].endswith("<think>")
    compute_score("kk", record["output"], record["gts"], {"think_prefilled": True})  # a valid ground truth


def test_bench_cli_reports_cold_incremental_and_warm_runs(tmp_path: Path, capsys) -> None:
    assert main(["--responses", "40", "--steps", "2", "--workers", "1", "--json", "--keep", str(tmp_path)]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["responses"] == 40 and figures["steps"] == 2
    assert [figures[k]["files_computed"] for k in ("cold", "incremental", "warm")] == [2, 1, 0]
    for key in ("cold", "incremental", "warm"):
        assert figures[key]["peak_rss_mb"] > 0 and figures[key]["wall_s"] > 0


def test_bench_rejects_bad_sizes(capsys) -> None:
    assert main(["--responses", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
