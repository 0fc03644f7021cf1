"""The detector registry: one entry adds a metric to the features, the per-step table, the plots
and the HTML report, with nothing else edited."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from analysis import registry
from analysis.patterns import Pool, PoolPattern
from analysis.plots import plot_behaviours
from analysis.registry import Detector, ResponseContext, registered
from analysis.report import build_report

FIXTURE = Path(__file__).parent / "data" / "analysis_run"
# A phrase some fixture thinks contain ("Let's test both possibilities for Zoey") and others do not.
POSSIBILITIES = Pool("possibilities_word", "the word 'possibilities'", (PoolPattern("possibilities", "ours", "en"),))


def _knight_in_well_formed(context: ResponseContext) -> bool:
    return "knight" in context.lowered_think and context.row["format_ok"] > 0.5


def _knight_spans(context: ResponseContext) -> list[tuple[int, int]]:
    start = context.lowered_think.find("knight")
    return [] if start < 0 else [(context.think_start + start, context.think_start + start + len("knight"))]


def _raw_outputs(directory: Path) -> dict[int, list[str]]:
    by_step: dict[int, list[str]] = {}
    for path in directory.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            by_step.setdefault(row["step"], []).append(row["output"])
    return by_step


def _legend_texts(fig: plt.Figure) -> list[str]:
    return [text.get_text() for ax in fig.axes if ax.get_legend() for text in ax.get_legend().get_texts()]


@pytest.mark.parametrize("kind", ["pool", "function"])
def test_one_entry_reaches_table_plots_and_html(kind: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run, ignore=shutil.ignore_patterns("*.py"))
    if kind == "pool":
        detector = Detector("possibilities_word", "says 'possibilities'", "#123456", pool=POSSIBILITIES)
    else:
        detector = Detector("knight_in_think", "well formed, think names a knight", "#654321",
                            function=_knight_in_well_formed, spans=_knight_spans)
    before = build_report(run / "rollouts", tmp_path / "before", workers=1, progress=False)
    assert detector.step_column not in before.per_step.columns
    with registered(detector):
        result = build_report(run / "rollouts", tmp_path / "out", workers=1, progress=False)
        table = pd.read_csv(tmp_path / "out" / "per_step.csv")
        assert detector.step_column in table.columns
        if kind == "pool":  # the rates are right: recomputed here from the raw text
            raw = _raw_outputs(run / "rollouts")
            for _, got in table.iterrows():
                thinks = [o.split("</think>")[0].lower() for o in raw[int(got["step"])]]
                assert got[detector.step_column] == pytest.approx(sum("possibilities" in t for t in thinks) / len(thinks))
        assert 0 < table[detector.step_column].max()
        fig = plot_behaviours(result.per_step, "words")
        assert detector.label in _legend_texts(fig)
        plt.close(fig)
        page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
        assert f"<h3>{detector.label.replace(chr(39), '&#x27;')}</h3>" in page
        assert f'class="hl-{detector.name}"' in page  # an example with the detector's spans highlighted
        assert f".hl-{detector.name} {{ background: {detector.colour}" in page
    assert registry.by_name(detector.name) is None  # the with block removed it again


def test_a_function_detector_reads_scorer_results(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run, ignore=shutil.ignore_patterns("*.py"))
    detector = Detector("knight_in_think", "well formed, think names a knight", "#654321", function=_knight_in_well_formed)
    with registered(detector):
        result = build_report(run / "rollouts", tmp_path / "out", workers=1, progress=False)
    from analysis.report import load_run_features

    with registered(detector):
        frame = load_run_features(run / "rollouts", tmp_path / "out" / ".cache").frame
    assert frame["knight_in_think"].dtype == bool
    assert not frame.loc[frame["format_ok"] < 0.5, "knight_in_think"].any()
    assert frame.loc[frame["format_ok"] > 0.5, "knight_in_think"].any()
    assert result.per_step["knight_in_think_rate"].notna().all()


def test_names_are_unique_and_pool_xor_function() -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Detector("hesitation", "again", "#000000"))
    with pytest.raises(ValueError, match="not both"):
        Detector("x", "x", "#000000", pool=POSSIBILITIES, function=_knight_in_well_formed)
