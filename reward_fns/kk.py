"""veRL entry point for the Knights-and-Knaves reward: ``compute_score`` plus the helpers analysis reuses.

Configure veRL 0.9.1 with::

    reward.custom_reward_function.path=reward_fns/kk.py
    reward.custom_reward_function.name=compute_score

veRL loads this file by path (``importlib.util.spec_from_file_location`` under a synthetic module
name that is never put in ``sys.modules``), where relative imports do not work and dataclasses with
postponed annotations cannot be defined. So this file only re-exports: when it is loaded by path it
makes the repository root importable and imports the real ``reward_fns`` package, so training,
evaluation and analysis all run the very same module objects.
"""
from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent

if __package__ != "reward_fns":  # loaded by file path (veRL) or run as a script
    _repo_root = str(_PACKAGE_DIR.parent)
    if _repo_root not in sys.path:
        sys.path.append(_repo_root)
    import reward_fns as _package

    if Path(_package.__file__).resolve().parent != _PACKAGE_DIR:
        raise ImportError(
            f"{__file__} was loaded by path but 'import reward_fns' resolves to {_package.__file__}; "
            "remove the other copy from sys.path so training and analysis score with the same code"
        )

from reward_fns.kk_answer import (  # noqa: E402
    DEFAULT_ROLES,
    GroundTruth,
    GroundTruthError,
    ParsedAnswer,
    normalize_ground_truth,
    parse_answer,
)
from reward_fns.kk_format import END_OF_TURN_TOKENS, ResponseParts, split_response  # noqa: E402
from reward_fns.kk_scoring import (  # noqa: E402
    ANSWER_STATUSES,
    DEFAULT_CONFIG,
    RESULT_KEYS,
    RewardConfig,
    RewardConfigError,
    ScoreResult,
    compute_score,
    config_from_kwargs,
    score_range,
    score_response,
    think_prefilled_from,
)

__all__ = [
    "ANSWER_STATUSES",
    "DEFAULT_CONFIG",
    "DEFAULT_ROLES",
    "END_OF_TURN_TOKENS",
    "RESULT_KEYS",
    "GroundTruth",
    "GroundTruthError",
    "ParsedAnswer",
    "ResponseParts",
    "RewardConfig",
    "RewardConfigError",
    "ScoreResult",
    "compute_score",
    "config_from_kwargs",
    "normalize_ground_truth",
    "parse_answer",
    "score_range",
    "score_response",
    "split_response",
    "think_prefilled_from",
]
