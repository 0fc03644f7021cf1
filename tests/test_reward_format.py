"""Strict format check: reason codes, prefilled-think mode, end-of-turn tokens."""
from __future__ import annotations

import pytest

from reward_fns import kk_format
from reward_fns.kk_format import END_OF_TURN_TOKENS, FORMAT_ERROR_CODES, split_response

THINK = "Zoey says Oliver lies. Assume Zoey is a knight..."
ANSWER = "(1) Zoey is a knight\n(2) Oliver is a knave"
GOOD = f"<think>{THINK}</think>\n<answer>\n{ANSWER}\n</answer>"


def test_well_formed_response_is_split_into_its_bodies() -> None:
    parts = split_response(GOOD)
    assert parts.format_ok and parts.format_error == ""
    assert parts.think == THINK
    assert parts.answer == f"\n{ANSWER}\n"


def test_prefilled_response_starts_inside_the_think_block() -> None:
    response = f"{THINK}\n</think>\n<answer>{ANSWER}</answer>"
    parts = split_response(response, think_prefilled=True)
    assert parts.format_ok
    assert parts.think == f"{THINK}\n"
    assert parts.answer == ANSWER
    # The same text without the prefill lacks its opening tag.
    assert split_response(response).format_error == kk_format.MISSING_THINK


def test_prefilled_response_must_not_open_think_again() -> None:
    assert split_response(GOOD, think_prefilled=True).format_error == kk_format.REPEATED_THINK


def test_prefilled_mode_needs_a_non_empty_think() -> None:
    assert split_response(" \n</think><answer>x</answer>", think_prefilled=True).format_error == kk_format.EMPTY_THINK


@pytest.mark.parametrize("token", END_OF_TURN_TOKENS)
def test_end_of_turn_tokens_and_whitespace_may_follow_the_answer(token: str) -> None:
    assert split_response(f"{GOOD}\n{token}\n").format_ok
    assert split_response(f"{GOOD}{token}{token} \n").format_ok


@pytest.mark.parametrize("token", END_OF_TURN_TOKENS)
def test_text_after_an_end_of_turn_token_fails(token: str) -> None:
    assert split_response(f"{GOOD}{token}more").format_error == kk_format.TEXT_AFTER_ANSWER


def test_leading_whitespace_is_allowed_but_not_text() -> None:
    assert split_response(f"\n \t{GOOD}").format_ok
    assert split_response(f"Answer: {GOOD}").format_error == kk_format.TEXT_BEFORE_THINK


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (12, kk_format.NOT_TEXT),
        (None, kk_format.NOT_TEXT),
        (b"<think>x</think><answer>y</answer>", kk_format.NOT_TEXT),
        ("", kk_format.EMPTY_RESPONSE),
        (" \n\t", kk_format.EMPTY_RESPONSE),
        ("<think>a</think><answer>b</answer>\nok?", kk_format.TEXT_AFTER_ANSWER),
        ("<think>a</think>b<answer>c</answer>", kk_format.TEXT_BETWEEN_THINK_AND_ANSWER),
        ("<think>a</think><answer>b</answer><answer>c</answer>", kk_format.REPEATED_ANSWER),
        ("<think>a</think><answer>b</answer></answer>", kk_format.REPEATED_ANSWER_END),
        ("<think>a</think></think><answer>b</answer>", kk_format.REPEATED_THINK_END),
        ("<think><think>a</think><answer>b</answer>", kk_format.REPEATED_THINK),
        ("a</think><answer>b</answer>", kk_format.MISSING_THINK),
        ("<think>a<answer>b</answer>", kk_format.MISSING_THINK_END),
        ("<think>a</think>b</answer>", kk_format.MISSING_ANSWER),
        ("<think>a</think><answer>b", kk_format.MISSING_ANSWER_END),
        ("<answer>b</answer><think>a</think>", kk_format.TAGS_OUT_OF_ORDER),
        ("<think>a</answer></think><answer>b", kk_format.TAGS_OUT_OF_ORDER),
        ("<think> </think><answer>b</answer>", kk_format.EMPTY_THINK),
        ("<think>a</think><answer> \n </answer>", kk_format.EMPTY_ANSWER),
        ("<think>a</think ><answer>b</answer>", kk_format.MALFORMED_TAG),
        ("<think>a</think><answer>b</answer", kk_format.MALFORMED_TAG),
        ("<Think>a</think><answer>b</answer>", kk_format.MALFORMED_TAG),
        ("<think>a <answer </think><answer>b</answer>", kk_format.MALFORMED_TAG),
        ("<thinking>a</thinking><answer>b</answer>", kk_format.MALFORMED_TAG),
        ("<think>a\u212a</think><answer>b</answer><thin\u212a>", kk_format.MALFORMED_TAG),
    ],
)
def test_reason_codes(response: object, code: str) -> None:
    parts = split_response(response)  # type: ignore[arg-type]
    assert parts.format_error == code
    assert code in FORMAT_ERROR_CODES
    assert parts.think is None and parts.answer is None and not parts.format_ok


def test_angle_brackets_that_are_not_tags_are_fine() -> None:
    response = "<think>if 2 < 3 and <b> is bold then <thin> is not a tag</think><answer>x</answer>"
    assert split_response(response).format_ok
