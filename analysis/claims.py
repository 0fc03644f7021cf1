"""Claim checking: does the thinking say true things about the puzzle, and does its verification verify?

Knights and Knaves is a task where every intermediate claim can be checked: the
dump row holds the puzzle's unique solution (``gts``) and, when the row carries
it, the statements (``extra_info.statements``, the JSON AST of data_prep).

From the think part (:func:`extract`):

* **role claims** — "Zoey is a knight", "so Oliver must be a knave", "Bob is
  not a knight", "Zoey and Max are knights", "Max is lying", and the Chinese
  forms "Zoey是骑士", "Bob一定是骗子", "Max不是骑士", "Zoey在说谎".  A claim inside
  reported speech ("Zoey says Bob is a knave", "Zoey说Bob是骗子") restates a
  statement and is not the model's; a hedged one ("whether Zoey is a knight",
  "Zoey might be") is not a claim;
* **case splits** — a claim in a clause opened by "if", "suppose", "assume",
  "case 1:", "假设", "如果" ... is an *assumption*: it opens a case, and the
  claims after it belong to that case until the next assumption, a declared
  contradiction or consistency ("contradiction", "this case fails", "no
  contradiction", "矛盾"), a final verification, a summary or a blank line;
* **declared contradictions**, attributed to the open case.

Checking (:func:`analyse`):

* a claim outside any case is checked against the solution;
* a claim inside a case whose assumptions agree with the solution is checked
  against the solution too (the only consistent assignment under a true
  assumption is the solution);
* a claim inside a case built on a false assumption is checked against what
  the statements force under that assumption (:func:`propagate`: each
  statement, speaker's role = the statement's truth, applied until nothing
  changes); without statements, or for a person nothing forces, it is not
  checked;
* a declared contradiction is real when the case's assumptions disagree with
  the (unique) solution.

Per response: ``claims_made``, ``claim_correct_share`` (of the checked
claims), ``last_claims_agree`` (the last claim outside a case about each person
agrees with the parsed answer), ``contradiction_real`` (share of declared
contradictions that are real), ``case_splits``, ``wrong_claim``,
``effective_reflection`` (a reflection phrase - verification, backtracking,
hesitation - followed by a claim that corrects an earlier wrong claim about
the same person) and ``superficial_reflection`` (a verification or
backtracking phrase after which no claim changes, ending in a wrong answer).

The extractor is a set of regular expressions, measured on a hand-labelled
fixture (``tests/data/analysis_claims_fixture.jsonl``; ``analysis/README.md``
has precision and recall).  It reads text only: nothing from a response is
evaluated.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from analysis.loading import repair_ground_truth
from analysis.patterns import (
    BACKTRACKING,
    BEHAVIOUR_MATCHER,
    FINAL_VERIFY,
    HESITATION,
    SUMMARY,
    behaviour_matches,
    lower_aligned,
)

# Chinese role words, for the default knight/knave pair only.
ZH_TRUTHFUL = ("骑士",)
ZH_LYING = ("骗子", "无赖", "恶棍", "说谎者", "流氓")
_EN_LINK = (r"(?:is|was|must be|has to be|should be|would be|will be|can only be|is definitely|is therefore"
            r"|cannot be|can't be|can not be|could not be|couldn't be|isn't|is not|must not be|mustn't be"
            r"|would not be|wouldn't be|isn’t|can’t be)")
_EN_ADVERBS = r"(?:\s+(?:also|indeed|definitely|actually|therefore|then|thus|certainly|clearly|really|still|necessarily|in fact|surely|truly|both))*"
_NEGATIVE_LINK = re.compile(r"not|n't|n’t|cannot")
_EN_TRUTH = {
    "is telling the truth": True, "tells the truth": True, "is truthful": True, "is honest": True,
    "is lying": False, "lies": False, "is not lying": True, "is not telling the truth": False,
    "must be telling the truth": True, "must be lying": False,
}
_ZH_TRUTH = {"说真话": True, "说实话": True, "讲真话": True, "说的是真话": True, "说谎": False, "撒谎": False,
             "在说谎": False, "说假话": False, "在撒谎": False}
_ZH_MODS = r"(?:也|就|则|一定|必须|必然|肯定|确实|应该|只能|只可能|都|必定|便|才|仍然|还|将|会)*"

# Everything below is found with str methods (C speed) and small anchored regexes: scanning a
# 2.5 KB think with one big alternation costs ~0.5 ms, too slow at 200k responses.
# Clause boundaries: punctuation, and the connectives that start a consequence (each ends in a space,
# replaced by the boundary mark, so positions do not move).
_BOUNDARY_MARK = "\x00"
_PUNCTUATION_TO_MARK = str.maketrans({c: _BOUNDARY_MARK for c in ".;!?\n,，。；！？、"})
_BOUNDARY_WORDS = (" then ", " so ", " therefore ", " thus ", " hence ", " which means ", " meaning ", " but ",
                   "(then ")
_BOUNDARY_WORDS_ZH = ("那么", "所以", "因此", "于是", "但是", "可是")
# Words in a clause that make a claim reported speech, hedged, or an assumption (English: whole words).
_SPEECH_WORDS = frozenset("says say said saying claim claims claimed claiming state states stated stating statement "
                          "told accuse accuses accused accusing call calls called asserts assert asserted mentions "
                          "mention insists insist declares declare declared".split())
_HEDGE_WORDS = frozenset("whether could might may possibly perhaps either unless".split())
_ASSUME_WORDS = frozenset("if suppose supposing assume assuming assumption hypothesis hypothesize".split())
_SPEECH_PHRASES = ("tells us", "tell us", "tells me", "according to")
_HEDGE_PHRASES = ("or not", "check if", "see if")
_ASSUME_PHRASES = ("let's say", "let us say", "what if")
_MARKER_WORDS_ZH: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("speech", ("说", "声称", "称", "指出", "陈述", "表示", "认为", "的话")),
    ("hedge", ("是否", "或者", "可能", "还是")),
    ("assume", ("假设", "假如", "如果", "若", "假定", "设想", "倘若", "要是", "情况一", "情况二", "情况1", "情况2")),
)
_NOT_SPEECH_AFTER_SHUO = ("谎", "真话", "实话", "假话", "的是真话")
_TOKEN_STRIP = "\"'“”‘’()[]:：*-"
_CASE_LABEL = re.compile(r"case\s*(?:\d+|one|two|three|four|[a-d])\s*[:：).]")
# Case events: a declared contradiction, declared consistency, or another place where a case ends.
_CONTRADICTION_WORDS = ("contradict", "inconsistent", "inconsistency", "impossible", "not possible", "paradox",
                        "矛盾", "不可能", "不成立", "冲突")
_CASE_FAILS = ("fails", "doesn't work", "does not work", "cannot hold", "can't hold", "is wrong", "is false",
               "is invalid", "is impossible")
_CASE_HOLDS = ("works", "holds", "is valid", "is consistent", "is possible", "is correct")
# "this case fails", "the assumption holds": the text before the verb ends with one of these (what the
# regex "(?:this|that|the|our) (?:case|...) $" finds, "$" also before a final newline), as str.endswith
# suffixes: all are shorter than the 30 characters before the verb that are searched.
_CASE_SUBJECT_ENDINGS = tuple(f"{subject} {noun} {newline}" for subject in ("this", "that", "the", "our")
                              for noun in ("case", "assumption", "scenario", "possibility", "option")
                              for newline in ("", "\n"))
_CONSISTENT_WORDS = ("is consistent", "are consistent", "all consistent", "everything is consistent", "checks out",
                     "check out", "everything works", "everything fits", "一致", "不矛盾", "成立")
_CLOSE_WORDS = ("\n\n", "in conclusion", "to conclude", "in summary", "to summarize", "to summarise", "summary",
                "the answer is", "the solution is", "final answer", "overall", "综上", "总结", "答案")
_NEGATED_CONTRADICTION = re.compile(r"(?:\b(?:no|not|without|any|never|isn't|aren't|doesn't|don't)\b[^.\n]{0,20}$)|(?:没有|不|无|并不)$")
_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'’")


@lru_cache(maxsize=256)
def _negative_link(link: str) -> bool:
    return _NEGATIVE_LINK.search(link) is not None


def _word_start(text: str, start: int) -> bool:
    """No ASCII letter, digit or apostrophe just before ``start`` (a word starts there)."""
    return start == 0 or text[start - 1] not in _ASCII_WORD


def _hits(text: str, word: str, whole_word: bool) -> list[int]:
    """Start positions of ``word`` in ``text`` (as a whole word when asked)."""
    found = []
    position = text.find(word)
    while position >= 0:
        end = position + len(word)
        if not whole_word or (_word_start(text, position) and (end >= len(text) or text[end] not in _ASCII_WORD)):
            found.append(position)
        position = text.find(word, position + 1)
    return found


@lru_cache(maxsize=1 << 16)
def _clause_verdict(clause: str, chinese: bool) -> str | None:
    """What a claim preceded by ``clause`` (from the clause's start) is: "claim", "assumption", or None
    (reported speech, hedged, or inside an open quote: dropped).  Cached: the same short clause
    ("so ", "if ", "therefore ") precedes many claims."""
    if not clause.strip():
        return "claim"
    marker = _clause_kind(clause, chinese)
    if marker in ("speech", "hedge") or clause.count('"') % 2 or clause.count("“") > clause.count("”"):
        return None
    return "assumption" if marker == "assume" else "claim"


def _clause_kind(clause: str, chinese: bool) -> str:
    """"speech", "hedge", "assume" or "" for the text between a clause's start and a claim."""
    tokens = {token.strip(_TOKEN_STRIP) for token in clause.split()}
    if tokens & _SPEECH_WORDS or any(p in clause for p in _SPEECH_PHRASES):
        return "speech"
    if tokens & _HEDGE_WORDS or any(p in clause for p in _HEDGE_PHRASES):
        return "hedge"
    assume = bool(tokens & _ASSUME_WORDS) or any(p in clause for p in _ASSUME_PHRASES) or (
        "case" in clause and _CASE_LABEL.search(clause) is not None)
    if chinese and not clause.isascii():
        found = {kind for kind, words in _MARKER_WORDS_ZH for word in words if word in clause
                 and (word != "说" or _speech_shuo(clause))}
        if "speech" in found:
            return "speech"
        if "hedge" in found:
            return "hedge"
        assume = assume or "assume" in found
    return "assume" if assume else ""


def _speech_shuo(clause: str) -> bool:
    """A 说 that reports speech ("Zoey说..."), not 说谎 / 说真话 (lying / telling the truth)."""
    position = clause.find("说")
    while position >= 0:
        if not clause.startswith(_NOT_SPEECH_AFTER_SHUO, position + 1):
            return True
        position = clause.find("说", position + 1)
    return False


def _case_events(lowered: str, chinese: bool) -> tuple[list[tuple[int, int]], list[int]]:
    """Declared contradictions (start, end) and the positions where a case ends."""
    # Most words are absent from a think: the ``in`` test (C speed) skips them before any Python work.
    contradictions: list[tuple[int, int]] = []
    closings: list[int] = []
    words = _CONTRADICTION_WORDS if chinese else _CONTRADICTION_WORDS[:6]
    for word in words:
        if word not in lowered:
            continue
        for p in _hits(lowered, word, False):
            if word.isascii() and not _word_start(lowered, p):
                continue  # "inconsistent" is not "consistent"; "contradict" may go on ("contradiction")
            if _NEGATED_CONTRADICTION.search(lowered[max(0, p - 24) : p]):
                closings.append(p + len(word))  # "no contradiction": the case holds
            else:
                contradictions.append((p, p + len(word)))
    for word in _CASE_FAILS:
        if word not in lowered:
            continue
        for p in _hits(lowered, word, True):
            if lowered.endswith(_CASE_SUBJECT_ENDINGS, max(0, p - 30), p):
                contradictions.append((p, p + len(word)))
    for word in _CASE_HOLDS:
        if word not in lowered:
            continue
        for p in _hits(lowered, word, True):
            if lowered.endswith(_CASE_SUBJECT_ENDINGS, max(0, p - 30), p):
                closings.append(p + len(word))
    for word in _CONSISTENT_WORDS if chinese else _CONSISTENT_WORDS[:8]:
        if word not in lowered:
            continue
        for p in _hits(lowered, word, word.isascii()):
            if word == "成立" and p > 0 and lowered[p - 1] == "不":
                continue
            closings.append(p + len(word))
    for word in _CLOSE_WORDS if chinese else _CLOSE_WORDS[:11]:
        if word in lowered:
            closings.extend(_hits(lowered, word, word.isascii() and word != "\n\n"))
    contradictions.sort()
    closings.sort()
    return contradictions, closings


class Claim(NamedTuple):
    """One claim of the think part: ``person`` (index) has the truthful role (``truthful``) or not.

    A named tuple (immutable, same fields and repr as the frozen dataclass it was): a dataclass
    instance costs ~8x as much to build, and a think holds ~40 claims."""

    start: int
    end: int
    person: int
    truthful: bool
    kind: str = "claim"  # "claim" or "assumption"


_START_PERSON = itemgetter(0, 2)  # a Claim's (start, person)
_POSITION_ORDER = itemgetter(0, 1)  # an analyse() event's (position, order)


@dataclass
class ClaimAnalysis:
    """What :func:`analyse` found in one response."""

    claims: list[tuple[Claim, bool | None, int]] = field(default_factory=list)  # (claim, correct?, case index or -1)
    assumptions: list[Claim] = field(default_factory=list)
    contradictions: list[tuple[int, int, bool]] = field(default_factory=list)  # (start, end, real)
    cases: int = 0
    last_claims_agree: float = math.nan
    effective_spans: list[tuple[int, int]] = field(default_factory=list)
    superficial_spans: list[tuple[int, int]] = field(default_factory=list)
    answer_wrong: bool = False

    @property
    def claims_made(self) -> int:
        return len(self.claims)

    @property
    def correct_share(self) -> float:
        checked = [ok for _, ok, _ in self.claims if ok is not None]
        return sum(checked) / len(checked) if checked else math.nan

    @property
    def contradiction_real(self) -> float:
        return sum(real for _, _, real in self.contradictions) / len(self.contradictions) if self.contradictions else math.nan

    @property
    def wrong_spans(self) -> list[tuple[int, int]]:
        return [(c.start, c.end) for c, ok, _ in self.claims if ok is False]


# What every group claim ("Zoey, Bob and Max are knights") starts with right after the first name: a
# comma (one more name, or ", and"), or "and" between spaces.
_GROUP_START = re.compile(r"\s*,|\s+and\s")


@lru_cache(maxsize=4096)
def _compiled(source: str) -> re.Pattern[str]:
    return re.compile(source)


@dataclass(frozen=True)
class _Patterns:
    names: tuple[str, ...]
    single: re.Pattern[str]  # matched right after a name
    # "Zoey, Bob and Max are knights", matched right after the first name, and the names in it: sources,
    # compiled on first use (see group_match)
    group_source: str
    name_source: str
    index: dict[str, int]
    truthful_words: frozenset[str]
    chinese: re.Pattern[str] | None
    # Every name at once, when no two accepted name occurrences can overlap (see _patterns); else None.
    occurrences: re.Pattern[str] | None = None

    def group_match(self, think: str, end: int) -> re.Match[str] | None:
        """The group claim starting right after a name that ends at ``end``, or None.

        Most names are followed by neither a comma nor "and", and a think's puzzle is new to the
        process more often than not: the group regex (~0.6 ms to compile) is compiled only when
        :data:`_GROUP_START`, which every group claim starts with, matches.
        """
        if _GROUP_START.match(think, end) is None:
            return None
        return _compiled(self.group_source).match(think, end)

    @property
    def name_finder(self) -> re.Pattern[str]:
        return _compiled(self.name_source)


@lru_cache(maxsize=64)
def _role_patterns(truthful: str, lying: str) -> tuple[str, re.Pattern[str], re.Pattern[str] | None]:
    """The role words as a regex alternation, and the name-independent claim forms: the single claim
    after a name, the Chinese one.

    Cached apart from :func:`_patterns`, which compiles per puzzle (re's own cache of 512 patterns
    would drop them after a few hundred puzzles).
    """
    role_words = "|".join(re.escape(w) for w in sorted({truthful, lying}, key=len, reverse=True))
    role = rf"(?i:(?:an?\s+|the\s+)?(?P<role>{role_words})(?:s|es)?\b)"
    truth = "|".join(re.escape(t) for t in sorted(_EN_TRUTH, key=len, reverse=True))
    single = re.compile(rf"\s+(?:(?P<link>{_EN_LINK}){_EN_ADVERBS}\s+{role}|(?P<truth>{truth})\b)")
    chinese = None
    if (truthful, lying) == ("knight", "knave"):
        zh_roles = "|".join(ZH_TRUTHFUL + ZH_LYING)
        zh_truth = "|".join(sorted(_ZH_TRUTH, key=len, reverse=True))
        chinese = re.compile(rf"\s*(?:{_ZH_MODS}\s*(?P<neg>不|并不|不可能|不会|不能)?\s*是\s*"
                             rf"(?:一个|一名|一位|个|名)?\s*(?P<zrole>{zh_roles})|(?P<ztruth>{zh_truth}))")
    return role_words, single, chinese


@lru_cache(maxsize=4096)
def _patterns(names: tuple[str, ...], roles: tuple[str, str]) -> _Patterns:
    name_alt = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    truthful, lying = (r.lower() for r in roles)
    role_words, single, chinese = _role_patterns(truthful, lying)
    names_plain = rf"(?<![\w'’])(?:{name_alt})(?![\w'’])"
    group = (rf"(?:\s*,\s*{names_plain})*,?\s+and\s+{names_plain}\s+"
             rf"(?P<glink>are|must be|must both be|are both|are all|would be|would both be|were)"
             rf"(?:\s+(?:both|all))?\s+(?i:(?P<grole>{role_words})s?)\b")
    # One regex scan finds the same name occurrences as one str.find loop per name when names are ASCII
    # words and none contains another: an accepted occurrence then holds no other accepted one.
    # (No lookbehind in it: a leading one makes the engine try every position, ~5x slower.)
    occurrences = None
    if all(set(n) <= _ASCII_WORD for n in names) and not any(
            a in b for i, a in enumerate(names) for j, b in enumerate(names) if i != j):
        # "single" is matched after each name by its own (shared) regex: embedding it here as a lookahead
        # saves a call per name but costs ~1.3 ms to compile per puzzle, more than the calls on the
        # ~12 sampled responses a step file has per puzzle.
        occurrences = re.compile(rf"(?:{name_alt})(?![A-Za-z0-9'’])")
    return _Patterns(names, single, group, names_plain, {n: i for i, n in enumerate(names)},
                     frozenset({truthful}), chinese, occurrences)


def _raw_claims(think: str, pats: _Patterns) -> list[Claim]:
    """Every role claim form, found at each occurrence of a name (str.find, then anchored matches)."""
    chinese = pats.chinese if pats.chinese is not None and not think.isascii() else None
    if chinese is None and pats.occurrences is not None:
        return _raw_claims_english(think, pats)
    found: list[Claim] = []
    for person, name in enumerate(pats.names):
        position = think.find(name)
        while position >= 0:
            end = position + len(name)
            next_position = think.find(name, end)
            if end < len(think) and think[end] in _ASCII_WORD:
                position = next_position
                continue  # "Zoey's", "Bobby"
            if _word_start(think, position):
                m = pats.single.match(think, end)
                if m is not None:
                    if m.group("truth"):
                        truthful = _EN_TRUTH[m.group("truth")]
                    else:
                        truthful = m.group("role").lower() in pats.truthful_words
                        if _negative_link(m.group("link")):
                            truthful = not truthful
                    found.append(Claim(position, m.end(), person, truthful))
                else:
                    g = pats.group_match(think, end)
                    if g is not None:
                        truthful = g.group("grole").lower() in pats.truthful_words
                        found.append(Claim(position, g.end(), person, truthful))
                        for other in pats.name_finder.finditer(think, end, g.start("glink")):
                            found.append(Claim(position, g.end(), pats.index[other.group()], truthful))
            if chinese is not None:
                z = chinese.match(think, end)
                if z is not None:
                    if z.group("ztruth"):
                        truthful = _ZH_TRUTH[z.group("ztruth")]
                    else:
                        truthful = z.group("zrole") in ZH_TRUTHFUL
                        if z.group("neg"):
                            truthful = not truthful
                    found.append(Claim(position, z.end(), person, truthful))
            position = next_position
    found.sort(key=_START_PERSON)
    return found


@lru_cache(maxsize=4096)
def _single_truthful(link: str | None, role: str | None, said: str | None, truthful_words: frozenset[str]) -> bool:
    """The role an English single claim gives ("is not a knave", "is lying"), from its pattern's groups."""
    if said:
        return _EN_TRUTH[said]
    truthful = role.lower() in truthful_words  # type: ignore[union-attr]
    return not truthful if _negative_link(link) else truthful  # type: ignore[arg-type]


def _raw_claims_english(think: str, pats: _Patterns) -> list[Claim]:
    """:func:`_raw_claims` without the Chinese forms, all names found in one regex scan (same claims)."""
    found: list[Claim] = []
    append = found.append
    index = pats.index
    group = pats.group_match
    truthful_words = pats.truthful_words
    single = pats.single.match
    for occurrence in pats.occurrences.finditer(think):  # type: ignore[union-attr]
        position, end = occurrence.span()  # the name
        if position and think[position - 1] in _ASCII_WORD:
            continue  # "McZoey" ("Zoey's", "Bobby": rejected by the pattern)
        person = index[think[position:end]]
        m = single(think, end)
        if m is not None:
            append(Claim(position, m.end(), person,
                         _single_truthful(*m.group("link", "role", "truth"), truthful_words)))
            continue
        g = group(think, end)
        if g is not None:
            truthful = g.group("grole").lower() in truthful_words
            g_end = g.end()
            append(Claim(position, g_end, person, truthful))
            for other in pats.name_finder.finditer(think, end, g.start("glink")):
                append(Claim(position, g_end, index[other.group()], truthful))
    found.sort(key=_START_PERSON)
    return found


def extract(think: str, names: tuple[str, ...], roles: tuple[str, str] = ("knight", "knave")) -> tuple[list[Claim], list[tuple[int, int]], list[int]]:
    """Claims and assumptions, declared contradictions ``(start, end)`` and case closings (positions).

    Claims in reported speech or hedged clauses are dropped; claims in a clause
    opened by an assumption word come back with ``kind="assumption"``.
    """
    if not names or not think:
        return [], [], []
    pats = _patterns(names, roles)
    raw = _raw_claims(think, pats)
    if not raw:
        return [], [], []
    chinese = not think.isascii()
    lowered = lower_aligned(think) if chinese else think.lower()
    marked = lowered.translate(_PUNCTUATION_TO_MARK)
    for word in _BOUNDARY_WORDS + (_BOUNDARY_WORDS_ZH if chinese else ()):
        if word in marked:
            marked = marked.replace(word, word[:-1] + _BOUNDARY_MARK)
    claims: list[Claim] = []
    any_assumption = False
    rfind = marked.rfind
    for claim in raw:
        start = claim.start
        verdict = _clause_verdict(lowered[rfind(_BOUNDARY_MARK, 0, start) + 1 : start], chinese)
        if verdict is None:
            continue
        if verdict == "claim":
            claims.append(claim)  # raw claims are built with kind="claim"
        else:
            any_assumption = True
            claims.append(Claim(start, claim.end, claim.person, claim.truthful, verdict))
    if not any_assumption:  # without a case, contradictions and closings change nothing
        return claims, [], []
    contradictions, closings = _case_events(lowered, chinese)
    return claims, contradictions, closings


def holds(stmt: Any, roles: tuple[bool, ...]) -> bool:
    """Truth of a statement (data_prep's AST as nested lists) under a full assignment."""
    op = stmt[0]
    if op == "telling-truth":
        return roles[stmt[1]]
    if op == "lying":
        return not roles[stmt[1]]
    if op == "not":
        return not holds(stmt[1], roles)
    if op == "and":
        return all(holds(s, roles) for s in stmt[1:])
    if op == "or":
        return any(holds(s, roles) for s in stmt[1:])
    if op == "->":
        return (not holds(stmt[1], roles)) or holds(stmt[2], roles)
    if op == "<=>":
        return holds(stmt[1], roles) == holds(stmt[2], roles)
    raise ValueError(f"unknown statement operator {op!r}")


def _people(stmt: Any) -> set[int]:
    if stmt[0] in ("telling-truth", "lying"):
        return {int(stmt[1])}
    return set().union(*(_people(s) for s in stmt[1:]))


# Statements touching more people than this are not enumerated during propagation.
_MAX_ENUMERATED = 6


def propagate(statements: list[Any], n_people: int, assumed: dict[int, bool]) -> tuple[dict[int, bool], bool]:
    """Roles forced by ``assumed`` through the statements, and whether they conflict.

    Each statement is the constraint "speaker's role == the statement's truth";
    a person is forced when every completion of the known roles that satisfies
    one statement agrees on them.  Repeated until nothing changes (local
    propagation, like a careful human's step-by-step deduction).
    """
    known = dict(assumed)
    scopes = [(i, stmt, sorted(_people(stmt) | {i})) for i, stmt in enumerate(statements)]
    changed = True
    while changed:
        changed = False
        for speaker, stmt, scope in scopes:
            unknown = [p for p in scope if p not in known]
            if len(unknown) > _MAX_ENUMERATED:
                continue
            options = []
            for values in product((True, False), repeat=len(unknown)):
                trial = dict(known)
                trial.update(zip(unknown, values))
                roles = tuple(trial.get(p, False) for p in range(n_people))
                if roles[speaker] == holds(stmt, roles):
                    options.append(values)
            if not options:
                return known, True
            for position, person in enumerate(unknown):
                column = {values[position] for values in options}
                if len(column) == 1:
                    known[person] = column.pop()
                    changed = True
    return known, False


def statements_of(record: dict[str, Any], n_people: int) -> list[Any] | None:
    """The puzzle's statements from a dump row (``extra_info.statements`` or ``statements``), or None."""
    extra = record.get("extra_info")
    value = extra.get("statements") if isinstance(extra, dict) else None
    if value is None:
        value = record.get("statements")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, list) or len(value) != n_people:
        return None
    try:  # validate once: every node evaluates
        for stmt in value:
            holds(stmt, (True,) * n_people)
            if not all(0 <= p < n_people for p in _people(stmt)):
                return None
    except (ValueError, TypeError, IndexError, KeyError):
        return None
    return value


def puzzle_key(names: Any, solution: Any) -> tuple | None:
    """What identifies a puzzle in a dump row and in the training parquet: names and solution."""
    if not isinstance(names, (list, tuple)) or not isinstance(solution, (list, tuple)):
        return None
    return tuple(str(n) for n in names), tuple(bool(v) for v in solution)


@lru_cache(maxsize=4)
def load_puzzle_statements(path: str, stamp: str = "") -> dict[tuple, str]:
    """``(names, solution) -> statements JSON`` from veRL parquet files (a file or a directory of them).

    veRL's rollout dumps do not carry ``extra_info``; the training data does.  A key
    that maps to two different statement sets is dropped (ambiguous).  ``stamp``
    only keys the cache (the files' sizes and mtimes).
    """
    import pyarrow.parquet as pq

    from analysis.errors import AnalysisInputError

    root = Path(path)
    files = sorted(root.rglob("*.parquet")) if root.is_dir() else [root]
    if not files or not all(f.is_file() for f in files):
        raise AnalysisInputError(f"--puzzles: no parquet file at {root}")
    found: dict[tuple, str] = {}
    ambiguous: set[tuple] = set()
    for file in files:
        try:
            table = pq.read_table(file, columns=["reward_model", "extra_info"])
        except Exception as exc:  # pyarrow raises several types; one line names the file
            raise AnalysisInputError(f"--puzzles: cannot read {file}: {str(exc).splitlines()[0]}") from exc
        for reward, extra in zip(table.column("reward_model").to_pylist(), table.column("extra_info").to_pylist()):
            truth = (reward or {}).get("ground_truth") or {}
            statements = (extra or {}).get("statements")
            key = puzzle_key(truth.get("names"), truth.get("solution"))
            if key is None or not isinstance(statements, str):
                continue
            if found.get(key, statements) != statements:
                ambiguous.add(key)
            found[key] = statements
    for key in ambiguous:
        del found[key]
    return found


def _truth_of(gts: Any) -> tuple[tuple[str, ...], tuple[bool, ...], tuple[str, str]] | None:
    gts = repair_ground_truth(gts) if gts is not None else None
    if not isinstance(gts, dict):
        return None
    names, solution, roles = gts.get("names"), gts.get("solution"), gts.get("roles") or ("knight", "knave")
    if not isinstance(names, (list, tuple)) or not isinstance(solution, (list, tuple)) or len(names) != len(solution):
        return None
    if not all(isinstance(n, str) and n for n in names) or not isinstance(roles, (list, tuple)) or len(roles) != 2:
        return None
    return tuple(names), tuple(bool(v) for v in solution), (str(roles[0]), str(roles[1]))


def _pred_assignment(pred: Any, roles: tuple[str, str], n_people: int) -> tuple[bool, ...] | None:
    """The scorer's canonical prediction ("knight,knave,...") as roles, or None."""
    if not isinstance(pred, str) or not pred:
        return None
    words = pred.split(",")
    if len(words) != n_people:
        return None
    return tuple(w == roles[0] for w in words)


def analyse(think: str, record: dict[str, Any], row: dict[str, Any],
            matches: tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]] | None = None) -> ClaimAnalysis:
    """Extract and check the claims of one response; see the module docstring.

    ``matches``: the behaviour matches of the lower-cased think, unfiltered and
    with the final-verification rules (:func:`analysis.patterns.behaviour_matches`);
    computed here when not given.
    """
    if matches is None:
        raw = BEHAVIOUR_MATCHER.matches(think.lower())
        matches = (raw, behaviour_matches(think.lower(), raw))
    raw_matches, final_matches = matches
    result = ClaimAnalysis(answer_wrong=row.get("answer_status") == "wrong")
    truth = _truth_of(record.get("gts"))
    if truth is None:
        return result
    names, solution, roles = truth
    claims, contradictions, closings = extract(think, names, roles)
    # a final verification or a summary speaks outside any case
    closings = sorted(closings + [start for name, start, _ in final_matches
                                  if name in (FINAL_VERIFY.name, SUMMARY.name)])
    statements = None
    case_assumed: dict[int, bool] = {}
    case_true = True  # the open case's assumptions all agree with the solution
    case_open = False
    case_start = -1
    forced_cache: dict[tuple, tuple[dict[int, bool], bool]] = {}
    case_of_contradiction: list[tuple[int, int, dict[int, bool]]] = []
    events = sorted([(c.start, 1, c) for c in claims] + [(s, 0, (s, e)) for s, e in contradictions]
                    + [(p, 2, None) for p in closings], key=_POSITION_ORDER)
    cases: list[dict[int, bool]] = []
    contradicted: set[int] = set()
    previous_assumption_end = -2
    for position, order, item in events:
        if order == 2:  # a closing: the case (if any) ends here
            case_open = False
            continue
        if order == 0:  # a declared contradiction: about the open case, or the one just closed
            if cases and len(cases) - 1 not in contradicted and (case_open or position - case_start < 400):
                contradicted.add(len(cases) - 1)
                case_of_contradiction.append((item[0], item[1], cases[-1]))
            case_open = False
            continue
        claim: Claim = item
        if claim.kind == "assumption":
            if case_open and claim.start <= previous_assumption_end + 40 and claim.person not in case_assumed:
                case_assumed[claim.person] = claim.truthful  # "if Zoey is a knight and Bob is a knave"
                case_true = case_true and solution[claim.person] == claim.truthful
            else:
                case_assumed = {claim.person: claim.truthful}
                case_true = solution[claim.person] == claim.truthful
                cases.append(case_assumed)
                case_start = claim.start
            case_open = True
            previous_assumption_end = claim.end
            result.assumptions.append(claim)
            continue
        if not case_open:
            result.claims.append((claim, claim.truthful == solution[claim.person], -1))
            continue
        if case_true:
            result.claims.append((claim, claim.truthful == solution[claim.person], len(cases) - 1))
            continue
        if statements is None:
            statements = statements_of(record, len(names)) or []
        ok = None
        if statements:
            key = tuple(sorted(case_assumed.items()))
            if key not in forced_cache:
                forced_cache[key] = propagate(statements, len(names), case_assumed)
            forced = forced_cache[key][0]
            if claim.person in forced:
                ok = forced[claim.person] == claim.truthful
        result.claims.append((claim, ok, len(cases) - 1))
    result.cases = len(cases)
    result.contradictions = [(s, e, any(solution[p] != v for p, v in assumed.items()))
                             for s, e, assumed in case_of_contradiction]
    pred = _pred_assignment(row.get("pred"), roles, len(names))
    last: dict[int, bool] = {}
    for claim, _, case in result.claims:
        if case < 0:
            last[claim.person] = claim.truthful
    if pred is not None and last:
        result.last_claims_agree = float(all(pred[p] == v for p, v in last.items()))
    _reflections(result, raw_matches, solution)
    return result


def _reflections(result: ClaimAnalysis, matches: list[tuple[str, int, int]], solution: tuple[bool, ...]) -> None:
    """Effective and superficial reflection from the behaviour matches and the claims outside cases."""
    deferred = [(s, e) for name, s, e in matches if name == HESITATION.name]  # "verify this later"
    verify = [(s, e) for name, s, e in matches if name in (BACKTRACKING.name, FINAL_VERIFY.name)
              and not any(s < d_end and d_start < e for d_start, d_end in deferred)]
    reflect = sorted(verify + deferred)
    top = [claim for claim, _, case in result.claims if case < 0]
    changes: list[tuple[Claim, Claim]] = []  # (earlier claim, later claim that changed it)
    latest: dict[int, Claim] = {}
    for claim in top:
        before = latest.get(claim.person)
        if before is not None and before.truthful != claim.truthful:
            changes.append((before, claim))
        latest[claim.person] = claim
    for before, after in changes:
        if before.truthful != solution[before.person] and after.truthful == solution[after.person]:
            phrase = next(((s, e) for s, e in reflect if before.end <= s < after.start), None)
            if phrase is not None:
                result.effective_spans = [phrase, (after.start, after.end)]
                break
    if verify and result.answer_wrong:
        first = verify[0][0]
        if not any(after.start > first for _, after in changes):
            result.superficial_spans = list(verify)


# Registry functions: one analysis per response, shared through the context's scratch.

def analysis_of(context: Any) -> ClaimAnalysis:
    found = context.scratch.get("claims")
    if found is None:
        found = analyse(context.think, context.record, context.row, context.scratch.get("behaviour_matches"))
        context.scratch["claims"] = found
    return found


def _shift(context: Any, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(context.think_start + a, context.think_start + b) for a, b in spans]


def claims_made(context: Any) -> float:
    return float(analysis_of(context).claims_made)


def claim_correct_share(context: Any) -> float:
    return analysis_of(context).correct_share


def last_claims_agree(context: Any) -> float:
    return analysis_of(context).last_claims_agree


def contradiction_real(context: Any) -> float:
    return analysis_of(context).contradiction_real


def case_splits(context: Any) -> float:
    return float(analysis_of(context).cases)


def wrong_claim(context: Any) -> bool:
    return bool(analysis_of(context).wrong_spans)


def wrong_claim_spans(context: Any) -> list[tuple[int, int]]:
    return _shift(context, analysis_of(context).wrong_spans)


def effective_reflection(context: Any) -> bool:
    return bool(analysis_of(context).effective_spans)


def effective_reflection_spans(context: Any) -> list[tuple[int, int]]:
    return _shift(context, analysis_of(context).effective_spans)


def superficial_reflection(context: Any) -> bool:
    return bool(analysis_of(context).superficial_spans)


def superficial_reflection_spans(context: Any) -> list[tuple[int, int]]:
    return _shift(context, analysis_of(context).superficial_spans)
