"""Plots several runs' per-step analysis on the same axes (the experiment's figures).

Reads the ``per_step.csv`` that ``python -m analysis report`` wrote for each run:

    python -m analysis.compare_runs --run learn=runs/.../learn/analysis \
        --run control=runs/.../control/analysis --out docs/experiments/cpu_format_learning

writes ``<out>_rewards.png`` (the four reward curves), ``<out>_length.png`` (mean
response length with the p10-p90 band, and min/max for up to two runs) and ``<out>_summary.csv``
(first-5 / last-10 means of the reward curves, length, zero-variance groups and
the well-formed responses' median think length per run).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.plots import save_figure  # noqa: E402
from data_prep.fileio import atomic_write_text  # noqa: E402

CURVES = [
    ("reward_mean", "mean reward"),
    ("acc", "all-correct ratio"),
    ("format_error_rate", "format-error ratio"),
    ("wrong_answer_rate", "wrong-answer ratio"),
]
SUMMARY_EXTRAS = ("len_mean", "zero_variance_group_rate", "well_formed_think_chars_median")


def load_runs(specs: list[str]) -> dict[str, pd.DataFrame]:
    runs = {}
    for spec in specs:
        if "=" not in spec:
            raise SystemExit(f"error: --run wants NAME=ANALYSIS_DIR, got {spec!r}")
        name, folder = spec.split("=", 1)
        csv = Path(folder) / "per_step.csv"
        if not csv.is_file():
            raise SystemExit(f"error: {csv} not found (run python -m analysis report first)")
        runs[name] = pd.read_csv(csv).sort_values("step")
    return runs


# Runs that never leave the floor (-3.0, ratio 1.0) draw on top of each other: distinct line
# styles and markers, and widths shrinking from the first run to the last, keep each one visible.
STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1)), "v"), ((0, (1, 2)), "P")]


def _style(index: int, n_runs: int) -> dict:
    linestyle, marker = STYLES[index % len(STYLES)]
    width = 1.2 + 2.0 * (n_runs - 1 - index) / max(n_runs - 1, 1)
    return {"linestyle": linestyle, "marker": marker, "markersize": 2.5 + width, "linewidth": width}


def plot_rewards(runs: dict[str, pd.DataFrame], out: Path) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for ax, (column, title) in zip(axes.flat, CURVES):
        for index, (name, frame) in enumerate(runs.items()):
            ax.plot(frame["step"], frame[column], label=name, **_style(index, len(runs)))
        ax.set_title(title)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("training step")
    axes[0][0].legend()
    fig.suptitle("Reward curves (recomputed from the rollout dumps with reward_fns)")
    fig.tight_layout()
    save_figure(fig, out, dpi=110)


def plot_length(runs: dict[str, pd.DataFrame], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 5))
    unit = "tokens"
    extremes = len(runs) <= 2  # min/max lines of more runs are unreadable
    for index, (name, frame) in enumerate(runs.items()):
        unit = str(frame["length_unit"].iloc[0]) if "length_unit" in frame else unit
        line = ax.plot(frame["step"], frame["len_mean"], label=f"{name} mean", **_style(index, len(runs)))[0]
        ax.fill_between(frame["step"], frame["len_p10"], frame["len_p90"], color=line.get_color(), alpha=0.12,
                        label=f"{name} p10-p90")
        if extremes:
            ax.plot(frame["step"], frame["len_min"], ls=":", color=line.get_color(), lw=1)
            ax.plot(frame["step"], frame["len_max"], ls="--", color=line.get_color(), lw=1)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"response length ({unit})" + ("; dotted = min, dashed = max" if extremes else ""))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, out, dpi=110)


def summary(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for name, frame in runs.items():
        row = {"run": name, "steps": int(frame["step"].max())}
        # SUMMARY_EXTRAS present in the file (per_step.csv from before the think column lacks it); means
        # are over the steps that have a value (a step without well-formed responses has no think median)
        for column in [column for column, _ in CURVES] + [column for column in SUMMARY_EXTRAS if column in frame]:
            row[f"{column}_first5"] = frame[column].head(5).mean()
            row[f"{column}_last10"] = frame[column].tail(10).mean()
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, help="NAME=ANALYSIS_DIR (repeatable)")
    parser.add_argument("--out", type=Path, required=True, help="output prefix")
    args = parser.parse_args(argv)
    runs = load_runs(args.run)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot_rewards(runs, args.out.with_name(args.out.name + "_rewards.png"))
    plot_length(runs, args.out.with_name(args.out.name + "_length.png"))
    table = summary(runs)
    atomic_write_text(args.out.with_name(args.out.name + "_summary.csv"), table.to_csv(index=False, float_format="%.4f"))
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
