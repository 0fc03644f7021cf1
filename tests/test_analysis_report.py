"""End to end: ``python -m analysis report`` on the fixture run, checked against
values recomputed here from the raw jsonl; the cache; the CLI's error handling."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from analysis.aggregate import OUTCOMES, PER_STEP_COLUMNS
from analysis.plots import plot_reward_curves
from analysis.cli import main
from analysis.collect import collect_features
from analysis.report import build_report
from reward_fns.kk import compute_score

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "data" / "analysis_run"


@pytest.fixture()
def run_copy(tmp_path: Path) -> Path:
    """A private copy of the fixture run (tests add and touch files)."""
    target = tmp_path / "run"
    shutil.copytree(FIXTURE, target, ignore=shutil.ignore_patterns("*.py"))
    return target


def _raw_rows(directory: Path) -> list[dict]:
    """Good rows of a dump directory, read with the standard json module."""
    rows = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # the truncated last line
    return rows


def test_report_on_the_fixture_matches_an_independent_computation(run_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = build_report(run_copy / "rollouts", out, val=run_copy / "val", metrics=run_copy / "metrics.jsonl",
                          workers=1, progress=False)
    table = pd.read_csv(out / "per_step.csv")
    assert list(table.columns[: len(PER_STEP_COLUMNS)]) == list(PER_STEP_COLUMNS)
    assert set(table["length_unit"]) == {"words"}

    by_step: dict[int, list[dict]] = defaultdict(list)
    for row in _raw_rows(run_copy / "rollouts"):
        by_step[row["step"]].append(row)
    # 5.jsonl holds steps 5 and 6; 7.jsonl lost its truncated last line.
    assert table["step"].tolist() == sorted(by_step) == [1, 2, 3, 4, 5, 6, 7]
    for _, got in table.iterrows():
        rows = by_step[int(got["step"])]
        scored = [compute_score("kk", r["output"], r["gts"], {"think_prefilled": True}) for r in rows]
        lengths = sorted(len(r["output"].split()) for r in rows)
        assert got["n_responses"] == len(rows)
        assert got["reward_mean"] == pytest.approx(sum(r["score"] for r in rows) / len(rows))
        assert got["acc"] == pytest.approx(sum(s["acc"] for s in scored) / len(rows))
        assert got["format_error_rate"] == pytest.approx(sum(1 - s["format_ok"] for s in scored) / len(rows))
        assert got["wrong_answer_rate"] == pytest.approx(sum(s["answer_wrong"] for s in scored) / len(rows))
        statuses = [s["answer_status"] for s in scored]
        assert got["unparsed_rate"] == pytest.approx(statuses.count("unparsed") / len(rows))
        # every response has exactly one outcome: the shares the reward figure stacks add up to 1
        assert sum(got[column] for column, _, _ in OUTCOMES) == pytest.approx(1.0)
        assert (got["len_min"], got["len_max"]) == (lengths[0], lengths[-1])
        assert got["len_mean"] == pytest.approx(sum(lengths) / len(lengths))
        groups: dict[str, set[float]] = defaultdict(set)
        for r in rows:
            groups[r["input"]].add(r["score"])
        assert got["zero_variance_group_rate"] == pytest.approx(
            sum(len(scores) == 1 for scores in groups.values()) / len(groups))
        think_lengths = sorted(len(r["output"].split("</think>")[0].removeprefix("<think>").strip())
                               for r, s in zip(rows, scored) if s["format_ok"])
        if think_lengths:
            assert got["well_formed_think_chars_median"] == pytest.approx(pd.Series(think_lengths).median())
        else:
            assert pd.isna(got["well_formed_think_chars_median"])
    assert table["well_formed_think_chars_median"].notna().any()  # the fixture has well-formed responses
    assert result.timings["files_computed"] == 6 + 3

    val = pd.read_csv(out / "val_per_step.csv")
    assert val["step"].tolist() == [2, 4, 6] and val["n_responses"].tolist() == [5, 5, 5]
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["step"].tolist() == list(range(1, 8))
    by_n = pd.read_csv(out / "acc_by_n_people.csv")
    assert list(by_n.columns) == ["step", "acc_3ppl"]
    for column in ("claims_made_mean", "claim_correct_share_mean", "last_claims_agree_mean", "contradiction_real_mean",
                   "effective_reflection_rate", "superficial_reflection_rate", "han_stretch_switch_rate"):
        assert column in table.columns
    assert (table["claims_made_mean"] > 0).all()  # every fixture think makes role claims
    for name in ("reward_curves", "acc_by_n_people", "length", "behaviours", "language", "claims", "signal", "metrics"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("7.jsonl: skipped truncated last line" in w for w in result.warnings)
    assert not list(out.glob(".*tmp")), "temporary files left behind"


def test_html_is_self_contained_escaped_and_shows_examples(run_copy: Path, tmp_path: Path) -> None:
    build_report(run_copy / "rollouts", tmp_path / "out", workers=1, progress=False)
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 7
    assert "All-correct ratio per puzzle size" in page
    assert "<script" not in page and 'src="http' not in page and "<link" not in page
    assert "&lt;/think&gt;" in page and "&lt;answer&gt;" in page  # dump text is escaped
    assert '<mark class="hl-hesitation"' in page and '<mark class="hl-final_verify"' in page
    assert '<mark class="hl-retry_too_late"' in page
    assert "same prompt" in page  # an early and a late response to one prompt
    assert "Per-step table (rollouts)" in page


def test_reward_figure_stacks_outcomes_to_one(run_copy: Path, tmp_path: Path) -> None:
    result = build_report(run_copy / "rollouts", tmp_path / "out", workers=1, progress=False)
    table = result.per_step
    assert (table["format_error_rate"] > 0).any() and (table["correct_share"] > 0).any()
    assert (table["wrong_share"] > 0).any()
    fig = plot_reward_curves(table)
    stack = fig.axes[1].collections
    assert len(stack) == len(OUTCOMES) - 1  # no unjudged rows in the fixture: that band is left out
    top = stack[-1].get_paths()[0].vertices
    upper = {}
    for x, y in top:
        upper[round(float(x), 6)] = max(upper.get(round(float(x), 6), 0.0), float(y))
    assert set(upper) == {float(s) for s in table["step"]}
    assert all(value == pytest.approx(1.0) for value in upper.values())
    plt.close(fig)


def test_html_escapes_hostile_text(tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    gts = {"names": ["A", "B"], "solution": [True, False], "roles": ["knight", "knave"]}
    hostile = "<script>alert(1)</script> Wait, <b>bold</b> not sure.</think><answer>(1) A is a knight</answer>"
    rows = [{"input": "user\n<img src=x onerror=alert(1)>\nassistant\n<think>", "output": hostile, "gts": gts,
             "score": 0.0, "step": s} for s in (1, 2)]
    for s in (1, 2):
        (dumps / f"{s}.jsonl").write_text(json.dumps(rows[s - 1]) + "\n")
    build_report(dumps, tmp_path / "out", workers=1, progress=False)
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "<img src=x" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_cache_makes_reruns_incremental(run_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = collect_features(run_copy / "rollouts", cache_dir=cache, workers=2, progress=False)
    assert first.n_computed == 6
    again = collect_features(run_copy / "rollouts", cache_dir=cache, workers=2, progress=False)
    assert again.n_computed == 0
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert again.warnings == first.warnings  # skipped-line warnings survive the cache

    shutil.copy(run_copy / "rollouts" / "4.jsonl", run_copy / "rollouts" / "8.jsonl")
    later = time.time() + 5
    os.utime(run_copy / "rollouts" / "1.jsonl", (later, later))
    third = collect_features(run_copy / "rollouts", cache_dir=cache, workers=2, progress=False)
    assert third.n_computed == 2  # the new file and the touched one
    assert len(third.frame) == len(first.frame) + 12
    assert len(list(cache.glob("*.parquet"))) == 7  # the stale entry of 1.jsonl was replaced


def test_tokenizer_lengths_are_labelled_everywhere(run_copy: Path, tmp_path: Path) -> None:
    from test_analysis_features import build_word_tokenizer

    texts = [r["output"] for r in _raw_rows(run_copy / "rollouts")]
    tokenizer = build_word_tokenizer(tmp_path / "tok", texts)
    out = tmp_path / "out"
    build_report(run_copy / "rollouts", out, tokenizer=tokenizer, workers=2, progress=False)
    table = pd.read_csv(out / "per_step.csv")
    assert set(table["length_unit"]) == {"tokens"}
    words = pd.read_csv(_words_report(run_copy, tmp_path) / "per_step.csv")
    assert (table["len_mean"] != words["len_mean"]).any()  # a real re-measurement
    assert "Response length (tokens)" in (out / "report.html").read_text(encoding="utf-8")


def _words_report(run_copy: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out_words"
    build_report(run_copy / "rollouts", out, workers=1, progress=False)
    return out


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_cli_report_runs_as_a_program(run_copy: Path, tmp_path: Path) -> None:
    done = _cli("report", "--rollouts", str(run_copy / "rollouts"), "--out", str(tmp_path / "out"), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    assert "warning: 7.jsonl: skipped truncated last line 7" in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    failed = _cli("report", "--rollouts", str(empty), "--out", str(tmp_path / "o"))
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [f"error: no .jsonl dump files in {empty}"]


def test_bad_input_gives_one_error_line_and_exit_2(run_copy: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    rollouts = str(run_copy / "rollouts")
    for args, expected in [
        (("report", "--rollouts", str(tmp_path / "missing"), "--out", str(tmp_path / "o2")), "does not exist"),
        (("report", "--rollouts", rollouts, "--out", str(tmp_path / "o3"), "--tokenizer", str(tmp_path / "no_tok")),
         "tokenizer path does not exist"),
        (("report", "--rollouts", rollouts, "--out", str(tmp_path / "o4"), "--metrics", str(tmp_path / "none.jsonl")),
         "metrics file does not exist"),
        (("report", "--rollouts", rollouts, "--out", str(run_copy / "metrics.jsonl")), "not a directory"),
        (("report", "--rollouts", rollouts, "--out", str(tmp_path / "o5"), "--workers", "0"), "--workers"),
        (("features", "--rollouts", rollouts, "--out", str(tmp_path / "f.txt")), "must end in"),
    ]:
        assert main(list(args)) == 2, args
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines


def test_a_directory_without_any_usable_line_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    (dumps / "1.jsonl").write_text('{"input": "user", "outp')  # only a line still being written
    assert main(["report", "--rollouts", str(dumps), "--out", str(tmp_path / "out"), "--workers", "1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line for line in lines if line.startswith("error: ")] == [
        f"error: no usable response in {dumps} (1 file(s), see the warnings above)"]
    assert "warning: 1.jsonl: skipped truncated last line 1" in lines


def test_features_and_summary_commands(run_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    target = tmp_path / "features.parquet"
    assert main(["features", "--rollouts", str(run_copy / "rollouts"), "--out", str(target), "--with-text",
                 "--workers", "1", "--no-progress"]) == 0
    frame = pd.read_parquet(target)
    raw = _raw_rows(run_copy / "rollouts")
    assert len(frame) == len(raw)
    assert set(frame["length_unit"]) == {"words"}
    assert frame["think"].str.len().gt(0).all()
    chinese = frame[frame["zh_think_en_answer"]]
    assert len(chinese) >= 1 and chinese["think"].str.contains("骑士").all()

    assert main(["summary", "--rollouts", str(run_copy / "rollouts"), "--workers", "1", "--no-progress",
                 "--rows", "2"]) == 0
    printed = capsys.readouterr().out
    assert "lengths in words" in printed and "zero_variance_group_rate" in printed


def _drawn_here(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the plot functions the report's own process draws (analysis.report._draw)."""
    import analysis.report as report

    names: list[str] = []
    draw = report._draw

    def recording(name, args, path):
        names.append(name)
        return draw(name, args, path)

    monkeypatch.setattr(report, "_draw", recording)
    return names


def test_plots_drawn_beside_the_report_equal_those_drawn_in_it(run_copy: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """With 2 workers a helper process draws the plots that do not read the detector registry; the
    PNGs are the same bytes as when the report draws all of them (1 worker)."""
    drawn_here = _drawn_here(monkeypatch)
    # one clock for both pages: the page's "Generated ..." stamp has the minute, and the builds can straddle one
    import analysis.html_report as html_report

    class FrozenClock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 1, 12, 0, tzinfo=tz)

    monkeypatch.setattr(html_report, "datetime", FrozenClock)
    args = dict(val=run_copy / "val", metrics=run_copy / "metrics.jsonl", progress=False)
    build_report(run_copy / "rollouts", tmp_path / "alone", workers=1, **args)
    all_names = list(drawn_here)
    drawn_here.clear()
    build_report(run_copy / "rollouts", tmp_path / "helped", workers=2, **args)
    assert sorted(drawn_here) == ["plot_behaviours", "plot_claims", "plot_language"]
    assert len(all_names) == 8  # the seven plots and the metrics plot
    pngs = sorted(p.name for p in (tmp_path / "alone").glob("*.png"))
    assert len(pngs) == 8 and pngs == sorted(p.name for p in (tmp_path / "helped").glob("*.png"))
    for name in pngs:
        assert (tmp_path / "alone" / name).read_bytes() == (tmp_path / "helped" / name).read_bytes(), name
    page_alone = (tmp_path / "alone" / "report.html").read_text(encoding="utf-8")
    page_helped = (tmp_path / "helped" / "report.html").read_text(encoding="utf-8")
    assert page_alone.count("<img") == page_helped.count("<img") == 8
    assert "2026-01-01 12:00 UTC" in page_alone
    assert page_alone == page_helped.replace(str(tmp_path / "helped"), str(tmp_path / "alone"))


@pytest.mark.parametrize("helper", ["missing", "exits"])
def test_without_a_working_plot_helper_the_report_draws_every_plot(helper: str, run_copy: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import analysis.report as report

    drawn_here = _drawn_here(monkeypatch)
    executable = str(tmp_path / "no-python") if helper == "missing" else shutil.which("true")
    monkeypatch.setattr(report.sys, "executable", executable)
    build_report(run_copy / "rollouts", tmp_path / "out", workers=2, progress=False)
    assert len(drawn_here) == 7
    assert len(list((tmp_path / "out").glob("*.png"))) == 7
