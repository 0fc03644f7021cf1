"""The detector registry: every behaviour, language and claim metric in one list.

A metric is one :class:`Detector` entry: its per-response column, label,
colour, which plot it belongs to, and how it is computed:

* ``pool``: a keyword :class:`~analysis.patterns.Pool` searched in the lower-cased
  think part; the features get ``<name>_count`` and the flag ``<name>``, and
  the matches are highlighted in the report's examples;
* ``function``: called with a :class:`ResponseContext` (the response, its
  parts, the features computed so far, the dump row) and returning a bool (a
  flag) or a number;
* neither: a built-in column that ``features.py`` computes itself (language,
  retry-too-late); the entry only tells the outputs about it.

From this list, and nothing else, come: the feature columns and their types,
the per-step columns (``<name>_rate`` for flags, ``<name>_mean`` for numbers),
the lines of the plot named by ``group``, the report's example sections and
highlight colours.  Adding a metric is one :func:`register` call (or one entry
in :data:`DETECTORS`); :func:`registered` adds one for a ``with`` block.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from analysis import claims
from analysis.patterns import BACKTRACKING, BEHAVIOUR_POOLS, EXPLORATION, FINAL_VERIFY, HESITATION, SUMMARY, Pool

Group = Literal["behaviours", "language", "claims"]


@dataclass
class ResponseContext:
    """What a detector function sees of one response."""

    output: str
    think: str  # lenient think part (analysis.features.split_lenient)
    lowered_think: str
    answer: str
    think_start: int  # offset of ``think`` in ``output``
    row: dict[str, Any]  # features computed so far (scorer results, text features)
    record: dict[str, Any] = field(default_factory=dict)  # the dump row (``gts``, extra fields)
    scratch: dict[str, Any] = field(default_factory=dict)  # shared by detectors computed together


@dataclass(frozen=True)
class Detector:
    """One metric; see the module docstring."""

    name: str
    label: str
    colour: str  # "#rrggbb": plot lines, and (lighter) highlights in the report
    group: Group = "behaviours"
    pool: Pool | None = None
    function: Callable[[ResponseContext], Any] | None = None
    kind: Literal["flag", "number"] = "flag"
    examples: bool = True  # an example section in the report (flags only)
    sort_by: str | None = None  # column ranking the examples (default: ``<name>_count`` or length)
    # Highlight spans (start, end) in the output, for functions; pools highlight their matches.
    spans: Callable[[ResponseContext], list[tuple[int, int]]] | None = None
    scale: Literal["share", "count"] = "share"  # numbers: a share in [0, 1] or a count (own plot axis)
    # Computed only on a sample of each dump file's responses (FeatureOptions.claims_per_file), empty
    # elsewhere: for detectors too slow for every response at 200k responses.  Flags are then stored
    # as 1.0 / 0.0 / empty, and the step's rate is over the sampled responses.
    sampled: bool = False

    def __post_init__(self) -> None:
        if self.pool is not None and self.function is not None:
            raise ValueError(f"detector {self.name!r}: give a pool or a function, not both")
        if self.pool is not None and self.kind != "flag":
            raise ValueError(f"detector {self.name!r}: a pool detector is a flag")

    @property
    def step_column(self) -> str:
        """Its column in ``per_step.csv``."""
        return f"{self.name}_rate" if self.kind == "flag" else f"{self.name}_mean"

    @property
    def dtype(self) -> str:
        return "bool" if self.kind == "flag" and not self.sampled else "float64"

    @property
    def builtin(self) -> bool:
        """Computed by features.py itself (its code is part of the cache key already)."""
        return self.function is None and (self.pool is None or self.pool in BEHAVIOUR_POOLS)


DETECTORS: list[Detector] = [
    Detector("hesitation", "hesitation", "#e6a800", pool=HESITATION),
    Detector("exploration", "multi-path exploration", "#1f9bde", pool=EXPLORATION),
    Detector("backtracking", "backtracking", "#d62728", pool=BACKTRACKING),
    Detector("summary", "staged summary", "#2ca02c", pool=SUMMARY),
    Detector("final_verify", "final verification", "#9467bd", pool=FINAL_VERIFY),
    Detector("retry_too_late", "retry too late", "#ff7f0e"),
    Detector("lang_switch", "language switch", "#17becf", group="language", sort_by="think_cjk_share"),
    Detector("zh_think_en_answer", "Chinese think, English answer", "#e377c2", group="language", examples=False),
    Detector("mixed_script_think", "mixed-script think", "#8c564b", group="language", examples=False),
    Detector("han_stretch_switch", "Chinese stretch in an English think", "#bcbd22", group="language",
             examples=False),
    # Claim checking (analysis/claims.py), on a sample of each file's responses; numbers are per
    # response, empty when not defined.
    Detector("claims_made", "role claims made", "#1f77b4", group="claims", function=claims.claims_made,
             kind="number", scale="count", sampled=True),
    Detector("case_splits", "case splits (assumptions)", "#17becf", group="claims", function=claims.case_splits,
             kind="number", scale="count", sampled=True),
    Detector("claim_correct_share", "share of checked claims that are correct", "#2ca02c", group="claims",
             function=claims.claim_correct_share, kind="number", sampled=True),
    Detector("last_claims_agree", "last claim per person agrees with the answer", "#9467bd", group="claims",
             function=claims.last_claims_agree, kind="number", sampled=True),
    Detector("contradiction_real", "declared contradictions that are real", "#8c564b", group="claims",
             function=claims.contradiction_real, kind="number", sampled=True),
    Detector("wrong_claim", "a claim contradicts the puzzle", "#d62728", group="claims",
             function=claims.wrong_claim, spans=claims.wrong_claim_spans, sampled=True),
    Detector("effective_reflection", "effective reflection (a wrong claim corrected)", "#006400", group="claims",
             function=claims.effective_reflection, spans=claims.effective_reflection_spans, sampled=True),
    Detector("superficial_reflection", "superficial reflection (verified, unchanged, wrong)", "#ff7f0e",
             group="claims", function=claims.superficial_reflection, spans=claims.superficial_reflection_spans,
             sampled=True),
]


def register(detector: Detector) -> Detector:
    """Add a metric (its name must be new); the outputs pick it up from here."""
    if any(d.name == detector.name for d in DETECTORS):
        raise ValueError(f"a detector named {detector.name!r} is already registered")
    DETECTORS.append(detector)
    return detector


def unregister(name: str) -> None:
    DETECTORS[:] = [d for d in DETECTORS if d.name != name]


@contextlib.contextmanager
def registered(detector: Detector) -> Iterator[Detector]:
    """``with registered(Detector(...)):`` - the detector exists inside the block only."""
    register(detector)
    try:
        yield detector
    finally:
        unregister(detector.name)


def detectors(group: Group | None = None) -> list[Detector]:
    """The registered detectors (of one plot group), in report order."""
    return [d for d in DETECTORS if group is None or d.group == group]


def by_name(name: str) -> Detector | None:
    return next((d for d in DETECTORS if d.name == name), None)


def label(name: str) -> str:
    detector = by_name(name)
    return detector.label if detector else name


def extra_feature_columns() -> dict[str, str]:
    """Feature columns of the detectors that features.py does not compute itself."""
    columns: dict[str, str] = {}
    for detector in DETECTORS:
        if detector.builtin:
            continue
        if detector.pool is not None:
            columns[f"{detector.name}_count"] = "int64"
        columns[detector.name] = detector.dtype
    return columns


def signature() -> str:
    """Names and code of the non-built-in detectors, for the feature cache key."""
    parts = []
    for detector in DETECTORS:
        if detector.builtin:
            continue
        if detector.pool is not None:
            parts.append(f"{detector.name}:{detector.pool!r}")
            continue
        try:  # the function's source: editing it invalidates the cache
            code = inspect.getsource(detector.function)  # type: ignore[arg-type]
        except (OSError, TypeError):
            code = getattr(detector.function, "__qualname__", repr(detector.function))
        parts.append(f"{detector.name}:{detector.kind}:{code}")
    return hashlib.sha1(";".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:16]
