"""Answer parsing and ground-truth normalisation (numpy arrays, JSON strings, bad keys)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from reward_fns import kk_answer
from reward_fns.kk_answer import (
    GroundTruth,
    GroundTruthError,
    configure_ground_truth_cache,
    fold,
    normalize_ground_truth,
    parse_answer,
)

NAMES = ["Zoey", "Oliver", "Ethan"]
SOLUTION = [True, False, True]
GT = {"names": NAMES, "solution": SOLUTION, "roles": ["knight", "knave"], "solution_text": "..."}


@pytest.fixture
def truth() -> GroundTruth:
    return normalize_ground_truth(GT)


def test_numpy_arrays_normalise_like_lists() -> None:
    as_numpy = {
        "names": np.array(NAMES, dtype=object),
        "solution": np.array(SOLUTION),
        "roles": np.array(["knight", "knave"]),
        "solution_text": np.str_("..."),
    }
    assert normalize_ground_truth(as_numpy) == normalize_ground_truth(GT)


def test_ground_truth_survives_a_parquet_round_trip(tmp_path) -> None:
    path = tmp_path / "gt.parquet"
    pd.DataFrame({"reward_model": [{"style": "rule", "ground_truth": GT}]}).to_parquet(path)
    loaded = pd.read_parquet(path)["reward_model"][0]["ground_truth"]
    assert isinstance(loaded["names"], np.ndarray)  # what veRL hands over after pandas
    truth = normalize_ground_truth(loaded)
    assert truth.names == tuple(NAMES) and truth.solution == tuple(SOLUTION)


def test_json_string_and_whole_reward_model_dict_are_accepted() -> None:
    expected = normalize_ground_truth(GT)
    assert normalize_ground_truth(json.dumps(GT)) == expected
    assert normalize_ground_truth({"style": "rule", "ground_truth": GT}) == expected


def test_roles_default_to_knight_and_knave() -> None:
    truth = normalize_ground_truth({"names": NAMES, "solution": SOLUTION})
    assert truth.roles == ("knight", "knave")
    assert truth.canonical(truth.solution) == "knight,knave,knight"


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "not json",
        {"names": NAMES},
        {"names": [], "solution": []},
        {"names": NAMES, "solution": [True]},
        {"names": ["Zoey", "zoey", "Ethan"], "solution": SOLUTION},
        {"names": "Zoey", "solution": SOLUTION},
        {"names": [1, 2, 3], "solution": SOLUTION},
        {"names": NAMES, "solution": ["knight", "knave", "knight"]},
        {"names": NAMES, "solution": [True, 2, False]},
        {"names": NAMES, "solution": SOLUTION, "roles": ["knight"]},
        {"names": NAMES, "solution": SOLUTION, "roles": ["knight", "Knight"]},
        {"names": NAMES, "solution": SOLUTION, "roles": ["good guy", "bad"]},
        {"names": NAMES, "solution": SOLUTION, "roles": ["a", "knave"]},
        {"names": NAMES, "solution": SOLUTION, "roles": ["knight", "or"]},
        {"names": NAMES, "solution": SOLUTION, "roles": ["k1", "k2"]},
        {"names": NAMES, "solution": SOLUTION, "solution_text": 5},
    ],
)
def test_malformed_ground_truth_raises_a_dedicated_error(bad: object) -> None:
    with pytest.raises(GroundTruthError):
        normalize_ground_truth(bad)


def test_cache_returns_equal_objects_and_can_be_disabled() -> None:
    first = normalize_ground_truth(GT)
    assert normalize_ground_truth(dict(GT)) is first  # a hit: validated once per distinct value
    configure_ground_truth_cache(0)
    try:
        again = normalize_ground_truth(dict(GT))
        assert again == first and again is not first
    finally:
        configure_ground_truth_cache(4096)


def test_cache_never_turns_an_invalid_ground_truth_into_a_valid_one() -> None:
    normalize_ground_truth({"names": ["Z", "o", "e"], "solution": SOLUTION})
    with pytest.raises(GroundTruthError):
        normalize_ground_truth({"names": "Zoe", "solution": SOLUTION})


def test_fold_only_lowercases_ascii() -> None:
    assert fold("KNIGHT") == "knight"
    assert fold("\u212anight") == "\u212anight"  # KELVIN SIGN would lower() to an ASCII k


@pytest.mark.parametrize(
    "answer",
    [
        "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Ethan is a knight",
        "Zoey is a knight, Oliver is a knave, and Ethan is a knight.",
        "Zoey is a knight and Oliver is a knave and Ethan is a knight",
        "Zoey: Knight; Oliver: KNAVE; Ethan: knight.",
        "- Ethan is knight\n- Zoey is the knight\n- Oliver is a knave",
        "(1) Zoey is a knight (2) Oliver is a knave (3) Ethan is a knight",
        "1) **Zoey** is a *knight*\n2) `Oliver` = knave\n3) Ethan -> knight",
    ],
)
def test_legitimate_forms_parse_to_the_solution(answer: str, truth: GroundTruth) -> None:
    parsed = parse_answer(answer, truth)
    assert parsed.error == ""
    assert parsed.assignment == truth.solution


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("Zoey is a knight\nOliver is a knave", kk_answer.MISSING_PERSON),
        ("Zoey is a knight\nZoey is a knight\nEthan is a knight", kk_answer.DUPLICATE_PERSON),
        ("Zoey is a knight\nZoey is a knave\nEthan is a knight", kk_answer.CONTRADICTORY_ROLES),
        ("Zoey is a knight\nOliver is a knave\nEthan is a knight\nZoey is a knight", kk_answer.TOO_MANY_STATEMENTS),
        ("Zoey is a knight\nBob is a knave\nEthan is a knight", kk_answer.UNKNOWN_NAME),
        ("Zoey is a knight or a knave\nOliver is a knave\nEthan is a knight", kk_answer.HEDGED),
        ("Zoey is possibly a knight\nOliver is a knave\nEthan is a knight", kk_answer.HEDGED),
        ("Zoey is a saint\nOliver is a knave\nEthan is a knight", kk_answer.FOREIGN_ROLE),
        ("Zoey is not a knave\nOliver is a knave\nEthan is a knight", kk_answer.UNPARSEABLE_STATEMENT),
        (" , ; \n .", kk_answer.NO_STATEMENTS),
        ("x" * 2001, kk_answer.ANSWER_TOO_LONG),
    ],
)
def test_rejected_answers_name_their_reason(answer: str, error: str, truth: GroundTruth) -> None:
    parsed = parse_answer(answer, truth)
    assert parsed.assignment is None
    assert parsed.error == error


def test_lines_mixing_fast_and_general_shapes_parse_per_statement(truth: GroundTruth) -> None:
    mixed = "(1) Zoey is a knight\nOliver: knave\n(3) Ethan is a knight"
    assert parse_answer(mixed, truth).assignment == truth.solution
    assert parse_answer(mixed.replace("Oliver: knave", "Oliver: kn"), truth).error == kk_answer.FOREIGN_ROLE


def test_wrong_roles_parse_to_a_different_assignment(truth: GroundTruth) -> None:
    parsed = parse_answer("Zoey is a knave\nOliver is a knave\nEthan is a knight", truth)
    assert parsed.error == "" and parsed.assignment == (False, False, True)


def test_alternative_role_pairs_come_from_the_ground_truth() -> None:
    truth = normalize_ground_truth({"names": NAMES, "solution": SOLUTION, "roles": ["saint", "sinner"]})
    assert parse_answer("Zoey is a saint, Oliver is a sinner, Ethan is a saint", truth).assignment == (True, False, True)
    assert parse_answer("Zoey is a knight, Oliver is a knave, Ethan is a knight", truth).error == kk_answer.FOREIGN_ROLE


def test_answer_length_cap_is_configurable(truth: GroundTruth) -> None:
    answer = "Zoey is a knight\nOliver is a knave\nEthan is a knight" + " " * 3000
    assert parse_answer(answer, truth).error == kk_answer.ANSWER_TOO_LONG
    assert parse_answer(answer, truth, max_chars=10_000).assignment == truth.solution
