"""The two command-line tools: ``reward_fns.check`` (score one response) and ``reward_fns.bench``."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reward_fns import bench, check
from reward_fns.kk import compute_score

REPO = Path(__file__).resolve().parents[1]
GT = {"names": ["Zoey", "Oliver"], "solution": [True, False], "roles": ["knight", "knave"]}
CORRECT = "<think>Zoey is honest.</think>\n<answer>(1) Zoey is a knight\n(2) Oliver is a knave</answer>"


def test_check_scores_a_response_and_explains_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(GT))
    response_file = tmp_path / "response.txt"
    response_file.write_text(CORRECT.replace("Oliver is a knave", "Oliver is a knight or a knave"))
    assert check.main(["--ground-truth", str(gt_file), "--response-file", str(response_file)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["answer_status"] == "unparsed" and result["answer_error"] == "hedged"
    assert result["score"] == -1.0


def test_check_prefilled_mode_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    response = CORRECT.removeprefix("<think>")
    args = ["--ground-truth", json.dumps(GT), "--response", response, "--think-prefilled", "--option", "format_score=0.5"]
    assert check.main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["score"] == 2.5 and result["acc"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ground-truth", "missing.json", "--response", "x"], "neither a JSON object nor a file"),
        (["--ground-truth", "{not json", "--response", "x"], "not valid JSON"),
        (["--ground-truth", json.dumps({"names": ["A"]}), "--response", "x"], "needs 'names' and 'solution'"),
        (["--ground-truth", json.dumps(GT), "--response", "x", "--option", "bogus=1"], "unknown reward option"),
        (["--ground-truth", json.dumps(GT), "--response", "x", "--option", "format_score"], "NAME=VALUE"),
        (["--ground-truth", json.dumps(GT), "--response-file", "/nonexistent/response.txt"], "cannot read"),
    ],
)
def test_check_bad_input_is_one_line_error(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert check.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_check_reads_stdin_as_a_module() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "reward_fns.check", "--ground-truth", json.dumps(GT)],
        input=CORRECT,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["score"] == 3.0


def test_bench_json_reports_the_mix(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--calls", "600", "--repeats", "2", "--samples", "300", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["calls"] == 600 and result["repeats"] == 2
    assert result["responses_per_s_cpu"] > 0 and result["responses_per_s_wall"] > 0
    assert 0.3 <= result["malformed_fraction"] <= 0.37  # "a third malformed"
    assert 1800 <= result["mean_response_chars"] <= 2200  # "2 KB responses"
    assert set(result["status_counts"]) == {"correct", "wrong", "unparsed", "skipped"}
    assert set(result["trailer_1mb_ms_cpu"]) == set(bench.trailer_cases())
    assert all(ms > 0 for ms in result["trailer_1mb_ms_cpu"].values())


def test_bench_trailer_cases_are_one_megabyte_and_score_full_marks() -> None:
    """The timed trailers must be what they claim: about 1 MB of allowed trailer after a correct answer."""
    for kind, (response, ground_truth) in bench.trailer_cases().items():
        trailer = response.split("</answer>", 1)[1]
        assert 990_000 <= len(trailer) <= 1_000_000, kind
        assert compute_score("kk_logic", response, ground_truth)["score"] == 3.0, kind


def test_bench_mix_has_five_to_eight_people_in_grpo_groups() -> None:
    mix = bench.build_mix(64, seed=1, use_numpy=True, group_size=8)
    sizes = {len(ground_truth["names"]) for _, ground_truth, _ in mix}
    assert sizes <= set(range(5, 9)) and len(sizes) > 1
    assert type(mix[0][1]["names"]).__name__ == "ndarray"
    for start in range(0, 64, 8):
        group = mix[start : start + 8]
        assert len({id(ground_truth) for _, ground_truth, _ in group}) == 1  # one puzzle per group
        assert len({response for response, _, _ in group}) == 8  # eight different responses
    assert mix[0][1] is not mix[8][1]


def test_bench_bad_option_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--calls", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
