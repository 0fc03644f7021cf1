"""Strict format check for Knights-and-Knaves responses.

A response is well-formed iff it is exactly one ``<think>...</think>`` followed by exactly one
``<answer>...</answer>``:

* only whitespace before ``<think>`` (with a prefilled ``<think>`` the response starts inside it
  and must not open another one);
* a think body and an answer body that each hold a visible character: a letter, digit,
  punctuation mark or symbol (Unicode categories L, N, P, S) that is not one of the few that draw
  nothing (the Hangul fillers, BRAILLE PATTERN BLANK, MUSICAL SYMBOL NULL NOTEHEAD). Whitespace,
  format and control characters (zero-width spaces, joiners, bidi marks, BOM, tag characters),
  marks alone (variation selectors, combining accents), private-use, surrogate and unassigned
  code points make a body that is still empty;
* only whitespace between ``</think>`` and ``<answer>``;
* only whitespace and end-of-turn tokens after ``</answer>``;
* no other spelling of the four tags anywhere, the think included (``<answer >``, ``</think``,
  ``<Answer>``, ``<thinking>``, ``< answer>``, ``</ think>``, ``< /answer>``...): a near-miss
  is a tag to a lenient reader and text to this one, so a response holding one means two
  different things to two parsers. The one exception is a bare ``<`` and a space before a tag
  name with no ``>`` to close it (``if x < answer``), which is prose.

Everything is linear regex passes plus ``str`` slicing, so a 1 MB response costs milliseconds.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"

# Tokens a chat model may leave after its answer when the response is decoded without
# skip_special_tokens (Qwen/ChatML, GPT-2 style, Llama 2/3, Phi, Gemma).
END_OF_TURN_TOKENS: tuple[str, ...] = (
    "<|im_end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|eot_id|>",
    "<|end|>",
    "</s>",
    "<eos>",
    "<end_of_turn>",
)

# Reason codes stored in ``format_error`` (empty string = well-formed).
NOT_TEXT = "not_text"
EMPTY_RESPONSE = "empty_response"
MALFORMED_TAG = "malformed_tag"
REPEATED_THINK = "repeated_think"
REPEATED_THINK_END = "repeated_think_end"
REPEATED_ANSWER = "repeated_answer"
REPEATED_ANSWER_END = "repeated_answer_end"
MISSING_THINK = "missing_think"
MISSING_THINK_END = "missing_think_end"
MISSING_ANSWER = "missing_answer"
MISSING_ANSWER_END = "missing_answer_end"
TAGS_OUT_OF_ORDER = "tags_out_of_order"
TEXT_BEFORE_THINK = "text_before_think"
TEXT_BETWEEN_THINK_AND_ANSWER = "text_between_think_and_answer"
TEXT_AFTER_ANSWER = "text_after_answer"
EMPTY_THINK = "empty_think"
EMPTY_ANSWER = "empty_answer"

FORMAT_ERROR_CODES: frozenset[str] = frozenset(
    {
        NOT_TEXT,
        EMPTY_RESPONSE,
        MALFORMED_TAG,
        REPEATED_THINK,
        REPEATED_THINK_END,
        REPEATED_ANSWER,
        REPEATED_ANSWER_END,
        MISSING_THINK,
        MISSING_THINK_END,
        MISSING_ANSWER,
        MISSING_ANSWER_END,
        TAGS_OUT_OF_ORDER,
        TEXT_BEFORE_THINK,
        TEXT_BETWEEN_THINK_AND_ANSWER,
        TEXT_AFTER_ANSWER,
        EMPTY_THINK,
        EMPTY_ANSWER,
    }
)

# Any opening of one of the four tags, in any letter case: the exact tag, a half-closed one
# (``</think`` with no ``>``), or one with whitespace after ``<`` or ``/`` (``< answer>``,
# ``</ think>``, ``< /answer>``; ``\s`` is Unicode whitespace: tabs, newlines, NBSP...). A gap
# after a bare ``<`` counts only when ``>`` closes the tag, so ``if x < answer`` stays prose;
# ``</`` does not begin prose, so a closing tag counts with or without its ``>``.
# Linear: a literal ``<`` prefix, possessive whitespace runs, no nested quantifier.
_TAG_NAME = r"(?:think|answer)"
_CLOSING = rf"/\s*+{_TAG_NAME}(?:\s*+>)?"
_TAG_FRAGMENT_RE = re.compile(
    rf"<(?:{_CLOSING}|{_TAG_NAME}>?|\s++(?:{_CLOSING}|{_TAG_NAME}\s*+>))",
    re.IGNORECASE,
)
_NON_SPACE_RE = re.compile(r"\S")
# Whitespace and end-of-turn tokens to the end of the text, in one regex pass. The repeat is
# possessive, which is exact because no token is a prefix of another (a test keeps it so).
_END_OF_TURN_TRAILER_RE = re.compile(
    r"\s*+(?:(?:" + "|".join(map(re.escape, END_OF_TURN_TOKENS)) + r")\s*+)*+"
)
# Letters and symbols whose glyph is blank by design; every other L/N/P/S character draws ink.
_BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800\U0001d159")

_FULL_SEQUENCE = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
_PREFILLED_SEQUENCE = (THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
_REPEATED_CODE = {
    THINK_OPEN: REPEATED_THINK,
    THINK_CLOSE: REPEATED_THINK_END,
    ANSWER_OPEN: REPEATED_ANSWER,
    ANSWER_CLOSE: REPEATED_ANSWER_END,
}
_MISSING_CODE = {
    THINK_OPEN: MISSING_THINK,
    THINK_CLOSE: MISSING_THINK_END,
    ANSWER_OPEN: MISSING_ANSWER,
    ANSWER_CLOSE: MISSING_ANSWER_END,
}


@dataclass(slots=True)
class ResponseParts:
    """A response split into its think and answer bodies (both ``None`` when the format failed)."""

    think: str | None
    answer: str | None
    format_error: str = ""

    @property
    def format_ok(self) -> bool:
        return not self.format_error


def _failed(code: str) -> ResponseParts:
    return ResponseParts(think=None, answer=None, format_error=code)


def _has_text(text: str, start: int, end: int) -> bool:
    """True when ``text[start:end]`` holds a non-whitespace character (no copy of the slice)."""
    return _NON_SPACE_RE.search(text, start, end) is not None


def _is_visible(char: str) -> bool:
    """A letter, digit, punctuation mark or symbol that draws something (see the module doc)."""
    return unicodedata.category(char)[0] in "LNPS" and char not in _BLANK_GLYPHS


def _has_visible(text: str, start: int, end: int) -> bool:
    """True when ``text[start:end]`` holds a visible character.

    A real body starts with a word, so one category lookup usually decides. Otherwise each
    distinct character is looked up once: linear, ~10 ms for 1 MB of a few invisible characters
    repeated, ~0.5 s in the worst case of 1 MB of distinct unassigned code points.
    """
    first = _NON_SPACE_RE.search(text, start, end)
    if first is None:
        return False
    if _is_visible(first.group()):
        return True
    return any(map(_is_visible, set(text[first.start() : end])))


def _only_end_of_turn_after(text: str, start: int) -> bool:
    """True when ``text[start:]`` is only whitespace and end-of-turn tokens (one regex pass)."""
    return _END_OF_TURN_TRAILER_RE.fullmatch(text, start) is not None


def _classify_tag_error(found: list[str], expected: tuple[str, ...], think_prefilled: bool) -> str:
    """Name what is wrong with the tag sequence ``found`` (called only when it is not ``expected``)."""
    if any(fragment not in _FULL_SEQUENCE for fragment in found):
        return MALFORMED_TAG
    if think_prefilled and THINK_OPEN in found:
        # The prompt already opened the think block: a second <think> nests or restarts it.
        return REPEATED_THINK
    for tag in expected:
        if found.count(tag) > 1:
            return _REPEATED_CODE[tag]
    for tag in expected:
        if tag not in found:
            return _MISSING_CODE[tag]
    return TAGS_OUT_OF_ORDER


def split_response(text: str, think_prefilled: bool = False) -> ResponseParts:
    """Check the strict format and return the think and answer bodies.

    ``think_prefilled`` means the prompt ended with ``<think>``, so ``text`` starts inside the
    think block. Never raises: every problem becomes a ``format_error`` reason code.
    """
    if not isinstance(text, str):
        return _failed(NOT_TEXT)
    if not text or text.isspace():
        return _failed(EMPTY_RESPONSE)

    found = _TAG_FRAGMENT_RE.findall(text)
    expected = _PREFILLED_SEQUENCE if think_prefilled else _FULL_SEQUENCE
    if len(found) != len(expected) or tuple(found) != expected:
        return _failed(_classify_tag_error(found, expected, think_prefilled))

    # Each tag occurs exactly once now; the answer tags sit near the end, so search from there.
    answer_close = text.rfind(ANSWER_CLOSE)
    answer_open = text.rfind(ANSWER_OPEN, 0, answer_close)
    think_close = text.rfind(THINK_CLOSE, 0, answer_open)
    if think_prefilled:
        think_start = 0
    else:
        think_open = text.find(THINK_OPEN, 0, think_close)
        if _has_text(text, 0, think_open):
            return _failed(TEXT_BEFORE_THINK)
        think_start = think_open + len(THINK_OPEN)
    answer_start = answer_open + len(ANSWER_OPEN)

    if _has_text(text, think_close + len(THINK_CLOSE), answer_open):
        return _failed(TEXT_BETWEEN_THINK_AND_ANSWER)
    if not _only_end_of_turn_after(text, answer_close + len(ANSWER_CLOSE)):
        return _failed(TEXT_AFTER_ANSWER)
    if not _has_visible(text, think_start, think_close):
        return _failed(EMPTY_THINK)
    if not _has_visible(text, answer_start, answer_close):
        return _failed(EMPTY_ANSWER)
    return ResponseParts(think=text[think_start:think_close], answer=text[answer_start:answer_close])
