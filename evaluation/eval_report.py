"""Evaluation report: K&K accuracy by number of people from veRL ``trainer.val_only=True`` runs.

``python -m evaluation.eval_report --name NAME --out eval/NAME --greedy METRICS.jsonl
[--sampled METRICS.jsonl] [--sampled-dump VALIDATION_DUMP] [--sampled-temperature 1.0] [--no-plot]``

Inputs are the lines veRL's ``file`` logger writes (``{"step": N, "data": {metric: value}}``). The
validation metrics come from ``process_validation_metrics`` (``verl/trainer/ppo/metric_utils.py``) and are
named by ``PPOTrainer._val_metrics_update`` (``verl/trainer/ppo/v1/trainer_base.py``) as
``val-core/<data_source>/acc/mean@<n>`` (``val-core`` for the largest n of the core variable ``acc``,
``val-aux`` for the rest), ``.../acc/best@<k>/mean`` and ``.../acc/maj@<k>/mean``. ``acc`` is the reward's
0/1 accuracy extra; K&K data sources are ``kk_logic_<N>ppl`` (generated) or ``kk_published_<N>ppl``.

* pass@1 greedy: ``acc/mean@1`` of the greedy run (``val_kwargs.do_sample=False``, n=1).
* pass@1 sampled: ``acc/mean@n`` of the sampled run (mean over all n samples of every puzzle).
* pass@k: by default veRL's ``acc/best@k/mean`` for the largest k. veRL computes it by bootstrap with
  replacement, which underestimates pass@k (at k = n a prompt solved once out of n counts as solved in
  only 1-(1-1/n)^n of the draws). With ``--sampled-dump`` (the run's ``trainer.validation_data_dir``
  file or folder) it is instead the unbiased estimator 1 - C(n-c, k)/C(n, k) of Chen et al. (2021),
  computed from the per-sample ``acc`` of the dump, grouping samples by prompt.

Writes ``accuracy.csv``, ``accuracy.md`` (also printed) and ``accuracy.png`` (our rows beside the Logic-RL
paper's reference rows) into ``--out``, each through a temporary file and ``os.replace``
(``data_prep.fileio``). ``write_accuracy_files`` is the one writer; ``evaluation.api_eval`` calls it too.
"""
from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from analysis.errors import AnalysisInputError
from analysis.loading import list_dump_files, read_jsonl, repair_ground_truth, step_from_file_name
from data_prep.dataset import CLEAN, parse_data_source
from data_prep.fileio import atomic_write_text

logger = logging.getLogger(__name__)

N_PEOPLE = tuple(range(2, 9))
# Accuracy on K&K test sets by number of people (2..8), as reported in the Logic-RL paper:
# T. Xie et al., "Logic-RL: Unleashing LLM Reasoning with Rule-Based Reinforcement Learning",
# arXiv:2502.14768 (2025), main results table.
REFERENCE_SOURCE = "Logic-RL paper (Xie et al., arXiv:2502.14768), main results table"
REFERENCE_ROWS: dict[str, tuple[float, ...]] = {
    "GPT-4o": (0.68, 0.57, 0.49, 0.32, 0.23, 0.21, 0.11),
    "Qwen2.5-7B-Instruct-1M": (0.49, 0.40, 0.25, 0.11, 0.02, 0.06, 0.01),
    "Logic-RL 7B": (0.99, 0.99, 0.94, 0.92, 0.91, 0.80, 0.67),
}
VAL_ACC_KEY = re.compile(r"^val-(?:core|aux)/(?P<source>[^/]+)/acc/(?P<metric>.+)$")
MEAN_AT = re.compile(r"^mean@(\d+)$")
BEST_AT = re.compile(r"^best@(\d+)/mean$")
CSV_COLUMNS = ("n_people", "data_source", "pass1_greedy", "pass1_sampled", "n_samples", "pass_at_k", "k",
               "pass_at_k_method")


class EvalReportError(AnalysisInputError):
    """Unusable input (reported as one line, exit code 2)."""


@dataclass
class ValidationMetrics:
    """The ``acc`` validation metrics of one file-logger run: data source -> metric -> value."""

    path: Path
    step: int
    by_source: dict[str, dict[str, float]]


@dataclass
class AccuracyRow:
    """One row of the report (a K&K data source, i.e. one number of people)."""

    n_people: int
    data_source: str = ""
    pass1_greedy: float | None = None
    pass1_sampled: float | None = None
    n_samples: int | None = None
    pass_at_k: float | None = None
    k: int | None = None
    pass_at_k_method: str = ""


def read_validation_metrics(path: Path) -> ValidationMetrics:
    """The ``acc`` validation metrics of the last logged step that has any (val_only runs log one)."""
    latest: tuple[int, dict[str, dict[str, float]]] | None = None
    for line in read_jsonl(path, strict=True):
        record, number = line.record, line.line_no
        data = record.get("data")
        if not isinstance(data, dict):
            raise EvalReportError(f"{path} line {number} is not a veRL file-logger record ({{'step', 'data'}})")
        by_source: dict[str, dict[str, float]] = defaultdict(dict)
        for key, value in data.items():
            match = VAL_ACC_KEY.match(key)
            if match and isinstance(value, (int, float)):
                by_source[match["source"]][match["metric"]] = float(value)
        if by_source:
            latest = (int(record.get("step", 0)), dict(by_source))
    if latest is None:
        raise EvalReportError(
            f"no validation accuracy metrics (val-core/<data_source>/acc/...) in {path}: was it written by the "
            "file logger of a trainer.val_only=True run with the K&K reward?"
        )
    return ValidationMetrics(path=path, step=latest[0], by_source=latest[1])


def n_people_of(data_source: str) -> int | None:
    """``kk_logic_5ppl`` -> 5; None for other data sources, and for the perturbed sets and the training
    sample (``evaluation.perturb_report`` reports those)."""
    parsed = parse_data_source(data_source)
    if parsed is None or parsed.perturbation != CLEAN or parsed.train_sample:
        return None
    return parsed.n_people


def _largest(metrics: dict[str, float], pattern: re.Pattern[str]) -> tuple[int, float] | None:
    """(n, value) of the metric with the largest n matching ``pattern`` (e.g. mean@n)."""
    found = [(int(m.group(1)), value) for key, value in metrics.items() if (m := pattern.match(key))]
    return max(found) if found else None


def unbiased_pass_at_k(n: int, correct: int, k: int) -> float:
    """Chen et al. (2021): probability that at least one of k samples drawn from n is correct."""
    if n - correct < k:
        return 1.0
    return 1.0 - math.comb(n - correct, k) / math.comb(n, k)


def dump_file(path: Path) -> Path:
    """A validation dump file, or the highest-step ``<step>.jsonl`` of a dump folder."""
    if path.is_dir():
        steps = [p for p in list_dump_files(path) if step_from_file_name(p) is not None]
        if not steps:
            raise EvalReportError(f"no <step>.jsonl validation dump in {path}")
        return steps[-1]
    return path


def pass_at_k_from_dump(path: Path) -> dict[int, tuple[float, int]]:
    """n_people -> (mean unbiased pass@n, n) from a veRL validation dump with the ``acc`` extra.

    Samples of one prompt share the decoded ``input``; the number of people is ``len(gts["names"])``.
    """
    dump = dump_file(path)
    groups: dict[str, list[float]] = defaultdict(list)
    people: dict[str, int] = {}
    for line in read_jsonl(dump, strict=True):
        record, number = line.record, line.line_no
        try:
            prompt, acc, names = record["input"], float(record["acc"]), repair_ground_truth(record["gts"])["names"]
        except (KeyError, TypeError, ValueError) as exc:
            raise EvalReportError(f"{dump} line {number} lacks input/acc/gts.names ({exc})") from exc
        groups[prompt].append(acc)
        people[prompt] = len(names)
    by_people: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for prompt, accs in groups.items():
        by_people[people[prompt]].append((len(accs), int(sum(a >= 1.0 for a in accs))))
    result = {}
    for n_people, prompts in by_people.items():
        k = min(n for n, _ in prompts)
        result[n_people] = (sum(unbiased_pass_at_k(n, c, k) for n, c in prompts) / len(prompts), k)
    return result


def build_rows(
    greedy: ValidationMetrics,
    sampled: ValidationMetrics | None = None,
    dump_pass_at_k: dict[int, tuple[float, int]] | None = None,
) -> list[AccuracyRow]:
    """One row per K&K data source found, plus empty rows for any of N=2..8 that no run covered."""
    sources = set(greedy.by_source) | set(sampled.by_source if sampled else ())
    kk_sources = {s: n for s in sources if (n := n_people_of(s)) is not None}
    if not kk_sources:
        raise EvalReportError(
            f"no K&K data source (kk_logic_<N>ppl / kk_published_<N>ppl) among {sorted(sources)}"
        )
    rows = []
    for source, n_people in sorted(kk_sources.items(), key=lambda item: (item[1], item[0])):
        row = AccuracyRow(n_people=n_people, data_source=source)
        if (found := _largest(greedy.by_source.get(source, {}), MEAN_AT)) is not None:
            row.pass1_greedy = found[1]
        if sampled is not None and (metrics := sampled.by_source.get(source)):
            if (found := _largest(metrics, MEAN_AT)) is not None:
                row.n_samples, row.pass1_sampled = found
            if (best := _largest(metrics, BEST_AT)) is not None:
                row.k, row.pass_at_k = best
                row.pass_at_k_method = "veRL best@k bootstrap"
        if dump_pass_at_k and n_people in dump_pass_at_k:
            row.pass_at_k, row.k = dump_pass_at_k[n_people]
            row.pass_at_k_method = "unbiased, from dump"
        rows.append(row)
    covered = {row.n_people for row in rows}
    rows.extend(AccuracyRow(n_people=n) for n in N_PEOPLE if n not in covered)
    return sorted(rows, key=lambda row: (row.n_people, row.data_source))


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _reference(name: str, n_people: int) -> float | None:
    values = REFERENCE_ROWS[name]
    index = n_people - N_PEOPLE[0]
    return values[index] if 0 <= index < len(values) else None


def rows_to_csv(rows: Sequence[AccuracyRow]) -> str:
    """CSV text with :data:`CSV_COLUMNS` (empty cells for missing values)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(["" if getattr(row, col) is None else getattr(row, col) for col in CSV_COLUMNS])
    return buffer.getvalue()


def rows_to_markdown(rows: Sequence[AccuracyRow], name: str, sampled_temperature: float,
                     sources: Sequence[str] = (), notes: Sequence[str] = ()) -> str:
    """A Markdown table by number of people: our columns, then the paper's reference rows."""
    ks = sorted({row.k for row in rows if row.k is not None})
    k_label = f"pass@{ks[0]}" if len(ks) == 1 else "pass@k"
    header = ["N", "data source", "greedy pass@1", f"T={sampled_temperature:g} pass@1", k_label, *REFERENCE_ROWS]
    lines = [f"## K&K accuracy: {name}", "", "| " + " | ".join(header) + " |",
             "|---|---|" + "---:|" * (len(header) - 2)]
    for row in rows:
        cells = [str(row.n_people), row.data_source or "–", _fmt(row.pass1_greedy), _fmt(row.pass1_sampled),
                 _fmt(row.pass_at_k), *(_fmt(_reference(ref, row.n_people)) for ref in REFERENCE_ROWS)]
        lines.append("| " + " | ".join(cells) + " |")
    methods = sorted({row.pass_at_k_method for row in rows if row.pass_at_k_method})
    lines += ["", f"Reference rows: {REFERENCE_SOURCE}."]
    if methods:
        lines.append(f"{k_label}: {', '.join(methods)}.")
    lines += list(notes)
    lines += [f"Source: {source}" for source in sources]
    return "\n".join(lines) + "\n"


def plot_rows(rows: Sequence[AccuracyRow], name: str, path: Path, sampled_temperature: float) -> None:
    """Accuracy vs number of people: our curves (solid) beside the paper's reference rows (dashed)."""
    from analysis.plots import save_figure  # matplotlib (Agg) only when a figure is drawn

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for ref_name, values in REFERENCE_ROWS.items():
        ax.plot(N_PEOPLE, values, linestyle="--", marker=".", alpha=0.7, label=f"{ref_name} (paper)")
    ks = sorted({row.k for row in rows if row.k is not None})
    k_label = f"pass@{ks[0]}" if len(ks) == 1 else "pass@k"
    ours = [
        ("pass1_greedy", f"{name}: greedy pass@1", "o"),
        ("pass1_sampled", f"{name}: T={sampled_temperature:g} pass@1", "s"),
        ("pass_at_k", f"{name}: {k_label}", "^"),
    ]
    for attr, label, marker in ours:
        points = [(row.n_people, getattr(row, attr)) for row in rows if getattr(row, attr) is not None]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, linestyle="-", marker=marker, linewidth=2, label=label)
    ax.set_xlabel("number of people (N)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks(N_PEOPLE)
    ax.grid(alpha=0.3)
    ax.set_title(f"Knights and Knaves accuracy: {name}")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


@dataclass
class ReportFiles:
    """Paths the report wrote and the Markdown text."""

    csv: Path
    markdown: Path
    png: Path | None
    markdown_text: str
    rows: list[AccuracyRow]

    def announce(self) -> None:
        """The CLIs' output: the Markdown table on stdout, the files written on stderr."""
        print(self.markdown_text)
        written = [self.csv, self.markdown] + ([self.png] if self.png else [])
        print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)


def write_accuracy_files(
    rows: Sequence[AccuracyRow],
    name: str,
    out_dir: Path,
    sampled_temperature: float = 1.0,
    sources: Sequence[str] = (),
    notes: Sequence[str] = (),
    plot: bool = True,
) -> ReportFiles:
    """Write accuracy.csv/.md/.png of ``rows`` into ``out_dir`` (shared by eval.sh and evaluation.api_eval)."""
    out_dir = Path(out_dir)
    markdown = rows_to_markdown(rows, name, sampled_temperature, sources, notes)
    files = ReportFiles(csv=out_dir / "accuracy.csv", markdown=out_dir / "accuracy.md",
                        png=out_dir / "accuracy.png" if plot else None, markdown_text=markdown, rows=list(rows))
    atomic_write_text(files.csv, rows_to_csv(rows))
    atomic_write_text(files.markdown, markdown)
    if files.png is not None:
        plot_rows(rows, name, files.png, sampled_temperature)
    return files


def write_report(
    name: str,
    out_dir: Path,
    greedy_path: Path,
    sampled_path: Path | None = None,
    sampled_dump: Path | None = None,
    sampled_temperature: float = 1.0,
    plot: bool = True,
) -> ReportFiles:
    """Read the runs, build the rows and write accuracy.csv/.md/.png into ``out_dir``."""
    greedy = read_validation_metrics(Path(greedy_path))
    sampled = read_validation_metrics(Path(sampled_path)) if sampled_path else None
    dump = pass_at_k_from_dump(Path(sampled_dump)) if sampled_dump else None
    rows = build_rows(greedy, sampled, dump)
    sources = [f"greedy {greedy.path} (step {greedy.step})"]
    if sampled:
        sources.append(f"sampled {sampled.path} (step {sampled.step})")
    if sampled_dump:
        sources.append(f"pass@k from {dump_file(Path(sampled_dump))}")
    return write_accuracy_files(rows, name, out_dir, sampled_temperature, sources, plot=plot)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (0 ok, 2 bad input)."""
    parser = argparse.ArgumentParser(prog="python -m evaluation.eval_report",
                                     description="K&K accuracy table and plot from veRL val_only metrics.")
    parser.add_argument("--name", required=True, help="model/run name shown in the table and plot")
    parser.add_argument("--out", required=True, type=Path, help="output folder (e.g. eval/NAME)")
    parser.add_argument("--greedy", required=True, type=Path, help="file-logger jsonl of the greedy run")
    parser.add_argument("--sampled", type=Path, help="file-logger jsonl of the sampled (n>1) run")
    parser.add_argument("--sampled-dump", type=Path,
                        help="validation dump (file or folder) of the sampled run for unbiased pass@k")
    parser.add_argument("--sampled-temperature", type=float, default=1.0,
                        help="temperature of the sampled run, for labels (default 1.0)")
    parser.add_argument("--no-plot", action="store_true", help="skip accuracy.png")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    try:
        files = write_report(args.name, args.out, args.greedy, args.sampled, args.sampled_dump,
                             args.sampled_temperature, plot=not args.no_plot)
    except AnalysisInputError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    files.announce()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
