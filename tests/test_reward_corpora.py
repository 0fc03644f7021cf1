"""The red-team corpus (every attack gets its expected outcome, never full marks) and the
legitimate-variations corpus (every entry gets full marks), scored through compute_score."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from reward_fns.kk import DEFAULT_CONFIG, compute_score, score_range, score_response
from reward_fns.kk_answer import ANSWER_ERROR_CODES
from reward_fns.kk_format import FORMAT_ERROR_CODES

DATA = Path(__file__).parent / "data"


def _load(name: str) -> list[dict]:
    with open(DATA / name, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _response(row: dict) -> object:
    """The row's response, with ``{{PAD}}`` expanded for the enormous-output classes."""
    response = row["response"]
    if "expand" in row:
        response = response.replace("{{PAD}}", row["expand"]["text"] * row["expand"]["times"])
    return response


ATTACKS = _load("reward_attacks.jsonl")
LEGIT = _load("reward_legit.jsonl")


def test_corpora_are_big_enough_and_classes_distinct() -> None:
    attack_classes = {row["class"] for row in ATTACKS}
    legit_classes = {row["class"] for row in LEGIT}
    assert len(attack_classes) == len(ATTACKS) >= 40
    assert len(legit_classes) == len(LEGIT) >= 20


def test_expected_codes_exist() -> None:
    for row in ATTACKS:
        expected = row["expected"]
        assert expected["format_error"] in FORMAT_ERROR_CODES | {""}
        assert expected.get("answer_error", "") in ANSWER_ERROR_CODES | {""}


@pytest.mark.parametrize("row", ATTACKS, ids=[row["class"] for row in ATTACKS])
def test_attack_gets_its_expected_outcome(row: dict) -> None:
    response = _response(row)
    extra_info = {"think_prefilled": row["think_prefilled"]}
    result = compute_score(
        data_source="kk_logic_5ppl", solution_str=response, ground_truth=row["ground_truth"], extra_info=extra_info
    )
    expected = row["expected"]
    assert result["acc"] == 0.0
    assert result["format_error"] == expected["format_error"]
    assert result["answer_status"] == expected["answer_status"]
    if "answer_error" in expected:
        detail = score_response(response, row["ground_truth"], row["think_prefilled"])
        assert detail.answer_error == expected["answer_error"]
    config = DEFAULT_CONFIG
    if expected["answer_status"] == "skipped":
        assert result["score"] == config.format_penalty + config.answer_skipped_score
    else:
        assert result["score"] == config.format_score + config.answer_unparsed_score
    assert result["score"] < score_range()[1]


@pytest.mark.parametrize("row", LEGIT, ids=[row["class"] for row in LEGIT])
def test_legitimate_variation_gets_full_marks(row: dict) -> None:
    result = compute_score(
        data_source="kk_logic_5ppl",
        solution_str=_response(row),
        ground_truth=row["ground_truth"],
        extra_info={"think_prefilled": row["think_prefilled"]},
    )
    assert result["score"] == score_range()[1] == DEFAULT_CONFIG.format_score + DEFAULT_CONFIG.answer_correct_score
    assert result["acc"] == 1.0 and result["format_ok"] == 1.0
    assert result["answer_status"] == "correct" and result["format_error"] == ""
    truthful, lying = row["ground_truth"]["roles"]
    assert result["pred"] == ",".join(truthful if value else lying for value in row["ground_truth"]["solution"])


@pytest.mark.parametrize("row", LEGIT, ids=[row["class"] for row in LEGIT])
def test_legitimate_variation_with_one_role_flipped_is_wrong_not_unparsed(row: dict) -> None:
    """Each legit form also carries a wrong answer honestly: flipping a role word costs the answer."""
    response = _response(row)
    truthful, lying = row["ground_truth"]["roles"]
    if row["class"] == "angel_article_an":
        flipped = response.replace("Owen is a devil", "Owen is an angel")
    else:
        index = 0 if row["ground_truth"]["solution"][0] else 1
        name = row["ground_truth"]["names"][index]
        start = response.lower().rfind(name.lower())  # the name's last mention is inside the answer
        tail = response[start:]
        flipped_tail = tail.replace(truthful, lying, 1).replace(truthful.upper(), lying.upper(), 1)
        flipped_tail = flipped_tail.replace(truthful.title(), lying.title(), 1)
        flipped = response[:start] + flipped_tail
    result = compute_score(
        data_source="kk_logic_5ppl",
        solution_str=flipped,
        ground_truth=row["ground_truth"],
        extra_info={"think_prefilled": row["think_prefilled"]},
    )
    assert result["answer_status"] == "wrong", result
    assert result["answer_wrong"] == 1.0 and result["acc"] == 0.0
    assert result["score"] == DEFAULT_CONFIG.format_score + DEFAULT_CONFIG.answer_wrong_score
