"""Score any model served behind an OpenAI-compatible chat-completions API on the K&K test sets.

``python -m evaluation.api_eval --base-url URL --model NAME [--api-key-env OPENAI_API_KEY] [--sets PATH ...]
[--samples K] [--temperature T] [--max-tokens M] [--concurrency C] [--max-puzzles P] --out eval/NAME``

Hosted APIs, ``vllm serve``, llama.cpp's server and SGLang all speak this API; requests go through the
``openai`` package's ``AsyncOpenAI`` client, whose own retry does exponential backoff with jitter on
408/409/429/5xx, timeouts and dropped connections, and honours ``Retry-After`` (up to two minutes).

* **Same puzzles, same scorer.** The prompt is the data set's own ``prompt`` messages; every prompt style
  asks for both ``<think>`` and ``<answer>`` tags. A chat API cannot prefill ``<think>`` (a ``base``
  prompt built with ``--prefill-think`` has its trailing ``<think>`` removed), so responses are scored by
  ``reward_fns.kk.compute_score`` with ``think_prefilled=False``, and the report says so.
* **Separate reasoning field** (``reasoning_content`` as DeepSeek and older vLLM name it, ``reasoning`` in
  newer vLLM): such servers cut the ``<think>`` block out of the generated text. The rule
  (:func:`scored_text`): the response scored and analysed is ``<think>`` + reasoning + ``</think>`` +
  content, i.e. the text the model generated; both raw fields are kept in the dump as ``content`` and
  ``reasoning``. Without a reasoning field the content is scored as it is.
* **Responses are data.** Each response is appended, flushed and fsynced, to
  ``OUT/greedy/validation/0.jsonl`` (temperature 0) or ``OUT/sampled/validation/0.jsonl`` in the format of
  veRL's validation dumps (``input``, ``output``, ``gts``, ``score``, ``step`` and the reward extras), so
  ``python -m analysis report --val OUT/sampled/validation`` works on it.
* **Resume.** Running the same command again skips the (puzzle, sample) pairs already in the dump; a
  partial last line (a kill during the write) is cut off first. ``OUT/<mode>/run.json`` holds the
  settings that change responses (model, temperature, top-p, max tokens); a different setting into the
  same folder is refused.
* **Report.** ``accuracy.csv/.md/.png`` through ``evaluation.eval_report.write_accuracy_files`` (the same
  writer and reference rows as ``eval.sh``), from whichever of the greedy and sampled dumps exist.

The key is read from the environment variable named by ``--api-key-env`` and is never written to disk or
printed (error messages have it masked).
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import math
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from analysis.loading import read_jsonl
from data_prep.dataset import split_path
from data_prep.fileio import atomic_write_text
from evaluation.eval_report import (
    ReportFiles,
    ValidationMetrics,
    build_rows,
    pass_at_k_from_dump,
    write_accuracy_files,
)
# The one scorer (a launcher -> reward_fns arrow, so that API scores are the training reward's scores).
from reward_fns.kk import compute_score
from reward_fns.kk_format import THINK_CLOSE, THINK_OPEN

logger = logging.getLogger(__name__)

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_DATA_DIR = Path("data/kk")
DUMP_NAME = "0.jsonl"  # veRL names validation dumps <step>.jsonl; an API run is one step, 0
# Settings that change the responses: resuming into a folder written with other values is refused.
RUN_SETTINGS = ("model", "temperature", "top_p", "max_tokens")
# Errors no retry can fix: stop at once with one line.
_FATAL_STATUS = {400: "bad request", 401: "the server rejected the API key", 403: "permission denied",
                 404: "not found (unknown model, or a base URL without the /v1 path?)", 422: "request rejected"}


class ApiEvalError(Exception):
    """Unusable input or a fatal server answer (one ``error:`` line, exit code 2)."""


@dataclass(frozen=True)
class Puzzle:
    """One test row, ready to send."""

    key: str
    data_source: str
    messages: list[dict[str, str]]
    gts: dict[str, Any]
    input_text: str


@dataclass
class Stats:
    """Running totals for the progress bar and the final summary."""

    done: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    failed: int = 0
    with_reasoning: int = 0
    last_failure: str = ""
    statuses: Counter = field(default_factory=Counter)

    def cost(self, price_in: float | None, price_out: float | None) -> float | None:
        if price_in is None and price_out is None:
            return None
        return (self.prompt_tokens * (price_in or 0.0) + self.completion_tokens * (price_out or 0.0)) / 1e6


# ----------------------------------------------------------------------------------------- puzzles
def set_files(sets: Sequence[Path]) -> list[Path]:
    """Parquet files of ``--sets``: files as given, folders as their ``test.parquet`` or ``{N}ppl/test.parquet``."""
    files: list[Path] = []
    for item in sets:
        if item.is_file():
            files.append(item)
        elif (item / "test.parquet").is_file():  # one {N}ppl folder
            files.append(item / "test.parquet")
        elif item.is_dir():
            found = [p for n in range(2, 100) if (p := split_path(item, n, "test")).is_file()]
            if not found:
                raise ApiEvalError(f"no {{N}}ppl/test.parquet under {item} "
                                   f"(build it with python -m data_prep.build --out {item})")
            files.extend(found)
        else:
            raise ApiEvalError(f"test set not found: {item} (build it with python -m data_prep.build --out "
                               f"{DEFAULT_DATA_DIR})")
    return files


def ensure_default_data() -> None:
    """Build ``data/kk`` once when it is missing, as ``eval.sh`` does (deterministic, a few seconds)."""
    if (DEFAULT_DATA_DIR / "README.md").is_file():
        return
    import contextlib

    from data_prep.build import main as build

    print(f"building the puzzles into {DEFAULT_DATA_DIR} (python -m data_prep.build)", file=sys.stderr)
    with contextlib.redirect_stdout(sys.stderr):
        if build(["--out", str(DEFAULT_DATA_DIR), "--no-progress"]) != 0:
            raise ApiEvalError(f"building the puzzles into {DEFAULT_DATA_DIR} failed")


def render_input(messages: Sequence[dict[str, str]]) -> str:
    """The prompt as veRL's dumps show a decoded ChatML prompt (``role\\ncontent`` lines, then ``assistant``).

    It never ends with ``<think>``, which is how analysis knows the response was not prefilled.
    """
    return "\n".join(f"{m['role']}\n{m['content']}" for m in messages) + "\nassistant\n"


def chat_messages(prompt: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The data set's messages; a trailing prefilled ``<think>`` (``base`` template) is removed."""
    messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]
    last = messages[-1]["content"].rstrip()
    if last.endswith(THINK_OPEN):
        messages[-1]["content"] = last[: -len(THINK_OPEN)].rstrip()
    return messages


def puzzle_key(data_source: str, messages: Sequence[dict[str, str]], gts: dict[str, Any]) -> str:
    """Stable id of what is asked and what is right (the resume key, with the sample index)."""
    blob = json.dumps([data_source, messages, gts], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def load_puzzles(files: Sequence[Path], max_puzzles: int | None = None) -> list[Puzzle]:
    """The rows of each test file (the first ``max_puzzles`` of each when given)."""
    import pyarrow.parquet as pq

    puzzles: list[Puzzle] = []
    seen: set[str] = set()
    for path in files:
        try:
            rows = pq.read_table(path, columns=["data_source", "prompt", "reward_model"]).to_pylist()
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise ApiEvalError(f"cannot read test set {path}: {' '.join(str(exc).split())}") from None
        for number, row in enumerate(rows[:max_puzzles] if max_puzzles else rows):
            try:
                source = str(row["data_source"])
                messages = chat_messages(row["prompt"])
                gts = dict(row["reward_model"]["ground_truth"])
            except (KeyError, TypeError, IndexError) as exc:
                raise ApiEvalError(f"{path} row {number} is not a K&K row (data_source, prompt, "
                                   f"reward_model.ground_truth): {exc}") from None
            key = puzzle_key(source, messages, gts)
            if key not in seen:  # the same puzzle in two sets is asked once
                seen.add(key)
                puzzles.append(Puzzle(key, source, messages, gts, render_input(messages)))
    if not puzzles:
        raise ApiEvalError("the test sets have no rows")
    return puzzles


# ----------------------------------------------------------------------------------------- dump
def read_done(dump: Path) -> set[tuple[str, int]]:
    """(puzzle key, sample) pairs already in the dump; a partial last line is cut off first."""
    if not dump.is_file():
        return set()
    with dump.open("r+b") as handle:
        data = handle.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            logger.warning("%s: dropped a partial last line (%d bytes) left by an interrupted run", dump,
                           len(data) - end)
            handle.truncate(end)
            os.fsync(handle.fileno())
    done: set[tuple[str, int]] = set()
    for line in data[:end].splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            done.add((str(record["puzzle_key"]), int(record["sample"])))
        except (ValueError, KeyError, TypeError):
            raise ApiEvalError(f"{dump} has a line that is not one of this tool's records; "
                               "use a new --out folder") from None
    return done


class DumpWriter:
    """Appends one JSON line per response with a single ``write`` then ``fsync`` (off the event loop)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = asyncio.Lock()

    def _append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)

    async def append(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        async with self._lock:
            await asyncio.to_thread(self._append, data)

    def close(self) -> None:
        os.close(self._fd)


def check_run_settings(mode_dir: Path, settings: dict[str, Any]) -> None:
    """Write ``run.json`` on the first run; refuse to mix settings that change responses."""
    path = mode_dir / "run.json"
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            raise ApiEvalError(f"{path} is not JSON; use a new --out folder") from None
        changed = [f"{k}: {previous.get(k)!r} -> {settings[k]!r}" for k in RUN_SETTINGS
                   if previous.get(k) != settings[k]]
        if changed:
            raise ApiEvalError(f"{mode_dir} holds responses made with other settings ({'; '.join(changed)}); "
                               "use another --out folder")
        return
    atomic_write_text(path, json.dumps(settings, indent=2) + "\n")


# ----------------------------------------------------------------------------------------- scoring
def reasoning_of(message: Any) -> str:
    """The separate reasoning field of a chat message (``reasoning_content`` or ``reasoning``), or ''."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(message, name, None)
        if value is None and isinstance(getattr(message, "model_extra", None), dict):
            value = message.model_extra.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def scored_text(content: str, reasoning: str) -> str:
    """The response that is scored and analysed (the module docstring's rule)."""
    return f"{THINK_OPEN}{reasoning}{THINK_CLOSE}{content}" if reasoning else content


def make_record(puzzle: Puzzle, sample: int, content: str, reasoning: str, extra: dict[str, Any]) -> dict[str, Any]:
    """One dump line: veRL's validation-dump fields, the reward extras, then ours."""
    output = scored_text(content, reasoning)
    result = compute_score(puzzle.data_source, output, puzzle.gts, {"think_prefilled": False})
    return {"input": puzzle.input_text, "output": output, "gts": puzzle.gts, "score": result["score"], "step": 0,
            **{k: v for k, v in result.items() if k != "score"},
            "data_source": puzzle.data_source, "uid": puzzle.key, "puzzle_key": puzzle.key, "sample": sample,
            "content": content, "reasoning": reasoning, **extra}


# ----------------------------------------------------------------------------------------- client
def _mask(text: str, secret: str) -> str:
    text = " ".join(str(text).split())
    return text.replace(secret, "***") if secret else text


def _fatal_message(exc: Exception, args: argparse.Namespace, secret: str) -> str | None:
    """One line for an error no retry can fix, else None."""
    import openai

    if isinstance(exc, openai.APIStatusError) and exc.status_code in _FATAL_STATUS:
        what = _FATAL_STATUS[exc.status_code]
        hint = f" (set {args.api_key_env})" if exc.status_code in (401, 403) else ""
        return _mask(f"{args.base_url} model {args.model!r}: {what}{hint}: HTTP {exc.status_code} {exc.message}",
                     secret)
    return None


async def preflight(client: Any, args: argparse.Namespace, secret: str) -> None:
    """One quick request without retries: a bad URL, a rejected key or an unknown model stops here."""
    import openai

    quick = client.with_options(max_retries=0, timeout=min(args.timeout, 30.0))
    try:
        listed = [model.id async for model in quick.models.list()]
    except openai.APIConnectionError as exc:
        raise ApiEvalError(_mask(f"cannot reach {args.base_url}: {exc.__cause__ or exc}", secret)) from None
    except openai.APIStatusError as exc:
        if exc.status_code == 404:  # no /models endpoint: the first chat request tells
            return
        raise ApiEvalError(_fatal_message(exc, args, secret)
                           or _mask(f"{args.base_url}: HTTP {exc.status_code} {exc.message}", secret)) from None
    if listed and args.model not in listed:
        shown = ", ".join(sorted(listed)[:10]) + (" ..." if len(listed) > 10 else "")
        raise ApiEvalError(f"unknown model {args.model!r} at {args.base_url}; it serves: {shown}")


async def run_requests(args: argparse.Namespace, todo: list[tuple[Puzzle, int]], writer: DumpWriter,
                       stats: Stats, total: int, secret: str) -> None:
    """Send every (puzzle, sample) with ``args.concurrency`` workers; write each response as it arrives."""
    import openai
    from tqdm import tqdm

    client = openai.AsyncOpenAI(base_url=args.base_url, api_key=secret or "EMPTY",
                                max_retries=args.max_retries, timeout=args.timeout)
    try:
        await preflight(client, args, secret)
        queue: asyncio.Queue[tuple[Puzzle, int]] = asyncio.Queue()
        for item in todo:
            queue.put_nowait(item)
        bar = tqdm(total=total, initial=total - len(todo), unit="resp", desc="api_eval", dynamic_ncols=True,
                   disable=args.no_progress, file=sys.stderr)
        fatal: list[str] = []

        def postfix() -> None:
            text = f"tok in {stats.prompt_tokens} out {stats.completion_tokens}, retries {stats.retries}"
            if stats.failed:
                text += f", failed {stats.failed}"
            if (cost := stats.cost(args.price_in, args.price_out)) is not None:
                text += f", ${cost:.4f}"
            bar.set_postfix_str(text, refresh=False)

        async def worker() -> None:
            while not fatal and not queue.empty():
                puzzle, sample = queue.get_nowait()
                started = time.monotonic()
                try:
                    raw = await client.chat.completions.with_raw_response.create(
                        model=args.model, messages=puzzle.messages, temperature=args.temperature,
                        top_p=args.top_p, max_tokens=args.max_tokens, n=1)
                    completion = raw.parse()
                except openai.APIError as exc:
                    message = _fatal_message(exc, args, secret)
                    if message is not None:
                        fatal.append(message)
                        return
                    stats.failed += 1
                    stats.last_failure = _mask(f"{type(exc).__name__}: {exc}", secret)
                    if stats.failed >= args.max_failures:
                        fatal.append(f"{stats.failed} requests failed after {args.max_retries} retries each "
                                     f"(last: {stats.last_failure}); run the same command again to resume")
                    postfix()
                    continue
                choice = completion.choices[0] if completion.choices else None
                message = choice.message if choice is not None else None
                content = (message.content or "") if message is not None else ""
                reasoning = reasoning_of(message) if message is not None else ""
                usage = completion.usage
                extra = {"model": completion.model or args.model,
                         "finish_reason": choice.finish_reason if choice is not None else None,
                         "prompt_tokens": usage.prompt_tokens if usage else None,
                         "completion_tokens": usage.completion_tokens if usage else None,
                         "retries": raw.retries_taken, "latency_s": round(time.monotonic() - started, 4)}
                record = make_record(puzzle, sample, content, reasoning, extra)
                await writer.append(record)
                stats.done += 1
                stats.retries += raw.retries_taken
                stats.with_reasoning += bool(reasoning)
                stats.statuses[record["answer_status"]] += 1
                if usage:
                    stats.prompt_tokens += usage.prompt_tokens or 0
                    stats.completion_tokens += usage.completion_tokens or 0
                postfix()
                bar.update(1)

        try:
            await asyncio.gather(*(worker() for _ in range(max(1, min(args.concurrency, len(todo))))))
        finally:
            bar.close()
        if fatal:
            raise ApiEvalError(fatal[0])
    finally:
        await client.close()


# ----------------------------------------------------------------------------------------- report
def dump_metrics(dump: Path) -> tuple[ValidationMetrics, int]:
    """Per data source mean ``acc`` as ``mean@n`` (n = samples per puzzle), like veRL's metrics."""
    records = [line.record for line in read_jsonl(dump, strict=True)]
    by_source: dict[str, list[float]] = defaultdict(list)
    per_puzzle = Counter(r["puzzle_key"] for r in records)
    for record in records:
        by_source[record["data_source"]].append(float(record["acc"]))
    n = min(per_puzzle.values())
    metrics = {source: {f"mean@{n}": sum(accs) / len(accs)} for source, accs in by_source.items()}
    return ValidationMetrics(path=dump, step=0, by_source=metrics), n


def write_api_report(out_dir: Path, name: str, args: argparse.Namespace, plot: bool = True) -> ReportFiles:
    """accuracy.csv/.md/.png from the greedy and/or sampled dumps under ``out_dir``."""
    greedy_dump = out_dir / "greedy" / "validation" / DUMP_NAME
    sampled_dump = out_dir / "sampled" / "validation" / DUMP_NAME
    greedy = dump_metrics(greedy_dump)[0] if greedy_dump.is_file() else ValidationMetrics(greedy_dump, 0, {})
    sampled, sampled_temperature, pass_at_k = None, args.temperature or 1.0, None
    if sampled_dump.is_file():
        sampled, n = dump_metrics(sampled_dump)
        sampled_temperature = json.loads((out_dir / "sampled" / "run.json").read_text())["temperature"]
        pass_at_k = pass_at_k_from_dump(sampled_dump) if n > 1 else None
    rows = build_rows(greedy, sampled, pass_at_k)
    notes = [
        f"Served through an OpenAI-compatible chat API ({args.base_url}, model {args.model}): a chat API cannot "
        "prefill <think>, so the prompt asks for both tags and responses are scored by reward_fns.kk.compute_score "
        "with think_prefilled=False.",
        "A separate reasoning field (reasoning_content / reasoning) is scored as <think>reasoning</think>content.",
    ]
    sources = [str(p) for p in (greedy_dump, sampled_dump) if p.is_file()]
    return write_accuracy_files(rows, name, out_dir, sampled_temperature, sources, notes, plot=plot)


# ----------------------------------------------------------------------------------------- CLI
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evaluation.api_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1")
    parser.add_argument("--model", required=True, help="model name as the server knows it")
    parser.add_argument("--api-key-env", default=DEFAULT_KEY_ENV,
                        help=f"environment variable holding the key (default {DEFAULT_KEY_ENV}; unset = no key)")
    parser.add_argument("--out", required=True, type=Path, help="output folder, e.g. eval/NAME")
    parser.add_argument("--name", help="name in the table and plot (default: the --out folder's name)")
    parser.add_argument("--sets", nargs="+", type=Path, default=[DEFAULT_DATA_DIR],
                        help="test parquet files or folders of {N}ppl/test.parquet (default data/kk, built "
                             "once if missing)")
    parser.add_argument("--max-puzzles", type=int, help="only the first P puzzles of each set")
    parser.add_argument("--samples", type=int, default=1, help="samples per puzzle (default 1)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=4096, help="response token limit (default 4096)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request attempt (default 600)")
    parser.add_argument("--max-retries", type=int, default=8, help="retries per request (default 8)")
    parser.add_argument("--max-failures", type=int, default=10,
                        help="stop after this many requests failed all retries (default 10)")
    parser.add_argument("--price-in", type=float, help="USD per million prompt tokens (shows cost)")
    parser.add_argument("--price-out", type=float, help="USD per million completion tokens (shows cost)")
    parser.add_argument("--no-plot", action="store_true", help="skip accuracy.png")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    for name in ("samples", "concurrency", "max_tokens", "max_failures"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_puzzles is not None and args.max_puzzles < 1:
        parser.error("--max-puzzles must be at least 1")
    if args.max_retries < 0 or not (args.temperature >= 0 and math.isfinite(args.temperature)):
        parser.error("--max-retries and --temperature must not be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: 0 done, 1 some requests failed (run again to resume), 2 error."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    if not args.verbose:  # httpx logs every request at INFO, the openai client every retry
        logging.getLogger("httpx").setLevel(logging.WARNING)
    secret = os.environ.get(args.api_key_env, "")
    name = args.name or args.out.name
    mode_dir = args.out / ("greedy" if args.temperature == 0 else "sampled")
    try:
        if args.sets == [DEFAULT_DATA_DIR]:
            ensure_default_data()
        puzzles = load_puzzles(set_files(args.sets), args.max_puzzles)
        settings = {k: getattr(args, k) for k in RUN_SETTINGS}
        check_run_settings(mode_dir, {**settings, "base_url": args.base_url, "api_key_env": args.api_key_env})
        dump = mode_dir / "validation" / DUMP_NAME
        done = read_done(dump)
        pairs = [(p, s) for p in puzzles for s in range(args.samples)]
        todo = [(p, s) for p, s in pairs if (p.key, s) not in done]
        stats = Stats()
        if todo:
            writer = DumpWriter(dump)
            try:
                asyncio.run(run_requests(args, todo, writer, stats, len(pairs), secret))
            finally:
                writer.close()
        print(f"{len(pairs) - len(todo)} of {len(pairs)} responses were already in {dump}; "
              f"{stats.done} new ({stats.retries} retries, {stats.prompt_tokens} prompt + "
              f"{stats.completion_tokens} completion tokens, {stats.with_reasoning} with a reasoning field)",
              file=sys.stderr)
        if stats.failed:
            print(f"error: {stats.failed} requests failed after {args.max_retries} retries each "
                  f"(last: {stats.last_failure}); run the same command again to resume", file=sys.stderr)
            return 1
        files = write_api_report(args.out, name, args, plot=not args.no_plot)
    except ApiEvalError as exc:
        print(f"error: {_mask(str(exc), secret)}", file=sys.stderr)
        return 2
    files.announce()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
