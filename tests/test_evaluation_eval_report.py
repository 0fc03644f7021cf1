"""Evaluation report from metrics written the way veRL 0.9.1 writes them.

The metrics come from veRL's own ``PPOTrainer._val_metrics_update`` (which calls
``process_validation_metrics``) on synthetic per-sample accuracies, and are written by veRL's ``FileLogger``;
the validation dump by ``PPOTrainer._write_generations``. Expected values are recomputed here from the
per-sample accuracies.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.eval_report import REFERENCE_ROWS, main, unbiased_pass_at_k, write_report

PROMPTS_PER_SOURCE = 6
SAMPLES = 4


def _samples(n_people_list: list[int], n: int, seed: int) -> tuple[list[str], list[str], list[float], list[int]]:
    """(data_sources, uids, acc, n_people) for PROMPTS_PER_SOURCE prompts per N with n samples each."""
    rng = np.random.default_rng(seed)
    sources, uids, accs, people = [], [], [], []
    for n_people in n_people_list:
        skill = 1.0 - n_people / 10
        for prompt in range(PROMPTS_PER_SOURCE):
            for _ in range(n):
                sources.append(f"kk_logic_{n_people}ppl")
                uids.append(f"{n_people}-{prompt}")
                accs.append(float(rng.random() < skill))
                people.append(n_people)
    return sources, uids, accs, people


def _write_metrics(path: Path, sources: list[str], uids: list[str], accs: list[float],
                   monkeypatch: pytest.MonkeyPatch) -> None:
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer
    from verl.utils.tracking import FileLogger

    preds = [f"{a:.0f}" for a in accs]
    metrics = PPOTrainer._val_metrics_update(None, sources, uids, {"acc": accs, "score": accs, "pred": preds}, [])
    monkeypatch.setenv("VERL_FILE_LOGGER_PATH", str(path))
    file_logger = FileLogger("logic_rl", "eval")
    file_logger.log({"training/global_step": 0}, step=0)  # a non-validation line first
    file_logger.log(metrics, step=0)
    file_logger.finish()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Greedy (n=1) and sampled (n=4) file-logger metrics for N=2..8, plus the sampled validation dump."""
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer

    folder = tmp_path_factory.mktemp("eval_runs")
    n_people = list(range(2, 9))
    greedy = _samples(n_people, 1, seed=1)
    sampled = _samples(n_people, SAMPLES, seed=2)
    monkeypatch = pytest.MonkeyPatch()
    try:
        _write_metrics(folder / "greedy.jsonl", *greedy[:3], monkeypatch)
        _write_metrics(folder / "sampled.jsonl", *sampled[:3], monkeypatch)
    finally:
        monkeypatch.undo()
    sources, uids, accs, people = sampled
    inputs = [f"user\npuzzle {uid}\nassistant\n<think>" for uid in uids]
    gts = [{"names": [f"p{i}" for i in range(n)], "solution": [True] * n} for n in people]
    PPOTrainer._write_generations(inputs, ["..."] * len(accs), gts, accs, {"acc": accs},
                                  str(folder / "validation"), 0)
    return {"folder": folder, "greedy": greedy, "sampled": sampled}


def _by_people(samples: tuple) -> dict[int, list[list[float]]]:
    _, uids, accs, people = samples
    groups: dict[str, list[float]] = {}
    owner: dict[str, int] = {}
    for uid, acc, n in zip(uids, accs, people):
        groups.setdefault(uid, []).append(acc)
        owner[uid] = n
    result: dict[int, list[list[float]]] = {}
    for uid, values in groups.items():
        result.setdefault(owner[uid], []).append(values)
    return result


def _read_csv(path: Path) -> dict[int, dict[str, str]]:
    with path.open() as handle:
        return {int(row["n_people"]): row for row in csv.DictReader(handle)}


def test_report_values_match_per_sample_accuracy(runs: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = runs["folder"]
    out = tmp_path / "eval" / "tiny"
    rc = main(["--name", "tiny", "--out", str(out), "--greedy", str(folder / "greedy.jsonl"),
               "--sampled", str(folder / "sampled.jsonl")])
    assert rc == 0
    rows = _read_csv(out / "accuracy.csv")
    assert sorted(rows) == list(range(2, 9))
    greedy, sampled = _by_people(runs["greedy"]), _by_people(runs["sampled"])
    for n_people, row in rows.items():
        assert row["data_source"] == f"kk_logic_{n_people}ppl"
        assert float(row["pass1_greedy"]) == pytest.approx(np.mean([g[0] for g in greedy[n_people]]))
        assert float(row["pass1_sampled"]) == pytest.approx(np.mean([np.mean(s) for s in sampled[n_people]]))
        assert int(row["n_samples"]) == SAMPLES and int(row["k"]) == SAMPLES
        assert row["pass_at_k_method"] == "veRL best@k bootstrap"
        # veRL's bootstrap (draws with replacement) can only underestimate the exact pass@n.
        exact = np.mean([float(max(s)) for s in sampled[n_people]])
        assert float(row["pass_at_k"]) <= exact + 1e-9
        assert float(row["pass_at_k"]) >= float(row["pass1_sampled"]) - 1e-9
    printed = capsys.readouterr().out
    assert printed == (out / "accuracy.md").read_text() + "\n"
    assert "| N | data source | greedy pass@1 | T=1 pass@1 | pass@4 | GPT-4o |" in printed
    n8_line = next(line for line in printed.splitlines() if line.startswith("| 8 |"))
    assert n8_line.endswith("| 0.11 | 0.01 | 0.67 |")
    png = (out / "accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert sorted(p.name for p in out.iterdir()) == ["accuracy.csv", "accuracy.md", "accuracy.png"]


def test_dump_gives_unbiased_pass_at_k(runs: dict, tmp_path: Path) -> None:
    folder = runs["folder"]
    files = write_report("tiny", tmp_path, folder / "greedy.jsonl", folder / "sampled.jsonl",
                         sampled_dump=folder / "validation", plot=False)
    assert files.png is None and not (tmp_path / "accuracy.png").exists()
    sampled = _by_people(runs["sampled"])
    for row in files.rows:
        # k = n: a prompt counts as solved iff one of its samples is correct.
        assert row.pass_at_k == pytest.approx(np.mean([float(max(s)) for s in sampled[row.n_people]]))
        assert row.k == SAMPLES and row.pass_at_k_method == "unbiased, from dump"


def test_unbiased_estimator() -> None:
    assert unbiased_pass_at_k(4, 0, 4) == 0.0
    assert unbiased_pass_at_k(4, 1, 4) == 1.0
    assert unbiased_pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert unbiased_pass_at_k(10, 3, 2) == pytest.approx(1 - (7 * 6) / (10 * 9))


def test_greedy_only_and_missing_people_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources, uids, accs, _ = _samples([3, 5], 1, seed=3)
    _write_metrics(tmp_path / "greedy.jsonl", sources, uids, accs, monkeypatch)
    files = write_report("g", tmp_path / "out", tmp_path / "greedy.jsonl", plot=False)
    rows = _read_csv(files.csv)
    assert sorted(rows) == list(range(2, 9))
    assert rows[2]["pass1_greedy"] == "" and rows[2]["data_source"] == ""
    assert rows[3]["pass1_greedy"] != "" and rows[3]["pass1_sampled"] == ""
    assert "| 2 | – | – | – | – | 0.68 | 0.49 | 0.99 |" in files.markdown_text


def test_reference_table_is_complete() -> None:
    assert set(REFERENCE_ROWS) == {"GPT-4o", "Qwen2.5-7B-Instruct-1M", "Logic-RL 7B"}
    assert all(len(values) == 7 for values in REFERENCE_ROWS.values())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        ('{"step": 0, "data": {}}\nnot json\n', "line 2 is not a JSON object"),
        ('[1, 2]\n', "line 1 is not a JSON object"),
        ('{"step": 3, "data": {"actor/lr": 1e-6}}\n', "no validation accuracy metrics"),
        ('{"step": 0, "data": {"val-core/gsm8k/acc/mean@1": 0.5}}\n', "no K&K data source"),
    ],
)
def test_bad_input_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     content: str | None, message: str) -> None:
    metrics = tmp_path / "m.jsonl"
    if content is not None:
        metrics.write_text(content)
    assert main(["--name", "x", "--out", str(tmp_path / "out"), "--greedy", str(metrics)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_dump_without_acc_is_error(tmp_path: Path, runs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    dump = tmp_path / "0.jsonl"
    dump.write_text(json.dumps({"input": "x", "output": "y", "gts": {"names": ["a"]}, "score": 1.0}) + "\n")
    folder = runs["folder"]
    assert main(["--name", "x", "--out", str(tmp_path / "out"), "--greedy", str(folder / "greedy.jsonl"),
                 "--sampled-dump", str(dump)]) == 2
    assert "lacks input/acc/gts.names" in capsys.readouterr().err
