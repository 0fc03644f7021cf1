"""Accuracy on clean and perturbed K&K sets, and the memorisation score LiMem, from one veRL validation dump.

``python -m evaluation.perturb_report --name NAME --out eval/NAME --dump eval/NAME/greedy/validation
--data FILE.parquet [FILE.parquet ...] [--no-plot]``

The dump is the ``trainer.validation_data_dir`` output of the ``trainer.val_only=True`` run that scored the
``--data`` files (clean sets and their twins from ``python -m data_prep.perturb``), so every ``acc`` comes from
the training reward (``reward_fns``). A dump record is matched to its parquet row by the puzzle text, which
the decoded prompt contains verbatim; the row gives the split, N, perturbation and index. A twin is paired
with the clean puzzle of the same split, N and index.

Memorisation score (Xie et al. 2024, "On Memorization of Large Language Models in Logical Reasoning",
arXiv:2410.23123), per split, N and perturbation type, over the clean puzzles whose twin was scored too:

* ``Acc`` = share of those clean puzzles the model solves;
* ``CR`` (consistency ratio) = of the clean puzzles it solves, the share whose twin it also solves;
* ``LiMem = Acc x (1 - CR)``: high when the model solves many puzzles and loses them under a local change.
  0 when nothing is solved (CR is then undefined and left empty).

Writes ``perturbation.csv`` (accuracy by split, N and perturbation), ``limem.csv``, ``perturbation.md``
(printed) and ``perturbation.png`` (clean vs perturbed accuracy by N), each through a temporary file.
"""
from __future__ import annotations

import argparse
import csv
import io
import logging
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pyarrow.parquet as pq

from data_prep.dataset import CLEAN, PERTURBATIONS, TRAIN_SAMPLE
from data_prep.fileio import atomic_write_text
from analysis.errors import AnalysisInputError
from analysis.loading import read_jsonl
from evaluation.eval_report import EvalReportError, dump_file

logger = logging.getLogger(__name__)

# The puzzle text as data_prep renders it; the same pattern finds it in a parquet prompt and in a decoded input.
QUIZ = re.compile(r"A very special island is inhabited only by .*? So who is an? [a-z-]+ and who is an? [a-z-]+\?", re.DOTALL)
SPLITS = ("test", "train")
SPLIT_LABELS = {"test": "test", "train": TRAIN_SAMPLE}
ACC_COLUMNS = ("split", "n_people", "perturbation", "puzzles", "accuracy")
LIMEM_COLUMNS = ("split", "n_people", "perturbation", "pairs", "acc", "solved", "consistent", "cr", "limem")


@dataclass(frozen=True)
class Key:
    """Which puzzle a row is: split, number of people, perturbation, index within its clean set."""

    split: str
    n_people: int
    perturbation: str
    index: int


@dataclass
class LiMemRow:
    split: str
    n_people: int | str  # "all" for the pooled row
    perturbation: str
    pairs: int
    acc: float
    solved: int
    consistent: int

    @property
    def cr(self) -> float | None:
        return self.consistent / self.solved if self.solved else None

    @property
    def limem(self) -> float:
        return self.acc * (1 - self.cr) if self.cr is not None else 0.0


def quiz_of(text: str) -> str | None:
    """The puzzle text in ``text``, whitespace normalised (decoding may not give back every space)."""
    match = QUIZ.search(text)
    return " ".join(match.group(0).split()) if match else None


def read_rows(paths: Sequence[Path]) -> dict[str, list[Key]]:
    """Puzzle text -> the rows that hold it (a text can occur in two sets, e.g. two math-level twins)."""
    by_quiz: dict[str, list[Key]] = defaultdict(list)
    for path in paths:
        if not Path(path).is_file():
            raise EvalReportError(f"data file not found: {path}")
        table = pq.read_table(path, columns=["prompt", "extra_info"])
        for number, (prompt, info) in enumerate(zip(table.column("prompt").to_pylist(), table.column("extra_info").to_pylist())):
            text = "\n".join(message["content"] for message in prompt)
            quiz = quiz_of(text)
            perturbation = (info or {}).get("perturbation")
            if quiz is None or perturbation is None:
                raise EvalReportError(f"{path} row {number} is not a generated K&K puzzle with extra_info.perturbation "
                                      "(build the sets with python -m data_prep.perturb)")
            by_quiz[quiz].append(Key(info["split"], int(info["n_people"]), perturbation, int(info["index"])))
    return by_quiz


def read_scores(dump: Path, by_quiz: dict[str, list[Key]]) -> dict[Key, float]:
    """Key -> mean ``acc`` over its dump records (one per prompt in a greedy run)."""
    dump = dump_file(Path(dump))
    sums: dict[Key, list[float]] = defaultdict(list)
    unmatched = 0
    for line in read_jsonl(dump, strict=True):
        record, number = line.record, line.line_no
        try:
            text, acc = record["input"], float(record["acc"])
        except (KeyError, TypeError, ValueError) as exc:
            raise EvalReportError(f"{dump} line {number} lacks input/acc ({exc})") from exc
        keys = by_quiz.get(quiz_of(text) or "")
        if not keys:
            unmatched += 1
            continue
        for key in keys:
            sums[key].append(acc)
    if not sums:
        raise EvalReportError(f"no record of {dump} matches a puzzle of the --data files")
    if unmatched:
        logger.warning("%d records of %s match no --data puzzle (ignored)", unmatched, dump)
    return {key: sum(values) / len(values) for key, values in sums.items()}


def accuracy_rows(scores: dict[Key, float]) -> list[tuple[str, int, str, int, float]]:
    """(split, N, perturbation, puzzles, accuracy) for every group scored."""
    groups: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    for key, acc in scores.items():
        groups[(key.split, key.n_people, key.perturbation)].append(acc)
    order = {name: i for i, name in enumerate((CLEAN, *PERTURBATIONS))}
    return [(split, n, kind, len(values), sum(values) / len(values))
            for (split, n, kind), values in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], order.get(kv[0][2], 99)))]


def limem_rows(scores: dict[Key, float]) -> list[LiMemRow]:
    """LiMem per (split, N, type) and pooled over N, over clean puzzles whose twin was scored."""
    pairs: dict[tuple[str, str], dict[int, list[tuple[bool, bool]]]] = defaultdict(lambda: defaultdict(list))
    for key, acc in scores.items():
        if key.perturbation == CLEAN:
            continue
        clean = scores.get(Key(key.split, key.n_people, CLEAN, key.index))
        if clean is not None:
            pairs[(key.split, key.perturbation)][key.n_people].append((clean >= 1.0, acc >= 1.0))
    rows = []
    for (split, kind), by_n in sorted(pairs.items(), key=lambda kv: (kv[0][0], PERTURBATIONS.index(kv[0][1]))):
        pooled: list[tuple[bool, bool]] = []
        for n_people in sorted(by_n):
            pooled += by_n[n_people]
            rows.append(_limem(split, n_people, kind, by_n[n_people]))
        rows.append(_limem(split, "all", kind, pooled))
    return rows


def _limem(split: str, n_people: int | str, kind: str, outcomes: list[tuple[bool, bool]]) -> LiMemRow:
    solved = [twin for clean, twin in outcomes if clean]
    return LiMemRow(split, n_people, kind, len(outcomes), len(solved) / len(outcomes), len(solved), sum(solved))


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def markdown(name: str, acc_rows: list, mem_rows: list[LiMemRow], sources: Sequence[str]) -> str:
    lines = [f"## K&K accuracy on clean and perturbed puzzles: {name}", ""]
    kinds = [k for k in (CLEAN, *PERTURBATIONS) if any(row[2] == k for row in acc_rows)]
    for split in SPLITS:
        cells = {(n, kind): (count, acc) for s, n, kind, count, acc in acc_rows if s == split}
        if not cells:
            continue
        lines += [f"**{SPLIT_LABELS[split]}** (accuracy, puzzles in brackets)", "",
                  "| N | " + " | ".join(kinds) + " |", "|---:|" + "---:|" * len(kinds)]
        for n in sorted({n for n, _ in cells}):
            row = [f"{cells[(n, k)][1]:.2f} ({cells[(n, k)][0]})" if (n, k) in cells else "–" for k in kinds]
            lines.append(f"| {n} | " + " | ".join(row) + " |")
        lines.append("")
    if mem_rows:
        lines += ["**LiMem = Acc × (1 − CR)** (Xie et al. 2024): Acc on the clean puzzles that have a scored twin, "
                  "CR = solved twins / solved clean puzzles", "",
                  "| split | N | perturbation | pairs | Acc | CR | LiMem |", "|---|---:|---|---:|---:|---:|---:|"]
        for row in mem_rows:
            lines.append(f"| {SPLIT_LABELS[row.split]} | {row.n_people} | {row.perturbation} | {row.pairs} | "
                         f"{row.acc:.2f} | {_fmt(row.cr)} | {row.limem:.2f} |")
        lines.append("")
    lines += [f"Source: {source}" for source in sources]
    return "\n".join(lines) + "\n"


def plot(acc_rows: list, name: str, path: Path) -> None:
    """Accuracy by N: clean (thick) and each perturbation, one panel per split."""
    from analysis.plots import save_figure  # matplotlib (Agg) only when a figure is drawn

    import matplotlib.pyplot as plt

    splits = [s for s in SPLITS if any(row[0] == s for row in acc_rows)]
    fig, axes = plt.subplots(1, len(splits), figsize=(6 * len(splits), 4.2), squeeze=False)
    for ax, split in zip(axes[0], splits):
        for kind in (*PERTURBATIONS, CLEAN):  # clean last, thick and translucent, so equal curves stay visible
            points = sorted((n, acc) for s, n, k, _, acc in acc_rows if s == split and k == kind)
            if points:
                xs, ys = zip(*points)
                if kind == CLEAN:
                    ax.plot(xs, ys, marker="o", linewidth=5, alpha=0.35, color="black", label=kind, zorder=1)
                else:
                    ax.plot(xs, ys, marker=".", linestyle="--", linewidth=1.5, label=kind, zorder=2)
        ax.set_xticks(sorted({n for s, n, *_ in acc_rows if s == split}))
        ax.set_title(f"{name}: {SPLIT_LABELS[split]}")
        ax.set_xlabel("number of people (N)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


@dataclass
class PerturbReport:
    accuracy: list
    limem: list[LiMemRow]
    markdown_text: str
    files: list[Path]


def write_perturb_report(name: str, out_dir: Path, dump: Path, data: Sequence[Path], plot_png: bool = True) -> PerturbReport:
    scores = read_scores(Path(dump), read_rows(data))
    acc = accuracy_rows(scores)
    mem = limem_rows(scores)
    out_dir = Path(out_dir)
    text = markdown(name, acc, mem, [f"dump {dump_file(Path(dump))}", f"{len(scores)} puzzles scored from {len(data)} files"])
    files = [out_dir / "perturbation.csv", out_dir / "limem.csv", out_dir / "perturbation.md"]
    atomic_write_text(files[0], _csv(ACC_COLUMNS, [(s, n, k, c, round(a, 4)) for s, n, k, c, a in acc]))
    atomic_write_text(files[1], _csv(LIMEM_COLUMNS, [
        (r.split, r.n_people, r.perturbation, r.pairs, round(r.acc, 4), r.solved, r.consistent,
         "" if r.cr is None else round(r.cr, 4), round(r.limem, 4)) for r in mem]))
    atomic_write_text(files[2], text)
    if plot_png:
        files.append(out_dir / "perturbation.png")
        plot(acc, name, files[3])
    return PerturbReport(acc, mem, text, files)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.perturb_report",
                                     description="Accuracy on clean vs perturbed K&K sets and LiMem from a veRL validation dump.")
    parser.add_argument("--name", required=True, help="model/run name shown in the tables and plot")
    parser.add_argument("--out", required=True, type=Path, help="output folder (e.g. eval/NAME)")
    parser.add_argument("--dump", required=True, type=Path, help="validation dump (file or folder) of the val_only run")
    parser.add_argument("--data", required=True, nargs="+", type=Path, help="the parquet files that run scored")
    parser.add_argument("--no-plot", action="store_true", help="skip perturbation.png")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        report = write_perturb_report(args.name, args.out, args.dump, args.data, plot_png=not args.no_plot)
    except AnalysisInputError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(report.markdown_text)
    print("wrote " + ", ".join(str(p) for p in report.files), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
