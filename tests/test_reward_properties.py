"""Hypothesis properties of the reward: never raises, finite and in range, deterministic,
fast path == general grammar, legit renderings get full marks, prefilled mode is consistent,
and linear time on 1 MB inputs (the test that shows there is no catastrophic backtracking)."""
from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reward_fns.kk import (
    ANSWER_STATUSES,
    RESULT_KEYS,
    RewardConfig,
    compute_score,
    normalize_ground_truth,
    parse_answer,
    score_range,
    score_response,
)
from reward_fns.kk_answer import ANSWER_ERROR_CODES
from reward_fns.kk_format import FORMAT_ERROR_CODES

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAME_POOL = ("Zoey", "Oliver", "Ethan", "Mia", "Liam", "Ava", "Noah", "Emma", "Jack", "Lily", "Mary-Ann", "O'Neil")
ROLE_PAIRS = (("knight", "knave"), ("saint", "sinner"), ("angel", "devil"), ("Hero", "Villain"))
# Pieces that exercise every branch of the format check and the answer grammar.
ATOMS = (
    "<think>", "</think>", "<answer>", "</answer>", "<think", "</answer", "<Answer>", "<thinking>",
    "<|im_end|>", "<|endoftext|>", "</s>", "\n", "\r\n", " ", "\t", "\u00a0", ",", ", and ", ";", " and ",
    ". ", ".", ":", "=", " - ", "->", "(1) ", "(2)", "1. ", "2) ", "- ", "* ", "**", "`", "•", "Zoey",
    "Oliver", "zoey", "OLIVER", "Ethan", "Mary-Ann", "and", " is ", " is a ", " is an ", " the ", "knight",
    "knave", "Knight", "KNAVE", "saint", "sinner", " or ", "either", "not ", "unknown", "?", "/",
    "\u212anight", "Z\u043eey", "\u200b", "x" * 40, "< answer>", "</ think>", "<\t/answer>", "\u3164", "\ufe0f",
)
fragments = st.lists(st.one_of(st.sampled_from(ATOMS), st.text(max_size=6)), max_size=50).map("".join)


@st.composite
def puzzles(draw: st.DrawFn) -> dict:
    people = draw(st.integers(min_value=2, max_value=8))
    names = draw(st.permutations(NAME_POOL))[:people]
    solution = draw(st.lists(st.booleans(), min_size=people, max_size=people))
    roles = draw(st.sampled_from(ROLE_PAIRS))
    return {"names": list(names), "solution": solution, "roles": list(roles), "solution_text": ""}


@st.composite
def near_valid_responses(draw: st.DrawFn) -> str:
    """Mostly well-tagged responses whose parts are built from the atoms."""
    lead = draw(st.sampled_from(("", "\n", " ", "<think>", "x")))
    think = draw(fragments)
    middle = draw(st.sampled_from(("\n", "", " ", "\n\n", "x")))
    answer = draw(fragments)
    tail = draw(st.sampled_from(("", "\n", "<|im_end|>", " <|endoftext|>\n", "x", "</answer>")))
    return f"{lead}<think>{think}</think>{middle}<answer>{answer}</answer>{tail}"


responses = st.one_of(
    near_valid_responses(),
    fragments,
    st.text(max_size=200),
    st.none(),
    st.integers(),
    st.binary(max_size=20),
)
extra_infos = st.one_of(
    st.none(),
    st.just({}),
    st.fixed_dictionaries({"think_prefilled": st.booleans(), "index": st.integers(), "split": st.just("test")}),
    st.fixed_dictionaries({"think_prefilled": st.sampled_from(["true", "false", "1", "", np.bool_(True)])}),
    st.just({"think_prefilled": np.array([True, False])}),
    st.just("not a dict"),
)
finite = st.floats(min_value=-10, max_value=10, allow_nan=False, allow_infinity=False)
configs = st.builds(
    RewardConfig,
    format_score=finite,
    format_penalty=finite,
    answer_correct_score=finite,
    answer_wrong_score=finite,
    answer_unparsed_score=finite,
    answer_skipped_score=finite,
    max_answer_chars=st.integers(min_value=1, max_value=5000),
)


def _check_result(result: dict, config: RewardConfig) -> None:
    assert tuple(result) == RESULT_KEYS
    assert all(isinstance(result[key], float) for key in ("score", "acc", "format_ok", "answer_wrong"))
    assert all(isinstance(result[key], str) for key in ("answer_status", "format_error", "pred"))
    low, high = config.score_range()
    assert math.isfinite(result["score"]) and low <= result["score"] <= high
    status = result["answer_status"]
    assert status in ANSWER_STATUSES
    assert result["acc"] == float(status == "correct")
    assert result["answer_wrong"] == float(status == "wrong")
    assert result["format_ok"] == float(status != "skipped")
    assert (result["format_error"] == "") == (status != "skipped")
    assert result["format_error"] in FORMAT_ERROR_CODES | {""}
    assert (result["pred"] != "") == (status in ("correct", "wrong"))
    answer_part = {
        "correct": config.answer_correct_score,
        "wrong": config.answer_wrong_score,
        "unparsed": config.answer_unparsed_score,
        "skipped": config.answer_skipped_score,
    }[status]
    format_part = config.format_score if result["format_ok"] else config.format_penalty
    assert result["score"] == format_part + answer_part


@PROPERTY
@given(response=responses, puzzle=puzzles(), extra_info=extra_infos)
def test_never_raises_and_keeps_the_result_shape(response: object, puzzle: dict, extra_info: object) -> None:
    result = compute_score(data_source="kk_logic", solution_str=response, ground_truth=puzzle, extra_info=extra_info)
    _check_result(result, RewardConfig())


@PROPERTY
@given(response=near_valid_responses(), puzzle=puzzles(), config=configs)
def test_score_stays_in_the_configured_range(response: str, puzzle: dict, config: RewardConfig) -> None:
    options = {name: getattr(config, name) for name in config.__dataclass_fields__}
    result = compute_score("kk_logic", response, puzzle, None, **options)
    _check_result(result, config)


@PROPERTY
@given(response=responses, puzzle=puzzles(), prefilled=st.booleans())
def test_deterministic_and_independent_of_list_or_numpy_ground_truth(
    response: object, puzzle: dict, prefilled: bool
) -> None:
    extra_info = {"think_prefilled": prefilled}
    first = compute_score("kk_logic", response, puzzle, extra_info)
    as_numpy = {key: np.array(value) if isinstance(value, list) else value for key, value in puzzle.items()}
    assert compute_score("kk_logic", response, puzzle, extra_info) == first
    assert compute_score("kk_logic", response, as_numpy, extra_info) == first


EXAMPLE_PUZZLE = {"names": ["Zoey", "Oliver"], "solution": [True, False], "roles": ["knight", "knave"]}


@PROPERTY
@given(answer=fragments, puzzle=puzzles())
@example(answer="(1) and is a knight\n(2) Oliver is a knave", puzzle=EXAMPLE_PUZZLE)
@example(answer="(1) Zoey is a knight\n\n(2)\tOliver\tis  a knave .  ", puzzle=EXAMPLE_PUZZLE)
@example(answer="1.Zoey is a knight\n2)Oliver is an knave", puzzle=EXAMPLE_PUZZLE)
@example(answer="(1) Zoey is a knight or\n(2) Oliver is a knave", puzzle=EXAMPLE_PUZZLE)
@example(answer="Zoey is a knight\r\nOliver is a knave", puzzle=EXAMPLE_PUZZLE)
@example(answer="- Zoey is a Knave\n* oliver IS THE KNAVE.", puzzle=EXAMPLE_PUZZLE)
@example(answer="Zoey is a knight\nOliver is a knave\nZoey is a knave", puzzle=EXAMPLE_PUZZLE)
@example(answer="Zoey is a liar\nOliver is a knight", puzzle=EXAMPLE_PUZZLE)
def test_fast_path_parses_exactly_like_the_general_grammar(answer: str, puzzle: dict) -> None:
    truth = normalize_ground_truth(puzzle)
    fast = parse_answer(answer, truth, fast_path=True)
    assert fast == parse_answer(answer, truth, fast_path=False)
    assert fast.error in ANSWER_ERROR_CODES | {""}


STYLES: dict[str, Callable[[list[tuple[str, str]]], str]] = {
    "numbered": lambda pairs: "\n".join(f"({i}) {n} is a {r}" for i, (n, r) in enumerate(pairs, 1)),
    "dotted": lambda pairs: "\n".join(f"{i}. {n} is a {r}." for i, (n, r) in enumerate(pairs, 1)),
    "bullets": lambda pairs: "\n".join(f"- {n}: {r}" for n, r in pairs),
    "commas": lambda pairs: ", ".join(f"{n} is a {r}" for n, r in pairs[:-1]) + f", and {pairs[-1][0]} is a {pairs[-1][1]}.",
    "semicolons": lambda pairs: "; ".join(f"{n} is {r}" for n, r in pairs),
    "sentences": lambda pairs: " ".join(f"{n} is a {r}." for n, r in pairs),
    "upper": lambda pairs: "\n".join(f"{n} is a {r.upper()}" for n, r in pairs),
    "inline_numbers": lambda pairs: " ".join(f"({i}) {n} is a {r}" for i, (n, r) in enumerate(pairs, 1)),
}


@PROPERTY
@given(
    puzzle=puzzles(),
    style=st.sampled_from(sorted(STYLES)),
    order=st.randoms(use_true_random=False),
    flips=st.sets(st.integers(min_value=0, max_value=7)),
    prefilled=st.booleans(),
)
def test_rendered_answers_score_by_correctness(
    puzzle: dict, style: str, order, flips: set[int], prefilled: bool
) -> None:
    truthful, lying = puzzle["roles"]
    people = len(puzzle["names"])
    flips = {i for i in flips if i < people}
    claimed = [value != (i in flips) for i, value in enumerate(puzzle["solution"])]
    pairs = [(name, truthful if value else lying) for name, value in zip(puzzle["names"], claimed)]
    order.shuffle(pairs)
    body = f"I reason about {puzzle['names'][0]}.\n</think>\n<answer>\n{STYLES[style](pairs)}\n</answer>"
    response = body if prefilled else f"<think>{body}"
    result = compute_score("kk_logic", response, puzzle, {"think_prefilled": prefilled})
    expected_status = "wrong" if flips else "correct"
    assert result["answer_status"] == expected_status, (style, response)
    assert result["pred"] == ",".join(truthful if value else lying for value in claimed)
    assert result["score"] == (score_range()[1] if not flips else 1.0 - 1.5)


@PROPERTY
@given(response=near_valid_responses(), puzzle=puzzles())
def test_prefilled_mode_equals_the_response_with_its_think_tag_restored(response: str, puzzle: dict) -> None:
    without_tag = response.split("<think>", 1)[1] if response.startswith("<think>") else None
    if without_tag is None:
        return
    assert score_response(without_tag, puzzle, think_prefilled=True) == score_response(response, puzzle)


# ---- bounded time on 1 MB responses ---------------------------------------------------------

LARGE_CONFIG = RewardConfig(max_answer_chars=10**8)  # lets the answer grammar see the whole megabyte
PUZZLE = {"names": ["Zoey", "Oliver", "Ethan"], "solution": [True, False, True]}
# Families of adversarial inputs of about n characters: tag spam, long runs next to every
# quantifier of every pattern, huge answers of each statement shape, end-of-turn tails.
FAMILIES: dict[str, Callable[[int], str]] = {
    "angle_brackets": lambda n: "<" * n,
    "open_fragments": lambda n: "<think" * (n // 6),
    "answer_tag_spam": lambda n: "<think>x</think><answer>" + "<answer>" * (n // 8),
    "whitespace_before_text": lambda n: " " * n + "x",
    "eot_tail_then_text": lambda n: "<think>x</think><answer>Zoey is a knight</answer>" + "<|im_end|> \n" * (n // 12) + "x",
    "huge_think": lambda n: "<think>" + "a" * n + "</think><answer>Zoey is a knight</answer>",
    "answer_fast_lines_last_bad": lambda n: "<think>x</think><answer>" + "(1) Zoey is a knight\n" * (n // 21) + "oops</answer>",
    "answer_is_chain": lambda n: "<think>x</think><answer>" + "Zoey is " * (n // 8) + "</answer>",
    "answer_arrows": lambda n: "<think>x</think><answer>" + "a->" * (n // 3) + "</answer>",
    "answer_colons": lambda n: "<think>x</think><answer>" + "a: " * (n // 3) + "</answer>",
    "answer_spaces_tabs": lambda n: "<think>x</think><answer>Zoey is a knight" + " \t" * (n // 2) + "x</answer>",
    "answer_and_chain": lambda n: "<think>x</think><answer>" + "Zoey is a knight and " * (n // 21) + "</answer>",
    "answer_sentences": lambda n: "<think>x</think><answer>" + "Zoey is a knight. " * (n // 18) + "</answer>",
    "answer_markers": lambda n: "<think>x</think><answer>" + "(1)" * (n // 3) + "</answer>",
    "answer_one_word": lambda n: "<think>x</think><answer>" + "x" * n + "</answer>",
    "eot_shortest_token_tail": lambda n: "<think>x</think><answer>Zoey is a knight</answer>" + "</s>" * (n // 4) + "x",
    "gapped_open_runs": lambda n: ("<" + " " * 63) * (n // 64) + "answer>",
    "gapped_close_runs": lambda n: ("</" + "\t" * 62) * (n // 64) + "think",
    "invisible_think": lambda n: "<think>" + "\u200b\u3164" * (n // 2) + "</think><answer>Zoey is a knight</answer>",
    # Worst case of the empty-body check: every character distinct (unassigned planes 4-13).
    "distinct_invisible_think": lambda n: "<think>"
    + "".join(map(chr, range(0x40000, 0x40000 + min(n, 0xA0000))))
    + "</think><answer>Zoey is a knight</answer>",
}


@contextmanager
def cpu_watchdog(seconds: float) -> Iterator[None]:
    """Fail instead of hanging if scoring burns more than ``seconds`` of CPU (SIGPROF timer)."""

    def expire(signum, frame):  # noqa: ARG001
        raise TimeoutError(f"scoring used more than {seconds} s of CPU")

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def _cpu_seconds(text: str, repeats: int = 3) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.process_time()
        score_response(text, PUZZLE, config=LARGE_CONFIG)
        best = min(best, time.process_time() - start)
    return best


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_one_megabyte_inputs_take_linear_time(family: str) -> None:
    """Quadrupling the input from 256 KB to 1 MB must not multiply the work by ~16 (quadratic).

    A catastrophic-backtracking pattern would take hours on 1 MB; the CPU watchdog turns that
    into a failure instead of a hang, and the growth ratio catches milder super-linear cases.
    """
    build = FAMILIES[family]
    with cpu_watchdog(30):
        small = _cpu_seconds(build(256_000))
        large = _cpu_seconds(build(1_024_000))
    assert large < 8 * small + 0.02, f"{family}: {small * 1e3:.1f} ms at 256 KB, {large * 1e3:.1f} ms at 1 MB"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unit=st.lists(st.sampled_from(ATOMS), min_size=1, max_size=8).map("".join), wrap=st.booleans())
def test_any_repeated_unit_up_to_one_megabyte_scores_within_a_cpu_bound(unit: str, wrap: bool) -> None:
    body = unit * (1_000_000 // len(unit) + 1)
    text = f"<think>x</think><answer>{body}</answer>" if wrap else body
    with cpu_watchdog(10):  # linear scoring of 1 MB takes well under a second
        result = score_response(text, PUZZLE, config=LARGE_CONFIG)
    assert result.answer_status in ANSWER_STATUSES
