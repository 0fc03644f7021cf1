"""A small OpenAI-compatible chat server on localhost that can misbehave, for tests and the benchmark.

``python -m evaluation.api_stub [--port 0] [--model stub] [--answers FILE] [--faults FILE] [--latency S]
[--reasoning-field NAME] [--require-key KEY] [--log FILE]``

It prints ``PORT <n>`` on its first stdout line once it listens on 127.0.0.1 (``--port 0`` = any free port).

* ``--answers``: JSON object, last user message -> response text (default: a fixed unparsable answer).
* ``--faults``: JSON object, last user message -> list of actions for its successive attempts; after the
  list the request is answered. Actions: ``"429:S"`` (429 with ``Retry-After: S``), ``"500"``, ``"drop"``
  (the connection is closed without a response), ``"slow:S"`` (answer after S seconds).
* ``--latency``: seconds every answer waits (a server of fixed latency).
* ``--reasoning-field``: split ``<think>X</think>Y`` answers into that message field (X) and content (Y).
* ``--require-key``: answer 401 (echoing the key it got, as some providers do) to any other bearer token.
* ``--log``: one JSON line per request: time, user-message hash, attempt number, action.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from aiohttp import web

DEFAULT_ANSWER = "I cannot tell."
_THINK = re.compile(r"^<think>(.*?)</think>(.*)$", re.S)


def prompt_id(text: str) -> str:
    """Short hash of a user message (what the log records instead of the message)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def make_app(model: str, answers: dict[str, str], faults: dict[str, list[str]], latency: float,
             reasoning_field: str | None, require_key: str | None, log_path: Path | None) -> web.Application:
    attempts: Counter[str] = Counter()
    log = log_path.open("a", encoding="utf-8", buffering=1) if log_path else None

    def note(user: str, attempt: int, action: str) -> None:
        if log is not None:
            log.write(json.dumps({"t": time.time(), "prompt": prompt_id(user), "attempt": attempt,
                                  "action": action}) + "\n")

    def rejected(request: web.Request) -> web.Response | None:
        got = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if require_key is None or got == require_key:
            return None
        return web.json_response({"error": {"message": f"Incorrect API key provided: {got}",
                                            "type": "invalid_request_error"}}, status=401)

    async def models(request: web.Request) -> web.Response:
        if (response := rejected(request)) is not None:
            return response
        return web.json_response({"object": "list", "data": [{"id": model, "object": "model", "owned_by": "stub"}]})

    async def chat(request: web.Request) -> web.StreamResponse:
        if (response := rejected(request)) is not None:
            return response
        body = await request.json()
        if body.get("model") != model:
            return web.json_response({"error": {"message": f"The model `{body.get('model')}` does not exist",
                                                "type": "NotFoundError"}}, status=404)
        user = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        attempts[user] += 1
        attempt = attempts[user]
        plan = faults.get(user, [])
        action = plan[attempt - 1] if attempt <= len(plan) else "ok"
        note(user, attempt, action)
        if action.startswith("429"):
            return web.json_response({"error": {"message": "rate limited"}}, status=429,
                                     headers={"Retry-After": action.partition(":")[2] or "1"})
        if action == "500":
            return web.json_response({"error": {"message": "injected server error"}}, status=500)
        if action == "drop":
            request.transport.abort()  # no status line at all: the client sees a dropped connection
            raise asyncio.CancelledError
        delay = latency + (float(action.partition(":")[2]) if action.startswith("slow") else 0.0)
        if delay:
            await asyncio.sleep(delay)
        text = answers.get(user, DEFAULT_ANSWER)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if reasoning_field and (match := _THINK.match(text)):
            message = {"role": "assistant", "content": match.group(2), reasoning_field: match.group(1)}
        words = len(text.split())
        return web.json_response({
            "id": f"stub-{prompt_id(user)}-{attempt}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(user.split()), "completion_tokens": words,
                      "total_tokens": len(user.split()) + words},
        })

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    if log is not None:
        async def close_log(_: web.Application) -> None:
            log.close()
        app.on_cleanup.append(close_log)
    return app


async def serve(args: argparse.Namespace) -> None:
    answers = json.loads(args.answers.read_text(encoding="utf-8")) if args.answers else {}
    faults = json.loads(args.faults.read_text(encoding="utf-8")) if args.faults else {}
    app = make_app(args.model, answers, faults, args.latency, args.reasoning_field, args.require_key, args.log)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"PORT {port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.api_stub", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", default="stub")
    parser.add_argument("--answers", type=Path)
    parser.add_argument("--faults", type=Path)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--reasoning-field")
    parser.add_argument("--require-key")
    parser.add_argument("--log", type=Path)
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
