"""Random puzzle generator with per-index seeding and exact uniqueness filtering.

Statements are sampled like the published K&K generator (``KKProblemSampler``): at each level a
leaf or a connective is drawn from a weighted mix; ``and``/``or`` get 2..width distinct operands;
below ``depth`` levels only leaves remain. A candidate puzzle is kept only when the exact solver
finds exactly one consistent assignment and its canonical form was not seen before (within the
split, nor in an excluded set such as the test split).

Everything is deterministic from ``(seed, split, n_people, index)``: index ``i`` gets its own
``random.Random`` seeded from a BLAKE2 hash of that tuple (never Python's salted ``hash``).
"""
from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from data_prep.errors import DataPrepError
from data_prep.solver import (
    MAX_PEOPLE,
    canonical_form,
    deductive_difficulty,
    puzzle_id,
    statement_mask,
    truth_masks,
)
from data_prep.statements import Statement, statement_depth, statement_width

logger = logging.getLogger(__name__)

MIX_KEYS = ("leaf", "not", "and", "or", "implies", "iff")
_MIX_OPS = {"not": "not", "and": "and", "or": "or", "implies": "->", "iff": "<=>"}


@dataclass(frozen=True)
class StatementMix:
    """Relative weights of node types drawn above the leaf level (the published generator uses equal weights)."""

    leaf: float = 1.0
    not_: float = 1.0
    and_: float = 1.0
    or_: float = 1.0
    implies: float = 1.0
    iff: float = 1.0

    def weights(self) -> dict[str, float]:
        return {"leaf": self.leaf, "not": self.not_, "and": self.and_, "or": self.or_, "implies": self.implies, "iff": self.iff}

    def validate(self) -> None:
        weights = self.weights()
        bad = [k for k, w in weights.items() if not w >= 0 or w != w or w == float("inf")]
        if bad:
            raise DataPrepError(f"--mix weights must be finite and >= 0 (bad: {', '.join(bad)})")
        if sum(weights.values()) <= 0:
            raise DataPrepError("--mix weights must not all be zero")

    @classmethod
    def parse(cls, text: str) -> "StatementMix":
        """Parse ``leaf=1,not=1,and=1,or=1,implies=1,iff=1`` (unlisted keys keep weight 1)."""
        values: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or key not in MIX_KEYS:
                raise DataPrepError(f"--mix item {item!r} must be KEY=WEIGHT with KEY in {', '.join(MIX_KEYS)}")
            try:
                values[key] = float(raw)
            except ValueError:
                raise DataPrepError(f"--mix weight for {key!r} is not a number: {raw!r}") from None
        mix = cls(
            leaf=values.get("leaf", 1.0),
            not_=values.get("not", 1.0),
            and_=values.get("and", 1.0),
            or_=values.get("or", 1.0),
            implies=values.get("implies", 1.0),
            iff=values.get("iff", 1.0),
        )
        mix.validate()
        return mix

    def describe(self) -> str:
        return ",".join(f"{k}={w:g}" for k, w in self.weights().items())


@dataclass(frozen=True)
class PuzzleConfig:
    """Knobs of one generator: people count, statement depth/width, type mix and retry budget."""

    n_people: int
    depth: int = 2
    width: int = 2
    mix: StatementMix = field(default_factory=StatementMix)
    max_attempts: int = 5000  # candidate puzzles tried per requested index before giving up

    def validate(self, names: Mapping[str, str] | None = None) -> None:
        """The generator's rules; ``names`` renames fields in the messages (the build CLI passes its flags)."""
        name = {field: field for field in ("n_people", "depth", "width", "max_attempts")} | dict(names or {})
        if isinstance(self.n_people, bool) or not isinstance(self.n_people, int) or self.n_people < 2:
            raise DataPrepError(f"{name['n_people']} must be an integer >= 2, got {self.n_people!r}")
        if self.n_people > MAX_PEOPLE:
            raise DataPrepError(f"{name['n_people']} must be <= {MAX_PEOPLE}, got {self.n_people}")
        if self.depth < 1:
            raise DataPrepError(f"{name['depth']} must be >= 1, got {self.depth}")
        if self.width < 2:
            raise DataPrepError(f"{name['width']} must be >= 2, got {self.width}")
        if self.max_attempts < 1:
            raise DataPrepError(f"{name['max_attempts']} must be >= 1, got {self.max_attempts}")
        self.mix.validate()


@dataclass(frozen=True)
class Puzzle:
    """One uniquely solvable puzzle and its measured properties."""

    n_people: int
    statements: tuple[Statement, ...]
    solution: tuple[bool, ...]
    depth: int  # deepest statement (leaf = 1)
    width: int  # widest connective (0 if all statements are leaves)
    difficulty: int  # guesses the deductive solver needed (see solver.deductive_difficulty)
    deductions: int  # forced deductions the deductive solver made
    canonical: str
    puzzle_id: str


def index_seed(seed: int, split: str, n_people: int, index: int) -> int:
    """Stable 64-bit seed for one puzzle slot."""
    digest = hashlib.blake2b(f"kk|{seed}|{split}|{n_people}|{index}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def index_rng(seed: int, split: str, n_people: int, index: int, stream: str = "puzzle") -> random.Random:
    """The RNG of one puzzle slot; ``stream`` separates puzzle sampling from rendering draws."""
    return random.Random(f"{stream}:{index_seed(seed, split, n_people, index)}")


class _StatementSampler:
    """Draws statements for one config; precomputes the cumulative mix for speed."""

    def __init__(self, config: PuzzleConfig) -> None:
        self.n_people = config.n_people
        self.depth = config.depth
        self.width = config.width
        weights = config.mix.weights()
        total = sum(weights.values())
        self.kinds: list[str] = []
        self.cumulative: list[float] = []
        running = 0.0
        for kind in MIX_KEYS:
            if weights[kind] > 0:
                running += weights[kind] / total
                self.kinds.append(kind)
                self.cumulative.append(running)
        self.cumulative[-1] = 1.0

    def leaf(self, rng: random.Random) -> Statement:
        person = int(rng.random() * self.n_people)
        return ("telling-truth" if rng.random() < 0.5 else "lying", person)

    def statement(self, rng: random.Random, depth_left: int) -> Statement:
        if depth_left <= 1:
            return self.leaf(rng)
        draw = rng.random()
        kind = self.kinds[-1]
        for candidate, bound in zip(self.kinds, self.cumulative):
            if draw < bound:
                kind = candidate
                break
        if kind == "leaf":
            return self.leaf(rng)
        if kind == "not":
            return ("not", self.statement(rng, depth_left - 1))
        if kind in ("and", "or"):
            count = 2 + int(rng.random() * (self.width - 1))
            if depth_left == 2:  # operands are leaves: only 2N distinct ones exist
                count = min(count, 2 * self.n_people)
            return (kind,) + self._distinct(rng, depth_left - 1, count)
        return (_MIX_OPS[kind],) + self._distinct(rng, depth_left - 1, 2)

    def _distinct(self, rng: random.Random, depth_left: int, count: int) -> tuple[Statement, ...]:
        # Distinct operands as in the published generator ("A and A" reads as a mistake).
        operands: list[Statement] = []
        for _ in range(64 * count):
            candidate = self.statement(rng, depth_left)
            if candidate not in operands:
                operands.append(candidate)
                if len(operands) == count:
                    return tuple(operands)
        if len(operands) < 2:  # only reachable with a degenerate --mix
            raise DataPrepError("the --mix leaves too few distinct operands for a connective; allow more node types")
        return tuple(operands)  # fewer than asked: the operand space is smaller than the width


def _sample_unique_candidate(
    rng: random.Random, sampler: _StatementSampler, masks: tuple[int, ...], full: int
) -> tuple[tuple[Statement, ...], int] | None:
    """One candidate: statements sampled person by person; None once no assignment survives
    (early exit changes nothing about which puzzles are accepted) or several do."""
    statements = []
    consistent = full
    for speaker in range(sampler.n_people):
        stmt = sampler.statement(rng, sampler.depth)
        consistent &= full ^ (masks[speaker] ^ statement_mask(stmt, masks, full))
        if not consistent:
            return None
        statements.append(stmt)
    if consistent & (consistent - 1):
        return None
    return tuple(statements), consistent.bit_length() - 1


def make_puzzle(statements: tuple[Statement, ...], solution: tuple[bool, ...], canonical: str | None = None) -> Puzzle:
    """Measure a uniquely solvable puzzle (depth, width, difficulty, canonical id)."""
    canonical = canonical_form(statements) if canonical is None else canonical
    deduction = deductive_difficulty(statements)
    return Puzzle(
        n_people=len(statements),
        statements=statements,
        solution=solution,
        depth=max(statement_depth(s) for s in statements),
        width=max(statement_width(s) for s in statements),
        difficulty=deduction.branch_points,
        deductions=deduction.deductions,
        canonical=canonical,
        puzzle_id=puzzle_id(canonical),
    )


def generate_puzzles(
    config: PuzzleConfig,
    seed: int,
    split: str,
    count: int,
    exclude: Iterable[str] = (),
    on_puzzle: Callable[[], None] | None = None,
) -> list[Puzzle]:
    """``count`` distinct uniquely-solvable puzzles for slots ``0 .. count-1`` of ``split``.

    ``exclude`` holds canonical forms that must not be produced (e.g. the test split when
    generating train). Raises DataPrepError when a slot finds no new puzzle within
    ``config.max_attempts`` candidates.
    """
    config.validate()
    if count < 0:
        raise DataPrepError(f"puzzle count must be >= 0, got {count}")
    sampler = _StatementSampler(config)
    if count and (config.depth == 1 or set(sampler.kinds) <= {"leaf", "not"}):
        # Every statement is then "X is a knight/knave": flipping every role keeps all of them
        # consistent, so no such puzzle has exactly one solution.
        raise DataPrepError(
            "depth 1 (or a --mix of only leaf/not) makes every statement a bare role claim, and such puzzles "
            "never have exactly one solution; use --depth 2 or more"
        )
    masks, full = truth_masks(config.n_people)
    seen = set(exclude)
    puzzles: list[Puzzle] = []
    for index in range(count):
        rng = index_rng(seed, split, config.n_people, index)
        for _ in range(config.max_attempts):
            candidate = _sample_unique_candidate(rng, sampler, masks, full)
            if candidate is None:
                continue
            statements, assignment = candidate
            canonical = canonical_form(statements)
            if canonical in seen:
                continue
            seen.add(canonical)
            solution = tuple(bool(assignment >> p & 1) for p in range(config.n_people))
            puzzles.append(make_puzzle(statements, solution, canonical))
            break
        else:
            raise DataPrepError(
                f"found only {len(puzzles)} unique {config.n_people}-person puzzles for split {split!r} "
                f"(asked for {count}) within the retry budget of {config.max_attempts} candidates per puzzle; "
                f"ask for fewer, or raise --depth/--width/--max-attempts"
            )
        if on_puzzle is not None:
            on_puzzle()
    logger.debug("generated %d puzzles (n=%d, split=%s)", len(puzzles), config.n_people, split)
    return puzzles
