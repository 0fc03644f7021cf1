"""Verifiable rewards, one scorer per data source; ``compute_score`` routes by ``data_source``.

Every Knights-and-Knaves source (``kk_logic_5ppl``, ``kk_published_3ppl``, ...) starts with ``kk_``
and goes to :func:`reward_fns.kk.compute_score`; anything else is a configuration error.
"""
from __future__ import annotations

from reward_fns import kk


class UnknownDataSourceError(ValueError):
    """No reward function is registered for this ``data_source``."""


KK_PREFIX = "kk_"


def compute_score(
    data_source: str,
    solution_str: object,
    ground_truth: object,
    extra_info: object = None,
    **kwargs: object,
) -> dict[str, float | str]:
    """Score one response with the reward function of its ``data_source`` (veRL signature)."""
    if isinstance(data_source, str) and data_source.startswith(KK_PREFIX):
        return kk.compute_score(data_source, solution_str, ground_truth, extra_info, **kwargs)
    raise UnknownDataSourceError(
        f"no reward function for data_source {data_source!r}; Knights-and-Knaves sources start with {KK_PREFIX!r}"
    )


__all__ = ["KK_PREFIX", "UnknownDataSourceError", "compute_score"]
