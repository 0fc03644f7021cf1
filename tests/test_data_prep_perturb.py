"""Perturbed twins: every type for N = 2..8, uniqueness by the independent brute-force evaluator,
what each type changes and keeps, leakage, determinism, the reward on the twins, and CLI errors."""
from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reward_fns.kk import compute_score
from data_prep import perturb
from data_prep.build import BuildConfig, build_dataset
from data_prep.dataset import PERTURBATIONS, SCHEMA, data_source, parse_data_source
from data_prep.names import UNCOMMON_NAMES
from data_prep.solver import canonical_form
from data_prep.statements import statements_from_json
from kk_brute_force import holds

SUITE = BuildConfig(seed=11, train_sizes=(40,), test_sizes=(12,))  # N = 2..8 test, 3..7 train
CONFIG = perturb.PerturbConfig(build=SUITE, test_size=12, train_sample=6)
# Written out here rather than imported: the six pairs of the paper's random_pair perturbation.
SIX_PAIRS = {("saint", "sinner"), ("hero", "villain"), ("angel", "devil"), ("sage", "fool"), ("pioneer", "laggard"),
             ("altruist", "egoist")}


def rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def brute_force_solutions(statements) -> list[tuple[bool, ...]]:
    n = len(statements)
    return [roles for roles in itertools.product((True, False), repeat=n)
            if all(roles[i] == holds(s, roles) for i, s in enumerate(statements))]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("perturb")
    out, clean = root / "perturbed", root / "kk"
    perturb.perturb_dataset(CONFIG, out, progress=False)
    build_dataset(SUITE, clean, progress=False)
    return out, clean


def test_layout_and_clean_rows_match_the_build(built):
    out, clean = built
    expected = {f"{n}ppl/test{suffix}.parquet" for n in range(2, 9) for suffix in ["", *(f"_{t}" for t in PERTURBATIONS)]}
    expected |= {f"{n}ppl/train_sample{suffix}.parquet" for n in range(3, 8) for suffix in ["", *(f"_{t}" for t in PERTURBATIONS)]}
    assert {p.relative_to(out).as_posix() for p in out.rglob("*.parquet")} == expected
    for n in range(2, 9):
        assert rows(out / f"{n}ppl/test.parquet") == rows(clean / f"{n}ppl/test.parquet")[:12]
    for n in range(3, 8):
        sample, train = rows(out / f"{n}ppl/train_sample.parquet"), rows(clean / f"{n}ppl/train.parquet")[:6]
        assert [r["prompt"] for r in sample] == [r["prompt"] for r in train]
        assert [r["reward_model"] for r in sample] == [r["reward_model"] for r in train]
        assert all(r["data_source"] == f"kk_logic_{n}ppl_train_sample" and r["extra_info"]["split"] == "train" for r in sample)


def test_every_twin_is_uniquely_solvable_and_scores_with_the_reward(built):
    out, clean = built
    changed = unchanged = 0
    train = {n: {canonical_form(statements_from_json(r["extra_info"]["statements"])) for r in rows(clean / f"{n}ppl/train.parquet")}
             for n in range(3, 8)}
    for path in sorted(out.rglob("*.parquet")):
        table = pq.read_table(path)
        assert table.schema.remove_metadata() == SCHEMA
        stem = path.stem
        split = "train" if stem.startswith("train_sample") else "test"
        kind = stem.removeprefix("train_sample").removeprefix("test").lstrip("_") or "clean"
        n = int(path.parent.name.removesuffix("ppl"))
        clean_stem = "train_sample" if split == "train" else "test"
        originals = {r["extra_info"]["index"]: r for r in rows(path.parent / f"{clean_stem}.parquet")}
        for row in table.to_pylist():
            info, gt = row["extra_info"], row["reward_model"]["ground_truth"]
            statements = statements_from_json(info["statements"])
            assert brute_force_solutions(statements) == [tuple(gt["solution"])], (path, info["index"])
            assert info["perturbation"] == kind and info["split"] == split and info["n_people"] == n
            assert row["data_source"] == data_source("kk_logic", n, kind, split == "train")
            original = originals[info["index"]]
            assert info["original_puzzle_id"] == original["extra_info"]["puzzle_id"]
            answer = f"ok </think><answer> {gt['solution_text']} </answer>"
            assert compute_score(row["data_source"], answer, gt, info)["score"] == 3.0
            if kind in ("perturbed_statement", "perturbed_leaf"):
                old = statements_from_json(original["extra_info"]["statements"])
                differing = [i for i in range(n) if old[i] != statements[i]]
                assert len(differing) == 1
                assert canonical_form(statements) != canonical_form(old)
                assert canonical_form(statements) not in train.get(n, set())  # no leakage into training
                if kind == "perturbed_leaf":
                    assert _shape(old[differing[0]]) == _shape(statements[differing[0]])
                    assert _leaf_diff(old[differing[0]], statements[differing[0]]) == 1
                if tuple(gt["solution"]) != tuple(original["reward_model"]["ground_truth"]["solution"]):
                    changed += 1
                else:
                    unchanged += 1
                assert gt["names"] == original["reward_model"]["ground_truth"]["names"]
    assert changed > 3 * unchanged  # math-level twins usually change the answer


def _shape(stmt):
    return "L" if stmt[0] in ("telling-truth", "lying") else (stmt[0], *map(_shape, stmt[1:]))


def _leaf_diff(a, b) -> int:
    if a[0] in ("telling-truth", "lying"):
        return int(a != b)
    return sum(_leaf_diff(x, y) for x, y in zip(a[1:], b[1:]))


def test_language_level_twins_keep_the_puzzle_and_change_only_the_wording(built):
    out, _ = built
    for n in range(2, 9):
        clean = rows(out / f"{n}ppl/test.parquet")
        for kind in ("random_pair", "flip_role", "uncommon_name", "reorder_statement"):
            twins = rows(out / f"{n}ppl/test_{kind}.parquet")
            assert len(twins) == len(clean)
            for original, twin in zip(clean, twins):
                o_gt, t_gt = original["reward_model"]["ground_truth"], twin["reward_model"]["ground_truth"]
                assert twin["extra_info"]["statements"] == original["extra_info"]["statements"]
                assert t_gt["solution"] == o_gt["solution"]
                assert twin["extra_info"]["puzzle_id"] == original["extra_info"]["puzzle_id"]
                quiz, o_quiz = twin["prompt"][1]["content"], original["prompt"][1]["content"]
                assert quiz != o_quiz
                if kind == "random_pair":
                    assert tuple(t_gt["roles"]) in SIX_PAIRS and t_gt["names"] == o_gt["names"]
                    assert f"{t_gt['roles'][0]}" in twin["prompt"][0]["content"] and "knight" not in quiz
                elif kind == "flip_role":
                    assert t_gt["roles"] == ["knave", "knight"] and "Knaves always tell the truth" in quiz
                elif kind == "uncommon_name":
                    assert set(t_gt["names"]) <= set(UNCOMMON_NAMES) and not set(t_gt["names"]) & set(o_gt["names"])
                    assert all(name in quiz for name in t_gt["names"])
                else:
                    # the same sentences (same characters), in another order
                    assert t_gt == o_gt and sorted(quiz) == sorted(o_quiz)


def test_deterministic_and_seeded(tmp_path, built):
    out, _ = built
    again = tmp_path / "again"
    perturb.perturb_dataset(CONFIG, again, progress=False)
    for path in out.rglob("*.parquet"):
        assert (again / path.relative_to(out)).read_bytes() == path.read_bytes(), path
    other = tmp_path / "other"
    perturb.perturb_dataset(perturb.PerturbConfig(build=SUITE, types=("perturbed_statement",), test_size=12, train_sample=0),
                            other, progress=False)
    # Another file set, the same twins: each twin depends only on (seed, split, N, index, type).
    assert (other / "5ppl/test_perturbed_statement.parquet").read_bytes() == (out / "5ppl/test_perturbed_statement.parquet").read_bytes()
    assert not (other / "5ppl/train_sample.parquet").exists()


def test_data_source_names_round_trip():
    for prefix, n, kind, sample in itertools.product(("kk_logic", "kk_published"), (2, 8, 12), ("clean", *PERTURBATIONS), (False, True)):
        parsed = parse_data_source(data_source(prefix, n, kind, sample))
        assert (parsed.prefix, parsed.n_people, parsed.perturbation, parsed.train_sample) == (prefix, n, kind, sample)
    assert parse_data_source("kk_logic_5ppl_shuffled") is None and parse_data_source("gsm8k") is None


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--types", "shuffle"], "--types"),
        (["--test-size", "101"], "--test-size 101"),
        (["--train-sample", "-1"], "--train-sample"),
        (["--types", "flip_role", "flip_role"], "twice"),
    ],
)
def test_bad_requests_fail_with_one_line(tmp_path, capsys, args, fragment):
    out = tmp_path / "out"
    assert perturb.main(["--out", str(out), "--no-progress", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err
    assert not out.exists()
