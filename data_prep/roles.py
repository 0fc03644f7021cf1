"""Role word pairs (truthful first): knight/knave by default, others for out-of-distribution sets."""
from __future__ import annotations

import re
from dataclasses import dataclass

from data_prep.errors import DataPrepError

_ROLE_WORD = re.compile(r"^[a-z][a-z-]*[a-z]$")
# Plurals that the simple English rule in _plural() gets wrong.
_IRREGULAR_PLURALS = {"hero": "heroes", "echo": "echoes"}
# The six pairs of the random_pair perturbation (Xie et al. 2024, arXiv:2410.23123).
PERTURBATION_PAIRS = ("saint,sinner", "hero,villain", "angel,devil", "sage,fool", "pioneer,laggard", "altruist,egoist")
KNOWN_PAIRS = ("knight,knave",) + PERTURBATION_PAIRS + ("truth-teller,liar",)


def _plural(word: str) -> str:
    if word in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[word]
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def with_article(word: str) -> str:
    """``a knight`` / ``an angel``."""
    return ("an " if word[0] in "aeiou" else "a ") + word


@dataclass(frozen=True)
class RolePair:
    """The two role words; ``truthful`` always tells the truth, ``lying`` always lies."""

    truthful: str = "knight"
    lying: str = "knave"

    def validate(self) -> None:
        for word in (self.truthful, self.lying):
            if not _ROLE_WORD.match(word):
                raise DataPrepError(f"--roles word {word!r} must be lower-case letters (hyphens inside allowed)")
        if self.truthful == self.lying:
            raise DataPrepError(f"--roles needs two different words, got {self.truthful!r} twice")

    @classmethod
    def parse(cls, text: str) -> "RolePair":
        """Parse ``"knight,knave"`` (truthful first)."""
        parts = [part.strip().lower() for part in text.split(",")]
        if len(parts) != 2:
            raise DataPrepError(f"--roles must be TRUTHFUL,LYING (e.g. knight,knave), got {text!r}")
        pair = cls(parts[0], parts[1])
        pair.validate()
        return pair

    @property
    def truthful_plural(self) -> str:
        return _plural(self.truthful)

    @property
    def lying_plural(self) -> str:
        return _plural(self.lying)

    def word(self, truthful: bool) -> str:
        return self.truthful if truthful else self.lying

    def as_list(self) -> list[str]:
        return [self.truthful, self.lying]
