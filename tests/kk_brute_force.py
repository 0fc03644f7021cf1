"""The plain, independent K&K evaluator the data_prep tests check the real solver against."""

from __future__ import annotations


def holds(stmt, roles) -> bool:
    """Truth of a statement under one assignment, evaluated the plain way."""
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
    raise AssertionError(op)
