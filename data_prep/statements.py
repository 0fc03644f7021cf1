"""Statement AST shared with the published Knights-and-Knaves generator.

A statement is a nested tuple:

* ``("telling-truth", i)`` / ``("lying", i)`` - person ``i`` (0-based, speaking order) is truthful / lying;
* ``("not", s)``;
* ``("and", s1, s2, ...)`` / ``("or", s1, s2, ...)`` with two or more operands;
* ``("->", a, b)`` (implication) and ``("<=>", a, b)`` (equivalence).

Person ``i`` makes statement ``i``. This module holds the pure helpers over that AST: validation,
(de)serialisation, size measures and the statement-type histogram used by the dataset card.
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterable, Union

from data_prep.errors import DataPrepError

Statement = tuple  # recursive: (op, *operands); kept loose because typing recursion adds nothing here

LEAF_OPS = ("telling-truth", "lying")
CONNECTIVES = ("not", "and", "or", "->", "<=>")
ALL_OPS = LEAF_OPS + CONNECTIVES
# Operand order does not change the meaning of these, so canonical forms sort their operands.
COMMUTATIVE_OPS = ("and", "or", "<=>")


def validate_statement(stmt: Any, n_people: int) -> Statement:
    """Return ``stmt`` as nested tuples, or raise DataPrepError naming what is malformed."""
    if not isinstance(stmt, (tuple, list)) or not stmt:
        raise DataPrepError(f"statement node must be a non-empty tuple/list, got {stmt!r:.80}")
    op = stmt[0]
    if op in LEAF_OPS:
        if len(stmt) != 2 or isinstance(stmt[1], bool) or not isinstance(stmt[1], int):
            raise DataPrepError(f"leaf {stmt!r:.80} must be ({op!r}, person_index)")
        if not 0 <= stmt[1] < n_people:
            raise DataPrepError(f"leaf {stmt!r:.80} names person {stmt[1]} but there are {n_people} people")
        return (op, stmt[1])
    if op == "not":
        if len(stmt) != 2:
            raise DataPrepError(f"'not' takes exactly one operand, got {len(stmt) - 1}")
        return ("not", validate_statement(stmt[1], n_people))
    if op in ("and", "or"):
        if len(stmt) < 3:
            raise DataPrepError(f"{op!r} needs at least two operands, got {len(stmt) - 1}")
        return (op,) + tuple(validate_statement(s, n_people) for s in stmt[1:])
    if op in ("->", "<=>"):
        if len(stmt) != 3:
            raise DataPrepError(f"{op!r} takes exactly two operands, got {len(stmt) - 1}")
        return (op, validate_statement(stmt[1], n_people), validate_statement(stmt[2], n_people))
    raise DataPrepError(f"unknown statement operator {op!r:.40} (expected one of {', '.join(ALL_OPS)})")


def statement_depth(stmt: Statement) -> int:
    """Nesting depth: a leaf has depth 1, ``("not", leaf)`` depth 2, and so on."""
    if stmt[0] in LEAF_OPS:
        return 1
    return 1 + max(statement_depth(s) for s in stmt[1:])


def statement_width(stmt: Statement) -> int:
    """Largest operand count of any connective in the statement (0 for a bare leaf)."""
    if stmt[0] in LEAF_OPS:
        return 0
    return max([len(stmt) - 1] + [statement_width(s) for s in stmt[1:]])


def mentioned_people(stmt: Statement) -> set[int]:
    """Indices of the people a statement talks about."""
    if stmt[0] in LEAF_OPS:
        return {stmt[1]}
    found: set[int] = set()
    for sub in stmt[1:]:
        found |= mentioned_people(sub)
    return found


def count_ops(stmt: Statement, counter: Counter | None = None) -> Counter:
    """Histogram of node types (leaves and connectives) in one statement."""
    counter = Counter() if counter is None else counter
    counter[stmt[0]] += 1
    if stmt[0] not in LEAF_OPS:
        for sub in stmt[1:]:
            count_ops(sub, counter)
    return counter


def statements_to_json(statements: Iterable[Statement]) -> str:
    """Compact JSON (nested lists) of a puzzle's statements, as stored in ``extra_info.statements``."""
    return json.dumps([_to_lists(s) for s in statements], separators=(",", ":"))


def statements_from_json(text: str, n_people: int | None = None) -> tuple[Statement, ...]:
    """Inverse of :func:`statements_to_json`, validated."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataPrepError(f"statements are not valid JSON: {exc}") from None
    if not isinstance(raw, list):
        raise DataPrepError("statements JSON must be a list with one statement per person")
    n = len(raw) if n_people is None else n_people
    return tuple(validate_statement(s, n) for s in raw)


def _to_lists(stmt: Union[Statement, int, str]) -> Any:
    if isinstance(stmt, tuple):
        return [_to_lists(x) for x in stmt]
    return stmt
