"""Natural-language rendering of puzzles (K&K style), deterministic given an RNG.

Sub-statements that are themselves compound are put in parentheses, so statements deeper than
two levels still read unambiguously: ``if (A and B) then C``. A leaf or a negated leaf reads as
one clause (``Zoey is not a knave``) and needs none.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from data_prep.names import NAME_POOL
from data_prep.roles import RolePair, with_article
from data_prep.statements import LEAF_OPS, Statement

# "{name} ... {s}": reported speech takes the statement as is, quotes take it capitalised.
PHRASINGS: tuple[str, ...] = (
    "{name} says that {s}.",
    "{name} tells you that {s}.",
    "{name} claims that {s}.",
    "{name} asserts that {s}.",
    "{name} mentions that {s}.",
    '{name} states, "{S}."',
    "In {name}'s words: \"{S}.\"",
    '"{S}," {name} declares.',
    'As {name} puts it, "{S}."',
    '{name} remarks, "{S}."',
)


@dataclass(frozen=True)
class RenderedPuzzle:
    """A puzzle's text and the choices made to write it."""

    quiz: str
    names: tuple[str, ...]
    solution_text: str


def _is_clause(stmt: Statement) -> bool:
    return stmt[0] in LEAF_OPS or (stmt[0] == "not" and stmt[1][0] in LEAF_OPS)


def render_statement(stmt: Statement, names: Sequence[str], roles: RolePair) -> str:
    """English text of one statement (lower-case start, no final period)."""
    op = stmt[0]
    if op in LEAF_OPS:
        return f"{names[stmt[1]]} is {with_article(roles.word(op == 'telling-truth'))}"
    if op == "not":
        inner = stmt[1]
        if inner[0] in LEAF_OPS:
            return f"{names[inner[1]]} is not {with_article(roles.word(inner[0] == 'telling-truth'))}"
        return "it is not the case that " + _operand(inner, names, roles)
    if op in ("and", "or"):
        return f" {op} ".join(_operand(sub, names, roles) for sub in stmt[1:])
    if op == "->":
        return f"if {_operand(stmt[1], names, roles)} then {_operand(stmt[2], names, roles)}"
    if op == "<=>":
        return f"{_operand(stmt[1], names, roles)} if and only if {_operand(stmt[2], names, roles)}"
    raise ValueError(f"unknown statement operator {op!r}")


def _operand(stmt: Statement, names: Sequence[str], roles: RolePair) -> str:
    text = render_statement(stmt, names, roles)
    return text if _is_clause(stmt) else f"({text})"


def join_names(names: Sequence[str]) -> str:
    """``A and B`` / ``A, B, and C``."""
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + ", and " + names[-1]


def solution_text(names: Sequence[str], solution: Sequence[bool], roles: RolePair) -> str:
    """``(1) Zoey is a knight\\n(2) ...`` - the answer format the reward function checks."""
    return "\n".join(
        f"({k}) {name} is {with_article(roles.word(bool(truthful)))}" for k, (name, truthful) in enumerate(zip(names, solution), 1)
    )


def render_quiz(
    statements: Sequence[Statement],
    names: Sequence[str],
    roles: RolePair,
    phrasings: Sequence[str],
    order: Sequence[int] | None = None,
) -> str:
    """The puzzle text in the published K&K layout; ``order`` lists the speakers in the order their
    statements are told (default: the order they are introduced in)."""
    sentences = []
    for speaker in order if order is not None else range(len(statements)):
        text = render_statement(statements[speaker], names, roles)
        sentences.append(phrasings[speaker].format(name=names[speaker], s=text, S=text[0].upper() + text[1:]))
    truthful_plural, lying_plural = roles.truthful_plural, roles.lying_plural
    return (
        f"A very special island is inhabited only by {truthful_plural} and {lying_plural}. "
        f"{truthful_plural.capitalize()} always tell the truth, and {lying_plural} always lie. "
        f"You meet {len(names)} inhabitants: {join_names(names)}. "
        + " ".join(sentences)
        + f" So who is {with_article(roles.truthful)} and who is {with_article(roles.lying)}?"
    )


def draw_wording(rng: random.Random, n_people: int) -> tuple[tuple[str, ...], list[str]]:
    """Distinct names and one phrasing per speaker, drawn from ``rng`` (in this order)."""
    names = tuple(rng.sample(NAME_POOL, n_people))
    phrasings = [PHRASINGS[int(rng.random() * len(PHRASINGS))] for _ in range(n_people)]
    return names, phrasings


def render_puzzle(statements: Sequence[Statement], solution: Sequence[bool], roles: RolePair, rng: random.Random) -> RenderedPuzzle:
    """Draw distinct names and one phrasing per speaker from ``rng``, then write the puzzle."""
    names, phrasings = draw_wording(rng, len(statements))
    return RenderedPuzzle(
        quiz=render_quiz(statements, names, roles, phrasings),
        names=names,
        solution_text=solution_text(names, solution, roles),
    )
