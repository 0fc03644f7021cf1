"""One screen after ``run_scripts/gpu_check.sh``: per run, the steps it ran, its GPU memory and its speed.

    python -m planning.gpu_check RUN_DIR [RUN_DIR ...]

Reads only what every launch writes (``metrics.jsonl`` from veRL's file logger, ``memory.json`` from
``launcher.memwatch``, ``COMPLETED``), so it also summarises any other run.

Columns: steps logged; ``gpu peak`` = the busiest GPU's used memory over the whole run (all its processes,
NVML samples; the rollout phase, with vLLM awake, usually sets it); ``actor peak`` = veRL's
``perf/max_memory_allocated_gb`` of the actor (the log-prob and update phases); ``gen s``/``update s`` =
mean ``timing_s/gen`` and ``timing_s/update_actor``; ``tokens/s/GPU`` = mean ``perf/throughput``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from analysis.loading import read_jsonl


def _values(rows: list[dict], key: str) -> list[float]:
    return [r["data"][key] for r in rows if isinstance(r["data"].get(key), (int, float))]


def _mean(rows: list[dict], key: str) -> float | None:
    values = _values(rows, key)
    return statistics.fmean(values) if values else None


def _max(rows: list[dict], key: str) -> float | None:
    values = _values(rows, key)
    return max(values) if values else None


def summarise(run_dir: Path) -> dict:
    """The figures of one run folder (``None`` where the run did not log them)."""
    rows = [line.record for line in read_jsonl(run_dir / "metrics.jsonl")  # a killed run's half line is skipped
            if line.record.get("step") is not None and isinstance(line.record.get("data"), dict)]
    memory = {}
    if (run_dir / "memory.json").is_file():
        memory = json.loads((run_dir / "memory.json").read_text(encoding="utf-8"))
    return {
        "run": str(run_dir),
        "completed": (run_dir / "COMPLETED").is_file(),
        "steps": len({r["step"] for r in rows}),
        "gpu_peak_gib": memory.get("peak_gpu_used_gib"),
        "actor_peak_gib": _max(rows, "perf/max_memory_allocated_gb"),
        "gen_s": _mean(rows, "timing_s/gen"),
        "update_s": _mean(rows, "timing_s/update_actor"),
        "tokens_per_s_per_gpu": _mean(rows, "perf/throughput"),
        "wall_s": memory.get("wall_s"),
    }


def table(summaries: list[dict]) -> str:
    """A markdown table, one row per run."""
    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = ["| run | done | steps | gpu peak GiB | actor peak GiB | gen s | update s | tokens/s/GPU | wall s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summaries:
        lines.append(
            f"| {s['run']} | {'yes' if s['completed'] else 'NO'} | {s['steps']} | {fmt(s['gpu_peak_gib'], '.1f')} | "
            f"{fmt(s['actor_peak_gib'], '.1f')} | {fmt(s['gen_s'], '.1f')} | {fmt(s['update_s'], '.1f')} | "
            f"{fmt(s['tokens_per_s_per_gpu'], ',.0f')} | {fmt(s['wall_s'], '.0f')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m planning.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (runs/<experiment>/<stage>)")
    args = parser.parse_args(argv)
    missing = [str(run) for run in args.runs if not run.is_dir()]
    if missing:
        print(f"error: no such run folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    summaries = [summarise(run) for run in args.runs]
    print(table(summaries))
    return 0 if all(s["completed"] for s in summaries) else 1


if __name__ == "__main__":
    raise SystemExit(main())
