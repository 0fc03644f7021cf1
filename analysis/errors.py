"""The one exception type the CLI turns into a one-line ``error: ...`` (exit 2)."""

from __future__ import annotations


class AnalysisInputError(Exception):
    """Bad user input: a missing or empty directory, an unreadable file, a bad option."""
