"""Claim checking (analysis/claims.py): the extractor against a hand-labelled fixture, the checker
against an independent brute-force evaluator, and the per-response columns end to end.

``tests/data/analysis_claims_fixture.jsonl`` (source ``analysis_claims_fixture_make.py``) holds thinks
labelled by meaning: the model's own role claims (``Name+``/``Name-``, ``@`` inside a case), the
assumptions that open cases, the contradictions declared, and effective/superficial reflection.
``dev`` rows shaped the rules; ``held_out`` rows were written after the rules were frozen.  The floors
are asserted on the whole fixture; the held-out figures are printed (run with ``-s``) and reported in
analysis/README.md.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from itertools import product
from pathlib import Path

import pytest

from analysis.claims import analyse, extract, holds, propagate, statements_of
from analysis.features import FeatureOptions, WordCounter, features_of_file, split_lenient
from kk_brute_force import holds as reference_holds
from reward_fns.kk import compute_score

FIXTURE = Path(__file__).parent / "data" / "analysis_claims_fixture.jsonl"
# (precision, recall) floors on the whole fixture, under the values measured when they were set
# (claims 0.88/0.85, assumptions 1.00/0.71, contradictions 1.00/0.70): a rule edit that loses labelled
# cases fails here.  The held-out batch alone is lower (analysis/README.md).
FLOORS = {"claims": (0.85, 0.80), "assumptions": (0.90, 0.65), "contradictions": (0.90, 0.65)}


def _rows() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]


def _analysed(row: dict):
    scored = compute_score("kk", row["response"], row["gts"], {"think_prefilled": True})
    think = split_lenient(row["response"]).think
    return analyse(think, row, {"answer_status": scored["answer_status"], "pred": scored["pred"]})


def _tally(rows: list[dict]) -> Counter:
    tally: Counter = Counter()
    for row in rows:
        found = _analysed(row)
        names = row["gts"]["names"]
        got = Counter(f"{names[c.person]}{'+' if c.truthful else '-'}{'@' if case >= 0 else ''}" for c, _, case in found.claims)
        assumed = Counter(f"{names[c.person]}{'+' if c.truthful else '-'}" for c in found.assumptions)
        labels = row["labels"]
        for key, have, want in (("claims", got, Counter(labels["claims"])),
                                ("assumptions", assumed, Counter(labels["assumptions"]))):
            tally[f"{key}_tp"] += sum((have & want).values())
            tally[f"{key}_found"] += sum(have.values())
            tally[f"{key}_labelled"] += sum(want.values())
        declared = len(found.contradictions)
        tally["contradictions_tp"] += min(declared, labels["contradictions"])
        tally["contradictions_found"] += declared
        tally["contradictions_labelled"] += labels["contradictions"]
        for key, flag in (("effective", bool(found.effective_spans)), ("superficial", bool(found.superficial_spans))):
            tally[f"{key}_tp"] += flag and labels[key]
            tally[f"{key}_found"] += flag
            tally[f"{key}_labelled"] += labels[key]
    return tally


def _pr(tally: Counter, key: str) -> tuple[float, float]:
    tp, found, labelled = tally[f"{key}_tp"], tally[f"{key}_found"], tally[f"{key}_labelled"]
    return (tp / found if found else 1.0), (tp / labelled if labelled else 1.0)


def test_fixture_has_both_splits_chinese_and_hard_negatives() -> None:
    rows = _rows()
    assert {row["split"] for row in rows} == {"dev", "held_out"}
    assert any(not row["response"].isascii() for row in rows)
    assert sum(row["labels"]["contradictions"] for row in rows) >= 5
    assert any("not claims" in row["note"] for row in rows)


@pytest.mark.parametrize("key", ["claims", "assumptions", "contradictions"])
def test_extractor_precision_and_recall(key: str) -> None:
    rows = _rows()
    precision, recall = _pr(_tally(rows), key)
    held_p, held_r = _pr(_tally([row for row in rows if row["split"] == "held_out"]), key)
    print(f"\n{key:15s} all: precision {precision:.2f} recall {recall:.2f}; held-out: precision {held_p:.2f} recall {held_r:.2f}")
    assert precision >= FLOORS[key][0] and recall >= FLOORS[key][1]


def test_reflection_flags_on_the_fixture() -> None:
    tally = _tally(_rows())
    for key in ("effective", "superficial"):
        precision, recall = _pr(tally, key)
        print(f"\n{key:15s} precision {precision:.2f} recall {recall:.2f}")
        assert precision >= 0.5 and recall >= 0.5


def _random_statement(rng: random.Random, n: int, depth: int = 2):
    if depth == 0 or rng.random() < 0.4:
        return [rng.choice(["telling-truth", "lying"]), rng.randrange(n)]
    op = rng.choice(["not", "and", "or", "->", "<=>"])
    if op == "not":
        return ["not", _random_statement(rng, n, depth - 1)]
    return [op, _random_statement(rng, n, depth - 1), _random_statement(rng, n, depth - 1)]


def test_evaluator_and_propagation_against_brute_force() -> None:
    rng = random.Random(7)
    checked = conflicts = forced_total = 0
    for _ in range(300):
        n = rng.randint(2, 5)
        statements = [_random_statement(rng, n) for _ in range(n)]
        for roles in product((True, False), repeat=n):
            for stmt in statements:
                assert holds(stmt, roles) == reference_holds(stmt, roles)
        consistent = [r for r in product((True, False), repeat=n)
                      if all(r[i] == reference_holds(s, r) for i, s in enumerate(statements))]
        person, value = rng.randrange(n), rng.random() < 0.5
        forced, conflict = propagate(statements, n, {person: value})
        under = [r for r in consistent if r[person] == value]
        if conflict:  # a conflict is only declared when no assignment satisfies the assumption
            assert not under
            conflicts += 1
        for p, v in forced.items():  # sound: every consistent completion agrees with what was forced
            assert all(r[p] == v for r in under)
        forced_total += len(forced) - 1
        checked += 1
    assert conflicts > 10 and forced_total > 50  # the check exercised both paths


def test_claims_are_checked_against_the_solution_and_the_case() -> None:
    gts = {"names": ["Lily", "Omar", "Ivy"], "solution": [True, True, False], "roles": ["knight", "knave"]}
    statements = [["telling-truth", 1], ["lying", 2], ["<=>", ["telling-truth", 0], ["lying", 1]]]
    think = ("Suppose Lily is a knave. Then Omar is a knave, so Ivy is a knight. Omar is a knight here too. "
             "That is a contradiction. So Lily is a knight, and Ivy is a knight.")
    with_statements = analyse(think, {"gts": gts, "extra_info": {"statements": json.dumps(statements)}},
                              {"answer_status": "wrong", "pred": "knight,knight,knight"})
    verdicts = [(think[c.start:c.end], ok, case) for c, ok, case in with_statements.claims]
    assert verdicts == [("Omar is a knave", True, 0), ("Ivy is a knight", True, 0),
                        ("Omar is a knight", False, 0),  # wrong under the case's assumption
                        ("Lily is a knight", True, -1), ("Ivy is a knight", False, -1)]
    assert with_statements.contradiction_real == 1.0 and with_statements.cases == 1
    assert with_statements.correct_share == pytest.approx(3 / 5)
    assert with_statements.last_claims_agree == 1.0  # Lily knight, Ivy knight: as answered
    without = analyse(think, {"gts": gts}, {"answer_status": "wrong", "pred": "knight,knight,knight"})
    assert [ok for _, ok, _ in without.claims] == [None, None, None, True, False]  # false case: not checkable
    true_case = analyse("Suppose Lily is a knight. Then Omar is a knave. This leads to a contradiction.",
                        {"gts": gts}, {})
    assert [ok for _, ok, _ in true_case.claims] == [False]  # under a true assumption: against the solution
    assert true_case.contradiction_real == 0.0  # Lily is a knight: that contradiction is not real


def test_quoted_and_hedged_claims_are_not_the_models() -> None:
    claims, _, _ = extract("Lily says Omar is a knight. Omar claims that Ivy is a knave. Lily说Omar是骑士。"
                           "We do not know whether Ivy is a knight. Ivy might be a knave.", ("Lily", "Omar", "Ivy"))
    assert claims == []
    claims, _, _ = extract("Omar is not a knight. Omar isn't a knave. Lily不是骑士。Ivy在说谎。Lily and Omar are knights.",
                           ("Lily", "Omar", "Ivy"))
    assert [(c.person, c.truthful) for c in claims] == [(1, False), (1, True), (0, False), (2, False), (0, True), (1, True)]


def test_statements_of_reads_the_row_and_rejects_bad_ones() -> None:
    good = [["lying", 1], ["telling-truth", 0]]
    assert statements_of({"extra_info": {"statements": json.dumps(good)}}, 2) == good
    assert statements_of({"statements": good}, 2) == good
    assert statements_of({"extra_info": {"statements": "not json"}}, 2) is None
    assert statements_of({"statements": [["lying", 5], ["lying", 0]]}, 2) is None
    assert statements_of({"statements": [["xor", ["lying", 1]], ["lying", 0]]}, 2) is None
    assert statements_of({}, 2) is None


def test_claim_columns_in_the_features(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    dump = tmp_path / "3.jsonl"
    with dump.open("w", encoding="utf-8") as stream:
        for row in rows:
            scored = compute_score("kk", row["response"], row["gts"], {"think_prefilled": True})
            stream.write(json.dumps({"input": "prompt <think>", "output": row["response"], "gts": row["gts"],
                                     "extra_info": row["extra_info"], "score": scored["score"], "step": 3},
                                    ensure_ascii=False) + "\n")
    frame = features_of_file(dump, WordCounter(), FeatureOptions()).frame
    for column in ("claims_made", "case_splits", "claim_correct_share", "last_claims_agree", "contradiction_real",
                   "wrong_claim", "effective_reflection", "superficial_reflection"):
        assert column in frame.columns
    for index, row in enumerate(rows):
        found = _analysed(row)
        got = frame.iloc[index]
        assert got["claims_made"] == found.claims_made
        assert got["effective_reflection"] == bool(found.effective_spans)
        share = found.correct_share
        assert (math.isnan(got["claim_correct_share"]) and math.isnan(share)) or got["claim_correct_share"] == share
    assert frame["superficial_reflection"].any() and frame["effective_reflection"].any()
    # by default only a sample of each file is checked: evenly spaced lines, the rest left empty
    sampled = features_of_file(dump, WordCounter(), FeatureOptions(claims_per_file=5)).frame
    checked = sampled["claims_made"].notna()
    assert checked.tolist() == [index % 5 == 0 for index in range(len(rows))]  # 24 lines: stride 5
    assert sampled.loc[checked, "claims_made"].tolist() == frame.loc[checked, "claims_made"].tolist()
    assert sampled.loc[~checked, "wrong_claim"].isna().all()


def test_statements_from_the_training_parquet(tmp_path: Path) -> None:
    """veRL's dumps lack extra_info: --puzzles finds the statements by names and solution."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from analysis.errors import AnalysisInputError
    from analysis.report import load_run_features

    rows = _rows()
    dumps = tmp_path / "rollouts"
    dumps.mkdir()
    with (dumps / "1.jsonl").open("w", encoding="utf-8") as stream:
        for row in rows:  # no extra_info, as veRL writes them
            stream.write(json.dumps({"input": "p <think>", "output": row["response"], "gts": row["gts"],
                                     "score": 0.0, "step": 1}, ensure_ascii=False) + "\n")
    puzzles = {json.dumps(row["gts"]["names"]): row for row in rows}
    table = pa.Table.from_pylist([
        {"reward_model": {"ground_truth": {"names": row["gts"]["names"], "solution": row["gts"]["solution"]}},
         "extra_info": {"statements": row["extra_info"]["statements"]}} for row in puzzles.values()])
    pq.write_table(table, tmp_path / "train.parquet")
    plain = load_run_features(dumps, tmp_path / "c1").frame
    looked_up = load_run_features(dumps, tmp_path / "c2", puzzles=tmp_path / "train.parquet").frame
    with_rows = features_of_file(dumps / "1.jsonl", WordCounter(), FeatureOptions()).frame
    expected = [_analysed(row).correct_share for row in rows]  # the rows carry extra_info themselves
    got = looked_up["claim_correct_share"].tolist()
    assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(got, expected))
    # without statements, claims inside false cases are left unchecked, so some shares differ
    plain_shares = plain["claim_correct_share"].fillna(-1).tolist()
    assert plain_shares != looked_up["claim_correct_share"].fillna(-1).tolist()
    assert with_rows["claims_made"].tolist() == looked_up["claims_made"].tolist()
    with pytest.raises(AnalysisInputError, match="--puzzles"):
        load_run_features(dumps, tmp_path / "c3", puzzles=tmp_path / "missing.parquet")


def test_one_scan_english_path_finds_what_the_per_name_loop_finds() -> None:
    """The fast path (all names in one regex scan, the single claim in its lookahead) against the
    per-name str.find loop it replaces, on the fixture and on bench-style synthetic thinks, in
    which names share prefixes, stand next to apostrophes and letters, and are joined in groups."""
    from dataclasses import replace

    from analysis.bench import NAMES, synthetic_response
    from analysis.claims import _patterns, _raw_claims

    rng = random.Random(13)
    cases = [(split_lenient(row["response"]).think, tuple(row["gts"]["names"])) for row in _rows()]
    for _ in range(300):
        names = rng.sample(NAMES, rng.randint(3, 7))
        think = split_lenient(synthetic_response(rng, names, [rng.random() < 0.5 for _ in names], rng.random(), 600)).think
        cases.append((think, tuple(names)))
    cases += [("Zoey's friend Zoey is a knight; McZoey is a knave, Zoey1 is a knave, Zoey, Bob and Max are knights.",
               ("Zoey", "Bob", "Max")),
              ("Ann is a knave and Anna is a knight; Anna, Ann and Bo are knaves.", ("Ann", "Anna", "Bo"))]
    checked = 0
    for think, names in cases:
        pats = _patterns(names, ("knight", "knave"))
        ascii_think = think.encode("ascii", "ignore").decode()  # the fast path serves ASCII thinks
        if pats.occurrences is None:
            assert any(a in b for a in names for b in names if a != b)  # only overlapping names fall back
            continue
        assert _raw_claims(ascii_think, pats) == _raw_claims(ascii_think, replace(pats, occurrences=None))
        checked += 1
    assert checked > 250


def test_case_subject_suffixes_match_the_regex_they_replace() -> None:
    """"this case fails": the suffix test against the regex it stands for, "$" before a final newline included."""
    import re

    from analysis.claims import _CASE_SUBJECT_ENDINGS

    regex = re.compile(r"(?:this|that|the|our) (?:case|assumption|scenario|possibility|option) $")
    rng = random.Random(7)
    pieces = ["this ", "that ", "the ", "our ", "case ", "option ", "possibility ", "x", " ", "\n", "bathe ", "case"]
    matched = 0
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 9)))
        start = max(0, len(text) - 30)
        expected = regex.search(text[start:]) is not None
        assert text.endswith(_CASE_SUBJECT_ENDINGS, start, len(text)) == expected, repr(text)
        matched += expected
    assert matched > 100
