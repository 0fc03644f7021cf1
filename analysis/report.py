"""``python -m analysis report``: features, per-step table, plots and HTML for one run.

Writes into ``OUT``:

* ``per_step.csv`` (rollouts) and ``val_per_step.csv`` (with ``--val``), see
  :mod:`analysis.aggregate`; every row names its ``length_unit``;
* ``acc_by_n_people.csv`` (and ``val_acc_by_n_people.csv``): all-correct ratio
  per step and puzzle size;
* ``metrics.csv`` with ``--metrics`` / ``--wandb-run``;
* PNG plots: ``reward_curves.png``, ``acc_by_n_people.png``, ``length.png``, ``behaviours.png``,
  ``language.png``, ``claims.png``, ``signal.png`` and ``metrics.png`` when metrics are given;
* ``report.html`` (self-contained) and ``timings.json``;
* ``.cache/``: the per-file feature cache (``--cache-dir`` moves it).

Every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.aggregate import acc_by_n_people, per_step
from analysis.collect import DEFAULT_WORKERS, RunFeatures, collect_features, make_counter
from analysis.errors import AnalysisInputError
from analysis.examples import pick_early_late_pairs, pick_examples
from analysis import registry
from analysis.claims import load_puzzle_statements
from analysis.features import CLAIMS_PER_FILE, FeatureOptions
from analysis.html_report import ReportContent, render
from analysis.loading import load_metrics_file, load_wandb_history
from analysis import plots
from data_prep.fileio import atomic_write_text

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[1]

CACHE_DIR_NAME = ".cache"


@dataclass
class ReportResult:
    """What a report run produced."""

    out: Path
    per_step: pd.DataFrame
    val_per_step: pd.DataFrame | None
    files: list[Path]
    timings: dict[str, float | int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> Path:
    return atomic_write_text(path, frame.to_csv(index=False))


def feature_options(max_response_length: int | None, claims_per_file: int = CLAIMS_PER_FILE,
                    puzzles: str | Path | None = None) -> FeatureOptions:
    """The options, with ``--puzzles`` checked and loaded once here (bad input fails fast)."""
    if puzzles is None:
        return FeatureOptions(max_response_length=max_response_length, claims_per_file=claims_per_file)
    root = Path(puzzles)
    if not root.exists():
        raise AnalysisInputError(f"--puzzles path does not exist: {root}")
    files = sorted(root.rglob("*.parquet")) if root.is_dir() else [root]
    stamp = ";".join(f"{f}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    options = FeatureOptions(max_response_length=max_response_length, claims_per_file=claims_per_file,
                             puzzles=str(root.resolve()), puzzles_stamp=hashlib.sha1(stamp.encode()).hexdigest()[:16])
    load_puzzle_statements(options.puzzles, options.puzzles_stamp)  # read once here (workers are forked)
    return options


def load_run_features(
    directory: str | Path,
    cache_dir: str | Path,
    tokenizer: str | Path | None = None,
    max_response_length: int | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: bool = False,
    claims_per_file: int = CLAIMS_PER_FILE,
    puzzles: str | Path | None = None,
) -> RunFeatures:
    """Per-response features of one dump directory (cached); the notebook's entry point."""
    return collect_features(
        directory,
        cache_dir=cache_dir,
        tokenizer=tokenizer,
        options=feature_options(max_response_length, claims_per_file, puzzles),
        workers=workers,
        progress=progress,
    )


def build_report(
    rollouts: str | Path,
    out: str | Path,
    *,
    val: str | Path | None = None,
    metrics: str | Path | None = None,
    wandb_run: str | None = None,
    tokenizer: str | Path | None = None,
    max_response_length: int | None = None,
    cache_dir: str | Path | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: bool = True,
    examples_per_behaviour: int = 2,
    claims_per_file: int = CLAIMS_PER_FILE,
    puzzles: str | Path | None = None,
) -> ReportResult:
    """Compute everything and write the files listed in the module docstring."""
    started = time.perf_counter()
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise AnalysisInputError(f"--out exists and is not a directory: {out_dir}")
    if workers < 1:
        raise AnalysisInputError(f"--workers must be at least 1, got {workers}")
    if max_response_length is not None and max_response_length < 1:
        raise AnalysisInputError(f"--max-response-length must be positive, got {max_response_length}")
    if max_response_length is not None and not tokenizer:
        log.warning("--max-response-length is in tokens and needs --tokenizer; truncation = no closing </answer>")
    cache = Path(cache_dir) if cache_dir else out_dir / CACHE_DIR_NAME
    counter = make_counter(tokenizer)  # fail fast on a bad tokenizer path
    if claims_per_file < 0:
        raise AnalysisInputError(f"--claims-per-file must be 0 (all) or positive, got {claims_per_file}")
    options = feature_options(max_response_length, claims_per_file, puzzles)
    metrics_frame = _load_metrics(metrics, wandb_run)

    # a second process for some of the plots, started now so that its imports overlap the features
    helper = PlotHelper() if workers >= 2 else None
    try:
        train = collect_features(rollouts, cache_dir=cache, tokenizer=tokenizer, options=options,
                                 workers=workers, progress=progress, counter=counter)
        val_run = None
        if val is not None:
            val_run = collect_features(val, cache_dir=cache, tokenizer=tokenizer, options=options,
                                       workers=workers, progress=progress, counter=counter)
        features_done = time.perf_counter()

        train_table = per_step(train.frame, train.length_unit)
        val_table = per_step(val_run.frame, val_run.length_unit) if val_run is not None else None
        aggregates_done = time.perf_counter()

        train_by_n = acc_by_n_people(train.frame)
        val_by_n = acc_by_n_people(val_run.frame) if val_run is not None else None
        files = [write_csv_atomic(train_table, out_dir / "per_step.csv"),
                 write_csv_atomic(train_by_n, out_dir / "acc_by_n_people.csv")]
        if val_run is not None and val_table is not None and val_by_n is not None:
            files.append(write_csv_atomic(val_table, out_dir / "val_per_step.csv"))
            files.append(write_csv_atomic(val_by_n, out_dir / "val_acc_by_n_people.csv"))
        if metrics_frame is not None:
            files.append(write_csv_atomic(metrics_frame, out_dir / "metrics.csv"))

        plot_files = _write_plots(out_dir, train_table, val_table, train.length_unit, metrics_frame, train_by_n, val_by_n,
                                  helper)
    finally:
        if helper is not None:
            helper.close()
    files.extend(path for _, path in plot_files)
    plots_done = time.perf_counter()

    warnings = train.warnings + (val_run.warnings if val_run else [])
    content = ReportContent(
        title=f"Rollout analysis: {Path(rollouts).resolve().name}",
        run_facts=_run_facts(train, val_run, metrics, wandb_run),
        plots=plot_files,
        per_step=train_table,
        val_per_step=val_table,
        examples=_examples(train, examples_per_behaviour),
        pairs=pick_early_late_pairs(train, k=2),
        warnings=warnings,
    )
    files.append(atomic_write_text(out_dir / "report.html", render(content)))
    finished = time.perf_counter()
    timings = {
        "features_s": features_done - started,
        "aggregate_s": aggregates_done - features_done,
        "plots_s": plots_done - aggregates_done,
        "html_s": finished - plots_done,
        "total_s": finished - started,
        "files_computed": train.n_computed + (val_run.n_computed if val_run else 0),
        "files_total": train.n_files + (val_run.n_files if val_run else 0),
        "responses": len(train.frame) + (len(val_run.frame) if val_run else 0),
    }
    files.append(atomic_write_text(out_dir / "timings.json", json.dumps(timings, indent=2)))
    return ReportResult(out_dir, train_table, val_table, files, timings, warnings)


def _load_metrics(metrics: str | Path | None, wandb_run: str | None) -> pd.DataFrame | None:
    frames = []
    if metrics is not None:
        frames.append(load_metrics_file(metrics))
    if wandb_run:
        frames.append(load_wandb_history(wandb_run))
    if not frames:
        return None
    if len(frames) == 1:
        return frames[0]
    return frames[0].merge(frames[1], on="step", how="outer", suffixes=("", "_wandb"))


class PlotHelper:
    """A second process (:mod:`analysis.plot_helper`) that draws the plots which do not read the detector
    registry, beside the report.

    Started at the beginning of a report so that its imports (matplotlib, pandas: ~1 s) overlap the
    features, at nice 10 so that it takes little from a cold report's feature workers. A fresh interpreter
    on pipes: the report keeps no thread while its feature pool forks, and a script that calls
    ``build_report`` is not re-imported. Plots that read the registry (behaviours, language, claims) stay in
    the report's process, where detectors registered at run time exist. What the helper cannot draw, or
    everything if it does not start or dies, is drawn in the report's process.
    """

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(REPO_ROOT), env.get("PYTHONPATH"))))
        try:
            self.process: subprocess.Popen | None = subprocess.Popen(
                [sys.executable, "-m", "analysis.plot_helper"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                env=env)
        except OSError as exc:
            log.warning("drawing every plot in this process (no plot helper: %s)", exc)
            self.process = None

    def draw(self, jobs: list[tuple[str, tuple, Path]]) -> "PlotRequest":
        return PlotRequest(self.process, jobs)

    def close(self) -> None:
        if self.process is None:
            return
        try:
            self.process.stdin.close()  # type: ignore[union-attr] - EOF ends the helper
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()  # type: ignore[union-attr]
        self.process = None


class PlotRequest:
    """Jobs sent to the helper by a short thread (the pipe fills until the helper has imported)."""

    def __init__(self, process: subprocess.Popen | None, jobs: list[tuple[str, tuple, Path]]) -> None:
        self.process, self.jobs, self.sent = process, jobs, False
        self.thread = threading.Thread(target=self._send, daemon=True)
        self.thread.start()

    def _send(self) -> None:
        if self.process is None:
            return
        try:
            pickle.dump(self.jobs, self.process.stdin)
            self.process.stdin.flush()  # type: ignore[union-attr]
            self.sent = True
        except (OSError, ValueError):  # the helper is gone
            pass

    def results(self) -> list[Path | None]:
        """Each job's file, or None where the helper did not draw it (the caller draws those itself)."""
        self.thread.join()
        if not self.sent or self.process is None:
            return [None] * len(self.jobs)
        try:
            return pickle.load(self.process.stdout)  # type: ignore[arg-type]
        except (EOFError, OSError, pickle.UnpicklingError):
            return [None] * len(self.jobs)


def _draw(name: str, args: tuple, path: Path) -> Path:
    return plots.save_figure(getattr(plots, name)(*args), path)


def _write_plots(out_dir: Path, train: pd.DataFrame, val: pd.DataFrame | None, unit: str,
                 metrics: pd.DataFrame | None, train_by_n: pd.DataFrame,
                 val_by_n: pd.DataFrame | None, helper: PlotHelper | None = None) -> list[tuple[str, Path]]:
    # (title, plot function, its arguments, file, whether it reads the detector registry), in report order
    jobs: list[tuple[str, str, tuple, str, bool]] = [
        ("Reward curves", "plot_reward_curves", (train, val), "reward_curves.png", False),
        ("All-correct ratio per puzzle size", "plot_acc_by_n_people", (train_by_n, val_by_n),
         "acc_by_n_people.png", False),
        (f"Response length ({unit})", "plot_lengths", (train, unit), "length.png", False),
        ("Behaviours", "plot_behaviours", (train, unit), "behaviours.png", True),
        ("Language switching", "plot_language", (train,), "language.png", True),
        ("Claims checked against the puzzle", "plot_claims", (train,), "claims.png", True),
        ("Training signal", "plot_signal", (train,), "signal.png", False),
    ]
    if metrics is not None:
        keys = plots.pick_metric_keys(metrics)
        if keys:
            jobs.append(("Logger metrics", "plot_metrics", (metrics, keys), "metrics.png", False))
    mine = [job for job in jobs if helper is None or job[4]]
    theirs = [job for job in jobs if helper is not None and not job[4]]
    request = (helper.draw([(name, args, (out_dir / file).resolve()) for _, name, args, file, _ in theirs])
               if theirs else None)
    paths = {file: _draw(name, args, out_dir / file) for _, name, args, file, _ in mine}
    if request is not None:
        for (_, name, args, file, _), path in zip(theirs, request.results()):
            paths[file] = path if path is not None else _draw(name, args, out_dir / file)
    return [(title, paths[file]) for title, _, _, file, _ in jobs]


def _examples(run: RunFeatures, k: int) -> dict[str, list]:
    return {d.name: pick_examples(run, d.name, k, sort_by=d.sort_by)
            for d in registry.detectors() if d.examples and d.kind == "flag"}


def _run_facts(train: RunFeatures, val: RunFeatures | None, metrics: str | Path | None, wandb_run: str | None) -> dict[str, str]:
    steps = train.frame["step"]
    facts = {
        "rollouts": f"{train.directory} ({train.n_files} files, {len(train.frame)} responses, "
                    f"steps {steps.min() if len(steps) else '-'}..{steps.max() if len(steps) else '-'})",
        "length unit": train.length_unit,
        "format and answer status": "recomputed with reward_fns.kk.compute_score (the training scorer)",
        "behaviour pools": "analysis/patterns.py (sources: Logic-RL, Liu et al. 2025, SimpleRL-Zoo, ours)",
    }
    if val is not None:
        facts["validation"] = f"{val.directory} ({val.n_files} files, {len(val.frame)} responses)"
    if metrics is not None:
        facts["metrics file"] = str(metrics)
    if wandb_run:
        facts["wandb run"] = wandb_run
    return facts
