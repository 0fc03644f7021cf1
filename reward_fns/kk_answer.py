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
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

logger = logging.getLogger(__name__)

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
# Lazy name up to an " is " after which exactly one (article +) word remains; the possessive role
# word means each " is " costs constant work, so the match is linear in the statement length.
_IS_FORM_RE = re.compile(r"(?P<name>[^ ].*?) is (?:(?:a|an|the) )?(?P<role>[^ ]++)", re.IGNORECASE)
# "Zoey: knight" / "Zoey = knight" / "Zoey - knight" / "Zoey -> knight", split at the first separator
# found (in this order) with str.partition rather than a regex, so no pattern can backtrack.
_LABEL_SEPARATORS = (":", "=", " - ", " – ", " — ", "->", "→")
_ARTICLES = frozenset({"a", "an", "the"})
# The common one-statement line, "(1) Zoey is a knight." (ASCII, spaces/tabs only), matched on the
# lower-cased text. A whole answer of such lines is parsed by one findall; other lines are tried
# one by one and fall back to the general grammar above. Possessive quantifiers: no backtracking.
_FAST_LINE = (
    r"[ \t]*+(?:(?:\(\d{1,3}\)|\d{1,3}[.)]|[-*•+])[ \t]*+)?(?!and[ \t])([a-z][a-z'-]*+)[ \t]++is[ \t]++"
    r"(?:(?:a|an|the)[ \t]++)?([a-z]++)(?:[ \t]*+\.)?[ \t]*+"
)
_FAST_LINES_RE = re.compile(f"^{_FAST_LINE}$", re.MULTILINE)
_FAST_LINE_RE = re.compile(_FAST_LINE)
_MARKUP_CHARS = str.maketrans("", "", "*`")
_HEDGE_WORDS = frozenset(
    {"or", "either", "neither", "maybe", "perhaps", "possibly", "probably", "likely", "unknown",
     "uncertain", "unclear", "undetermined", "undecided", "cannot", "can't", "both", "?"}
)


_GRAMMAR_WORDS = _ARTICLES | _HEDGE_WORDS | {"is", "and"}


class GroundTruthError(ValueError):
    """The ground truth of a puzzle is malformed (a data bug, never the model's fault)."""


def _is_role_word(word: str) -> bool:
    """Letters (hyphen, apostrophe allowed), and not a word the grammar itself uses."""
    return word.replace("-", "").replace("'", "").isalpha() and word not in _GRAMMAR_WORDS


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
    name_index: dict[str, int] = field(init=False, repr=False, compare=False)
    folded_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    role_values: dict[str, bool] = field(init=False, repr=False, compare=False)
    solution_canonical: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.names:
            raise GroundTruthError("ground truth has no names")
        if len(self.names) != len(self.solution):
            raise GroundTruthError(
                f"ground truth has {len(self.names)} names but {len(self.solution)} solution values"
            )
        joined = "\n".join(self.names)
        folded = joined.lower().split("\n") if joined.isascii() else [fold(name) for name in self.names]
        name_index = {name: i for i, name in enumerate(folded)}
        if len(name_index) != len(self.names) or "" in name_index:
            raise GroundTruthError(f"ground truth names are empty or not distinct: {list(self.names)!r}")
        truthful, lying = (fold(role) for role in self.roles)
        if truthful == lying or not _is_role_word(truthful) or not _is_role_word(lying):
            raise GroundTruthError(f"ground truth roles must be two distinct words: {self.roles!r}")
        # Plain dicts for lookup speed; treat them as read-only (validated ground truths are cached).
        object.__setattr__(self, "name_index", name_index)
        object.__setattr__(self, "folded_names", tuple(name_index))
        object.__setattr__(self, "role_values", {truthful: True, lying: False})
        object.__setattr__(self, "solution_canonical", self.canonical(self.solution))

    def canonical(self, assignment: Sequence[bool]) -> str:
        """Role words of ``assignment`` in speaking order, e.g. ``"knight,knave,knight"``."""
        truthful, lying = self.roles
        return ",".join(map((lying, truthful).__getitem__, assignment))  # False -> 0, True -> 1


# The fields of a dataset row's ground truth (``reward_model.ground_truth``), in order: their one definition.
# data_prep's parquet schema and analysis's dump reader take the names from here.
GROUND_TRUTH_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(GroundTruth) if f.init)
GROUND_TRUTH_LIST_FIELDS: tuple[str, ...] = tuple(name for name in GROUND_TRUTH_FIELDS if name != "solution_text")


@dataclass(slots=True)
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


def _as_role(value: object) -> str:
    if not isinstance(value, str):
        raise GroundTruthError(f"ground truth roles must be strings, got {value!r}")
    return value


def _as_bool(value: object) -> bool:
    if value is True or value is False:
        return value
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


def _plain(value: object) -> object:
    """numpy arrays and scalars to Python lists and scalars; anything else unchanged."""
    if type(value) in (list, str):
        return value
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


_cache_limit = 4096
_cache: dict[tuple, GroundTruth] = {}


def configure_ground_truth_cache(max_entries: int) -> None:
    """Bound (0 disables) the cache of validated ground truths, keyed by their values.

    GRPO scores every prompt's ground truth once per rollout (``rollout.n`` times), so most calls
    are hits; the cache only ever holds keys that passed validation.
    """
    global _cache_limit
    _cache_limit = max(0, int(max_entries))
    _cache.clear()


def clear_ground_truth_cache() -> None:
    """Forget every cached ground truth (the benchmark uses it to model a cold first call)."""
    _cache.clear()


def _cache_key(names: object, solution: object, roles: object, solution_text: object) -> tuple | None:
    sequences = (list, tuple)
    if type(names) not in sequences or type(solution) not in sequences:
        return None
    if roles is not None and type(roles) not in sequences:
        return None
    key = (tuple(names), tuple(solution), None if roles is None else tuple(roles), solution_text)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _validated(names: object, solution: object, roles: object, solution_text: object) -> GroundTruth:
    names_tuple = tuple(_as_name(name) for name in _as_sequence(names, "names"))
    solution_tuple = tuple(_as_bool(value) for value in _as_sequence(solution, "solution"))
    roles_tuple = DEFAULT_ROLES if roles is None else tuple(_as_role(r) for r in _as_sequence(roles, "roles"))
    if len(roles_tuple) != 2:
        raise GroundTruthError(f"ground truth roles must be a pair, got {list(roles_tuple)!r}")
    if solution_text is None:
        solution_text = ""
    if not isinstance(solution_text, str):
        raise GroundTruthError(f"ground truth solution_text must be a string, got {type(solution_text).__name__}")
    return GroundTruth(names=names_tuple, solution=solution_tuple, roles=roles_tuple, solution_text=solution_text)


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
    fields_ = (_plain(gt["names"]), _plain(gt["solution"]), _plain(gt.get("roles")), _plain(gt.get("solution_text")))
    key = _cache_key(*fields_) if _cache_limit else None
    if key is not None:
        cached = _cache.get(key)
        if cached is not None:
            return cached
    truth = _validated(*fields_)
    if key is not None:
        if len(_cache) >= _cache_limit:
            logger.debug("ground-truth cache full (%d entries), emptying it", len(_cache))
            _cache.clear()
        _cache[key] = truth
    return truth


def _clean_statement(piece: str) -> str:
    """Drop a list marker, markdown emphasis and a trailing period from one statement."""
    marker = _LIST_MARKER_RE.match(piece)
    if marker:
        piece = piece[marker.end() :]
    if "*" in piece or "`" in piece:
        piece = piece.translate(_MARKUP_CHARS)
    piece = piece.strip()
    if piece.endswith("."):
        piece = piece[:-1].rstrip()
    return piece


def _may_hold_separator(line: str) -> bool:
    """Cheap pre-check before the separator regex (most lines hold a single statement)."""
    return "," in line or ";" in line or ". " in line or " (" in line or " and " in line.lower()


def _slow_statements(line: str) -> list[str]:
    """Cleaned statements of one line in the general grammar (separators, markers, markup)."""
    line = " ".join(line.split())
    pieces = _SEPARATOR_RE.split(line) if _may_hold_separator(line) else (line,)
    statements = []
    for piece in pieces:
        statement = _clean_statement(piece)
        if statement:
            statements.append(statement)
    return statements


def _fast_statements(answer: str) -> list[tuple[str, str]] | None:
    """Lower-cased ``(name, role_word)`` per line when every line of the answer is a fast-shape line.

    Only for ASCII answers, where lower-casing the whole body equals the per-word ASCII fold.
    """
    body = answer.strip()
    if not body.isascii():
        return None
    found = _FAST_LINES_RE.findall(body.lower())
    # Each match spans one whole line, so as many matches as lines means every line matched.
    # (A name "and" never matches: " and " is a separator in the general grammar.)
    return found if len(found) == body.count("\n") + 1 else None


def _split(answer: str, limit: int, fast_path: bool) -> tuple[list[str | tuple[str, str]], bool] | None:
    """Statements of ``answer`` and whether all of them are fast-path pairs; None past ``limit``."""
    if fast_path:
        fast = _fast_statements(answer)
        if fast is not None:
            return (fast, True) if len(fast) <= limit else None
    statements: list[str | tuple[str, str]] = []
    all_pairs = True
    for line in answer.splitlines():
        match = _FAST_LINE_RE.fullmatch(line.lower()) if fast_path and line.isascii() else None
        if match is not None:
            statements.append(match.groups())
        else:
            pieces = _slow_statements(line)
            all_pairs = all_pairs and not pieces
            statements.extend(pieces)
        if len(statements) > limit:
            return None
    return statements, all_pairs


def split_statements(answer: str, limit: int, fast_path: bool = True) -> list[str | tuple[str, str]] | None:
    """Split an answer body into statements; ``None`` once more than ``limit`` are found.

    A statement is a cleaned string, or an already parsed, lower-cased ``(name, role_word)`` pair
    for lines of the common shape ``(1) Zoey is a knight``. The shortcut only skips work:
    ``fast_path=False`` gives the same parse (a hypothesis test checks it).
    """
    split = _split(answer, limit, fast_path)
    return None if split is None else split[0]


def _hedged(statement: str, truth: GroundTruth) -> bool:
    """A hedge names both roles or uses a hedging word ('or', 'either', 'maybe', 'unknown', ...)."""
    words = {fold(word.strip(".,;:!()")) for word in statement.replace("/", " ").split()}
    return len(words & truth.role_values.keys()) > 1 or bool(words & _HEDGE_WORDS)


def parse_statement(statement: str) -> tuple[str, str] | None:
    """``(name, role_word)`` for ``Zoey is a knight`` / ``Zoey: knight`` forms, else None."""
    match = _IS_FORM_RE.fullmatch(statement)
    if match is not None:
        return match.group("name"), match.group("role")
    for separator in _LABEL_SEPARATORS:
        name, found, rest = statement.partition(separator)
        if found:
            break
    else:
        return None
    name = name.strip()
    words = rest.split()
    if len(words) == 2 and fold(words[0]) in _ARTICLES:
        words = words[1:]
    if not name or len(words) != 1:
        return None
    return name, words[0]


def _fast_assignment(pairs: list[tuple[str, str]], truth: GroundTruth) -> tuple[bool, ...] | None:
    """The assignment when the folded pairs name every person once, each with a known role.

    Anything else returns None and the ordered loop in parse_answer finds the exact error.
    """
    names, roles = zip(*pairs)
    values = tuple(map(truth.role_values.get, roles))
    if None in values:
        return None
    if names == truth.folded_names:  # people listed in speaking order, the usual case
        return values
    indices = list(map(truth.name_index.get, names))
    if None in indices:
        return None
    by_index = dict(zip(indices, values))
    if len(by_index) != len(indices):
        return None
    return tuple(map(by_index.__getitem__, range(len(indices))))


def parse_answer(answer: str, truth: GroundTruth, max_chars: int = 2000, fast_path: bool = True) -> ParsedAnswer:
    """Parse an answer body into one role per person of ``truth`` (speaking order)."""
    if len(answer) > max_chars:
        return ParsedAnswer(None, ANSWER_TOO_LONG)
    people = len(truth.names)
    split = _split(answer, people, fast_path)
    if split is None:
        return ParsedAnswer(None, TOO_MANY_STATEMENTS)
    statements, all_pairs = split
    if not statements:
        return ParsedAnswer(None, NO_STATEMENTS)
    if all_pairs and len(statements) == people:
        happy = _fast_assignment(statements, truth)  # type: ignore[arg-type]
        if happy is not None:
            return ParsedAnswer(happy)
    assignment: list[bool | None] = [None] * people
    for statement in statements:
        if isinstance(statement, tuple):
            name, role_word = statement
        else:
            parsed = parse_statement(statement)
            if parsed is None:
                return ParsedAnswer(None, HEDGED if _hedged(statement, truth) else UNPARSEABLE_STATEMENT)
            name, role_word = parsed
        value = truth.role_values.get(fold(role_word))
        if value is None:
            text = f"{name} is {role_word}" if isinstance(statement, tuple) else statement
            return ParsedAnswer(None, HEDGED if _hedged(text, truth) else FOREIGN_ROLE)
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
