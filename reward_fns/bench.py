"""Benchmark: K&K responses scored per second on one core over a realistic mix.

The mix: ~2 KB responses, 5-8 people, a third malformed (format failures and unparseable answers
of ten kinds), the rest well-formed and half of those wrong. Responses come in groups of 8 per
puzzle, as a GRPO group of ``rollout.n`` samples, and the ground-truth cache is emptied at each new
puzzle so its first response pays for validation (``--no-gt-cache``: no cache at all). Ground
truths are dicts of lists as veRL's dataset hands them over (``--numpy``: numpy arrays, as after
a pandas read). Each repeat is timed by process CPU time and by wall clock: on a shared machine
the CPU-time rate is the one-core figure, the wall-clock one also counts time spent waiting for a core.

It also times one worst case on its own: a correct response followed by a 1 MB end-of-turn trailer
(whitespace and end-of-turn tokens, which the format allows after ``</answer>``), in three shapes.

    python -m reward_fns.bench [--calls N] [--repeats R] [--numpy] [--no-gt-cache] [--group-size G] [--cpu K] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

from reward_fns.kk import END_OF_TURN_TOKENS, compute_score
from reward_fns.kk_answer import clear_ground_truth_cache, configure_ground_truth_cache

_NAMES = (
    "Zoey", "Oliver", "Ethan", "Mia", "Liam", "Ava", "Noah", "Emma", "Lucas", "Sophia", "Mason",
    "Isabella", "Logan", "Harper", "Aiden", "Evelyn", "Jack", "Abigail", "Owen", "Ella", "Henry",
    "Scarlett", "Samuel", "Grace", "Daniel", "Chloe", "Jacob", "Lily", "Michael", "Aria",
)
_ROLE_PAIRS = (("knight", "knave"), ("knight", "knave"), ("knight", "knave"), ("saint", "sinner"))
_RESPONSE_CHARS = 2000
# Malformed kinds, cycled; the first five break the format, the last five the answer.
_MALFORMED_KINDS = (
    "missing_answer_end", "text_after_answer", "repeated_answer", "missing_think", "empty_think",
    "hedged", "missing_person", "unknown_name", "foreign_role", "prose_answer",
)
# 1 MB end-of-turn trailers: the shortest token back to back (the most tokens per MB), the
# ChatML token one per line, and every token in turn separated by spaces.
_TRAILER_CHARS = 1_000_000
_TRAILER_UNITS = {
    "shortest_token": min(END_OF_TURN_TOKENS, key=len),
    "im_end_lines": END_OF_TURN_TOKENS[0] + "\n",
    "all_tokens_spaced": " ".join(END_OF_TURN_TOKENS) + " ",
}


class BenchError(Exception):
    """Invalid benchmark option."""


@dataclass(frozen=True)
class BenchResult:
    calls: int
    repeats: int
    responses_per_s_cpu: float  # median over repeats, calls / process CPU seconds
    us_per_call_cpu: float
    responses_per_s_wall: float  # median over repeats, calls / wall-clock seconds
    best_responses_per_s_wall: float
    mean_response_chars: float
    malformed_fraction: float
    ground_truth_kind: str
    ground_truth_cache: bool
    group_size: int
    status_counts: dict[str, int]
    trailer_1mb_ms_cpu: dict[str, float]  # median over repeats, one compute_score call each
    python: str
    cpu_affinity: list[int]
    load_average_1min: float | None


def _reasoning(rng: random.Random, names: list[str], roles: tuple[str, str], target_chars: int) -> str:
    """Plausible case-analysis prose of about ``target_chars`` characters."""
    truthful, lying = roles
    sentences: list[str] = []
    length = 0
    while length < target_chars:
        a, b = rng.sample(names, 2)
        sentence = rng.choice(
            (
                f"Assume {a} is a {truthful}. Then {a}'s statement about {b} must be true, so {b} is a {lying}.",
                f"If {b} were a {lying}, then what {b} said about {a} would be false, which contradicts case 2.",
                f"Let me check {a} again: {a} claims that {b} is a {truthful} if and only if {a} is a {lying}.",
                f"So far {a} and {b} are consistent; moving on to the next person in the list.",
                f"Wait, that leads to a contradiction, so {a} cannot be a {truthful} in this branch.",
            )
        )
        sentences.append(sentence)
        length += len(sentence) + 1
    return " ".join(sentences)


def _answer_lines(names: list[str], solution: list[bool], roles: tuple[str, str]) -> list[str]:
    return [
        f"({i + 1}) {name} is a {roles[0] if value else roles[1]}" for i, (name, value) in enumerate(zip(names, solution))
    ]


def _malformed(kind: str, think: str, lines: list[str], names: list[str], roles: tuple[str, str]) -> str:
    answer = "\n".join(lines)
    if kind == "missing_answer_end":
        return f"<think>{think}</think>\n<answer>\n{answer}\n"
    if kind == "text_after_answer":
        return f"<think>{think}</think>\n<answer>\n{answer}\n</answer>\nWait, let me double-check {names[0]} once more."
    if kind == "repeated_answer":
        return f"<think>{think}\n<answer>{answer}</answer></think>\n<answer>\n{answer}\n</answer>"
    if kind == "missing_think":
        return f"{think}\n<answer>\n{answer}\n</answer>"
    if kind == "empty_think":
        return f"<think> </think>\n<answer>\n{answer}\n</answer> {think[:0]}"
    if kind == "hedged":
        lines = [f"{lines[0]} or a {roles[1]}"] + lines[1:]
    elif kind == "missing_person":
        lines = lines[:-1]
    elif kind == "unknown_name":
        lines = [lines[0].replace(names[0], "Zack")] + lines[1:]
    elif kind == "foreign_role":
        lines = [lines[0].replace(roles[0], "liar").replace(roles[1], "liar")] + lines[1:]
    elif kind == "prose_answer":
        lines = [f"After checking every case, the consistent assignment is that {lines[0][4:]}"] + lines[1:]
    return f"<think>{think}</think>\n<answer>\n" + "\n".join(lines) + "\n</answer>"


def build_mix(samples: int, seed: int, use_numpy: bool, group_size: int = 8) -> list[tuple[str, dict, dict]]:
    """``samples`` (response, ground_truth, extra_info) triples of the realistic mix.

    Consecutive runs of ``group_size`` responses answer the same puzzle, like a GRPO group of
    ``rollout.n`` samples; the kinds (correct / wrong / malformed) rotate across all responses.
    """
    rng = random.Random(seed)
    to_array: Callable[[list], object] = list
    if use_numpy:
        import numpy as np

        to_array = np.array
    mix = []
    for i in range(samples):
        if i % group_size == 0:
            people = rng.randint(5, 8)
            names = rng.sample(_NAMES, people)
            roles = rng.choice(_ROLE_PAIRS)
            solution = [rng.random() < 0.5 for _ in names]
            correct_lines = _answer_lines(names, solution, roles)
            ground_truth = {
                "names": to_array(names),
                "solution": to_array(solution),
                "roles": to_array(list(roles)),
                "solution_text": "\n".join(correct_lines),
            }
        lines = correct_lines
        think = _reasoning(rng, names, roles, _RESPONSE_CHARS - sum(len(line) + 1 for line in lines) - 40)
        if i % 3 == 2:
            response = _malformed(_MALFORMED_KINDS[(i // 3) % len(_MALFORMED_KINDS)], think, lines, names, roles)
        else:
            if i % 3 == 1:  # half of the well-formed answers get one role wrong
                flipped = rng.randrange(people)
                lines = _answer_lines(names, [value != (j == flipped) for j, value in enumerate(solution)], roles)
            response = f"<think>{think}</think>\n<answer>\n" + "\n".join(lines) + "\n</answer>"
        extra_info = {"split": "train", "index": i // group_size, "n_people": people, "think_prefilled": False}
        mix.append((response, ground_truth, extra_info))
    return mix


def trailer_cases() -> dict[str, tuple[str, dict]]:
    """Each trailer shape after a correct answer: ``(response, ground_truth)``, about 1 MB each."""
    ground_truth = {"names": ["Zoey", "Oliver"], "solution": [True, False], "roles": ["knight", "knave"]}
    answer = "(1) Zoey is a knight\n(2) Oliver is a knave"
    head = f"<think>Zoey tells the truth, so Oliver lies.</think>\n<answer>\n{answer}\n</answer>"
    return {
        kind: (head + unit * (_TRAILER_CHARS // len(unit)), ground_truth) for kind, unit in _TRAILER_UNITS.items()
    }


def time_trailers(repeats: int) -> dict[str, float]:
    """Median CPU milliseconds of one ``compute_score`` call on each 1 MB trailer case."""
    timings = {}
    for kind, (response, ground_truth) in trailer_cases().items():
        samples = []
        for _ in range(repeats):
            start = time.process_time()
            compute_score(data_source="kk_logic", solution_str=response, ground_truth=ground_truth)
            samples.append(time.process_time() - start)
        timings[kind] = round(statistics.median(samples) * 1e3, 2)
    return timings


def run_bench(
    calls: int,
    repeats: int,
    seed: int = 0,
    use_numpy: bool = False,
    samples: int = 3000,
    ground_truth_cache: bool = True,
    group_size: int = 8,
) -> BenchResult:
    """Time ``repeats`` rounds of ``calls`` compute_score calls (veRL-style keyword arguments)."""
    if min(calls, repeats, samples, group_size) < 1:
        raise BenchError("--calls, --repeats, --samples and --group-size must be positive")
    mix = build_mix(min(samples, calls), seed, use_numpy, group_size)
    statuses = Counter(
        compute_score(data_source="kk_logic", solution_str=r, ground_truth=g, extra_info=e)["answer_status"]
        for r, g, e in mix
    )
    order = [mix[i % len(mix)] for i in range(calls)]
    # The cache is emptied at each group start, so every puzzle's first response pays for
    # validating its ground truth, as the first rollout of each prompt does in training.
    group_starts = [i % len(mix) % group_size == 0 for i in range(calls)]
    configure_ground_truth_cache(4096 if ground_truth_cache else 0)
    cpu_rates, wall_rates = [], []
    try:
        for _ in range(repeats):
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            for (response, ground_truth, extra_info), group_start in zip(order, group_starts):
                if group_start:
                    clear_ground_truth_cache()
                compute_score(
                    data_source="kk_logic", solution_str=response, ground_truth=ground_truth, extra_info=extra_info
                )
            cpu_seconds, wall_seconds = time.process_time() - cpu_start, time.perf_counter() - wall_start
            cpu_rates.append(calls / max(cpu_seconds, 1e-9))
            wall_rates.append(calls / wall_seconds)
    finally:
        configure_ground_truth_cache(4096)
    cpu_rate = statistics.median(cpu_rates)
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return BenchResult(
        calls=calls,
        repeats=repeats,
        responses_per_s_cpu=round(cpu_rate, 1),
        us_per_call_cpu=round(1e6 / cpu_rate, 3),
        responses_per_s_wall=round(statistics.median(wall_rates), 1),
        best_responses_per_s_wall=round(max(wall_rates), 1),
        mean_response_chars=round(statistics.fmean(len(r) for r, _, _ in mix), 1),
        malformed_fraction=round(sum(statuses[s] for s in ("skipped", "unparsed")) / len(mix), 3),
        ground_truth_kind="numpy arrays" if use_numpy else "lists",
        ground_truth_cache=ground_truth_cache,
        group_size=group_size,
        status_counts=dict(sorted(statuses.items())),
        trailer_1mb_ms_cpu=time_trailers(repeats),
        python=platform.python_version(),
        cpu_affinity=affinity,
        load_average_1min=None if load is None else round(load, 2),
    )


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m reward_fns.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300_000, help="compute_score calls per repeat")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (the median is reported)")
    parser.add_argument("--samples", type=int, default=3000, help="distinct responses in the mix")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--numpy", action="store_true", help="ground truth lists as numpy arrays")
    parser.add_argument("--no-gt-cache", action="store_true", help="validate every ground truth afresh")
    parser.add_argument("--group-size", type=int, default=8, help="responses per puzzle (GRPO rollout.n)")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU (Linux)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        if args.cpu is not None:
            if not hasattr(os, "sched_setaffinity") or args.cpu not in os.sched_getaffinity(0):
                raise BenchError(f"--cpu {args.cpu} is not an available CPU")
            os.sched_setaffinity(0, {args.cpu})
        result = run_bench(
            args.calls, args.repeats, args.seed, args.numpy, args.samples, not args.no_gt_cache, args.group_size
        )
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(f"responses scored per second, one core (CPU time, median of {result.repeats}): "
              f"{result.responses_per_s_cpu:,.0f}  ({result.us_per_call_cpu:.2f} us/response)")
        print(f"responses scored per second, wall clock: median {result.responses_per_s_wall:,.0f}, "
              f"best {result.best_responses_per_s_wall:,.0f}")
        print(f"mix: {result.calls:,} calls/repeat, {result.mean_response_chars:.0f} chars/response, "
              f"{result.malformed_fraction:.0%} malformed, ground truth as {result.ground_truth_kind}, "
              f"{result.group_size} responses per puzzle, "
              f"ground-truth cache {'on (emptied at every puzzle)' if result.ground_truth_cache else 'off'}")
        print(f"answer statuses: {result.status_counts}")
        trailers = ", ".join(f"{kind} {ms:.1f} ms" for kind, ms in result.trailer_1mb_ms_cpu.items())
        print(f"one response with a 1 MB end-of-turn trailer (CPU time, median of {result.repeats}): {trailers}")
        print(f"python {result.python}, cpu affinity {result.cpu_affinity}, load average {result.load_average_1min}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
