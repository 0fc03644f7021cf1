"""Per-step aggregates of per-response features (the table behind every plot).

A ``*_rate`` is the share of a step's responses showing the thing.
``zero_variance_group_rate`` is the share of a step's prompt groups (two or
more responses) whose rewards are all equal: such groups give GRPO no signal.
``verify_per_1k`` is verification words per 1,000 length units over the whole
step (sum of counts / sum of lengths), so long responses weigh more.
``well_formed_think_chars_median`` is the median think length (characters) of
the step's well-formed responses (empty when none): a format learned by
pasting a template passes with a near-empty think, so this tells a learned
format that carries thinking from one that does not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import registry

# Columns promised by the issue, in this order, then extras.
PER_STEP_COLUMNS: tuple[str, ...] = (
    "step",
    "n_responses",
    "reward_mean",
    "acc",
    "format_error_rate",
    "wrong_answer_rate",
    "len_mean",
    "len_min",
    "len_max",
    "len_p10",
    "len_p90",
    "truncation_rate",
    "hesitation_rate",
    "exploration_rate",
    "backtracking_rate",
    "summary_rate",
    "final_verify_rate",
    "lang_switch_rate",
    "verify_per_1k",
    "repetition_mean",
    "retry_too_late_rate",
    "zero_variance_group_rate",
)
EXTRA_COLUMNS: tuple[str, ...] = (
    "n_groups",
    "reward_std",
    "unparsed_rate",
    "unclosed_rate",
    "zh_think_en_answer_rate",
    "mixed_script_think_rate",
    "han_stretch_switch_rate",
    "think_cjk_share_mean",
    "answer_cjk_share_mean",
    "score_mismatch_rate",
    "correct_share",
    "wrong_share",
    "unjudged_share",
    "well_formed_think_chars_median",
    "length_unit",
)
# The outcomes of a response, exclusive and exhaustive: their shares of a step's
# responses add up to 1.  (column, label, colour); format errors and unparsed
# answers are the columns above, the rest are ``*_share`` columns over *all*
# responses (``acc`` and ``wrong_answer_rate`` leave out responses whose ground
# truth is missing or malformed: "unjudged").
OUTCOMES: tuple[tuple[str, str, str], ...] = (
    ("correct_share", "all correct", "#2ca02c"),
    ("wrong_share", "wrong answer", "#d62728"),
    ("unparsed_rate", "unparsed answer (well formed)", "#ff7f0e"),
    ("format_error_rate", "format error", "#7f7f7f"),
    ("unjudged_share", "no usable ground truth (well formed)", "#bcbd22"),
)
# Tolerance for "all rewards equal" and "dumped score == recomputed score".
SCORE_TOLERANCE = 1e-6


def per_step(features: pd.DataFrame, length_unit: str) -> pd.DataFrame:
    """One row per step: :data:`PER_STEP_COLUMNS`, :data:`EXTRA_COLUMNS`, then the other registered detectors."""
    columns = step_columns()
    if features.empty:
        frame = pd.DataFrame({name: pd.Series([], dtype="float64") for name in columns})
        frame["step"] = frame["step"].astype("int64")
        frame["length_unit"] = frame["length_unit"].astype("object")
        return frame
    work = features.assign(
        format_error=1.0 - features["format_ok"],
        unparsed=(features["answer_status"].astype("object") == "unparsed").astype("float64"),
        correct=(features["answer_status"].astype("object") == "correct").astype("float64"),
        wrong=(features["answer_status"].astype("object") == "wrong").astype("float64"),
        unjudged=(features["acc"].isna() & (features["format_ok"] > 0.5)).astype("float64"),
        mismatch=_mismatch(features),
    )
    grouped = work.groupby("step", sort=True)
    table = grouped.agg(
        n_responses=("score", "size"),
        reward_mean=("score", "mean"),
        reward_std=("score", "std"),
        acc=("acc", "mean"),
        format_error_rate=("format_error", "mean"),
        wrong_answer_rate=("answer_wrong", "mean"),
        unparsed_rate=("unparsed", "mean"),
        correct_share=("correct", "mean"),
        wrong_share=("wrong", "mean"),
        unjudged_share=("unjudged", "mean"),
        len_mean=("length", "mean"),
        len_min=("length", "min"),
        len_max=("length", "max"),
        truncation_rate=("truncated", "mean"),
        unclosed_rate=("unclosed", "mean"),
        **{d.step_column: (d.name, "mean") for d in registry.detectors() if d.name in features.columns},
        think_cjk_share_mean=("think_cjk_share", "mean"),
        answer_cjk_share_mean=("answer_cjk_share", "mean"),
        repetition_mean=("repetition", "mean"),
        score_mismatch_rate=("mismatch", "mean"),
        verify_total=("verify_count", "sum"),
        length_total=("length", "sum"),
    )
    quantiles = grouped["length"].quantile([0.1, 0.9]).unstack()
    table["len_p10"] = quantiles[0.1]
    table["len_p90"] = quantiles[0.9]
    table["verify_per_1k"] = table["verify_total"] * 1000.0 / table["length_total"].clip(lower=1)
    well_formed = work[work["format_ok"].astype("float64") > 0.5]
    table["well_formed_think_chars_median"] = well_formed.groupby("step")["think_chars"].median().reindex(table.index)
    groups = zero_variance_groups(features)
    table["n_groups"] = groups["n_groups"].reindex(table.index).fillna(0).astype("int64")
    table["zero_variance_group_rate"] = groups["zero_variance_group_rate"].reindex(table.index)
    table["length_unit"] = length_unit
    table = table.reset_index()
    return table[[c for c in columns if c in table.columns]]


def step_columns() -> list[str]:
    """Every per-step column, in order: the fixed ones, then each registered detector's not yet listed."""
    fixed = list(PER_STEP_COLUMNS + EXTRA_COLUMNS)
    return fixed + [d.step_column for d in registry.detectors() if d.step_column not in fixed]


def _mismatch(features: pd.DataFrame) -> pd.Series:
    both = features["score"].notna() & features["score_recomputed"].notna()
    differs = (features["score"] - features["score_recomputed"]).abs() > SCORE_TOLERANCE
    return (differs & both).astype("float64").where(both)


def zero_variance_groups(features: pd.DataFrame) -> pd.DataFrame:
    """Per step: ``n_groups`` (groups of 2+) and the share whose rewards are all equal."""
    sizes = features.groupby(["step", "group_key"], sort=False)["score"].agg(["size", "min", "max"])
    sizes = sizes[sizes["size"] >= 2]
    if sizes.empty:
        return pd.DataFrame({"n_groups": pd.Series(dtype="int64"), "zero_variance_group_rate": pd.Series(dtype="float64")})
    flat = ((sizes["max"] - sizes["min"]).abs() <= SCORE_TOLERANCE).astype("float64")
    by_step = flat.groupby(level="step")
    return pd.DataFrame({"n_groups": by_step.size(), "zero_variance_group_rate": by_step.mean()})


def acc_by_n_people(features: pd.DataFrame) -> pd.DataFrame:
    """All-correct ratio per step (rows) and puzzle size (columns ``acc_<n>ppl``)."""
    known = features[features["n_people"] > 0]
    if known.empty:
        return pd.DataFrame({"step": pd.Series([], dtype="int64")})
    table = known.pivot_table(index="step", columns="n_people", values="acc", aggfunc="mean")
    table.columns = [f"acc_{int(n)}ppl" for n in table.columns]
    return table.reset_index()


def rolling(series: pd.Series, n_points: int) -> tuple[pd.Series, int]:
    """Centred rolling mean for plots of long runs; window 1 (no smoothing) below 30 points."""
    window = 1 if n_points < 30 else max(3, int(np.ceil(n_points / 25)))
    return series.rolling(window, center=True, min_periods=1).mean(), window
