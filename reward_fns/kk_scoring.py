"""Score = format reward + answer reward, and the veRL ``compute_score`` built on it.

Defaults are the original Logic-RL ones: format +1 / -1; answer +2 correct, -1.5 wrong,
-2 unparsed, -2 skipped (the format failed, so the answer is not read at all).
"""
from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

from reward_fns.kk_answer import GroundTruth, normalize_ground_truth, parse_answer
from reward_fns.kk_format import split_response

logger = logging.getLogger(__name__)

CORRECT = "correct"
WRONG = "wrong"
UNPARSED = "unparsed"
SKIPPED = "skipped"
ANSWER_STATUSES: tuple[str, ...] = (CORRECT, WRONG, UNPARSED, SKIPPED)

# Keys every compute_score result has, always with these types (veRL stacks them per batch).
RESULT_KEYS: tuple[str, ...] = ("score", "acc", "format_ok", "answer_status", "format_error", "answer_wrong", "pred")

# Keyword arguments some veRL reward managers pass to every reward function; not scoring options.
_VERL_PASSTHROUGH_KWARGS = frozenset({"reward_router_address", "reward_model_tokenizer"})


class RewardConfigError(ValueError):
    """Unknown or invalid scoring option (from veRL's ``reward_kwargs``)."""


@dataclass(frozen=True)
class RewardConfig:
    """Reward values; override any of them through veRL ``custom_reward_function.reward_kwargs``."""

    format_score: float = 1.0
    format_penalty: float = -1.0
    answer_correct_score: float = 2.0
    answer_wrong_score: float = -1.5
    answer_unparsed_score: float = -2.0
    answer_skipped_score: float = -2.0
    max_answer_chars: int = 2000

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise RewardConfigError(f"reward option {item.name} must be a number, got {value!r}")
            if item.name == "max_answer_chars":
                if (isinstance(value, float) and not value.is_integer()) or value < 1:
                    raise RewardConfigError(f"reward option max_answer_chars must be a positive integer, got {value!r}")
                object.__setattr__(self, item.name, int(value))
            elif not math.isfinite(value):
                raise RewardConfigError(f"reward option {item.name} must be finite, got {value!r}")
            else:
                object.__setattr__(self, item.name, float(value))

    def score_range(self) -> tuple[float, float]:
        """Lowest and highest total score this configuration can give."""
        reachable = (
            self.format_score + self.answer_correct_score,
            self.format_score + self.answer_wrong_score,
            self.format_score + self.answer_unparsed_score,
            self.format_penalty + self.answer_skipped_score,
        )
        return min(reachable), max(reachable)


DEFAULT_CONFIG = RewardConfig()
_OPTION_NAMES = frozenset(item.name for item in fields(RewardConfig))


def score_range(config: RewardConfig = DEFAULT_CONFIG) -> tuple[float, float]:
    """Lowest and highest total score under ``config`` ([-3, 3] by default)."""
    return config.score_range()


@functools.lru_cache(maxsize=64)
def _cached_config(options: tuple[tuple[str, object], ...]) -> RewardConfig:
    config = RewardConfig(**dict(options))
    logger.debug("reward config from kwargs: %s (score range %s)", config, config.score_range())
    return config


def config_from_kwargs(kwargs: Mapping[str, object]) -> RewardConfig:
    """Build a RewardConfig from compute_score keyword arguments (veRL's own extras are ignored)."""
    options = {key: value for key, value in kwargs.items() if key not in _VERL_PASSTHROUGH_KWARGS}
    if not options:
        return DEFAULT_CONFIG
    unknown = sorted(set(options) - _OPTION_NAMES)
    if unknown:
        raise RewardConfigError(f"unknown reward option(s) {unknown}; known: {sorted(_OPTION_NAMES)}")
    try:
        return _cached_config(tuple(sorted(options.items())))
    except TypeError:  # an unhashable value; RewardConfig itself will reject it
        return RewardConfig(**options)


@dataclass(slots=True)
class ScoreResult:
    """Full scoring outcome; ``to_dict`` is what veRL receives, ``answer_error`` is for debugging."""

    score: float
    format_ok: bool
    answer_status: str
    format_error: str = ""
    answer_error: str = ""
    pred: str = ""

    @property
    def acc(self) -> float:
        return 1.0 if self.answer_status == CORRECT else 0.0

    def to_dict(self) -> dict[str, float | str]:
        return {
            "score": self.score,
            "acc": self.acc,
            "format_ok": 1.0 if self.format_ok else 0.0,
            "answer_status": self.answer_status,
            "format_error": self.format_error,
            "answer_wrong": 1.0 if self.answer_status == WRONG else 0.0,
            "pred": self.pred,
        }


def think_prefilled_from(extra_info: object) -> bool:
    """Read ``extra_info["think_prefilled"]`` (missing or unreadable = False)."""
    if type(extra_info) is not dict and not isinstance(extra_info, Mapping):
        return False
    value = extra_info.get("think_prefilled", False)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    try:
        return bool(value)
    except (TypeError, ValueError):  # e.g. a multi-element numpy array
        return False


def score_response(
    response: object,
    ground_truth: object,
    think_prefilled: bool = False,
    config: RewardConfig = DEFAULT_CONFIG,
) -> ScoreResult:
    """Score one response. Never raises on the response; raises GroundTruthError on a bad key."""
    truth: GroundTruth = normalize_ground_truth(ground_truth)
    parts = split_response(response, think_prefilled)  # type: ignore[arg-type]
    if parts.answer is None:
        return ScoreResult(
            score=config.format_penalty + config.answer_skipped_score,
            format_ok=False,
            answer_status=SKIPPED,
            format_error=parts.format_error,
        )
    parsed = parse_answer(parts.answer, truth, config.max_answer_chars)
    if parsed.assignment is None:
        return ScoreResult(
            score=config.format_score + config.answer_unparsed_score,
            format_ok=True,
            answer_status=UNPARSED,
            answer_error=parsed.error,
        )
    if parsed.assignment == truth.solution:
        return ScoreResult(
            score=config.format_score + config.answer_correct_score,
            format_ok=True,
            answer_status=CORRECT,
            pred=truth.solution_canonical,
        )
    return ScoreResult(
        score=config.format_score + config.answer_wrong_score,
        format_ok=True,
        answer_status=WRONG,
        pred=truth.canonical(parsed.assignment),
    )


def compute_score(
    data_source: object,
    solution_str: object,
    ground_truth: object,
    extra_info: object = None,
    **kwargs: object,
) -> dict[str, float | str]:
    """veRL 0.9.1 ``custom_reward_function`` entry point for K&K puzzles.

    ``data_source`` is informational (every K&K source gets this one scorer);
    ``kwargs`` are scoring options (see RewardConfig) plus veRL's own pass-through arguments.
    """
    config = config_from_kwargs(kwargs) if kwargs else DEFAULT_CONFIG
    result = score_response(solution_str, ground_truth, think_prefilled_from(extra_info), config)
    return result.to_dict()
