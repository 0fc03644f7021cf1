"""Speed of ``evaluation.api_eval`` against the local stub server (``evaluation.api_stub``).

``python -m evaluation.api_bench [--requests 200] [--latency 0.5] [--json]``

* **Overhead per request**: the client's whole per-response path (``run_requests`` at concurrency 1:
  the openai client, scoring with ``reward_fns``, the fsynced append, progress) against a stub that
  answers at once, minus a bare aiohttp round trip of the same request to the same stub; and the client
  process's CPU time per request, which other jobs on a shared machine disturb much less than wall time.
* **Concurrency scaling**: the stub answers every request after a fixed ``--latency``; throughput at
  C = 1, 2, 4, ..., 32 requests in flight, as a fraction of C x the single-stream throughput.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from evaluation import api_eval

REPO_ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 2, 4, 8, 16, 32)


class StubProcess:
    def __init__(self, *extra: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "evaluation.api_stub", *extra], cwd=REPO_ROOT,
                                     stdout=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline().split()[1])}/v1"

    def __enter__(self) -> "StubProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait()


def _puzzles(work: Path) -> list[api_eval.Puzzle]:
    from data_prep.build import main as build

    with contextlib.redirect_stdout(io.StringIO()):  # the build's summary table is not a figure
        build(["--out", str(work / "kk"), "--train-people", "--test-size", "10", "--no-progress"])
    return api_eval.load_puzzles(api_eval.set_files([work / "kk"]))


def timed_run(url: str, puzzles: list[api_eval.Puzzle], n: int, concurrency: int, dump: Path) -> float:
    """Seconds for ``run_requests`` to get and write ``n`` responses (after its one-request preflight)."""
    args = api_eval.parse_args(["--base-url", url, "--model", "stub", "--out", str(dump.parent),
                                "--concurrency", str(concurrency), "--no-progress"])
    todo = [(puzzles[i % len(puzzles)], i // len(puzzles)) for i in range(n)]
    writer = api_eval.DumpWriter(dump)
    stats = api_eval.Stats()

    async def go() -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        await api_eval.run_requests(args, todo, writer, stats, n, "")
        return time.perf_counter() - start, time.process_time() - cpu

    try:
        seconds, cpu_seconds = asyncio.run(go())
    finally:
        writer.close()
    assert stats.done == n, f"only {stats.done} of {n} responses"
    timed_run.last_cpu = cpu_seconds  # type: ignore[attr-defined]
    return seconds


def bare_round_trip(url: str, puzzle: api_eval.Puzzle, n: int) -> float:
    """Mean seconds of one POST of the same request with a bare aiohttp session (keep-alive)."""
    import aiohttp

    body = {"model": "stub", "messages": puzzle.messages, "temperature": 0.0, "top_p": 1.0, "max_tokens": 4096}

    async def go() -> float:
        async with aiohttp.ClientSession() as session:
            for _ in range(5):
                async with session.post(f"{url}/chat/completions", json=body) as response:
                    await response.json()
            start = time.perf_counter()
            for _ in range(n):
                async with session.post(f"{url}/chat/completions", json=body) as response:
                    await response.json()
            return (time.perf_counter() - start) / n

    return asyncio.run(go())


def openai_round_trip(url: str, puzzle: api_eval.Puzzle, n: int) -> float:
    """Mean seconds of the same request through the bare ``openai`` client (what the library itself costs)."""
    import openai

    async def go() -> float:
        client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY")
        try:
            for i in range(n + 5):
                if i == 5:
                    start = time.perf_counter()
                raw = await client.chat.completions.with_raw_response.create(
                    model="stub", messages=puzzle.messages, temperature=0.0, top_p=1.0, max_tokens=4096, n=1)
                raw.parse()
            return (time.perf_counter() - start) / n
        finally:
            await client.close()

    return asyncio.run(go())


def run(requests: int, latency: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        puzzles = _puzzles(work)
        with StubProcess() as stub:
            timed_run(stub.url, puzzles, 10, 1, work / "warm" / "0.jsonl")  # imports, connection
            full = timed_run(stub.url, puzzles, requests, 1, work / "overhead" / "0.jsonl") / requests
            cpu = timed_run.last_cpu / requests  # type: ignore[attr-defined]
            bare = bare_round_trip(stub.url, puzzles[0], requests)
            library = openai_round_trip(stub.url, puzzles[0], requests)
        scaling = []
        with StubProcess("--latency", str(latency)) as stub:
            single = None
            for concurrency in CONCURRENCY:
                n = 8 * concurrency
                seconds = timed_run(stub.url, puzzles, n, concurrency, work / f"c{concurrency}" / "0.jsonl")
                throughput = n / seconds
                single = single or throughput
                scaling.append({"concurrency": concurrency, "requests": n, "seconds": round(seconds, 3),
                                "throughput": round(throughput, 2),
                                "fraction_of_ideal": round(throughput / (concurrency * single), 3)})
    return {"requests": requests, "full_ms": round(full * 1e3, 3), "bare_ms": round(bare * 1e3, 3),
            "openai_ms": round(library * 1e3, 3),
            "overhead_ms": round((full - bare) * 1e3, 3), "client_cpu_ms": round(cpu * 1e3, 3), "latency_s": latency, "scaling": scaling}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.api_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="sequential requests for the overhead")
    parser.add_argument("--latency", type=float, default=0.5, help="stub latency (s) for the scaling run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.requests, args.latency)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"per request, concurrency 1, stub answering at once ({result['requests']} requests):")
    print(f"  api_eval path {result['full_ms']:.2f} ms, bare aiohttp round trip {result['bare_ms']:.2f} ms, "
          f"client overhead {result['overhead_ms']:.2f} ms")
    print(f"  client CPU time per request (all its threads): {result['client_cpu_ms']:.2f} ms")
    print(f"  of which the bare openai client call costs {result['openai_ms'] - result['bare_ms']:.2f} ms "
          f"(openai round trip {result['openai_ms']:.2f} ms)")
    print(f"scaling at a fixed server latency of {result['latency_s']:g} s:")
    print("  C  requests  seconds  responses/s  fraction of C x single")
    for row in result["scaling"]:
        print(f"{row['concurrency']:3d}  {row['requests']:8d}  {row['seconds']:7.2f}  {row['throughput']:11.2f}  "
              f"{row['fraction_of_ideal']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
