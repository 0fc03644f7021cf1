"""Memorisation over a run: LiMem of each saved checkpoint of a stage, as one table and one plot.

``python -m evaluation.limem_trend --name NAME --out eval/NAME_limem STEP=EVAL_DIR [STEP=EVAL_DIR ...] [--no-plot]``

Each ``EVAL_DIR`` is the output of ``run_scripts/eval.sh`` for one checkpoint (its ``limem.csv`` from
``evaluation.perturb_report``); ``run_scripts/eval_memorisation.sh`` runs those evaluations and then this.
Writes ``limem_by_step.csv`` (every row of every ``limem.csv`` with its step), ``limem_by_step.md`` (printed:
LiMem pooled over N, by step, split and perturbation) and ``limem_by_step.png``.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Sequence

from data_prep.fileio import atomic_write_text
from analysis.errors import AnalysisInputError
from evaluation.eval_report import EvalReportError
from evaluation.perturb_report import LIMEM_COLUMNS, SPLIT_LABELS


def parse_step_dir(text: str) -> tuple[int, Path]:
    step, sep, folder = text.partition("=")
    if not sep or not step.isdigit():
        raise EvalReportError(f"expected STEP=EVAL_DIR, got {text!r}")
    return int(step), Path(folder)


def read_trend(step_dirs: Sequence[tuple[int, Path]]) -> list[dict[str, str]]:
    rows = []
    for step, folder in sorted(step_dirs):
        path = folder / "limem.csv"
        if not path.is_file():
            raise EvalReportError(f"{path} not found: was {folder} written by run_scripts/eval.sh with PERTURB=1?")
        with path.open(encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != LIMEM_COLUMNS:
                raise EvalReportError(f"{path} does not have the columns {', '.join(LIMEM_COLUMNS)}")
            rows += [{"step": str(step), **row} for row in reader]
    if not rows:
        raise EvalReportError("no LiMem rows in the given evaluations")
    return rows


def markdown(name: str, rows: list[dict[str, str]]) -> str:
    pooled = [r for r in rows if r["n_people"] == "all"]
    series = sorted({(r["split"], r["perturbation"]) for r in pooled})
    steps = sorted({int(r["step"]) for r in pooled})
    value = {(int(r["step"]), r["split"], r["perturbation"]): r for r in pooled}
    header = [f"{SPLIT_LABELS.get(s, s)} {k}" for s, k in series]
    lines = [f"## LiMem by checkpoint: {name}", "", "LiMem = Acc × (1 − CR), pooled over N (Acc in brackets)", "",
             "| step | " + " | ".join(header) + " |", "|---:|" + "---:|" * len(header)]
    for step in steps:
        cells = []
        for split, kind in series:
            row = value.get((step, split, kind))
            cells.append("–" if row is None else f"{float(row['limem']):.2f} ({float(row['acc']):.2f})")
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(name: str, rows: list[dict[str, str]], path: Path) -> None:
    from analysis.plots import save_figure  # matplotlib (Agg) only when a figure is drawn

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    pooled = [r for r in rows if r["n_people"] == "all"]
    for split, kind in sorted({(r["split"], r["perturbation"]) for r in pooled}):
        points = sorted((int(r["step"]), float(r["limem"])) for r in pooled if (r["split"], r["perturbation"]) == (split, kind))
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", linestyle="-" if split == "train" else "--", label=f"{SPLIT_LABELS.get(split, split)} {kind}")
    ax.set_xlabel("training step")
    ax.set_ylabel("LiMem (pooled over N)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(f"Memorisation over training: {name}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.limem_trend", description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="run name shown in the table and plot")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("evals", nargs="+", metavar="STEP=EVAL_DIR", help="one evaluation folder per checkpoint step")
    parser.add_argument("--no-plot", action="store_true", help="skip limem_by_step.png")
    args = parser.parse_args(argv)
    try:
        rows = read_trend([parse_step_dir(text) for text in args.evals])
    except AnalysisInputError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=("step", *LIMEM_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    text = markdown(args.name, rows)
    atomic_write_text(args.out / "limem_by_step.csv", buffer.getvalue())
    atomic_write_text(args.out / "limem_by_step.md", text)
    if not args.no_plot:
        plot(args.name, rows, args.out / "limem_by_step.png")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
