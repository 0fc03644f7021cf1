"""The Knights-and-Knaves verifiable reward. veRL, evaluation and analysis all call
:func:`reward_fns.kk.compute_score`; ``data_source`` does not select the scorer (there is one)."""
