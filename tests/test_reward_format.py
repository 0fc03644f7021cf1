"""Strict format check: reason codes, prefilled-think mode, end-of-turn tokens."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# ---- empty bodies: invisible characters only ------------------------------------------------

# The letters and symbols that draw nothing, named in docs/reward.md (the rule's explicit list).
BLANK_GLYPHS = "\u115f\u1160\u3164\uffa0\u2800\U0001d159"
INVISIBLE_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Mc", "Me", "Zs", "Zl", "Zp")
invisible_text = st.text(
    st.one_of(st.characters(categories=INVISIBLE_CATEGORIES), st.sampled_from(BLANK_GLYPHS)), min_size=1, max_size=40
)


@settings(max_examples=300, deadline=None)
@given(body=invisible_text)
def test_a_body_of_invisible_characters_is_empty(body: str) -> None:
    assert split_response(f"<think>{body}</think><answer>x</answer>").format_error == kk_format.EMPTY_THINK
    prefilled = split_response(f"{body}</think><answer>x</answer>", think_prefilled=True)
    assert prefilled.format_error == kk_format.EMPTY_THINK
    assert split_response(f"<think>x</think><answer>{body}</answer>").format_error == kk_format.EMPTY_ANSWER


@settings(max_examples=300, deadline=None)
@given(
    before=invisible_text,
    visible=st.characters(categories=("L", "N", "P", "S"), exclude_characters=BLANK_GLYPHS + "<>"),
    after=invisible_text,
)
def test_one_visible_character_among_invisible_ones_makes_a_body(before: str, visible: str, after: str) -> None:
    body = before + visible + after
    assert split_response(f"<think>{body}</think><answer>x</answer>").format_ok
    assert split_response(f"<think>x</think><answer>{body}</answer>").format_ok


@pytest.mark.parametrize("char", ["\u200b", "\u3164", "\x00", "\u0378"])
def test_invisible_characters_around_the_blocks_are_still_text(char: str) -> None:
    """Outside the bodies the rule stays "only whitespace": an invisible character there is text."""
    assert split_response(f"{char}{GOOD}").format_error == kk_format.TEXT_BEFORE_THINK
    assert split_response(GOOD.replace("\n<answer>", f"{char}<answer>")).format_error == (
        kk_format.TEXT_BETWEEN_THINK_AND_ANSWER
    )
    assert split_response(f"{GOOD}{char}").format_error == kk_format.TEXT_AFTER_ANSWER


# ---- near-miss tags with whitespace inside --------------------------------------------------

GAPS = [" ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2003", "\u202f", "  \t "]


@pytest.mark.parametrize("gap", GAPS)
@pytest.mark.parametrize("template", ["<{g}answer>", "</{g}think>", "<{g}/answer>", "<{g}/{g}think{g}>", "</{g}answer"])
def test_a_gapped_tag_is_a_near_miss_anywhere(gap: str, template: str) -> None:
    near_miss = template.format(g=gap)
    inside_think = f"<think>{THINK} {near_miss} more</think>\n<answer>\n{ANSWER}\n</answer>"
    assert split_response(inside_think).format_error == kk_format.MALFORMED_TAG
    prefilled = split_response(f"{THINK} {near_miss}\n</think><answer>{ANSWER}</answer>", think_prefilled=True)
    assert prefilled.format_error == kk_format.MALFORMED_TAG
    assert split_response(f"{GOOD}{near_miss}").format_error == kk_format.MALFORMED_TAG


@pytest.mark.parametrize("prose", ["if 2 < answer then", "x < think", "a <\nanswer b", "n < answer count, < think"])
def test_less_than_and_a_tag_word_without_a_closing_bracket_is_prose(prose: str) -> None:
    assert split_response(f"<think>{prose}</think><answer>{ANSWER}</answer>").format_ok


# ---- the end-of-turn trailer ----------------------------------------------------------------


def test_no_end_of_turn_token_is_a_prefix_of_another() -> None:
    """The trailer regex never backtracks into its alternation, which is exact only under this condition."""
    for token in END_OF_TURN_TOKENS:
        assert not any(other != token and other.startswith(token) for other in END_OF_TURN_TOKENS), token


def test_end_of_turn_trailer_accepts_any_mix_and_rejects_broken_tokens() -> None:
    mixed = "".join(END_OF_TURN_TOKENS) + " \n".join(reversed(END_OF_TURN_TOKENS)) + "\n\t "
    assert split_response(GOOD + mixed).format_ok
    assert split_response(GOOD + mixed * 20_000).format_ok  # about 1.4 MB
    for broken in ("<|im_end|", "<|im_end|>>", "</s", "< /s>", "<|im_end|>\u200b", "<|IM_END|>"):
        assert split_response(GOOD + mixed + broken).format_error == kk_format.TEXT_AFTER_ANSWER, broken
