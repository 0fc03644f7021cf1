"""Benchmark of ``python -m analysis report`` on a synthetic full-run dump.

    python -m analysis.bench [--responses 200000] [--steps 400] [--workers 2] [--json] [--keep DIR]

Builds a veRL-shaped rollout dump in a temporary directory (default: 400 step
files x 500 responses of about 2.5 KB, ~500 MB, mimicking 8 prompts x 64
rollouts), then runs the report CLI as a subprocess three times:

1. cold: empty feature cache;
2. incremental: after one more step file is added;
3. warm: nothing changed.

It prints wall time per run, CPU seconds of the report and its workers (on a
shared machine, wall time depends on other load; CPU time much less), the
feature+aggregate time the report measured itself (``OUT/timings.json``), and
the peak resident memory of the whole process tree (report + workers),
sampled with psutil every 50 ms.
Figures go to ``docs/benchmarks.md`` by hand; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from data_prep.fileio import atomic_write_bytes
from reward_fns.kk import compute_score

try:
    import orjson

    def _dumps(obj: object) -> bytes:
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover

    def _dumps(obj: object) -> bytes:
        return json.dumps(obj, ensure_ascii=False).encode()


NAMES = ("Zoey", "Oliver", "Ethan", "Sofia", "Liam", "Mia", "Noah", "Ava", "Lucas", "Emma", "Jack", "Chloe")
REPO_ROOT = Path(__file__).resolve().parents[1]

_EN_FILLER = (
    "If {a} is a knight, then {a}'s statement that {b} is a knave must be true.",
    "Since {b} is a knave, {b}'s claim about {a} is false, which fits.",
    "Assume {a} is a knave; then the statement '{b} is a knight' is false.",
    "This means {b} would be a knave as well, and {b} said {a} is a knight.",
    "That is a contradiction, so this assumption does not hold.",
    "Therefore {a} must be a knight and {b} must be a knave.",
    "{a} says that {b} is a knight if and only if {a} is a knight.",
    "Looking at {b}'s statement, a knave always lies, so the opposite holds.",
)
_BEHAVIOUR_SENTENCES = {
    "hesitation": ("Wait, I am not sure about {a} yet, let's verify this later.", "Hmm, tentatively {a} is a knight."),
    "exploration": ("Let's test both possibilities for {a}.", "Alternatively, consider the case where {b} is a knight."),
    "backtracking": ("Let's analyze {b}'s statement again.", "Let me re-examine the first statement."),
    "summary": ("Let's summarize: {a} is a knight so far.", "Now we have determined that {b} is a knave."),
    "final_verify": ("Let's verify all statements with this assignment.", "Double-check: every statement is consistent."),
}
_ZH_FILLER = ("假设{a}是骑士，那么{b}是骑士的说法是真的。", "等等，我们需要重新分析{b}的陈述。", "综上所述，{a}是骑士，{b}是骑士。")


@dataclass
class RunFigures:
    """One timed report run."""

    wall_s: float
    cpu_s: float  # user+system CPU of the report and its workers (contention-independent)
    features_s: float
    aggregate_s: float
    peak_rss_mb: float
    files_computed: int


def synthetic_response(rng: random.Random, names: list[str], solution: list[bool], progress: float, target_chars: int) -> str:
    """A plausible K&K response; behaviours and Chinese grow with ``progress`` (0..1)."""
    a, b = rng.sample(names, 2)
    sentences: list[str] = []
    chinese = rng.random() < 0.05 + 0.1 * progress
    length = 0
    while length < target_chars:
        if chinese and rng.random() < 0.3:
            sentence = rng.choice(_ZH_FILLER).format(a=a, b=b)
        elif rng.random() < 0.15 + 0.2 * progress:
            sentence = rng.choice(_BEHAVIOUR_SENTENCES[rng.choice(list(_BEHAVIOUR_SENTENCES))]).format(a=a, b=b)
        else:
            sentence = rng.choice(_EN_FILLER).format(a=a, b=b)
        sentences.append(sentence)
        length += len(sentence) + 1
    think = " ".join(sentences)
    guess = [value if rng.random() < 0.4 + 0.5 * progress else not value for value in solution]
    answer = "\n".join(f"({i + 1}) {n} is a {'knight' if v else 'knave'}" for i, (n, v) in enumerate(zip(names, guess)))
    roll = rng.random()
    if roll < 0.03:  # cut off at the length cap
        return think
    if roll < 0.06:  # no think close
        return f"{think}\n<answer>\n{answer}\n</answer>"
    return f"{think}\n</think>\n<answer>\n{answer}\n</answer>"


def write_step_file(directory: Path, step: int, responses: int, prompts: int, rng: random.Random, steps_total: int, mean_chars: int) -> None:
    """Write ``<step>.jsonl`` with ``responses`` rows in ``prompts`` groups."""
    per_prompt = max(1, responses // prompts)
    progress = step / max(1, steps_total)
    lines = []
    for p in range(prompts):
        names = rng.sample(NAMES, rng.randint(3, 7))
        solution = [rng.random() < 0.5 for _ in names]
        prompt = f"system\nYou are a helpful assistant.\nuser\nPuzzle {step}-{p}: {', '.join(names)} live on an island.\nassistant\n<think>"
        gts = {
            "names": names,
            "solution": solution,
            "roles": ["knight", "knave"],
            "solution_text": "\n".join(f"({i + 1}) {n} is a {'knight' if v else 'knave'}" for i, (n, v) in enumerate(zip(names, solution))),
        }
        count = per_prompt if p < prompts - 1 else responses - per_prompt * (prompts - 1)
        for _ in range(count):
            output = synthetic_response(rng, names, solution, progress, int(rng.gauss(mean_chars, mean_chars * 0.2)))
            score = compute_score("kk_logic", output, gts, {"think_prefilled": True})["score"]
            lines.append(_dumps({"input": prompt, "output": output, "gts": gts, "score": score, "step": step}))
    atomic_write_bytes(directory / f"{step}.jsonl", b"\n".join(lines) + b"\n")


def make_synthetic_dump(directory: Path, responses: int, steps: int, seed: int = 0, mean_chars: int = 2300) -> int:
    """Fill ``directory`` with ``steps`` step files; returns total bytes written."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    per_step = max(1, responses // steps)
    prompts = max(1, min(8, per_step))
    for step in range(1, steps + 1):
        write_step_file(directory, step, per_step, prompts, rng, steps, mean_chars)
    return sum(p.stat().st_size for p in directory.glob("*.jsonl"))


def _children_cpu() -> float:
    """CPU seconds of all waited-for descendants (the report and the workers it joined)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def timed_report(rollouts: Path, out: Path, workers: int) -> RunFigures:
    """Run the report CLI in a subprocess; wall time and peak tree RSS."""
    command = [sys.executable, "-m", "analysis", "report", "--rollouts", str(rollouts), "--out", str(out),
               "--workers", str(workers), "--no-progress"]
    cpu_before = _children_cpu()
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watcher = psutil.Process(child.pid)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, _tree_rss(watcher))
            except psutil.NoSuchProcess:
                return
            done.wait(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, stderr = child.communicate()
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    done.set()
    thread.join()
    if child.returncode != 0:
        raise RuntimeError(f"report failed ({child.returncode}): {stderr.strip()[-500:]}")
    timings = json.loads((out / "timings.json").read_text())
    return RunFigures(
        wall_s=round(wall, 2),
        cpu_s=round(cpu, 2),
        features_s=round(timings["features_s"], 2),
        aggregate_s=round(timings["aggregate_s"], 2),
        peak_rss_mb=round(peak / 2**20, 1),
        files_computed=timings["files_computed"],
    )


def run_bench(responses: int, steps: int, workers: int, keep: Path | None) -> dict[str, object]:
    """Build the dump, time cold / incremental / warm reports; return the figures."""
    work = Path(tempfile.mkdtemp(prefix="analysis-bench-")) if keep is None else keep
    try:
        rollouts, out = work / "rollouts", work / "out"
        if out.exists():
            shutil.rmtree(out)
        started = time.perf_counter()
        size = make_synthetic_dump(rollouts, responses, steps)
        build_s = time.perf_counter() - started
        cold = timed_report(rollouts, out, workers)
        per_step = max(1, responses // steps)
        write_step_file(rollouts, steps + 1, per_step, max(1, min(8, per_step)), random.Random(1), steps, 2300)
        incremental = timed_report(rollouts, out, workers)
        warm = timed_report(rollouts, out, workers)
        return {
            "responses": per_step * steps,
            "steps": steps,
            "dump_mb": round(size / 2**20, 1),
            "build_s": round(build_s, 1),
            "workers": workers,
            "cpu_count": os.cpu_count(),
            "cold": asdict(cold),
            "incremental": asdict(incremental),
            "warm": asdict(warm),
        }
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=200_000, help="total responses (default 200000)")
    parser.add_argument("--steps", type=int, default=400, help="step files (default 400)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="report worker processes")
    parser.add_argument("--keep", type=Path, default=None, help="build in this directory and keep it")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.responses < 1 or args.steps < 1 or args.workers < 1:
        print("error: --responses, --steps and --workers must be positive", file=sys.stderr)
        return 2
    try:
        figures = run_bench(args.responses, args.steps, args.workers, args.keep)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"synthetic dump: {figures['responses']} responses in {figures['steps']} step files, "
          f"{figures['dump_mb']} MB (built in {figures['build_s']} s); workers={figures['workers']}, cpus={figures['cpu_count']}")
    for name in ("cold", "incremental", "warm"):
        run = figures[name]
        print(f"{name:>12}: wall {run['wall_s']:6.2f} s | cpu {run['cpu_s']:6.1f} s | features {run['features_s']:6.2f} s | "
              f"aggregates {run['aggregate_s']:5.2f} s | peak RSS (tree) {run['peak_rss_mb']:7.1f} MB | "
              f"files computed {run['files_computed']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
