"""Rollout analysis for Logic-RL runs: reward curves, lengths, emergent behaviours, language switching,
claim checking.

Reads veRL rollout/validation dumps and metric logs from disk (never the training process).
Entry points: ``python -m analysis report|features|summary`` (:mod:`analysis.cli`),
:func:`analysis.report.build_report`, :func:`analysis.report.load_run_features`.
See ``analysis/README.md``.
"""
