"""Importer of published K&K jsonl files, on the fixture tests/data/kk_published_fixture.jsonl."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reward_fns.kk import compute_score
from data_prep import import_kk
from data_prep.dataset import SCHEMA
from data_prep.statements import statements_from_json
from kk_brute_force import holds

FIXTURE = Path(__file__).parent / "data" / "kk_published_fixture.jsonl"


def fixture_records() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def call_main(args: list[str]) -> int:
    try:
        return import_kk.main(args)
    except SystemExit as exc:
        return int(exc.code)


def test_import_fixture(tmp_path, capsys):
    out = tmp_path / "published"
    assert call_main([str(FIXTURE), "--out", str(out), "--no-progress"]) == 0
    records = fixture_records()
    assert f"imported {len(records)} records" in capsys.readouterr().out
    by_n: dict[int, list[dict]] = {}
    for record in records:
        by_n.setdefault(len(record["names"]), []).append(record)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet")) == [f"{n}ppl/test.parquet" for n in sorted(by_n)]
    for n_people, expected in by_n.items():
        table = pq.read_table(out / f"{n_people}ppl" / "test.parquet")
        assert table.schema.remove_metadata() == SCHEMA
        rows = table.to_pylist()
        assert len(rows) == len(expected)
        for row, record in zip(rows, expected):
            assert row["data_source"] == f"kk_published_{n_people}ppl"
            assert row["prompt"][1] == {"role": "user", "content": record["quiz"]}  # original text kept verbatim
            gt = row["reward_model"]["ground_truth"]
            assert gt["names"] == record["names"] and gt["solution"] == record["solution"]
            assert gt["solution_text"] == record["solution_text_format"]
            assert gt["roles"] == [record["knight_knave"]["knight"], record["knight_knave"]["knave"]]
            parsed = ast.literal_eval(record["statements"])
            stored = statements_from_json(row["extra_info"]["statements"])
            assert stored == parsed
            # The published solution really is consistent with the statements.
            assert all(record["solution"][i] == holds(s, record["solution"]) for i, s in enumerate(stored))
            info = row["extra_info"]
            assert info["split"] == "test" and info["index"] == record["index"] and info["n_people"] == n_people
            assert info["think_prefilled"] is True and info["template"] == "instruct"


def test_import_base_template_and_split(tmp_path):
    out = tmp_path / "pub"
    assert call_main([str(FIXTURE), "--out", str(out), "--split", "ood", "--template", "base", "--no-prefill-think", "--no-progress"]) == 0
    rows = pq.read_table(out / "3ppl" / "ood.parquet").to_pylist()
    text = rows[0]["prompt"][0]["content"]
    assert fixture_records()[0]["quiz"] in text and text.endswith("\nAssistant:")
    assert rows[0]["extra_info"]["split"] == "ood" and rows[0]["extra_info"]["think_prefilled"] is False


def _import_rows(tmp_path: Path, records: list[dict]) -> list[dict]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out"
    assert call_main([str(path), "--out", str(out), "--no-progress"]) == 0
    return [row for p in sorted(out.rglob("*.parquet")) for row in pq.read_table(p).to_pylist()]


def test_records_keep_their_own_role_words_and_score_full_marks(tmp_path):
    records = [r for r in fixture_records() if r["knight_knave"]["knight"] != "knight"]
    assert len({(r["knight_knave"]["knight"], r["knight_knave"]["knave"]) for r in records}) >= 5
    for i, record in enumerate(records):
        (row,) = _import_rows(tmp_path / str(i), [record])
        truthful, lying = record["knight_knave"]["knight"], record["knight_knave"]["knave"]
        gt = row["reward_model"]["ground_truth"]
        assert gt["roles"] == [truthful, lying]
        assert gt["solution_text"] == record["solution_text_format"]
        system = row["prompt"][0]["content"]
        assert f"(1) Zoey is {record['knight_knave']['a_knight']}" in system
        assert "knight" not in system and "knave" not in system
        source, extra = row["data_source"], row["extra_info"]
        own = f" I reason. </think><answer> {record['solution_text_format']} </answer>"
        result = compute_score(source, own, gt, extra)
        assert result["score"] == 3.0 and result["acc"] == 1.0, (record["solution_text_format"], result)
        wording = record["knight_knave"]
        flipped_lines = [
            f"({k}) {name} is {wording['a_knave'] if is_truthful else wording['a_knight']}"
            for k, (name, is_truthful) in enumerate(zip(record["names"], record["solution"]), 1)
        ]
        flipped = f" I reason. </think><answer> {chr(10).join(flipped_lines)} </answer>"
        result = compute_score(source, flipped, gt, extra)
        assert result["acc"] == 0.0 and result["score"] < 3.0 and result["answer_status"] == "wrong", result


def test_record_without_wording_means_knight_and_knave(tmp_path):
    record = fixture_records()[0]
    del record["knight_knave"]
    (row,) = _import_rows(tmp_path, [record])
    assert row["reward_model"]["ground_truth"]["roles"] == ["knight", "knave"]


def _with_wording(**changes):
    def mutate(record):
        record["knight_knave"].update(changes)
    return mutate


@pytest.mark.parametrize(
    "index, mutate, fragment",
    [
        (6, _with_wording(knave="saint"), "two different words"),
        (6, _with_wording(Knight="Knight"), "does not match"),
        (6, _with_wording(a_knave="a saint"), "does not match"),
        (6, _with_wording(knight="monk", a_knight="a monk", Knight="Monk"), "never occurs in the quiz"),
        (0, _with_wording(knight="saint", knave="sinner", a_knight="a saint", a_knave="a sinner", Knight="Saint", Knave="Sinner"),
         "never occurs in the quiz"),
        (6, _with_wording(knight="Saint"), "lower-case"),
        (6, lambda r: r.update(knight_knave=["saint", "sinner"]), "must be a dict"),
    ],
)
def test_contradictory_wording_fails_with_one_line(tmp_path, capsys, index, mutate, fragment):
    record = fixture_records()[index]
    mutate(record)
    path = _write(tmp_path, [fixture_records()[1], record])
    assert call_main([str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bad.jsonl:2: ") and err.count("\n") == 1 and fragment in err, err


def _write(tmp_path: Path, records: list, raw_lines: list[str] = ()) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "".join(line + "\n" for line in raw_lines))
    return path


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda r: r.update(statements="__import__('os').system('echo hi')"), "not a Python tuple literal"),
        (lambda r: r.update(statements="(('telling-truth', 9), ('lying', 0), ('lying', 1))"), "person 9"),
        (lambda r: r.update(solution=[not s for s in r["solution"]]), "does not match"),
        (lambda r: r.pop("quiz"), "missing field"),
        (lambda r: r.update(names=["Amelia", "Amelia", "Jack"]), "not distinct"),
        (lambda r: r.update(solution=[1, 0, 1]), "booleans"),
    ],
)
def test_bad_records_fail_with_one_line(tmp_path, capsys, mutate, fragment):
    record = fixture_records()[0]
    mutate(record)
    path = _write(tmp_path, [fixture_records()[1], record])
    out = tmp_path / "out"
    assert call_main([str(path), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bad.jsonl:2: ") and err.count("\n") == 1 and fragment in err, err
    assert not out.exists()


def test_bad_files_fail_with_one_line(tmp_path, capsys):
    assert call_main([str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "input file not found" in capsys.readouterr().err
    path = _write(tmp_path, [], ["{not json"])
    assert call_main([str(path), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bad.jsonl:1: not valid JSON") and err.count("\n") == 1
    assert call_main([str(FIXTURE), "--out", str(tmp_path / "o"), "--template", "chat"]) == 2
    assert "--template" in capsys.readouterr().err
