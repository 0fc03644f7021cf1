"""Ground truth normalisation and strict parsing of the ``<answer>`` body of a K&K response.

Accepted ways of writing an assignment (any mix of them):

* one statement per line, optionally numbered ``(1)`` / ``1.`` / ``1)`` or bulleted ``-`` ``*`` ``•`` ``+``;
* statements on one line joined by ``,`` ``;`` ``and`` or sentence periods;
* ``Zoey is a knight`` / ``Zoey is knight`` / ``Zoey: knight`` / ``Zoey - knight``;
* any letter case of the role word (and of ASCII names), a trailing period, ``**bold**`` markup.

Everything else is rejected as unparsed: a person missing or named twice, contradictory roles,
names not in the puzzle (homoglyphs included: only ASCII is case-folded), hedges, role words outside
this puzzle's pair, and more statements than people. The parse only ever touches the answer body,
which is capped in length before any regex runs.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DEFAULT_ROLES: tuple[str, str] = ("knight", "knave")

# Reason codes for an unparsed answer (empty string = parsed).
ANSWER_TOO_LONG = "answer_too_long"
NO_STATEMENTS = "no_statements"
TOO_MANY_STATEMENTS = "too_many_statements"
UNPARSEABLE_STATEMENT = "unparseable_statement"
HEDGED = "hedged"
FOREIGN_ROLE = "foreign_role"
UNKNOWN_NAME = "unknown_name"
DUPLICATE_PERSON = "duplicate_person"
CONTRADICTORY_ROLES = "contradictory_roles"
MISSING_PERSON = "missing_person"

ANSWER_ERROR_CODES: frozenset[str] = frozenset(
    {
        ANSWER_TOO_LONG,
        NO_STATEMENTS,
        TOO_MANY_STATEMENTS,
        UNPARSEABLE_STATEMENT,
        HEDGED,
        FOREIGN_ROLE,
        UNKNOWN_NAME,
        DUPLICATE_PERSON,
        CONTRADICTORY_ROLES,
        MISSING_PERSON,
    }
)

# Statement separators inside one whitespace-collapsed line: ", " / "; " (optionally "and"),
# " and ", a sentence period (not the "1." of a numbered item), or before an inline "(2)" marker.
# Whitespace runs are collapsed to single spaces first, so no pattern here can backtrack.
_SEPARATOR_RE = re.compile(r"[,;] ?(?:and )?| and |(?<=[^\d .])\. | (?=\(\d{1,3}\))", re.IGNORECASE)
_LIST_MARKER_RE = re.compile(r"(?:\(\d{1,3}\)|\d{1,3}[.)]|[-*•+]) ?")
_IS_FORM_RE = re.compile(r"(?P<name>[^ ].*?) is (?:(?:a|an|the) )?(?P<role>[^ ]+)", re.IGNORECASE)
_COLON_FORM_RE = re.compile(
    r"(?P<name>[^ :=][^:=]*?) ?(?::|=|-|–|—|->|→) ?(?:(?:a|an|the) )?(?P<role>[^ :=]+)", re.IGNORECASE
)
_MARKUP_CHARS = str.maketrans("", "", "*`")
_HEDGE_WORDS = frozenset(
    {"or", "either", "neither", "maybe", "perhaps", "possibly", "probably", "likely", "unknown",
     "uncertain", "unclear", "undetermined", "undecided", "cannot", "can't", "both", "?"}
)


class GroundTruthError(ValueError):
    """The ground truth of a puzzle is malformed (a data bug, never the model's fault)."""


def fold(word: str) -> str:
    """Case-fold ASCII only: non-ASCII look-alikes (Kelvin sign, Cyrillic letters) must not match."""
    return word.lower() if word.isascii() else word


@dataclass(frozen=True)
class GroundTruth:
    """One puzzle's answer key: names in speaking order, True = truthful role, the role words."""

    names: tuple[str, ...]
    solution: tuple[bool, ...]
    roles: tuple[str, str] = DEFAULT_ROLES
    solution_text: str = ""
    name_index: Mapping[str, int] = field(init=False, repr=False, compare=False)
    role_values: Mapping[str, bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.names:
            raise GroundTruthError("ground truth has no names")
        if len(self.names) != len(self.solution):
            raise GroundTruthError(
                f"ground truth has {len(self.names)} names but {len(self.solution)} solution values"
            )
        name_index = {fold(name): i for i, name in enumerate(self.names)}
        if len(name_index) != len(self.names) or "" in name_index:
            raise GroundTruthError(f"ground truth names are empty or not distinct: {list(self.names)!r}")
        truthful, lying = (fold(role) for role in self.roles)
        if not truthful or not lying or truthful == lying or " " in truthful + lying:
            raise GroundTruthError(f"ground truth roles must be two distinct single words: {self.roles!r}")
        object.__setattr__(self, "name_index", name_index)
        object.__setattr__(self, "role_values", {truthful: True, lying: False})

    def canonical(self, assignment: Sequence[bool]) -> str:
        """Role words of ``assignment`` in speaking order, e.g. ``"knight,knave,knight"``."""
        truthful, lying = self.roles
        return ",".join(truthful if value else lying for value in assignment)


@dataclass(frozen=True)
class ParsedAnswer:
    """Result of parsing an answer body: ``assignment`` (True = truthful role) or an ``error`` code."""

    assignment: tuple[bool, ...] | None
    error: str = ""


def _as_sequence(value: object, what: str) -> list:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise GroundTruthError(f"ground truth {what} must be a list, got {type(value).__name__}")
    return list(value)


def _as_name(value: object) -> str:
    if not isinstance(value, str):
        raise GroundTruthError(f"ground truth names must be strings, got {value!r}")
    return " ".join(value.split())  # answers are whitespace-collapsed before matching


def _as_bool(value: object) -> bool:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
    elif getattr(value, "shape", ()) == ():  # python or numpy scalar, not an array
        try:
            if value in (0, 1):  # bool, numpy bool and integer 0/1 all compare equal to 0 or 1
                return bool(value)
        except (TypeError, ValueError):
            pass
    raise GroundTruthError(f"ground truth solution values must be booleans, got {value!r}")


def normalize_ground_truth(gt: object) -> GroundTruth:
    """Turn a ground truth as veRL hands it over (dict, numpy arrays, JSON string) into a GroundTruth.

    Raises GroundTruthError when it is malformed.
    """
    if isinstance(gt, GroundTruth):
        return gt
    if isinstance(gt, (str, bytes)):
        try:
            gt = json.loads(gt)
        except (ValueError, UnicodeDecodeError) as exc:
            raise GroundTruthError(f"ground truth string is not JSON: {exc}") from None
    if not isinstance(gt, Mapping):
        raise GroundTruthError(f"ground truth must be a mapping, got {type(gt).__name__}")
    if "names" not in gt and isinstance(gt.get("ground_truth"), (Mapping, str)):
        return normalize_ground_truth(gt["ground_truth"])  # a whole reward_model dict
    if "names" not in gt or "solution" not in gt:
        raise GroundTruthError("ground truth needs 'names' and 'solution'")
    names = tuple(_as_name(name) for name in _as_sequence(gt["names"], "names"))
    solution = tuple(_as_bool(value) for value in _as_sequence(gt["solution"], "solution"))
    roles_value = gt.get("roles")
    roles = DEFAULT_ROLES if roles_value is None else tuple(str(r) for r in _as_sequence(roles_value, "roles"))
    if len(roles) != 2:
        raise GroundTruthError(f"ground truth roles must be a pair, got {list(roles)!r}")
    solution_text = gt.get("solution_text") or ""
    return GroundTruth(names=names, solution=solution, roles=roles, solution_text=str(solution_text))


def _clean_statement(piece: str) -> str:
    """Drop a list marker, markdown emphasis and a trailing period from one statement."""
    marker = _LIST_MARKER_RE.match(piece)
    if marker:
        piece = piece[marker.end() :]
    piece = piece.translate(_MARKUP_CHARS).strip()
    if piece.endswith("."):
        piece = piece[:-1].rstrip()
    return piece


def split_statements(answer: str, limit: int) -> list[str] | None:
    """Split an answer body into cleaned statements; ``None`` once more than ``limit`` are found."""
    statements: list[str] = []
    for line in answer.splitlines():
        line = " ".join(line.split())
        if not line:
            continue
        for piece in _SEPARATOR_RE.split(line):
            statement = _clean_statement(piece)
            if statement:
                statements.append(statement)
                if len(statements) > limit:
                    return None
    return statements


def _hedged(statement: str, truth: GroundTruth) -> bool:
    """A hedge names both roles or uses a hedging word ('or', 'either', 'maybe', 'unknown', ...)."""
    words = {fold(word.strip(".,;:!()")) for word in statement.replace("/", " ").split()}
    return len(words & truth.role_values.keys()) > 1 or bool(words & _HEDGE_WORDS)


def parse_statement(statement: str) -> tuple[str, str] | None:
    """``(name, role_word)`` for ``Zoey is a knight`` / ``Zoey: knight`` forms, else None."""
    match = _IS_FORM_RE.fullmatch(statement) or _COLON_FORM_RE.fullmatch(statement)
    if match is None:
        return None
    return match.group("name"), match.group("role")


def parse_answer(answer: str, truth: GroundTruth, max_chars: int = 2000) -> ParsedAnswer:
    """Parse an answer body into one role per person of ``truth`` (speaking order)."""
    if len(answer) > max_chars:
        return ParsedAnswer(None, ANSWER_TOO_LONG)
    people = len(truth.names)
    statements = split_statements(answer, people)
    if statements is None:
        return ParsedAnswer(None, TOO_MANY_STATEMENTS)
    if not statements:
        return ParsedAnswer(None, NO_STATEMENTS)
    assignment: list[bool | None] = [None] * people
    for statement in statements:
        parsed = parse_statement(statement)
        if parsed is None:
            return ParsedAnswer(None, HEDGED if _hedged(statement, truth) else UNPARSEABLE_STATEMENT)
        name, role_word = parsed
        value = truth.role_values.get(fold(role_word))
        if value is None:
            return ParsedAnswer(None, HEDGED if _hedged(statement, truth) else FOREIGN_ROLE)
        index = truth.name_index.get(fold(name))
        if index is None:
            return ParsedAnswer(None, UNKNOWN_NAME)
        previous = assignment[index]
        if previous is not None:
            return ParsedAnswer(None, DUPLICATE_PERSON if previous == value else CONTRADICTORY_ROLES)
        assignment[index] = value
    if None in assignment:
        return ParsedAnswer(None, MISSING_PERSON)
    return ParsedAnswer(tuple(assignment))  # type: ignore[arg-type]
