"""The one exception type data_prep raises for bad requests and bad input files.

CLIs catch it in ``main`` and print ``error: <message>`` on one line (exit code 2).
"""
from __future__ import annotations


class DataPrepError(ValueError):
    """A request or input file that data_prep cannot honour; the message names the problem."""
