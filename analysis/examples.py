"""Example responses: reading texts back on demand, choosing examples, highlighting.

Feature frames keep no text; a response is read back from its dump file by
byte offset (:func:`load_example`).  Highlight spans come from the very
matchers that computed the features, so what is highlighted is what was
counted.  Used by the HTML report and by the notebook.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis import registry
from analysis.collect import RunFeatures
from analysis.features import BEHAVIOURS, THINK_CLOSE, THINK_OPEN, split_lenient
from analysis.loading import read_record_at
from analysis.registry import ResponseContext
from analysis.patterns import RETHINK_MATCHER, behaviour_spans, lower_aligned

# Facts shown next to an example.
FACT_COLUMNS = ("step", "score", "answer_status", "format_error", "length", "repetition",
                "think_script", "answer_script", "think_cjk_share", "claims_made", "claim_correct_share")


@dataclass
class Example:
    """One response with highlight spans over its output text."""

    step: int
    file: str
    line: int
    prompt: str
    output: str
    highlights: list[tuple[int, int, str]]  # (start, end, label) in output
    facts: dict[str, Any] = field(default_factory=dict)


def highlight_spans(output: str, think_prefilled: bool = False, row: dict[str, Any] | None = None,
                    record: dict[str, Any] | None = None) -> list[tuple[int, int, str]]:
    """Behaviour matches in the think part, retry-too-late marks after ``<answer>``, and the
    spans of the other registered detectors (``row``/``record``: the response's features and dump row)."""
    parts = split_lenient(output, think_prefilled)
    spans: list[tuple[int, int, str]] = []
    for name, found in behaviour_spans(parts.think).items():
        spans.extend((parts.think_start + a, parts.think_start + b, name) for a, b in found)
    context = None
    for detector in registry.detectors():
        if detector.builtin:
            continue
        if detector.pool is not None:
            spans.extend((parts.think_start + a, parts.think_start + b, detector.name)
                         for a, b in detector.pool.spans(parts.think))
        elif detector.spans is not None:
            if context is None:
                context = ResponseContext(output, parts.think, lower_aligned(parts.think), parts.answer,
                                          parts.think_start, dict(row or {}), dict(record or {}))
            spans.extend((a, b, detector.name) for a, b in detector.spans(context))
    if parts.tail_start >= 0:
        tail = parts.after_answer_start
        for tag in (THINK_OPEN, THINK_CLOSE):
            index = tail.find(tag)
            while index >= 0:
                spans.append((parts.tail_start + index, parts.tail_start + index + len(tag), "retry_too_late"))
                index = tail.find(tag, index + 1)
        for _, a, b in RETHINK_MATCHER.matches(lower_aligned(tail)):
            spans.append((parts.tail_start + a, parts.tail_start + b, "retry_too_late"))
    return sorted(spans)


def load_example(run: RunFeatures, row: pd.Series) -> Example:
    """Read one feature row's response back from its dump file."""
    record = read_record_at(run.path_of(str(row["file"])), int(row["offset"]))
    output = str(record.get("output", ""))
    prompt = str(record.get("input", ""))
    facts = {column: row[column] for column in FACT_COLUMNS if column in row.index}
    facts["length_unit"] = run.length_unit
    return Example(int(row["step"]), str(row["file"]), int(row["line"]), prompt, output,
                   highlight_spans(output, bool(row.get("think_prefilled", False)), row.to_dict(), record), facts)


def render_highlighted(text: str, spans: list[tuple[int, int, str]], max_chars: int | None = None) -> str:
    """HTML-escaped ``text`` with ``<mark class="hl-LABEL">`` around spans (overlaps: first wins)."""
    end_limit = len(text) if max_chars is None else min(len(text), max_chars)
    pieces: list[str] = []
    cursor = 0
    for start, end, label in sorted(spans):
        if start < cursor or start >= end_limit:
            continue
        end = min(end, end_limit)
        pieces.append(html.escape(text[cursor:start]))
        pieces.append(f'<mark class="hl-{html.escape(label)}" title="{html.escape(label)}">{html.escape(text[start:end])}</mark>')
        cursor = end
    pieces.append(html.escape(text[cursor:end_limit]))
    if end_limit < len(text):
        pieces.append(html.escape(f" [... {len(text) - end_limit} more characters]"))
    return "".join(pieces)


def pick_examples(run: RunFeatures, flag: str, k: int = 2, sort_by: str | None = None) -> list[Example]:
    """Up to ``k`` responses with ``flag`` set: the strongest early one and the strongest late one.

    "Strongest" is the largest ``sort_by`` column (default ``<flag>_count`` when
    it exists), ties broken by step and line for determinism.
    """
    frame = run.frame
    if flag not in frame.columns or frame.empty:
        return []
    mask = frame[flag].fillna(0).astype(bool).to_numpy()  # sampled flags are 1.0 / 0.0 / empty
    if not mask.any():
        return []
    key = sort_by or (f"{flag}_count" if f"{flag}_count" in frame.columns else "length")
    middle = (frame["step"].min() + frame["step"].max()) / 2
    # Select and sort only the columns the choice needs (copying all ~70 columns of a 200k-row run
    # for each detector cost ~0.5 s per report), then take the chosen rows whole by position.
    chosen = frame[list(dict.fromkeys([key, "step", "line", "file", "offset"]))][mask]
    chosen = chosen.assign(_position=np.flatnonzero(mask))
    order = {"by": [key, "step", "line"], "ascending": [False, True, True]}
    picks = []
    for half in (chosen[chosen["step"] <= middle], chosen[chosen["step"] > middle]):
        if not half.empty:
            picks.append(frame.iloc[int(half.sort_values(**order)["_position"].iloc[0])])
    if len(picks) < k:
        rest = chosen.sort_values(**order)
        taken = {(p["file"], p["offset"]) for p in picks}
        for file, offset, position in zip(rest["file"], rest["offset"], rest["_position"]):
            if len(picks) >= k:
                break
            if (file, offset) not in taken:
                picks.append(frame.iloc[int(position)])
                taken.add((file, offset))
    return [load_example(run, row) for row in picks[:k]]


def pick_early_late_pairs(run: RunFeatures, k: int = 2) -> list[tuple[Example, Example, bool]]:
    """Pairs (early, late, same_prompt) for side-by-side views.

    Prefers prompts seen both in the first and the last quarter of the steps,
    the widest step gap first; falls back to the first and last steps'
    responses to different prompts when no prompt repeats.
    """
    frame = run.frame
    if frame.empty:
        return []
    steps = frame["step"]
    low, high = steps.min(), steps.max()
    quarter = (high - low) / 4
    early = frame[steps <= low + quarter]
    late = frame[steps >= high - quarter]
    pairs: list[tuple[Example, Example, bool]] = []
    if high > low:
        first_seen = early.sort_values(["step", "line"]).drop_duplicates("prompt_key")
        last_seen = late.sort_values(["step", "line"], ascending=[False, True]).drop_duplicates("prompt_key")
        shared = first_seen.merge(last_seen, on="prompt_key", suffixes=("_early", "_late"))
        shared = shared[shared["step_late"] > shared["step_early"]]
        shared = shared.assign(gap=shared["step_late"] - shared["step_early"]).sort_values(["gap", "prompt_key"], ascending=[False, True])
        for _, row in shared.head(k).iterrows():
            early_row = first_seen[first_seen["prompt_key"] == row["prompt_key"]].iloc[0]
            late_row = last_seen[last_seen["prompt_key"] == row["prompt_key"]].iloc[0]
            pairs.append((load_example(run, early_row), load_example(run, late_row), True))
    if not pairs and high > low:
        first = frame[steps == low].sort_values("line").iloc[0]
        last = frame[steps == high].sort_values("line").iloc[0]
        pairs.append((load_example(run, first), load_example(run, last), False))
    return pairs


def behaviour_labels() -> tuple[str, ...]:
    """Labels that :func:`highlight_spans` can produce, for legends and CSS."""
    return (*BEHAVIOURS, "retry_too_late",
            *(d.name for d in registry.detectors() if not d.builtin and (d.pool is not None or d.spans is not None)))
