"""Command line: ``python -m analysis {report,features,summary}``.

Bad input (missing/empty directory, unreadable tokenizer, bad option) prints
one ``error: ...`` line to stderr and exits with status 2; skipped lines in
dumps print one ``warning: ...`` line each and the good data is analysed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from analysis.collect import DEFAULT_WORKERS
from analysis.errors import AnalysisInputError
from analysis.features import CLAIMS_PER_FILE

EXIT_INPUT_ERROR = 2

SUMMARY_COLUMNS = ("step", "n_responses", "reward_mean", "acc", "format_error_rate", "len_mean",
                   "final_verify_rate", "lang_switch_rate", "zero_variance_group_rate")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rollouts", type=Path, default=None,
                        help="directory of <step>.jsonl rollout dumps (report: defaults to --val, e.g. an evaluation)")
    parser.add_argument("--tokenizer", type=Path, default=None,
                        help="local tokenizer folder: lengths in tokens (default: whitespace words)")
    parser.add_argument("--max-response-length", type=int, default=None,
                        help="rollout length cap in tokens (with --tokenizer): truncated = no </answer> at the cap")
    parser.add_argument("--cache-dir", type=Path, default=None, help="feature cache directory")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help=f"processes (default {DEFAULT_WORKERS})")
    parser.add_argument("--claims-per-file", type=int, default=CLAIMS_PER_FILE,
                        help=f"responses per dump file whose claims are checked (default {CLAIMS_PER_FILE}; 0 = all)")
    parser.add_argument("--puzzles", type=Path, default=None,
                        help="training parquet file or folder: puzzle statements for claim checking (dumps lack them)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Rollout analysis for Logic-RL runs.")
    commands = parser.add_subparsers(dest="command", required=True)

    report = commands.add_parser("report", help="per_step.csv, plots and report.html for a run")
    _common(report)
    report.add_argument("--val", type=Path, default=None, help="directory of validation dumps")
    report.add_argument("--metrics", type=Path, default=None, help="veRL file-logger jsonl")
    report.add_argument("--wandb-run", default=None, help="entity/project/run_id (needs network and login)")
    report.add_argument("--out", required=True, type=Path, help="output directory")
    report.add_argument("--examples", type=int, default=2, help="example responses per behaviour (default 2)")

    features = commands.add_parser("features", help="per-response features as parquet or csv")
    _common(features)
    features.add_argument("--out", required=True, type=Path, help="output file (.parquet or .csv)")
    features.add_argument("--with-text", action="store_true", help="add think and answer text columns")

    summary = commands.add_parser("summary", help="print the first and last steps of the per-step table")
    _common(summary)
    summary.add_argument("--rows", type=int, default=5, help="rows from each end (default 5)")
    return parser


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("analysis")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    for level, name in ((logging.WARNING, "warning"), (logging.ERROR, "error"), (logging.INFO, "info"), (logging.DEBUG, "debug")):
        logging.addLevelName(level, name)


def _run_report(args: argparse.Namespace) -> int:
    from analysis.report import build_report

    result = build_report(
        args.rollouts, args.out, val=args.val, metrics=args.metrics, wandb_run=args.wandb_run,
        tokenizer=args.tokenizer, max_response_length=args.max_response_length, cache_dir=args.cache_dir,
        workers=args.workers, progress=not args.no_progress, examples_per_behaviour=args.examples,
        claims_per_file=args.claims_per_file, puzzles=args.puzzles,
    )
    timings = result.timings
    print(f"wrote {len(result.files)} files to {result.out} "
          f"({timings['responses']} responses, {timings['files_computed']}/{timings['files_total']} files computed, "
          f"{timings['total_s']:.1f} s)")
    return 0


def _run_features(args: argparse.Namespace) -> int:
    from analysis.export import export_features

    path = export_features(
        args.rollouts, args.out, tokenizer=args.tokenizer, max_response_length=args.max_response_length,
        cache_dir=args.cache_dir, workers=args.workers, progress=not args.no_progress, with_text=args.with_text,
        claims_per_file=args.claims_per_file, puzzles=args.puzzles,
    )
    print(f"wrote {path}")
    return 0


def _run_summary(args: argparse.Namespace) -> int:
    import tempfile

    import pandas as pd

    from analysis.aggregate import per_step
    from analysis.report import load_run_features

    with tempfile.TemporaryDirectory(prefix="analysis-cache-") as scratch:
        run = load_run_features(args.rollouts, args.cache_dir or scratch, args.tokenizer, args.max_response_length,
                                args.workers, not args.no_progress, args.claims_per_file, args.puzzles)
    table = per_step(run.frame, run.length_unit)
    rows = max(1, args.rows)
    shown = table if len(table) <= 2 * rows else pd.concat([table.head(rows), table.tail(rows)])
    print(f"{run.directory}: {len(run.frame)} responses in {run.n_files} files; lengths in {run.length_unit}")
    print(shown[list(SUMMARY_COLUMNS)].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    handlers = {"report": _run_report, "features": _run_features, "summary": _run_summary}
    if args.rollouts is None:
        # an evaluation has only validation dumps: they are the responses to analyse
        if args.command == "report" and args.val is not None:
            args.rollouts = args.val
        else:
            print("error: --rollouts DIR is required" + (" (or --val DIR)" if args.command == "report" else ""),
                  file=sys.stderr)
            return 2
    try:
        return handlers[args.command](args)
    except AnalysisInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except OSError as exc:  # e.g. an unwritable --out
        target = f" {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{target}", file=sys.stderr)
        return EXIT_INPUT_ERROR


if __name__ == "__main__":
    sys.exit(main())
