"""analysis.compare_runs: same-axes figures and the first-5 / last-10 summary,
computed from per_step.csv files written by the real ``python -m analysis report``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis import compare_runs
from analysis.report import build_report

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "data" / "analysis_run"


@pytest.fixture(scope="module")
def analysis_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compare")
    shutil.copytree(FIXTURE, root / "run", ignore=shutil.ignore_patterns("*.py"))
    build_report(root / "run" / "rollouts", root / "analysis", workers=1, progress=False)
    return root / "analysis"


def test_summary_and_figures(analysis_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "figs" / "exp"
    assert compare_runs.main(["--run", f"a={analysis_dir}", "--run", f"b={analysis_dir}", "--out", str(out)]) == 0
    for suffix in ("_rewards.png", "_length.png"):
        assert (out.parent / f"exp{suffix}").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = pd.read_csv(out.parent / "exp_summary.csv")
    per_step = pd.read_csv(analysis_dir / "per_step.csv").sort_values("step")
    assert summary["run"].tolist() == ["a", "b"]
    row = summary.iloc[0]
    assert row["steps"] == per_step["step"].max()
    for column in ("format_error_rate", "reward_mean", "len_mean", "well_formed_think_chars_median"):
        assert row[f"{column}_first5"] == pytest.approx(per_step[column].head(5).mean(), abs=1e-4)  # CSV has 4 decimals
        assert row[f"{column}_last10"] == pytest.approx(per_step[column].tail(10).mean(), abs=1e-4)


def test_missing_analysis_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="per_step.csv not found"):
        compare_runs.main(["--run", f"a={tmp_path}", "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="NAME=ANALYSIS_DIR"):
        compare_runs.main(["--run", str(tmp_path), "--out", str(tmp_path / "x")])
