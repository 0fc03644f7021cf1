"""Keyword/regex pools for the reasoning behaviours, in English and Chinese.

Each behaviour is a :class:`Pool` of :class:`PoolPattern` entries.  Every entry
records where it comes from:

* ``logic-rl`` - phrases quoted in the Logic-RL write-up (Xie et al. 2025,
  "Logic-RL: Unleashing LLM Reasoning with Rule-Based Reinforcement
  Learning"): hesitation, "Let's test both possibilities", "Analyze ...
  statement again", "Let's summarize", "Now we have determined", "Let's verify
  all statements", and the "verify ... precise ... consistent" repetition.
* ``liu2025`` - the self-reflection keywords of "Understanding R1-Zero-Like
  Training: A Critical Perspective" (Liu et al. 2025): recheck, rethink,
  reassess, re-evaluate, re-examine, reconsider, double-check, verify again,
  check again, think again, reanalyze.
* ``simplerl`` - reflection keywords tracked by SimpleRL-Zoo (Zeng et al.
  2025): wait, recheck, retry, alternatively, try again.  Its "however" is
  deliberately left out: in Knights-and-Knaves reasoning it is an ordinary
  contrast word ("However, Bob says ...") and fires on most responses.
* ``ours`` - additions for this project (more surface forms, the Chinese
  pool), checked against the hand-labelled fixture
  ``tests/data/analysis_detector_fixture.jsonl``.

The lists from the papers are transcribed from their text as we know it;
entries are tagged so they can be re-checked or filtered by source.

Matching runs on **lower-cased** text without ``re.IGNORECASE``, through one
trigger regex factored by first character (see :class:`PoolMatcher`): about ten
times faster than one case-insensitive alternation per pool on 2.5 KB
responses, which matters at 200k responses.  English
alternatives are therefore written in lower case, and each must start with a
literal character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

SOURCES = ("logic-rl", "liu2025", "simplerl", "ours")

# Share of the think part (by characters, counted from its end) in which a
# verification phrase counts as the *final* verification before answering:
# anywhere but the opening third.  The verification passage itself is long
# (each statement re-checked), so its opening phrase often sits mid-text; a
# "let me check X's statement" that starts the reasoning is not a final check.
FINAL_SECTION_SHARE = 2 / 3


@dataclass(frozen=True)
class PoolPattern:
    """One regex alternative of a pool (lower-case English or Chinese).

    Every alternative must begin with a literal character that is not
    quantified: pools are compiled factored by that first character, which
    lets the regex engine skip most positions of a text in C.
    """

    regex: str
    source: str
    lang: str  # "en" or "zh"

    def __post_init__(self) -> None:
        for branch in self.branches:
            first = branch[:1]
            if not first or not first.isalnum() or branch[1:2] in ("?", "*", "+", "{"):
                raise ValueError(f"pool alternative must start with a literal character: {branch!r}")

    @property
    def branches(self) -> list[str]:
        """The regex split at its top-level ``|``."""
        return split_top_level(self.regex)


def split_top_level(regex: str) -> list[str]:
    """Split a regex at ``|`` outside groups, classes and escapes."""
    parts, depth, in_class, start, index = [], 0, False, 0, 0
    while index < len(regex):
        char = regex[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(regex[start:index])
            start = index + 1
        index += 1
    parts.append(regex[start:])
    return parts


_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


class PoolMatcher:
    """Scans lower-cased text for several pools, each as if scanned alone.

    Python's ``re`` tries every alternative of an alternation at every
    candidate position, and each regex call has a fixed cost, so neither one
    big regex nor one regex per pool is fast at 200k responses.  Here:

    * one *trigger* regex per language holds every alternative of every pool,
      factored by first character (a branch that starts with a literal is
      rejected with one comparison); it finds each position outside a word
      where some alternative matches, resuming one character later so no
      position is skipped (:class:`_Trigger`: with many first letters it is
      tried only at word starts, after a non-word character);
    * at those few positions, the pools' own regexes for that first
      character are tried with ``match`` to say which pools match and where
      each match ends.

    Chinese alternatives are skipped for pure-ASCII text.  Matches of one pool
    never overlap (leftmost first, as scanning that pool alone would give);
    different pools may match the same phrase.
    """

    def __init__(self, pools: tuple["Pool", ...]) -> None:
        self.pool_names = tuple(pool.name for pool in pools)
        self._by_first: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
        triggers: dict[str, dict[str, list[str]]] = {"en": {}, "zh": {}}
        for pool in pools:
            for lang, suffix in (("en", "(?![a-z0-9])"), ("zh", "")):
                by_first: dict[str, list[str]] = {}
                for pattern in pool.patterns:
                    if pattern.lang == lang:
                        for branch in pattern.branches:
                            by_first.setdefault(branch[0], []).append(branch[1:])
                for first, tails in by_first.items():
                    self._by_first.setdefault(first, []).append(
                        (pool.name, re.compile(f"{first}(?:{'|'.join(tails)}){suffix}"))
                    )
                    triggers[lang].setdefault(first, []).extend(tails)
        self._english = _triggers(triggers["en"], "(?![a-z0-9])")
        self._chinese = _triggers(triggers["zh"], "")

    def matches(self, lowered: str) -> list[tuple[str, int, int]]:
        """``(pool name, start, end)`` of every match in lower-cased text, by start."""
        found: list[tuple[str, int, int]] = []
        by_first = self._by_first
        triggers = self._english if lowered.isascii() else self._english + self._chinese
        for trigger in triggers:
            for start in trigger.starts(lowered):
                for name, regex in by_first[lowered[start]]:
                    match = regex.match(lowered, start)
                    if match is not None:
                        found.append((name, start, match.end()))
        found.sort(key=_START)
        return _drop_overlaps_within_pool(found)

    def counts(self, lowered: str) -> dict[str, int]:
        """Matches per pool name (every pool present, zero when absent)."""
        result = dict.fromkeys(self.pool_names, 0)
        for name, _, _ in self.matches(lowered):
            result[name] += 1
        return result


def _START(item: tuple[str, int, int]) -> int:
    return item[1]


# Below this many distinct first letters a plain trigger scan beats a word-start one: the plain scan
# tries the regex at every letter that starts an alternative, the word-start scan at every non-word
# character (about one in five); either finds the same positions.
_WORD_START_SCAN_MIN_FIRSTS = 8


class _Trigger:
    """Finds every position where one of some pool alternatives matches, outside words.

    A position inside a word ("wait" in "await") never starts a match: the
    alternative's first character and the one before it are both ASCII letters or
    digits.  Plain: the regex is tried at each position whose character starts an
    alternative (``search`` resumed one character on), the word test done in Python.
    Word start (alternatives that all begin with an ASCII letter or digit, many
    first letters): the regex, prefixed by one non-word character, is tried only after
    a space or punctuation, where the engine's first-character skip does the word test
    in C; position 0 is tried on its own.  Both give the same positions, in order.
    """

    def __init__(self, alternatives: str, word_start: bool) -> None:
        self.word_start = word_start
        self.plain = re.compile(alternatives)
        self.scan = re.compile(f"[^a-z0-9](?:{alternatives})") if word_start else self.plain

    def starts(self, lowered: str) -> list[int]:
        found: list[int] = []
        search = self.scan.search
        position = 0
        if self.word_start:
            if self.plain.match(lowered) is not None:
                found.append(0)
            while (hit := search(lowered, position)) is not None:
                position = hit.start() + 1  # the alternative starts here; the next hit one later
                found.append(position)
            return found
        while (hit := search(lowered, position)) is not None:
            start = hit.start()
            position = start + 1
            if start and lowered[start] in _WORD_CHARS and lowered[start - 1] in _WORD_CHARS:
                continue  # inside a word, e.g. "await"
            found.append(start)
        return found


def _triggers(by_first: dict[str, list[str]], suffix: str) -> tuple[_Trigger, ...]:
    """Trigger scans for one language's alternatives grouped by first character."""
    def alternatives(firsts: list[str]) -> str:
        return "|".join(f"{first}(?:{'|'.join(by_first[first])}){suffix}" for first in firsts)

    word_firsts = [first for first in by_first if first in _WORD_CHARS]
    other_firsts = [first for first in by_first if first not in _WORD_CHARS]
    if len(word_firsts) < _WORD_START_SCAN_MIN_FIRSTS:
        return (_Trigger(alternatives(list(by_first)), False),) if by_first else ()
    triggers = [_Trigger(alternatives(word_firsts), True)]
    if other_firsts:
        triggers.append(_Trigger(alternatives(other_firsts), False))
    return tuple(triggers)


def _drop_overlaps_within_pool(found: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Keep the leftmost of overlapping matches of the same pool (input sorted by start)."""
    last_end: dict[str, int] = {}
    kept = []
    for name, start, end in found:
        if start >= last_end.get(name, -1):
            kept.append((name, start, end))
            last_end[name] = end
    return kept


def lower_aligned(text: str) -> str:
    """``text.lower()`` with the same length, so match offsets fit ``text``."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    # A few Unicode letters grow when lower-cased; keep those as they are.
    return "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)


@dataclass(frozen=True)
class Pool:
    """A behaviour's keyword pool."""

    name: str
    description: str
    patterns: tuple[PoolPattern, ...]

    @cached_property
    def matcher(self) -> PoolMatcher:
        return PoolMatcher((self,))

    def count(self, lowered: str) -> int:
        """Number of non-overlapping matches in already lower-cased text."""
        return len(self.matcher.matches(lowered))

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Match spans in ``text`` (any case), for highlighting."""
        return [(start, end) for _, start, end in self.matcher.matches(lower_aligned(text))]


def _en(regex: str, source: str) -> PoolPattern:
    return PoolPattern(regex, source, "en")


def _zh(regex: str, source: str) -> PoolPattern:
    return PoolPattern(regex, source, "zh")


def _each(lang: str, heads: tuple[str, ...], tail: str, source: str) -> tuple[PoolPattern, ...]:
    """One alternative per head word: ``head + tail`` (keeps alternatives literal-first)."""
    return tuple(PoolPattern(head + tail, source, lang) for head in heads)


_LEADS = ("let(?:'|’)?s", "let us", "let me", "now", "we", "i")
_MODALS = r"(?: will| can| should| need to| must| have to)?"

HESITATION = Pool(
    "hesitation",
    "marking a step as uncertain, to come back to it later",
    (
        _en(r"not (?:entirely |completely |quite |yet |100% )?(?:sure|certain)", "logic-rl"),
        *_each("en", ("verify", "check", "confirm", "revisit", "come back to", "return to"),
               r" (?:this|it|that|them) later", "logic-rl"),
        _en(r"wait", "simplerl"),
        _en(r"hmm+", "ours"),
        _en(r"unsure|uncertain(?:ty)?", "ours"),
        _en(r"tentative(?:ly)?", "ours"),
        _en(r"for now", "ours"),
        _en(r"i (?:might|may|could) be (?:wrong|mistaken)", "ours"),
        _en(r"we (?:might|may|could) be (?:wrong|mistaken)", "ours"),
        _en(r"hold on", "ours"),
        _en(r"still unclear|unclear to me|not clear yet", "ours"),
        _en(r"i'?m (?:confused|not convinced)", "ours"),
        _zh(r"等等|等一下", "ours"),
        _zh(r"稍等", "ours"),
        _zh(r"嗯", "ours"),
        _zh(r"不(?:太|是很)?确定", "ours"),
        _zh(r"暂时|暂且", "ours"),
        *_each("zh", ("稍后", "之后", "后面", "待会"), r"再?(?:验证|检查|确认)", "ours"),
        _zh(r"可能(?:有|是)?(?:错|误)", "ours"),
    ),
)

EXPLORATION = Pool(
    "exploration",
    "multi-path exploration: trying several hypotheses side by side",
    (
        *_each("en", ("test", "try", "check", "consider", "explore", "examine", "analyze", "analyse"),
               r" (?:both|all|the two|two|each of the|the possible) (?:possibilities|cases|scenarios|options)",
               "logic-rl"),
        *_each("en", ("both", "two", "several", "multiple"), r" (?:possibilities|cases|scenarios)", "ours"),
        _en(r"alternatively", "simplerl"),
        *_each("en", ("another", "other", "second", "alternative", "opposite"),
               r" (?:possibility|case|scenario|option)", "ours"),
        _en(r"on the other hand", "ours"),
        _en(r"case (?:1|2|3|one|two|three|a|b)", "ours"),
        _en(r"what if", "ours"),
        _en(r"both hypotheses|each hypothesis|other hypothesis", "ours"),
        _en(r"try assuming|now try|next try", "ours"),
        *_each("en", ("assume", "suppose", "consider"), r" [^.\n]{1,60}? instead", "ours"),
        _zh(r"两种(?:可能|情况)", "ours"),
        _zh(r"分情况|分类讨论", "ours"),
        _zh(r"情况\s*[一二三123]", "ours"),
        _zh(r"另一种(?:可能|情况)|另一个假设", "ours"),
        _zh(r"反过来(?:假设|看)?|反之", "ours"),
        _zh(r"再假设|换一种假设", "ours"),
    ),
)

BACKTRACKING = Pool(
    "backtracking",
    "going back over earlier reasoning",
    (
        *_each("en", ("analyze", "analyse", "examine", "look at", "check", "consider", "reread", "re-read",
                      "go over", "go through", "revisit", "evaluate", "think about", "verify"),
               r"\b[^.\n]{0,60}? again", "logic-rl"),
        _en(r"re-?(?:check|think|assess|evaluate|examine|consider|analy[sz]e)\w*", "liu2025"),
        _en(r"retry|try again", "simplerl"),
        _en(r"go back|going back|goes back", "ours"),
        _en(r"back ?track\w*", "ours"),
        _en(r"start over|step back|start again|starting again|starting over", "ours"),
        _en(r"looking back|look back|misread|miscalculated|misunderstood", "ours"),
        _en(r"revisit\w*", "ours"),
        _en(r"i (?:made|have made) (?:a |an )?(?:mistake|error)|i was wrong", "ours"),
        _en(r"we (?:made|have made) (?:a |an )?(?:mistake|error)|we were wrong", "ours"),
        *_each("en", ("that", "this"), r" (?:was|is) (?:wrong|incorrect|a mistake)", "ours"),
        *_each("en", ("let me", "let's", "let us"), r" correct", "ours"),
        _zh(r"重新", "ours"),
        _zh(r"再(?:次)?(?:分析|检查|看一下|看看|考虑|思考)", "ours"),
        _zh(r"回头|回过头", "ours"),
        _zh(r"我(?:们)?(?:之前|刚才)?(?:错了|搞错了|犯了错)", "ours"),
        _zh(r"纠正", "ours"),
        _zh(r"算错|看错|搞错", "ours"),
    ),
)

SUMMARY = Pool(
    "summary",
    "staged summaries of what has been established so far",
    (
        *_each("en", ("let(?:'|’)?s", "let us", "let me", "to"), r" summari[sz]e", "logic-rl"),
        _en(r"now we have (?:determined|established|found)", "logic-rl"),
        _en(r"in summary|summary:|summari[sz]ing", "ours"),
        _en(r"to recap|recap", "ours"),
        _en(r"so far", "ours"),
        _en(r"we (?:have )?(?:now )?(?:determined|established) (?:that|the)", "ours"),
        _en(r"now we know", "ours"),
        _en(r"at this point,? we (?:know|have)", "ours"),
        *_each("en", ("putting", "combining"), r" (?:it |this |these |everything |all )*together", "ours"),
        *_each("en", ("from", "based on"), r" (?:all )?(?:the|our) (?:above|analysis|analyses)", "ours"),
        _en(r"in conclusion|to conclude", "ours"),
        _zh(r"总结", "ours"),
        _zh(r"综上", "ours"),
        _zh(r"归纳", "ours"),
        _zh(r"到目前为止|目前为止", "ours"),
        _zh(r"至此", "ours"),
        _zh(r"我们(?:已经|现在)(?:确定|知道|得出)", "ours"),
        _zh(r"已经(?:确定|知道|得出)", "ours"),
        _zh(r"现在(?:确定|知道|得出)", "ours"),
        _zh(r"由此可知", "ours"),
        _zh(r"根据以上|综合以上|以上分析", "ours"),
    ),
)

FINAL_VERIFY = Pool(
    "final_verify",
    "a verification of the solution before answering (not counted in the opening third of the think part, "
    "nor when deferred: 'verify this later' is hesitation)",
    (
        _en(r"verify all (?:the )?statements", "logic-rl"),
        *_each("en", _LEADS, _MODALS + r" (?:double[- ])?(?:verify|check|confirm|validate)", "ours"),
        _en(r"verify (?:all|each|every|the (?:solution|answer|assignment|conclusion)|our|this)", "ours"),
        *_each("en", ("check", "confirm"), r" (?:all|each|every) (?:the )?(?:statement|claim)s?", "ours"),
        _en(r"double[- ]check\w*", "liu2025"),
        _en(r"verification|sanity check", "ours"),
        *_each("en", ("all", "every", "each"),
               r" (?:of the |the )?statements? (?:are|is) (?:now )?(?:consistent|satisfied|true)", "ours"),
        _zh(r"验证", "ours"),
        _zh(r"检验|检查一下", "ours"),
        _zh(r"核对|核实", "ours"),
        _zh(r"逐一检查", "ours"),
        _zh(r"确认一下", "ours"),
        *_each("zh", ("所有", "每个"), r"(?:的)?(?:陈述|说法|条件)都", "ours"),
    ),
)

VERIFY_WORDS = Pool(
    "verify_words",
    "verification vocabulary, counted per 1,000 length units (the 'verify ... precise ... consistent' spells)",
    (
        _en(r"verif\w*", "logic-rl"),
        _en(r"consisten\w*|inconsisten\w*", "logic-rl"),
        _en(r"check\w*|re-?check\w*|double[- ]check\w*", "liu2025"),
        _en(r"confirm\w*", "ours"),
        _en(r"validat\w*", "ours"),
        _zh(r"验证", "ours"),
        _zh(r"检验|检查", "ours"),
        _zh(r"核对|核实", "ours"),
        _zh(r"确认", "ours"),
        _zh(r"一致", "ours"),
    ),
)

# Behaviours found by keyword pools, in report order.  Language switching
# is script-based (see features.py) and retry-too-late is tag-based.
BEHAVIOUR_POOLS: tuple[Pool, ...] = (HESITATION, EXPLORATION, BACKTRACKING, SUMMARY, FINAL_VERIFY)
POOLS_BY_NAME: dict[str, Pool] = {p.name: p for p in (*BEHAVIOUR_POOLS, VERIFY_WORDS)}
BEHAVIOUR_MATCHER = PoolMatcher(BEHAVIOUR_POOLS)
# The behaviour pools and the verification words in one scan of a think (analysis.features): each pool's
# matches are the same as in a scan of that pool alone (see PoolMatcher).
THINK_MATCHER = PoolMatcher((*BEHAVIOUR_POOLS, VERIFY_WORDS))
# Thinking words that, after <answer> has started, mean thinking resumed.
RETHINK_MATCHER = PoolMatcher((HESITATION, BACKTRACKING))


def _final_section_start(length: int) -> int:
    return int(length * (1.0 - FINAL_SECTION_SHARE))


def behaviour_matches(lowered_think: str, raw: list[tuple[str, int, int]] | None = None) -> list[tuple[str, int, int]]:
    """Behaviour matches in a lower-cased think part, with the final-verification rules.

    A final-verification match counts only when it starts in the final
    section of the think part, and not when it overlaps a hesitation match: a
    check deferred to later ("let's verify this later", "稍后再验证") is
    hesitation, not a verification.  ``raw``: ``BEHAVIOUR_MATCHER.matches(lowered_think)``
    when the caller has it already.
    """
    found = BEHAVIOUR_MATCHER.matches(lowered_think) if raw is None else raw
    cutoff = _final_section_start(len(lowered_think))
    deferred = [(start, end) for name, start, end in found if name == HESITATION.name]
    kept = []
    for name, start, end in found:
        if name == FINAL_VERIFY.name and (
            start < cutoff or any(start < d_end and d_start < end for d_start, d_end in deferred)
        ):
            continue
        kept.append((name, start, end))
    return kept


def count_behaviours(lowered_think: str) -> dict[str, int]:
    """Counts per behaviour pool for a lower-cased think part."""
    counts = dict.fromkeys(BEHAVIOUR_MATCHER.pool_names, 0)
    for name, _, _ in behaviour_matches(lowered_think):
        counts[name] += 1
    return counts


def behaviour_spans(think: str) -> dict[str, list[tuple[int, int]]]:
    """Matched spans per behaviour in the original think text, for highlighting.

    Same matcher and rules as :func:`count_behaviours`, so what is highlighted
    is exactly what was counted.
    """
    spans: dict[str, list[tuple[int, int]]] = {name: [] for name in BEHAVIOUR_MATCHER.pool_names}
    for name, start, end in behaviour_matches(lower_aligned(think)):
        spans[name].append((start, end))
    return spans
