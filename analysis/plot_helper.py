"""A second process that draws some of a report's plots beside it (``analysis.report.PlotHelper``).

Started as ``python -m analysis.plot_helper`` (a fresh interpreter: nothing of the report's process, its
threads or its ``__main__`` is inherited). It imports matplotlib once, then reads pickled job lists
``[(plot function name, arguments, PNG path), ...]`` on stdin and answers each list with the written paths
(None for a plot it could not draw) on its original stdout; its prints go to stderr. It ends at EOF.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys


def main() -> int:
    answers = os.fdopen(os.dup(1), "wb")  # the channel back; anything printed goes to stderr
    os.dup2(2, 1)
    # Ctrl-C reaches the whole process group: the report handles it, and its exit (EOF here) ends this
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):
        os.nice(10)  # a cold report's feature workers come first
    from analysis import plots

    requests = sys.stdin.buffer
    while True:
        try:
            jobs = pickle.load(requests)
        except EOFError:
            return 0
        written = []
        for name, args, path in jobs:
            try:
                written.append(plots.save_figure(getattr(plots, name)(*args), path))
            except Exception:  # noqa: BLE001 - the report draws it again and raises it there
                written.append(None)
        pickle.dump(written, answers)
        answers.flush()


if __name__ == "__main__":
    raise SystemExit(main())
