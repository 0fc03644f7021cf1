"""The OpenAI-compatible evaluation client against real servers on localhost.

The servers are ``evaluation.api_stub`` (aiohttp) in a separate process: it answers from a table the test
builds from the puzzles' ground truth, and injects 429 + Retry-After, 500, dropped connections and slow
answers. The client is the real CLI (in-process, or a subprocess that is SIGKILLed). Expected accuracies
are recomputed here from which answers the table made right. All traffic stays on 127.0.0.1.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from evaluation import api_eval
from evaluation.api_stub import prompt_id

REPO_ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk-test-0123456789abcdef-never-on-disk"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from data_prep.build import main as build

    out = tmp_path_factory.mktemp("kk")
    assert build(["--out", str(out), "--train-people", "--test-size", "4", "--no-progress"]) == 0
    return out


def _rows(data_dir: Path, people: list[int]) -> list[dict]:
    rows = []
    for n in people:
        rows += pq.read_table(data_dir / f"{n}ppl" / "test.parquet").to_pylist()
    return rows


def _answer(row: dict, right: bool) -> str:
    """A well-formed response whose answer is the solution, or the solution with the first role flipped."""
    gts = row["reward_model"]["ground_truth"]
    truthful, lying = gts["roles"]
    lines = [f"({i + 1}) {name} is a {truthful if (good == (i > 0 or right)) else lying}"
             for i, (name, good) in enumerate(zip(gts["names"], gts["solution"]))]
    return f"<think>Check each statement.</think>\n<answer>\n" + "\n".join(lines) + "\n</answer>"


class Stub:
    """``python -m evaluation.api_stub`` in its own process group."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        self.log = tmp / "stub_log.jsonl"
        self.proc = subprocess.Popen([sys.executable, "-m", "evaluation.api_stub", "--log", str(self.log), *extra],
                                     cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), line
        self.url = f"http://127.0.0.1:{int(line.split()[1])}/v1"

    def requests(self) -> list[dict]:
        if not self.log.is_file():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def stub_factory(tmp_path: Path):
    stubs: list[Stub] = []

    def start(*extra: str) -> Stub:
        stubs.append(Stub(tmp_path, *extra))
        return stubs[-1]

    yield start
    for stub in stubs:
        stub.stop()


def _dump(out: Path, mode: str = "greedy") -> list[dict]:
    path = out / mode / "validation" / "0.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _user_of(record: dict) -> str:
    """The user message inside a dump's rendered ``input``."""
    return record["input"].rsplit("\nuser\n", 1)[1].removesuffix("\nassistant\n")


def _csv(out: Path) -> dict[int, dict[str, str]]:
    with (out / "accuracy.csv").open() as handle:
        return {int(row["n_people"]): row for row in csv.DictReader(handle)}


def test_faults_are_retried_and_the_result_is_complete(data_dir, stub_factory, tmp_path, capsys):
    rows = _rows(data_dir, [2, 3])
    right = {i: i % 3 != 1 for i in range(len(rows))}
    users = [row["prompt"][-1]["content"] for row in rows]
    answers = {users[i]: _answer(row, right[i]) for i, row in enumerate(rows)}
    faults = {users[0]: ["429:1", "500", "drop", "slow:5"], users[5]: ["500", "500"]}
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    (tmp_path / "faults.json").write_text(json.dumps(faults))
    stub = stub_factory("--answers", str(tmp_path / "answers.json"), "--faults", str(tmp_path / "faults.json"),
                        "--reasoning-field", "reasoning_content")
    out = tmp_path / "out"
    code = api_eval.main(["--base-url", stub.url, "--model", "stub", "--sets", str(data_dir / "2ppl"),
                          str(data_dir / "3ppl" / "test.parquet"), "--out", str(out), "--timeout", "2",
                          "--max-retries", "6", "--concurrency", "3", "--no-plot", "--no-progress"])
    printed = capsys.readouterr()
    assert code == 0, printed.err

    # the server saw the planned faults, in order, then one success per puzzle
    log = stub.requests()
    first = [r for r in log if r["prompt"] == prompt_id(users[0])]
    assert [r["action"] for r in first] == ["429:1", "500", "drop", "slow:5", "ok"]
    assert first[1]["t"] - first[0]["t"] >= 1.0, "Retry-After: 1 was not honoured"
    assert [r["action"] for r in log if r["prompt"] == prompt_id(users[5])] == ["500", "500", "ok"]
    assert sum(r["action"] == "ok" for r in log) == len(rows)

    dump = _dump(out)
    assert len(dump) == len(rows) == len({r["puzzle_key"] for r in dump})
    retries = {_user_of(r): r["retries"] for r in dump}
    assert retries[users[0]] == 4 and retries[users[5]] == 2 and sum(retries.values()) == 6
    # reasoning came in a separate field: the scored output is <think>reasoning</think>content again
    assert all(r["reasoning"] == "Check each statement." for r in dump)
    assert sorted(r["output"] for r in dump) == sorted(answers.values())

    table = _csv(out)
    for n in (2, 3):
        expected = [right[i] for i, row in enumerate(rows) if len(row["reward_model"]["ground_truth"]["names"]) == n]
        assert float(table[n]["pass1_greedy"]) == pytest.approx(sum(expected) / len(expected))
    assert table[4]["pass1_greedy"] == ""
    assert "think_prefilled=False" in printed.out and "| N | data source | greedy pass@1" in printed.out


def test_sampled_run_gives_pass_at_k_and_analysis_reads_the_dump(data_dir, stub_factory, tmp_path, capsys):
    rows = _rows(data_dir, [4])
    users = [row["prompt"][-1]["content"] for row in rows]
    answers = {users[i]: _answer(row, i < 2) for i, row in enumerate(rows)}
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    stub = stub_factory("--answers", str(tmp_path / "answers.json"))
    out = tmp_path / "out"
    code = api_eval.main(["--base-url", stub.url, "--model", "stub", "--sets", str(data_dir / "4ppl" / "test.parquet"),
                          "--out", str(out), "--samples", "3", "--temperature", "1.0", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    table = _csv(out)
    assert float(table[4]["pass1_sampled"]) == pytest.approx(0.5) and table[4]["n_samples"] == "3"
    assert float(table[4]["pass_at_k"]) == pytest.approx(0.5) and table[4]["k"] == "3"
    assert (out / "accuracy.png").stat().st_size > 0

    from analysis.cli import main as analysis_main

    val = out / "sampled" / "validation"
    assert analysis_main(["report", "--val", str(val), "--out", str(tmp_path / "an"),
                          "--no-progress"]) == 0
    with (tmp_path / "an" / "val_per_step.csv").open() as handle:
        (step,) = list(csv.DictReader(handle))
    # analysis rescored the same responses with the same scorer and found the stored scores
    assert int(step["n_responses"]) == 12 and int(step["n_groups"]) == 4
    assert float(step["acc"]) == pytest.approx(0.5) and float(step["score_mismatch_rate"]) == 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("case", ["bad_url", "unknown_model", "rejected_key"])
def test_fatal_errors_stop_at_once_with_one_line(case, data_dir, stub_factory, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KK_TEST_KEY", SECRET)
    stub = stub_factory("--require-key", "sk-the-right-one") if case != "bad_url" else None
    url = f"http://127.0.0.1:{_free_port()}/v1" if case == "bad_url" else stub.url
    model = "no-such-model" if case == "unknown_model" else "stub"
    if case == "unknown_model":
        monkeypatch.setenv("KK_TEST_KEY", "sk-the-right-one")
    out = tmp_path / "out"
    code = api_eval.main(["--base-url", url, "--model", model, "--api-key-env", "KK_TEST_KEY",
                          "--sets", str(data_dir / "2ppl"), "--out", str(out), "--no-progress"])
    printed = capsys.readouterr()
    errors = [line for line in printed.err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1, printed.err
    assert {"bad_url": "cannot reach", "unknown_model": "unknown model 'no-such-model'",
            "rejected_key": "rejected the API key (set KK_TEST_KEY)"}[case] in errors[0]
    if stub is not None:
        assert stub.requests() == []  # stopped by the first, quick check: no chat request was sent
    # the key never reaches the output or the disk (the stub echoed it back in its 401 body)
    assert SECRET not in printed.err + printed.out
    for path in out.rglob("*") if out.exists() else []:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes()


def test_kill_mid_run_then_resume_loses_and_duplicates_nothing(data_dir, stub_factory, tmp_path):
    stub = stub_factory("--latency", "0.15")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "evaluation.api_eval", "--base-url", stub.url, "--model", "stub",
               "--sets", str(data_dir), "--samples", "3", "--temperature", "0.7", "--concurrency", "4",
               "--out", str(out), "--no-plot", "--no-progress"]
    dump = out / "sampled" / "validation" / "0.jsonl"
    first = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not dump.exists() or dump.read_bytes().count(b"\n") < 20):
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    before = dump.read_bytes()
    kept = before[: before.rfind(b"\n") + 1]
    total = 7 * 4 * 3
    assert 20 <= kept.count(b"\n") < total, "the kill did not land mid-run"
    # a kill during a write leaves a partial line: the resumed run must cut it off, not glue onto it
    with dump.open("ab") as handle:
        handle.write(b'{"input": "a response cut by the ki')

    restarted = time.time()
    second = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    after = dump.read_bytes()
    assert after.startswith(kept)  # nothing written before the kill was rewritten
    records = [json.loads(line) for line in after.splitlines()]
    pairs = Counter((r["puzzle_key"], r["sample"]) for r in records)
    assert len(records) == total and len(pairs) == total and max(pairs.values()) == 1
    assert Counter(r["puzzle_key"] for r in records) == Counter({k: 3 for k, _ in pairs})
    # the second run asked only for what was missing
    asked = [r for r in stub.requests() if r["t"] >= restarted]
    assert len(asked) == total - kept.count(b"\n")
    assert f"{len(kept.splitlines())} of {total} responses were already in" in second.stderr


def test_resume_refuses_other_settings_and_the_prefill_is_removed(data_dir, stub_factory, tmp_path, capsys):
    stub = stub_factory()
    out = tmp_path / "out"
    base = ["--base-url", stub.url, "--model", "stub", "--sets", str(data_dir / "2ppl"), "--out", str(out),
            "--no-plot", "--no-progress"]
    assert api_eval.main(base) == 0
    assert api_eval.main(base + ["--max-tokens", "77"]) == 2
    assert "max_tokens: 4096 -> 77" in capsys.readouterr().err
    for record in _dump(out):
        assert not record["input"].rstrip().endswith("<think>")
        assert record["format_error"] == "missing_think"  # scored without a prefilled <think>

    from data_prep.build import main as build

    base_set = tmp_path / "kk_base"
    assert build(["--out", str(base_set), "--train-people", "--test-people", "2", "--test-size", "2",
                  "--template", "base", "--prefill-think", "--no-progress"]) == 0
    prompt = pq.read_table(base_set / "2ppl" / "test.parquet").to_pylist()[0]["prompt"]
    assert prompt[-1]["content"].endswith("<think>")
    messages = api_eval.chat_messages(prompt)
    assert messages[-1]["content"].endswith("Assistant:")


def test_reasoning_field_rule_on_real_client_messages():
    from openai.types.chat import ChatCompletionMessage

    for name in ("reasoning_content", "reasoning"):
        message = ChatCompletionMessage.model_validate({"role": "assistant", "content": "<answer>x</answer>",
                                                        name: "thinking"})
        assert api_eval.reasoning_of(message) == "thinking"
        assert api_eval.scored_text(message.content, api_eval.reasoning_of(message)) == \
            "<think>thinking</think><answer>x</answer>"
    plain = ChatCompletionMessage.model_validate({"role": "assistant", "content": "<think>a</think>b"})
    assert api_eval.reasoning_of(plain) == ""
    assert api_eval.scored_text(plain.content, "") == "<think>a</think>b"


def test_default_sets_are_built_once_like_eval_sh(stub_factory, tmp_path, monkeypatch, capsys):
    stub = stub_factory()
    monkeypatch.chdir(tmp_path)
    assert api_eval.main(["--base-url", stub.url, "--model", "stub", "--out", "eval/x", "--max-puzzles", "1",
                          "--no-plot", "--no-progress"]) == 0
    assert "building the puzzles into data/kk" in capsys.readouterr().err
    assert sorted(p.parent.name for p in (tmp_path / "data" / "kk").glob("*ppl/test.parquet")) == \
        [f"{n}ppl" for n in range(2, 9)]
    assert len(_dump(tmp_path / "eval" / "x")) == 7
