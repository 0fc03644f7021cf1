"""Perturbation report and LiMem from a validation dump written by veRL's own ``_write_generations``,
on real perturbed sets from ``data_prep.perturb``; expected values recomputed here from the per-puzzle accuracies."""
from __future__ import annotations

import csv

import pyarrow.parquet as pq
import pytest

from data_prep import perturb
from data_prep.build import BuildConfig
from evaluation.perturb_report import main

TYPES = ("perturbed_leaf", "flip_role")
CONFIG = perturb.PerturbConfig(build=BuildConfig(seed=5, train_sizes=(20,), test_sizes=(6,), test_people=(2, 3, 5),
                                                 train_people=(3, 5)), types=TYPES, test_size=6, train_sample=4)


def _acc(split: str, n: int, kind: str, index: int) -> float:
    """A made-up but irregular model: clean puzzles mostly solved, twins less often."""
    if kind == "clean":
        return float((index + n) % 3 != 0)
    return float((index * 7 + n + len(kind)) % 2 == 0)


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> dict:
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer

    root = tmp_path_factory.mktemp("perturb_report")
    data = root / "data"
    perturb.perturb_dataset(CONFIG, data, progress=False)
    files = sorted(data.rglob("*.parquet"))
    inputs, accs, gts, keys = [], [], [], []
    for path in files:
        for row in pq.read_table(path).to_pylist():
            info = row["extra_info"]
            # What the decoded ChatML prompt looks like with skip_special_tokens.
            inputs.append(f"system\n{row['prompt'][0]['content']}\nuser\n{row['prompt'][1]['content']}\nassistant\n<think>")
            key = (info["split"], info["n_people"], info["perturbation"], info["index"])
            keys.append(key)
            accs.append(_acc(*key))
            gts.append(row["reward_model"]["ground_truth"])
    PPOTrainer._write_generations(inputs, ["..."] * len(accs), gts, accs, {"acc": accs}, str(root / "validation"), 0)
    return {"root": root, "files": files, "keys": keys}


def test_accuracy_and_limem_match_the_per_puzzle_accuracies(scored, tmp_path, capsys):
    out = tmp_path / "eval"
    args = ["--name", "m", "--out", str(out), "--dump", str(scored["root"] / "validation"), "--data", *map(str, scored["files"])]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed == (out / "perturbation.md").read_text() + "\n"
    assert sorted(p.name for p in out.iterdir()) == ["limem.csv", "perturbation.csv", "perturbation.md", "perturbation.png"]
    keys = scored["keys"]
    with (out / "perturbation.csv").open() as handle:
        acc_rows = list(csv.DictReader(handle))
    groups = {(k[0], k[1], k[2]) for k in keys}
    assert len(acc_rows) == len(groups)
    for row in acc_rows:
        members = [k for k in keys if (k[0], k[1], k[2]) == (row["split"], int(row["n_people"]), row["perturbation"])]
        assert int(row["puzzles"]) == len(members)
        assert float(row["accuracy"]) == pytest.approx(sum(_acc(*k) for k in members) / len(members), abs=1e-4)
    with (out / "limem.csv").open() as handle:
        mem_rows = list(csv.DictReader(handle))
    assert {(r["split"], r["perturbation"]) for r in mem_rows} == {(s, t) for s in ("test", "train") for t in TYPES}
    clean = {(k[0], k[1], k[3]) for k in keys if k[2] == "clean"}
    for row in mem_rows:
        split, kind = row["split"], row["perturbation"]
        twins = [k for k in keys if k[0] == split and k[2] == kind and (row["n_people"] == "all" or k[1] == int(row["n_people"]))]
        pairs = [(_acc(k[0], k[1], "clean", k[3]), _acc(*k)) for k in twins if (k[0], k[1], k[3]) in clean]
        solved = [t for c, t in pairs if c == 1.0]
        acc = len(solved) / len(pairs)
        assert int(row["pairs"]) == len(pairs) and int(row["solved"]) == len(solved)
        assert float(row["acc"]) == pytest.approx(acc, abs=1e-4)
        cr = sum(solved) / len(solved)
        assert float(row["cr"]) == pytest.approx(cr, abs=1e-4)
        assert float(row["limem"]) == pytest.approx(acc * (1 - cr), abs=1e-4)
    # perturbed_leaf leaves out 2-person puzzles without a unique single-leaf twin: pairs <= clean puzzles.
    assert any(r["perturbation"] == "perturbed_leaf" for r in mem_rows)
    assert "LiMem = Acc × (1 − CR)" in printed and "| N | clean | perturbed_leaf | flip_role |" in printed


def test_unknown_rows_and_files_are_one_line_errors(scored, tmp_path, capsys):
    args = ["--name", "m", "--out", str(tmp_path / "o"), "--dump", str(scored["root"] / "validation")]
    assert main([*args, "--data", str(tmp_path / "missing.parquet")]) == 2
    assert capsys.readouterr().err.startswith("error: data file not found")
    other = tmp_path / "other"
    perturb.perturb_dataset(perturb.PerturbConfig(build=BuildConfig(seed=99, train_sizes=(10,), test_sizes=(3,), test_people=(4,),
                                                                    train_people=()), types=("flip_role",), train_sample=0),
                            other, progress=False)
    assert main([*args, "--data", *map(str, sorted(other.rglob("*.parquet")))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no record") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_limem_trend_collects_every_checkpoint(scored, tmp_path, capsys):
    from evaluation import limem_trend

    base = ["--name", "m", "--dump", str(scored["root"] / "validation"), "--data", *map(str, scored["files"]), "--no-plot"]
    for step in (20, 10):
        assert main([*base, "--out", str(tmp_path / f"step{step}")]) == 0
    capsys.readouterr()
    out = tmp_path / "trend"
    assert limem_trend.main(["--name", "m", "--out", str(out), f"20={tmp_path / 'step20'}", f"10={tmp_path / 'step10'}"]) == 0
    printed = capsys.readouterr().out
    with (tmp_path / "step10" / "limem.csv").open() as handle:
        one = list(csv.DictReader(handle))
    with (out / "limem_by_step.csv").open() as handle:
        trend = list(csv.DictReader(handle))
    assert [r["step"] for r in trend] == ["10"] * len(one) + ["20"] * len(one)
    assert [{k: v for k, v in r.items() if k != "step"} for r in trend[:len(one)]] == one
    pooled = next(r for r in one if r["split"] == "test" and r["perturbation"] == "flip_role" and r["n_people"] == "all")
    assert f"| 10 | " in printed and f"{float(pooled['limem']):.2f} ({float(pooled['acc']):.2f})" in printed
    assert (out / "limem_by_step.png").read_bytes()[:4] == b"\x89PNG"
    assert limem_trend.main(["--name", "m", "--out", str(out), f"5={tmp_path / 'nothing'}"]) == 2
    assert "limem.csv not found" in capsys.readouterr().err
