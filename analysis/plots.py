"""Matplotlib (Agg) figures of the per-step table.

Each ``plot_*`` function takes per-step frames (see :mod:`analysis.aggregate`)
and returns a Figure; :func:`save_figure` writes it atomically.  Runs longer
than 30 steps are drawn as a faint raw line plus a centred rolling mean (the
window is named in the legend).  Length axes always name their unit.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.layout_engine import PlaceHolderLayoutEngine  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from analysis.aggregate import OUTCOMES, rolling  # noqa: E402
from analysis import registry  # noqa: E402
from data_prep.fileio import atomic_write  # noqa: E402

TRAIN_COLOUR = "#1f77b4"
VAL_COLOUR = "#d62728"
DEFAULT_METRIC_KEYS = (
    "critic/score/mean",
    "response_length/mean",
    "actor/entropy",
    "actor/pg_loss",
    "actor/kl_loss",
    "actor/grad_norm",
)


def _line(ax: plt.Axes, frame: pd.DataFrame, column: str, label: str, colour: str | None = None) -> None:
    """Raw values, plus a rolling mean for long runs."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are integers
    values = frame[column].astype("float64")
    smooth, window = rolling(values, len(frame))
    if window == 1:
        ax.plot(frame["step"], values, label=label, color=colour, marker="o" if len(frame) < 12 else None, ms=3)
        return
    raw = ax.plot(frame["step"], values, color=colour, alpha=0.25, linewidth=0.8)[0]
    ax.plot(frame["step"], smooth, color=raw.get_color(), label=f"{label} (mean of {window} steps)")


def _val_line(ax: plt.Axes, val: pd.DataFrame | None, column: str) -> None:
    if val is not None and not val.empty and column in val and val[column].notna().any():
        ax.plot(val["step"], val[column], color=VAL_COLOUR, marker="s", ms=4, linestyle="--", label="validation")


def plot_reward_curves(train: pd.DataFrame, val: pd.DataFrame | None = None) -> Figure:
    """Mean reward, and every outcome's share of the responses (they add up to 1 at each step).

    Left: mean reward.  Middle: the outcome shares stacked (:data:`OUTCOMES`),
    so a step where every response is well formed but unparsed shows as a full
    band, not as three curves at zero.  Right: the same shares as lines, with
    the validation run's overlaid (dashed).
    """
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    _line(axes[0], train, "reward_mean", "rollouts", TRAIN_COLOUR)
    _val_line(axes[0], val, "reward_mean")
    axes[0].set_title("mean reward")
    axes[0].legend(fontsize=8)
    shown = [(c, label, colour) for c, label, colour in OUTCOMES
             if c in train and (c != "unjudged_share" or train[c].fillna(0).gt(0).any())]
    shares = pd.DataFrame({c: train[c].astype("float64").fillna(0.0) for c, _, _ in shown})
    smooth_window = rolling(shares[shown[0][0]], len(train))[1] if shown else 1
    if smooth_window > 1:  # the same window for every share keeps the sum at 1
        shares = shares.rolling(smooth_window, center=True, min_periods=1).mean()
    axes[1].stackplot(train["step"], *[shares[c] for c, _, _ in shown],
                      labels=[label for _, label, _ in shown], colors=[colour for _, _, colour in shown], alpha=0.85)
    note = f" (mean of {smooth_window} steps)" if smooth_window > 1 else ""
    axes[1].set_title(f"outcome shares, stacked (sum 1){note}")
    axes[1].legend(fontsize=7, loc="lower left", framealpha=0.7)
    for column, label, colour in shown:
        _line(axes[2], train, column, label, colour)
        if val is not None and not val.empty and column in val and val[column].notna().any():
            axes[2].plot(val["step"], val[column], color=colour, marker="s", ms=4, linestyle="--")
    axes[2].set_title("outcome shares" + (" (dashed: validation)" if val is not None and not val.empty else ""))
    axes[2].legend(fontsize=7)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    for ax in axes[1:]:
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("share of responses")
    fig.suptitle("Reward curves")
    fig.tight_layout()
    return fig


def plot_acc_by_n_people(train: pd.DataFrame, val: pd.DataFrame | None = None) -> Figure:
    """All-correct ratio per puzzle size (``acc_by_n_people.csv``), validation dashed."""
    fig, ax = plt.subplots(figsize=(11, 4.5))
    columns = [c for c in train.columns if c.startswith("acc_") and c.endswith("ppl")]
    colours = plt.get_cmap("viridis")
    for index, column in enumerate(columns):
        colour = colours(index / max(1, len(columns) - 1) * 0.9)
        label = f"{column[4:-3]} people"
        subset = train[["step", column]].dropna()
        _line(ax, subset, column, label, colour)
        if val is not None and column in val and val[column].notna().any():
            points = val[["step", column]].dropna()
            ax.plot(points["step"], points[column], color=colour, marker="s", ms=4, linestyle="--",
                    label=f"{label} (validation)")
    if not columns:
        ax.text(0.5, 0.5, "no puzzle sizes in the dumps' ground truth", ha="center", transform=ax.transAxes)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training step")
    ax.set_ylabel("all-correct ratio")
    ax.set_title("All-correct ratio per puzzle size")
    ax.grid(alpha=0.3)
    if columns:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_lengths(train: pd.DataFrame, length_unit: str) -> Figure:
    """Mean, min and max response length with the p10-p90 band."""
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.fill_between(train["step"], train["len_p10"], train["len_p90"], color=TRAIN_COLOUR, alpha=0.2, label="p10-p90")
    _line(ax, train, "len_mean", "mean", TRAIN_COLOUR)
    _line(ax, train, "len_min", "min", "#2ca02c")
    _line(ax, train, "len_max", "max", "#ff7f0e")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"response length ({length_unit})")
    ax.set_title(f"Response length in {length_unit}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_behaviours(train: pd.DataFrame, length_unit: str) -> Figure:
    """Behaviour rates, verification words per 1k, repetition."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), gridspec_kw={"width_ratios": [2, 1, 1]})
    for detector in registry.detectors("behaviours"):
        if detector.step_column in train:
            _line(axes[0], train, detector.step_column, detector.label, detector.colour)
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("share of responses")
    axes[0].set_title("Behaviours (share of responses)")
    axes[0].legend(fontsize=7)
    _line(axes[1], train, "verify_per_1k", "verification words", "#9467bd")
    axes[1].set_ylabel(f"per 1,000 {length_unit}")
    axes[1].set_title(f"Verification words per 1,000 {length_unit}")
    _line(axes[2], train, "repetition_mean", "rep-4", "#8c564b")
    axes[2].set_ylabel("share of repeated 4-grams")
    axes[2].set_title("Repetition (mean rep-4)")
    for ax in axes:
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_language(train: pd.DataFrame) -> Figure:
    """CJK share of think vs answer parts, and switching rates."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    _line(axes[0], train, "think_cjk_share_mean", "think part")
    _line(axes[0], train, "answer_cjk_share_mean", "answer part")
    axes[0].set_title("Share of CJK characters among letters")
    axes[0].set_ylim(-0.02, 1.02)
    for detector in registry.detectors("language"):
        if detector.step_column in train:
            _line(axes[1], train, detector.step_column, detector.label, detector.colour)
    axes[1].set_title("Language switching (share of responses)")
    axes[1].set_ylim(-0.02, 1.02)
    for ax in axes:
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_claims(train: pd.DataFrame) -> Figure:
    """Claim checking (registry group ``claims``): shares and flags left, counts per response right."""
    fig, axes = plt.subplots(1, 2, figsize=(15, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    for detector in registry.detectors("claims"):
        if detector.step_column not in train or not train[detector.step_column].notna().any():
            continue
        ax = axes[1] if detector.scale == "count" else axes[0]
        subset = train[["step", detector.step_column]].dropna()
        _line(ax, subset, detector.step_column, detector.label, detector.colour)
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("share (responses, or claims)")
    axes[0].set_title("Claims checked against the puzzle")
    axes[1].set_ylabel("per response (mean)")
    axes[1].set_title("Claims and case splits per response")
    for ax in axes:
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_signal(train: pd.DataFrame) -> Figure:
    """Truncation and zero-variance groups (no GRPO signal)."""
    fig, ax = plt.subplots(figsize=(11, 4))
    _line(ax, train, "truncation_rate", "truncated responses")
    _line(ax, train, "zero_variance_group_rate", "prompt groups with equal rewards")
    _line(ax, train, "retry_too_late_rate", "retry too late")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training step")
    ax.set_ylabel("share")
    ax.set_title("Training signal: truncation and zero-variance groups")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pick_metric_keys(metrics: pd.DataFrame, wanted: tuple[str, ...] = DEFAULT_METRIC_KEYS, limit: int = 6) -> list[str]:
    """The wanted keys that the metrics frame has, else its first numeric keys."""
    present = [key for key in wanted if key in metrics.columns]
    if not present:
        present = [c for c in metrics.columns if c != "step" and pd.api.types.is_numeric_dtype(metrics[c])]
    return present[:limit]


def plot_metrics(metrics: pd.DataFrame, keys: list[str]) -> Figure:
    """Logger metrics (veRL file logger or wandb), one panel per key."""
    columns = min(3, max(1, len(keys)))
    rows = (len(keys) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.4 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        subset = metrics[["step", key]].dropna()
        _line(ax, subset, key, key)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def _drop_placeholder_layout(fig: Figure) -> None:
    """Forget the placeholder layout engine that ``fig.tight_layout()`` leaves behind.

    savefig draws a figure that has any layout engine twice (once with rendering disabled, to lay it
    out); the placeholder lays out nothing, and the plots here are already laid out by tight_layout,
    so that first draw (about a third of a report's plotting time) changes no pixel.
    """
    if isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):
        fig.set_layout_engine(None)


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """PNG bytes of a figure (for notebooks: ``IPython.display.Image(figure_png(fig))``); closes it."""
    buffer = io.BytesIO()
    _drop_placeholder_layout(fig)
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def save_figure(fig: Figure, path: Path, dpi: int = 110) -> Path:
    """Write a PNG atomically, then close the figure."""
    _drop_placeholder_layout(fig)
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    finally:
        plt.close(fig)
