"""Exact Knights-and-Knaves solver, deductive difficulty and canonical form.

Assignments of N people are the integers ``0 .. 2**N - 1`` (bit ``i`` set = person ``i`` truthful).
A *set* of assignments is a Python big integer used as a bitset of length ``2**N``, so one
``&``/``|``/``^`` evaluates a connective over all ``2**N`` assignments at once (bit-parallel).

* :func:`solve` returns every consistent assignment (person ``i`` truthful iff statement ``i`` holds).
* :func:`deductive_difficulty` runs a small DPLL solver that reads one statement at a time
  (single-statement propagation, guess when stuck) and counts its guesses.
* :func:`canonical_form` names a puzzle up to renaming/reordering people and operand order of
  commutative connectives; :func:`puzzle_id` hashes it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from data_prep.errors import DataPrepError
from data_prep.statements import COMMUTATIVE_OPS, LEAF_OPS, Statement, mentioned_people

MAX_PEOPLE = 20  # 2**20-bit integers are still cheap; beyond that the bitsets get large


@lru_cache(maxsize=64)
def truth_masks(n_people: int) -> tuple[tuple[int, ...], int]:
    """Per-person bitsets ``T_i`` (assignments where person i is truthful) and the full set."""
    if not 1 <= n_people <= MAX_PEOPLE:
        raise DataPrepError(f"n_people must be between 1 and {MAX_PEOPLE}, got {n_people}")
    size = 1 << n_people
    assignments = np.arange(size, dtype=np.uint32)
    masks = []
    for person in range(n_people):
        bits = ((assignments >> person) & 1).astype(np.uint8)
        masks.append(int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little"))
    return tuple(masks), (1 << size) - 1


def statement_mask(stmt: Statement, masks: Sequence[int], full: int) -> int:
    """Bitset of the assignments under which ``stmt`` is true."""
    op = stmt[0]
    if op == "telling-truth":
        return masks[stmt[1]]
    if op == "lying":
        return full ^ masks[stmt[1]]
    if op == "not":
        return full ^ statement_mask(stmt[1], masks, full)
    if op == "and":
        result = full
        for sub in stmt[1:]:
            result &= statement_mask(sub, masks, full)
        return result
    if op == "or":
        result = 0
        for sub in stmt[1:]:
            result |= statement_mask(sub, masks, full)
        return result
    if op == "->":
        return (full ^ statement_mask(stmt[1], masks, full)) | statement_mask(stmt[2], masks, full)
    if op == "<=>":
        return full ^ (statement_mask(stmt[1], masks, full) ^ statement_mask(stmt[2], masks, full))
    raise DataPrepError(f"unknown statement operator {op!r}")


def consistency_mask(statements: Sequence[Statement]) -> int:
    """Bitset of assignments where every speaker's role matches the truth of their statement."""
    masks, full = truth_masks(len(statements))
    consistent = full
    for speaker, stmt in enumerate(statements):
        # truthful speaker <=> statement true
        consistent &= full ^ (masks[speaker] ^ statement_mask(stmt, masks, full))
        if not consistent:
            break
    return consistent


def assignment_to_roles(assignment: int, n_people: int) -> tuple[bool, ...]:
    """Decode an assignment integer into per-person booleans (True = truthful)."""
    return tuple(bool(assignment >> person & 1) for person in range(n_people))


def solve(statements: Sequence[Statement]) -> list[tuple[bool, ...]]:
    """Every consistent assignment, in increasing assignment-integer order."""
    n_people = len(statements)
    remaining = consistency_mask(statements)
    solutions = []
    while remaining:
        lowest = remaining & -remaining
        solutions.append(assignment_to_roles(lowest.bit_length() - 1, n_people))
        remaining ^= lowest
    return solutions


def unique_solution(statements: Sequence[Statement]) -> tuple[bool, ...] | None:
    """The solution if there is exactly one, else None."""
    consistent = consistency_mask(statements)
    if consistent and not consistent & (consistent - 1):
        return assignment_to_roles(consistent.bit_length() - 1, len(statements))
    return None


# --------------------------------------------------------------------------- deductive difficulty


@dataclass(frozen=True)
class DeductionStats:
    """What the DPLL solver needed: guesses (branch points) and forced deductions, plus its answers."""

    branch_points: int
    deductions: int
    solutions: tuple[tuple[bool, ...], ...]


@dataclass(frozen=True)
class _LocalConstraint:
    """One speaker's constraint as a truth table over the few people it involves."""

    scope: tuple[int, ...]  # global person indices
    table: int  # bitset over 2**len(scope) local assignments satisfying the constraint
    var_masks: tuple[int, ...]  # local bitset where scope[k] is truthful
    full: int


def _local_constraint(speaker: int, stmt: Statement) -> _LocalConstraint:
    scope = tuple(sorted(mentioned_people(stmt) | {speaker}))
    position = {person: k for k, person in enumerate(scope)}
    local_stmt = _relabel(stmt, position)
    masks, full = truth_masks(len(scope))
    table = full ^ (masks[position[speaker]] ^ statement_mask(local_stmt, masks, full))
    return _LocalConstraint(scope, table, masks, full)


def _relabel(stmt: Statement, mapping: dict[int, int]) -> Statement:
    if stmt[0] in LEAF_OPS:
        return (stmt[0], mapping[stmt[1]])
    return (stmt[0],) + tuple(_relabel(s, mapping) for s in stmt[1:])


def deductive_difficulty(statements: Sequence[Statement]) -> DeductionStats:
    """Solve like a careful human: deduce what single statements force, guess only when stuck.

    Propagation: for one statement and the roles fixed so far, a person's role is *forced* when
    only one value is consistent with that statement. When nothing is forced the solver guesses
    the first undecided person (speaking order), trying truthful first, and explores both branches
    so that uniqueness is proven too. ``branch_points`` (the number of guesses) is the difficulty.
    """
    n_people = len(statements)
    constraints = [_local_constraint(i, s) for i, s in enumerate(statements)]
    watchers: list[list[int]] = [[] for _ in range(n_people)]
    for index, constraint in enumerate(constraints):
        for person in constraint.scope:
            watchers[person].append(index)
    counters = {"branch_points": 0, "deductions": 0}
    solutions: list[tuple[bool, ...]] = []

    def propagate(assigned: int, values: int, queue: list[int]) -> tuple[int, int] | None:
        pending = set(queue)
        while queue:
            index = queue.pop()
            pending.discard(index)
            constraint = constraints[index]
            rows = constraint.table
            for k, person in enumerate(constraint.scope):
                if assigned >> person & 1:
                    rows &= constraint.var_masks[k] if values >> person & 1 else constraint.full ^ constraint.var_masks[k]
            if not rows:
                return None
            for k, person in enumerate(constraint.scope):
                if assigned >> person & 1:
                    continue
                if not rows & constraint.var_masks[k]:
                    forced_truthful = False
                elif not rows & (constraint.full ^ constraint.var_masks[k]):
                    forced_truthful = True
                else:
                    continue
                counters["deductions"] += 1
                assigned |= 1 << person
                if forced_truthful:
                    values |= 1 << person
                for watcher in watchers[person]:
                    if watcher not in pending:
                        pending.add(watcher)
                        queue.append(watcher)
        return assigned, values

    def search(assigned: int, values: int, queue: list[int]) -> None:
        state = propagate(assigned, values, queue)
        if state is None:
            return
        assigned, values = state
        undecided = ~assigned & ((1 << n_people) - 1)
        if not undecided:
            solutions.append(assignment_to_roles(values, n_people))
            return
        person = (undecided & -undecided).bit_length() - 1
        counters["branch_points"] += 1
        for truthful in (True, False):
            search(assigned | 1 << person, values | (1 << person if truthful else 0), list(watchers[person]))

    search(0, 0, list(range(n_people)))
    return DeductionStats(counters["branch_points"], counters["deductions"], tuple(solutions))


# --------------------------------------------------------------------------- canonical form

_OP_CODE = {"telling-truth": "T", "lying": "L", "not": "N", "and": "A", "or": "O", "->": "I", "<=>": "E"}


def _shape(stmt: Statement, label: Callable[[int], str]) -> str:
    """Exact text of a statement with people written via ``label``; commutative operands sorted."""
    op = stmt[0]
    if op in LEAF_OPS:
        return _OP_CODE[op] + label(stmt[1])
    parts = [_shape(s, label) for s in stmt[1:]]
    if op in COMMUTATIVE_OPS:
        parts.sort()
    return _OP_CODE[op] + "(" + ",".join(parts) + ")"


def _leaf_paths(stmt: Statement, prefix: str, out: list[tuple[str, int]]) -> None:
    """(path, person) for each leaf; the path names the connectives above it (positions only
    where operand order matters), so it is invariant under reordering commutative operands."""
    op = stmt[0]
    if op in LEAF_OPS:
        out.append((prefix + _OP_CODE[op], stmt[1]))
        return
    for position, sub in enumerate(stmt[1:]):
        step = _OP_CODE[op] if op in COMMUTATIVE_OPS else f"{_OP_CODE[op]}{position}"
        _leaf_paths(sub, prefix + step + ".", out)


def _rank(signatures: list) -> list[int]:
    order = {sig: rank for rank, sig in enumerate(sorted(set(signatures)))}
    return [order[sig] for sig in signatures]


def _refine(colors: list[int], out_leaves: list, in_leaves: list) -> list[int]:
    """Colour refinement: split people whose (colour, statement-neighbourhood colours) differ.

    Any isomorphism-invariant refinement is correct here; exactness comes from the final
    minimum over relabelings in :func:`canonical_form`.
    """
    n_classes = len(set(colors))
    while True:
        signatures = []
        for person in range(len(colors)):
            outgoing = tuple(sorted((path, -1 if target == person else colors[target]) for path, target in out_leaves[person]))
            incoming = tuple(sorted((colors[speaker], path) for speaker, path in in_leaves[person]))
            signatures.append((colors[person], outgoing, incoming))
        refined = _rank(signatures)
        refined_classes = len(set(refined))
        if refined_classes == n_classes:
            return refined
        colors, n_classes = refined, refined_classes


def canonical_form(statements: Sequence[Statement]) -> str:
    """Canonical text of a puzzle, equal for puzzles that differ only by which person is which
    (names and speaking order) or by the operand order of ``and``/``or``/``<=>``.

    Individualisation-refinement: refine colours, then branch over the members of the first
    non-singleton colour class; the minimum encoding over all discrete leaves is canonical.
    """
    n_people = len(statements)
    out_leaves: list[list[tuple[str, int]]] = []
    in_leaves: list[list[tuple[int, str]]] = [[] for _ in range(n_people)]
    for speaker, stmt in enumerate(statements):
        leaves: list[tuple[str, int]] = []
        _leaf_paths(stmt, "", leaves)
        out_leaves.append(leaves)
        for path, target in leaves:
            if target != speaker:
                in_leaves[target].append((speaker, path))
    initial = _rank([_shape(stmt, lambda p, s=speaker: "s" if p == s else "o") for speaker, stmt in enumerate(statements)])
    best: list[str] = []

    def explore(colors: list[int]) -> None:
        colors = _refine(colors, out_leaves, in_leaves)
        sizes: dict[int, int] = {}
        for color in colors:
            sizes[color] = sizes.get(color, 0) + 1
        tied = [color for color, size in sizes.items() if size > 1]
        if not tied:
            order = sorted(range(n_people), key=colors.__getitem__)
            encoding = ";".join(_shape(statements[p], lambda q: str(colors[q])) for p in order)
            if not best or encoding < best[0]:
                best[:] = [encoding]
            return
        target = min(tied)
        for member in range(n_people):
            if colors[member] == target:
                explore([2 * c + (0 if person == member else 1) for person, c in enumerate(colors)])

    explore(initial)
    return f"{n_people}|{best[0]}"


def puzzle_id(canonical: str) -> str:
    """Stable 16-hex-digit id of a canonical form."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
