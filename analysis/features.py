"""Per-response features of a rollout dump file.

For every response line of a ``<step>.jsonl`` dump this computes (one row each):

* where it came from: ``step``, ``file``, ``offset`` (byte offset of the line,
  to read the text back on demand), ``line``; ``prompt_key`` (hash of the
  prompt text, the same prompt across steps) and ``group_key`` (the GRPO group:
  the ``uid`` prefix ``<prompt-uuid>`` when the dump has ``uid``, else the
  prompt text within the step);
* ``score`` (the dumped reward) and, recomputed by the project's single scorer
  :func:`reward_fns.kk.compute_score`: ``score_recomputed``, ``acc``,
  ``format_ok``, ``answer_wrong``, ``answer_status``, ``format_error``;
* ``length`` in the run's length unit (``tokens`` with a tokenizer, else
  whitespace-separated ``words``; CJK text without spaces counts as few words),
  ``think_chars``, ``answer_chars``;
* ``unclosed`` (no ``</answer>`` after the last ``<answer>``) and
  ``truncated`` (unclosed *and* at the length cap when the cap is known; with no
  cap it equals ``unclosed``, an upper bound);
* behaviour counts and flags (``<name>_count``, ``<name>``) for hesitation,
  exploration, backtracking, summary and final_verify (pools in
  :mod:`analysis.patterns`), searched in the think part;
* ``verify_count`` and ``verify_per_1k`` (verification words per 1,000 length
  units);
* language: ``think_cjk_share`` / ``answer_cjk_share`` (share of CJK
  characters among letters), ``think_script`` / ``answer_script`` (dominant
  writing system), ``lang_switch`` (the two differ), ``zh_think_en_answer``,
  ``mixed_script_think``;
* ``retry_too_late``: thinking resumed after ``<answer>`` (a think tag, or a
  hesitation/backtracking phrase, after the first ``<answer>``);
* ``repetition``: rep-4, the share of repeated word 4-grams (Welleck et al.
  2019); near 1 in repetition spells.

The think/answer split here (:func:`split_lenient`) is tolerant of malformed
responses and is **for features only, never for scoring**: format and answer
status always come from ``reward_fns``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from analysis.loading import ParsedFile, parse_jsonl, repair_ground_truth, row_step, step_from_file_name
from analysis import registry
from analysis.patterns import (BEHAVIOUR_MATCHER, BEHAVIOUR_POOLS, RETHINK_MATCHER, THINK_MATCHER, VERIFY_WORDS,
                               behaviour_matches)
from analysis.claims import load_puzzle_statements, puzzle_key
from analysis.registry import ResponseContext
from data_prep import dataset as kk_dataset
from reward_fns.kk_format import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN

log = logging.getLogger(__name__)


# answer_status values beyond the scorer's correct|wrong|unparsed|skipped.
NO_GROUND_TRUTH = "no_ground_truth"
BAD_GROUND_TRUTH = "bad_ground_truth"

BEHAVIOURS: tuple[str, ...] = tuple(pool.name for pool in BEHAVIOUR_POOLS)
REPETITION_N = 4
# Letters needed before a part's writing system counts as known.
MIN_SCRIPT_LETTERS = 3
# One CJK character carries roughly a word, about three Latin letters: weigh it
# so a Chinese answer with Latin names ("Zoey是骑士") still reads as Chinese.
CJK_WEIGHT = 3.0
CJK_SCRIPTS = ("han", "kana", "hangul")
# A think part is "mixed" when a second writing system has this weighted share.
MIXED_SCRIPT_SHARE = 0.2
# A Chinese *stretch* inside a Latin-script think counts as a language switch
# when it holds at least this many Han characters: about one short clause
# ("那么Bob的话是假的" has 7, "所以Max也是骑士因为他说真话" 12).  Shorter runs are
# role words or quoted terms ("Zoey是骑士": 3), which are not thinking in Chinese.
HAN_STRETCH_MIN = 8

_SCRIPT_RUNS = re.compile(
    "|".join(
        [
            r"(?P<latin>[a-zA-Z\u00c0-\u024f\u1e00-\u1eff]+)",
            r"(?P<han>[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]+)",
            r"(?P<kana>[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]+)",
            r"(?P<hangul>[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]+)",
            r"(?P<cyrillic>[\u0400-\u052f]+)",
            r"(?P<greek>[\u0370-\u03ff\u1f00-\u1fff]+)",
            r"(?P<arabic>[\u0600-\u06ff\u0750-\u077f]+)",
            r"(?P<hebrew>[\u0590-\u05ff]+)",
            r"(?P<devanagari>[\u0900-\u097f]+)",
            r"(?P<thai>[\u0e00-\u0e7f]+)",
            r"(?P<other>[^\W\d_])",  # one letter of any other script
        ]
    )
)
_NON_ASCII_RUNS = re.compile(r"[^\x00-\x7f]+")
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Glue that keeps a Chinese stretch going: spaces, digits, CJK and full-width
# punctuation, and at most one Latin word (a name: "假设Zoey是骑士") between Han runs.
_HAN_GLUE = r"[\s\d\u3000-\u303f\uff00-\uffef]*(?:[A-Za-z]+[\s\d\u3000-\u303f\uff00-\uffef]*)?"
_HAN_STRETCH = re.compile(f"[{_HAN}]+(?:{_HAN_GLUE}[{_HAN}]+)*")
_HAN_CHAR = re.compile(f"[{_HAN}]")
_NON_LETTER_BYTES = bytes(b for b in range(256) if not (65 <= b <= 90 or 97 <= b <= 122))
_ENOUGH_ASCII_LETTERS = re.compile(r"[A-Za-z](?:[^A-Za-z]*[A-Za-z]){%d}" % (MIN_SCRIPT_LETTERS - 1))
# Repetition tokens: each CJK character alone, other runs of non-space.
_REP_TOKENS = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af]|[^\s\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
_VERIFY_POOL = VERIFY_WORDS.name
_NGRAM_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant (golden ratio)
_UID_PARTS = re.compile(r"^(.*)_(\d+)_(\d+)$")


@dataclass(frozen=True)
class LenientParts:
    """Think and answer parts found tolerantly.  For features only, never for scoring."""

    think: str
    answer: str  # inside the last <answer>, up to its </answer> or the end
    after_answer_start: str  # everything after the first <answer>
    has_answer: bool
    answer_closed: bool  # a </answer> follows the last <answer>
    think_start: int = 0  # offset of ``think`` in the response text
    tail_start: int = -1  # offset of ``after_answer_start`` (-1: no <answer>)


def split_lenient(text: str, think_prefilled: bool = False) -> LenientParts:
    """Split a response into think and answer parts without judging its format.

    The think part is what precedes the first ``<answer>``, from after an
    opening ``<think>`` (or from the start: prefilled prompts open it for the
    model) up to the first ``</think>``.  With no tags at all the whole text is
    thinking.  ``think_prefilled`` is accepted for symmetry with
    ``reward_fns.kk.split_response``; the lenient split needs no different rule.
    """
    del think_prefilled  # same rule either way; see docstring
    first_answer = text.find(ANSWER_OPEN)
    before = text if first_answer < 0 else text[:first_answer]
    think_open = before.find(THINK_OPEN)
    start = think_open + len(THINK_OPEN) if think_open >= 0 else 0
    think_close = before.find(THINK_CLOSE, start)
    raw_think = before[start:think_close] if think_close >= 0 else before[start:]
    think = raw_think.strip()
    think_start = start + len(raw_think) - len(raw_think.lstrip())
    if first_answer < 0:
        return LenientParts(think, "", "", False, False, think_start)
    last_answer = text.rfind(ANSWER_OPEN)
    answer_end = text.find(ANSWER_CLOSE, last_answer)
    answer = text[last_answer + len(ANSWER_OPEN) : answer_end if answer_end >= 0 else len(text)]
    tail_start = first_answer + len(ANSWER_OPEN)
    return LenientParts(think, answer.strip(), text[tail_start:], True, answer_end >= 0, think_start, tail_start)


@dataclass(frozen=True)
class ScriptProfile:
    """Writing systems of a text part."""

    dominant: str  # "" when fewer than MIN_SCRIPT_LETTERS letters
    cjk_share: float  # CJK characters / all letters (unweighted); 0.0 when none
    mixed: bool  # a second script holds >= MIXED_SCRIPT_SHARE of the weighted letters


def script_profile(text: str) -> ScriptProfile:
    """Dominant writing system, CJK share and mixing of ``text``."""
    if text.isascii():
        has_enough = _ENOUGH_ASCII_LETTERS.search(text) is not None
        return ScriptProfile("latin" if has_enough else "", 0.0, False)
    # ASCII letters are counted in C (bytes.translate); the script regex only
    # sees the non-ASCII runs, where a CJK passage is one match, not one per word.
    ascii_letters = len(text.encode("ascii", "ignore").translate(None, _NON_LETTER_BYTES))
    counts: dict[str, int] = {"latin": ascii_letters} if ascii_letters else {}
    for match in _SCRIPT_RUNS.finditer(" ".join(_NON_ASCII_RUNS.findall(text))):
        name = match.lastgroup or "other"
        counts[name] = counts.get(name, 0) + match.end() - match.start()
    total = sum(counts.values())
    if total == 0:
        return ScriptProfile("", 0.0, False)
    cjk = sum(counts.get(name, 0) for name in CJK_SCRIPTS)
    weighted = {name: n * (CJK_WEIGHT if name in CJK_SCRIPTS else 1.0) for name, n in counts.items()}
    ranked = sorted(weighted.items(), key=lambda item: item[1], reverse=True)
    weight_total = sum(weighted.values())
    dominant = ranked[0][0] if total >= MIN_SCRIPT_LETTERS else ""
    mixed = len(ranked) > 1 and ranked[1][1] / weight_total >= MIXED_SCRIPT_SHARE
    return ScriptProfile(dominant, cjk / total, mixed)


def longest_han_stretch(text: str) -> int:
    """Han characters in the longest Chinese stretch of ``text`` (0 for ASCII text).

    A stretch is a run of Han characters joined by spaces, digits, CJK
    punctuation and at most one Latin word between two Han runs, so a Chinese
    sentence that names the puzzle's people stays one stretch.
    """
    if text.isascii():
        return 0
    return max((len(_HAN_CHAR.findall(m.group())) for m in _HAN_STRETCH.finditer(text)), default=0)


def repetition_score(text: str, n: int = REPETITION_N) -> float:
    """rep-n: 1 - distinct n-grams / n-grams over word tokens (CJK: per character).

    Case-insensitive; ``text`` may already be lower-cased.
    """
    return _repetition(text, n)[0]


def _repetition(text: str, n: int = REPETITION_N) -> tuple[float, int | None]:
    """:func:`repetition_score` and, for ASCII text, its number of whitespace-separated words (else None).

    The word count is what :class:`WordCounter` would count for the same text (lower-casing ASCII text
    changes no whitespace): the split is done once for both.
    """
    lowered = text.lower()
    if lowered.isascii():
        return _repetition_ascii(lowered, n)
    tokens = _REP_TOKENS.findall(lowered)
    total = len(tokens) - n + 1
    if total <= 0:
        return 0.0, None
    # Hash each token once (C speed), then mix n consecutive hashes into one n-gram id.
    hashes = np.fromiter(map(hash, tokens), dtype=np.int64, count=len(tokens)).view(np.uint64)
    return 1.0 - _distinct_ngrams(hashes, n, total) / total, None


def _distinct_ngrams(hashes: np.ndarray, n: int, total: int) -> int:
    """Distinct n-grams among ``total`` of a sequence of 64-bit token hashes; a collision among
    ~500 n-gram ids is negligible."""
    gram_ids = hashes[:total] * _NGRAM_MIX
    for offset in range(1, n):
        gram_ids ^= hashes[offset : offset + total]
        if offset < n - 1:
            gram_ids *= _NGRAM_MIX
    gram_ids.sort()  # distinct ids by sort + neighbour compare: np.unique's overhead is ~5x this at ~500 ids
    return 1 + int(np.count_nonzero(gram_ids[1:] != gram_ids[:-1]))


# ASCII whitespace as str.split() sees it (it splits at \x1c-\x1f too), as a byte lookup table.
_SPLIT_SPACE = np.zeros(256, dtype=bool)
_SPLIT_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
_POLY_BASE = 0x5851F42D4C957F2D  # odd, so invertible modulo 2**64
_poly_powers = np.ones(0, dtype=np.uint64)  # _POLY_BASE**i modulo 2**64, grown on demand
_poly_inverse_powers = _poly_powers


def _powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    global _poly_powers, _poly_inverse_powers
    if len(_poly_powers) < length:
        size = max(length, 2 * len(_poly_powers), 8192)
        base = np.full(size, _POLY_BASE, dtype=np.uint64)
        inverse = np.full(size, pow(_POLY_BASE, -1, 1 << 64), dtype=np.uint64)
        base[0] = inverse[0] = 1
        _poly_powers = np.cumprod(base, dtype=np.uint64)
        _poly_inverse_powers = np.cumprod(inverse, dtype=np.uint64)
    return _poly_powers, _poly_inverse_powers


def _repetition_ascii(lowered: str, n: int) -> tuple[float, int]:
    """:func:`_repetition` of lower-cased ASCII text, with its word count, in numpy over the bytes.

    The same tokens as ``lowered.split()``, found as runs of non-space bytes; each token's hash is a
    polynomial hash of its bytes modulo 2**64 from one prefix sum (no Python object per token: hashing
    ~400 fresh token strings with ``hash()`` cost ~50 µs of a response's ~100 µs here).
    """
    length = len(lowered)
    powers, inverse_powers = _powers(length)
    data = np.frombuffer(lowered.encode("ascii"), dtype=np.uint8)
    space = np.ones(length + 2, dtype=bool)  # a space before the first byte and after the last
    _SPLIT_SPACE.take(data, out=space[1:-1])
    edges = np.flatnonzero(space[1:] != space[:-1])  # token start, end, start, end, ...
    starts, ends = edges[0::2], edges[1::2]
    words = len(starts)
    total = words - n + 1
    if total <= 0:
        return 0.0, words
    prefix = np.zeros(length + 1, dtype=np.uint64)
    # byte + 1: a NUL byte inside a token must still change its hash
    np.cumsum((data + np.uint64(1)) * powers[:length], out=prefix[1:])
    hashes = (prefix[ends] - prefix[starts]) * inverse_powers[starts]
    return 1.0 - _distinct_ngrams(hashes, n, total) / total, words


def stable_hash(text: str) -> int:
    """A 63-bit hash that is the same in every process (Python's hash() is salted)."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def group_id(record: dict[str, Any]) -> str:
    """The GRPO group of a row: ``uid`` minus ``_<sample>_<output>``, else the prompt."""
    uid = record.get("uid")
    if isinstance(uid, str) and uid:
        match = _UID_PARTS.match(uid)
        return "uid:" + (match.group(1) if match else uid)
    return "input:" + str(record.get("input", ""))


def is_think_prefilled(prompt: str) -> bool:
    """The contract's rule for dumps: the decoded prompt ends with ``<think>``."""
    return prompt.rstrip().endswith(THINK_OPEN)


class LengthCounter(Protocol):
    """Counts response lengths in one unit (``words`` or ``tokens``)."""

    unit: str
    cache_id: str

    def lengths(self, texts: Sequence[str]) -> list[int]: ...


class WordCounter:
    """Whitespace-separated words."""

    unit = "words"
    cache_id = "words"

    @staticmethod
    def length(text: str) -> int:
        return len(text.split())

    def lengths(self, texts: Sequence[str]) -> list[int]:
        return [self.length(text) for text in texts]


class TokenizerCounter:
    """Tokens of a local Hugging Face tokenizer (``AutoTokenizer``, offline).

    The dumps hold text decoded with special tokens skipped, so re-encoding it
    gives the response length up to a token or two at the boundaries.
    """

    unit = "tokens"

    def __init__(self, path: str | Path) -> None:
        from analysis.errors import AnalysisInputError

        # Report workers are forked from this process: keep the Rust thread pool
        # unused here so the children neither warn nor inherit a busy pool.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        local = Path(path)
        if not local.exists():
            raise AnalysisInputError(f"tokenizer path does not exist: {local}")
        try:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(str(local), local_files_only=True)
        except (OSError, ValueError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AnalysisInputError(f"cannot load tokenizer from {local}: {first_line}") from exc
        self.cache_id = f"tokens:{local.resolve()}:{getattr(self.tokenizer, 'name_or_path', '')}:{len(self.tokenizer)}"
        self._backend = getattr(self.tokenizer, "backend_tokenizer", None)

    def lengths(self, texts: Sequence[str]) -> list[int]:
        if self._backend is not None:  # fast tokenizer: batch-encode in Rust
            return [len(enc.ids) for enc in self._backend.encode_batch(list(texts), add_special_tokens=False)]
        return [len(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]


# Claim checking costs ~0.3-0.5 ms per response (pure Python over ~30 claims): on every response of a
# 200k-response run that alone would break the analysis benchmark's bar, so by default it runs on an
# evenly spaced sample of this many responses per dump file (per step); the per-step means are
# estimates from that sample (standard error <= 0.05 for a share).  --claims-per-file 0 checks all.
CLAIMS_PER_FILE = 100


@dataclass(frozen=True)
class FeatureOptions:
    """What changes the features of a file (so also part of the cache key)."""

    max_response_length: int | None = None  # length cap in tokens, for truncation
    # Responses per dump file on which the sampled detectors (claim checking) run; 0 = all.
    claims_per_file: int = CLAIMS_PER_FILE
    # veRL parquet file(s) whose extra_info.statements the claim checker may look up by names and
    # solution (the dumps do not carry them); with its files' sizes and mtimes.
    puzzles: str | None = None
    puzzles_stamp: str = ""

    def cache_id(self) -> str:
        return f"cap={self.max_response_length}|claims={self.claims_per_file}|puzzles={self.puzzles}:{self.puzzles_stamp}"


@dataclass
class FileFeatures:
    """Features of one dump file plus one-line warnings about skipped lines."""

    frame: pd.DataFrame
    warnings: list[str]


def text_features(output: str, think_prefilled: bool) -> dict[str, Any]:
    """Features computed from the response text alone (no scorer, no length unit)."""
    row = _text_features(output, think_prefilled)[0]
    del row["_behaviour_matches"], row["_words"]
    return row


def _text_features(output: str, think_prefilled: bool) -> tuple[dict[str, Any], LenientParts, str]:
    parts = split_lenient(output, think_prefilled)
    lowered = output.lower()
    if len(lowered) == len(output):  # lower-case once, slice the think part out
        think_end = parts.think_start + len(parts.think)
        lowered_think = lowered[parts.think_start : think_end]
        # One scan of the think finds the behaviours and the think's verification words; the text around
        # it is scanned for the latter alone.  Same count as a scan of the whole text: the think is
        # stripped, so whitespace, a tag or the text's end bounds it, and no pattern matches across those.
        found = THINK_MATCHER.matches(lowered_think)
        raw_matches = [match for match in found if match[0] != _VERIFY_POOL]
        verify_count = (len(found) - len(raw_matches) + VERIFY_WORDS.count(lowered[: parts.think_start])
                        + VERIFY_WORDS.count(lowered[think_end:]))
    else:
        lowered_think = parts.think.lower()
        raw_matches = BEHAVIOUR_MATCHER.matches(lowered_think)
        verify_count = VERIFY_WORDS.count(lowered)
    matches = behaviour_matches(lowered_think, raw_matches)
    counts = dict.fromkeys(BEHAVIOURS, 0)
    for name, _, _ in matches:
        counts[name] += 1
    # kept for the claim detectors (analysis/claims.py), dropped before the row is stored
    row: dict[str, Any] = {"_behaviour_matches": (raw_matches, matches)}
    for name in BEHAVIOURS:
        row[f"{name}_count"] = counts[name]
        row[name] = counts[name] > 0
    row["verify_count"] = verify_count
    think_script = script_profile(parts.think)
    answer_script = script_profile(parts.answer)
    row["think_cjk_share"] = think_script.cjk_share
    row["answer_cjk_share"] = answer_script.cjk_share
    row["think_script"] = think_script.dominant
    row["answer_script"] = answer_script.dominant
    both_known = bool(think_script.dominant and answer_script.dominant)
    stretch = longest_han_stretch(parts.think) if think_script.cjk_share else 0
    row["think_han_stretch"] = stretch
    # A Chinese stretch inside a Latin think with a Latin answer is Chinese
    # thinking too, even when the paragraph is too short to change the dominant script.
    han_stretch_switch = (stretch >= HAN_STRETCH_MIN and think_script.dominant == "latin"
                          and answer_script.dominant == "latin")
    row["han_stretch_switch"] = han_stretch_switch
    row["lang_switch"] = (both_known and think_script.dominant != answer_script.dominant) or han_stretch_switch
    row["zh_think_en_answer"] = (both_known and think_script.dominant == "han"
                                 and answer_script.dominant == "latin") or han_stretch_switch
    row["mixed_script_think"] = think_script.mixed
    row["retry_too_late"] = _retry_too_late(parts)
    # the response's whitespace words when the split gave them (ASCII), for WordCounter; dropped before storing
    row["repetition"], row["_words"] = _repetition(lowered)
    row["think_chars"] = len(parts.think)
    row["answer_chars"] = len(parts.answer)
    row["has_answer"] = parts.has_answer
    row["unclosed"] = not parts.answer_closed
    return row, parts, lowered_think


def detector_features(output: str, parts: LenientParts, lowered_think: str, row: dict[str, Any],
                      record: dict[str, Any], sampled: bool = True,
                      detectors: list[registry.Detector] | None = None) -> dict[str, Any]:
    """Columns of the registered detectors that are not built in (analysis.registry).

    ``sampled``: whether this response is in the file's sample (detectors marked
    ``sampled`` leave the others empty).  ``detectors``: those detectors, when the
    caller listed them once for a whole file.
    """
    found: dict[str, Any] = {}
    context: ResponseContext | None = None
    for detector in _extra_detectors() if detectors is None else detectors:
        if detector.sampled and not sampled:
            found[detector.name] = math.nan
            continue
        if detector.pool is not None:
            count = detector.pool.count(lowered_think)
            found[f"{detector.name}_count"] = count
            found[detector.name] = count > 0
            continue
        if context is None:
            context = ResponseContext(output, parts.think, lowered_think, parts.answer, parts.think_start,
                                      {**row}, record, {"behaviour_matches": row.get("_behaviour_matches")})
        value = detector.function(context)  # type: ignore[misc]
        if detector.kind == "flag":
            found[detector.name] = float(bool(value)) if detector.sampled else bool(value)
        else:
            found[detector.name] = _as_float(value)
        context.row[detector.name] = found[detector.name]
    return found


def _extra_detectors() -> list[registry.Detector]:
    return [detector for detector in registry.detectors() if not detector.builtin]


def _retry_too_late(parts: LenientParts) -> bool:
    tail = parts.after_answer_start
    if not tail:
        return False
    if THINK_OPEN in tail or THINK_CLOSE in tail:
        return True
    return bool(RETHINK_MATCHER.matches(tail.lower()))


def score_features(output: str, ground_truth: Any, think_prefilled: bool, data_source: str) -> dict[str, Any]:
    """Format and answer status from the project's single scorer (reward_fns)."""
    from reward_fns.kk import GroundTruthError, compute_score, split_response

    try:
        if ground_truth is None:
            raise GroundTruthError("no ground truth in the dump")
        result = compute_score(
            data_source=data_source,
            solution_str=output,
            ground_truth=repair_ground_truth(ground_truth),
            extra_info={"think_prefilled": think_prefilled},
        )
    except GroundTruthError:
        # The answer cannot be judged, but the format still can.
        fmt = split_response(output, think_prefilled=think_prefilled).format_error
        status = NO_GROUND_TRUTH if ground_truth is None else BAD_GROUND_TRUTH
        return {
            "score_recomputed": math.nan,
            "acc": math.nan,
            "format_ok": float(fmt == ""),
            "answer_wrong": math.nan,
            "answer_status": status,
            "format_error": fmt,
        }
    return {
        "score_recomputed": float(result["score"]),
        "acc": float(result["acc"]),
        "format_ok": float(result["format_ok"]),
        "answer_wrong": float(result["answer_wrong"]),
        "answer_status": str(result["answer_status"]),
        "format_error": str(result["format_error"]),
        "pred": str(result.get("pred", "")),  # for claim checking; not a stored column
    }


def _data_source(record: dict[str, Any], ground_truth: Any) -> str:
    source = record.get("data_source")
    if isinstance(source, str) and source:
        return source
    names = ground_truth.get("names") if isinstance(ground_truth, dict) else None
    count = len(names) if isinstance(names, (list, tuple)) else 0
    return kk_dataset.data_source(kk_dataset.GENERATED_SOURCE, count) if count else kk_dataset.GENERATED_SOURCE


def _n_people(ground_truth: Any) -> int:
    names = ground_truth.get("names") if isinstance(ground_truth, dict) else None
    names = repair_ground_truth({"names": names})["names"] if isinstance(names, str) else names
    return len(names) if isinstance(names, (list, tuple)) else 0


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def features_of_parsed(parsed: ParsedFile, counter: LengthCounter, options: FeatureOptions) -> FileFeatures:
    """Feature rows for the good lines of one parsed dump file."""
    warnings = list(parsed.warnings)
    file_step = step_from_file_name(parsed.path)
    rows: list[dict[str, Any]] = []
    outputs: list[str] = []
    words: list[int | None] = []
    no_step = no_output = 0
    per_file = options.claims_per_file
    statements = load_puzzle_statements(options.puzzles, options.puzzles_stamp) if options.puzzles else None
    stride = max(1, math.ceil(len(parsed.lines) / per_file)) if per_file > 0 else 1
    detectors = _extra_detectors()
    # A step file repeats each prompt (and group id) for every rollout of it: hash each text once.
    hashed: dict[str, int] = {}

    def text_key(text: str) -> int:
        key = hashed.get(text)
        if key is None:
            key = hashed[text] = stable_hash(text)
        return key

    for index, line in enumerate(parsed.lines):
        record = line.record
        output = record.get("output")
        if not isinstance(output, str):
            no_output += 1
            continue
        step = row_step(record, file_step)
        if step is None:
            no_step += 1
            continue
        prompt = record.get("input") if isinstance(record.get("input"), str) else ""
        prefilled = is_think_prefilled(prompt)
        ground_truth = record.get("gts")
        row: dict[str, Any] = {
            "step": step,
            "file": parsed.path.name,
            "offset": line.offset,
            "line": line.line_no,
            "prompt_key": text_key(prompt),
            "group_key": text_key(group_id(record)),
            "think_prefilled": prefilled,
            "n_people": _n_people(ground_truth),
            "score": _as_float(record.get("score")),
        }
        row.update(score_features(output, ground_truth, prefilled, _data_source(record, ground_truth)))
        text_row, parts, lowered_think = _text_features(output, prefilled)
        words.append(text_row.pop("_words"))
        row.update(text_row)
        if statements and "statements" not in record and isinstance(ground_truth, dict):
            key = puzzle_key(ground_truth.get("names"), ground_truth.get("solution"))
            if key in statements:
                record = {**record, "statements": statements[key]}
        row.update(detector_features(output, parts, lowered_think, row, record, sampled=index % stride == 0,
                                     detectors=detectors))
        del row["_behaviour_matches"]
        row.pop("pred", None)
        rows.append(row)
        outputs.append(output)
    if no_output:
        warnings.append(f"{parsed.path.name}: skipped {no_output} row(s) without a string 'output'")
    if no_step:
        warnings.append(f"{parsed.path.name}: skipped {no_step} row(s) without a 'step' (and no step in the file name)")
    unjudged = sum(row["answer_status"] in (NO_GROUND_TRUTH, BAD_GROUND_TRUTH) for row in rows)
    if unjudged:
        warnings.append(f"{parsed.path.name}: {unjudged} row(s) with a missing or malformed 'gts': "
                        "format judged, answer not (acc is empty)")
    frame = _frame_of_rows(rows) if rows else empty_feature_frame()
    if rows:
        if type(counter) is WordCounter:  # the ASCII responses' words were counted by _repetition
            lengths = [counter.length(text) if count is None else count for count, text in zip(words, outputs)]
        else:
            lengths = counter.lengths(outputs)
        frame["length"] = pd.Series(lengths, dtype="int64")
        frame["verify_per_1k"] = frame["verify_count"] * 1000.0 / frame["length"].clip(lower=1)
        at_cap = _at_cap(frame["length"], counter.unit, options.max_response_length)
        frame["truncated"] = frame["unclosed"] & at_cap
    return FileFeatures(_typed(frame), warnings)


def _at_cap(lengths: pd.Series, unit: str, cap: int | None) -> pd.Series:
    if cap is None or unit != "tokens":
        return pd.Series(True, index=lengths.index)
    return lengths >= cap - 1  # re-encoding decoded text can lose a token


def features_of_file(path: str | Path, counter: LengthCounter, options: FeatureOptions | None = None) -> FileFeatures:
    """Parse one ``<step>.jsonl`` dump and compute its per-response features."""
    return features_of_parsed(parse_jsonl(Path(path)), counter, options or FeatureOptions())


FEATURE_COLUMNS: dict[str, str] = {
    "step": "int64",
    "file": "object",
    "offset": "int64",
    "line": "int64",
    "prompt_key": "int64",
    "group_key": "int64",
    "think_prefilled": "bool",
    "n_people": "int64",
    "score": "float64",
    "score_recomputed": "float64",
    "acc": "float64",
    "format_ok": "float64",
    "answer_wrong": "float64",
    "answer_status": "object",
    "format_error": "object",
    **{f"{name}_count": "int64" for name in BEHAVIOURS},
    **{name: "bool" for name in BEHAVIOURS},
    "verify_count": "int64",
    "think_cjk_share": "float64",
    "answer_cjk_share": "float64",
    "think_script": "object",
    "answer_script": "object",
    "think_han_stretch": "int64",
    "han_stretch_switch": "bool",
    "lang_switch": "bool",
    "zh_think_en_answer": "bool",
    "mixed_script_think": "bool",
    "retry_too_late": "bool",
    "repetition": "float64",
    "think_chars": "int64",
    "answer_chars": "int64",
    "has_answer": "bool",
    "unclosed": "bool",
    "length": "int64",
    "verify_per_1k": "float64",
    "truncated": "bool",
}


def feature_columns() -> dict[str, str]:
    """:data:`FEATURE_COLUMNS` plus the columns of the registered detectors that are not built in."""
    return {**FEATURE_COLUMNS, **registry.extra_feature_columns()}


def empty_feature_frame() -> pd.DataFrame:
    """A zero-row frame with every feature column and dtype."""
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in feature_columns().items()})


def _frame_of_rows(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as columns, each built once in its final dtype.

    Same frame as ``pd.DataFrame(rows).astype(...)``, whose per-column overhead cost ~30 µs per
    response on 500-row step files.  Every row has the same keys.
    """
    columns = feature_columns()
    return pd.DataFrame({name: _column([row[name] for row in rows], columns.get(name)) for name in rows[0]})


def _column(values: list[Any], dtype: str | None) -> np.ndarray | pd.Series:
    # An object array of strings would be inferred as pandas' "str" dtype here and cast back to
    # object by _typed (~1 ms per column of a 500-row file); a Series of dtype object stays one.
    if dtype == "object":
        return pd.Series(values, dtype=object)
    return np.array(values, dtype=dtype)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    columns = feature_columns()
    frame = frame[list(columns)]
    # astype to the dtype a column already has only copies it
    changed = {name: dtype for name, dtype in columns.items() if frame[name].dtype != np.dtype(dtype)}
    return frame.astype(changed) if changed else frame
