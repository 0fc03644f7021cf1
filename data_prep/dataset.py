"""veRL parquet rows: the fixed schema, row construction and deterministic parquet writing.

Row layout (one per puzzle)::

    data_source   "kk_logic_{N}ppl" (generated) | "kk_published_{N}ppl" (imported), with
                  "_train_sample" and/or "_{perturbation}" appended for the perturbed sets
    prompt        [{"role", "content"}, ...]
    ability       "logic"
    reward_model  {"style": "rule", "ground_truth": {"names", "solution", "roles", "solution_text"}}
    extra_info    {"split", "index", "n_people", "depth", "width", "difficulty", "puzzle_id",
                   "statements", "template", "think_prefilled", "prompt_style",
                   "perturbation" ("clean" or a type of data_prep.perturb), "original_puzzle_id"}

The explicit pyarrow schema keeps column types identical across files (so veRL can concatenate
them) and makes the written bytes depend only on the rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import re

import pyarrow as pa
import pyarrow.parquet as pq

from data_prep.errors import DataPrepError
from data_prep.fileio import atomic_write
from reward_fns.kk_answer import GROUND_TRUTH_FIELDS
from data_prep.generator import Puzzle
from data_prep.roles import RolePair
from data_prep.statements import statements_to_json
from data_prep.templates import build_prompt, validate_prompt_style, validate_template

ABILITY = "logic"
GENERATED_SOURCE = "kk_logic"
PUBLISHED_SOURCE = "kk_published"
CLEAN = "clean"
# The local perturbations of Xie et al. 2024 (arXiv:2410.23123); data_prep/perturb.py builds them.
MATH_PERTURBATIONS = ("perturbed_statement", "perturbed_leaf")
LANGUAGE_PERTURBATIONS = ("random_pair", "flip_role", "uncommon_name", "reorder_statement")
PERTURBATIONS = MATH_PERTURBATIONS + LANGUAGE_PERTURBATIONS
TRAIN_SAMPLE = "train_sample"  # the fixed sample of training puzzles that memorisation is measured on

# The reward's ground-truth fields (reward_fns/kk_answer.py), each with its parquet type.
_GROUND_TRUTH_ARROW_TYPES = {
    "names": pa.list_(pa.string()),
    "solution": pa.list_(pa.bool_()),
    "roles": pa.list_(pa.string()),
    "solution_text": pa.string(),
}
GROUND_TRUTH_TYPE = pa.struct([(name, _GROUND_TRUTH_ARROW_TYPES[name]) for name in GROUND_TRUTH_FIELDS])
EXTRA_INFO_TYPE = pa.struct(
    [
        ("split", pa.string()),
        ("index", pa.int64()),
        ("n_people", pa.int64()),
        ("depth", pa.int64()),
        ("width", pa.int64()),
        ("difficulty", pa.int64()),
        ("puzzle_id", pa.string()),
        ("statements", pa.string()),
        ("template", pa.string()),
        ("think_prefilled", pa.bool_()),
        ("prompt_style", pa.string()),
        ("perturbation", pa.string()),
        ("original_puzzle_id", pa.string()),
    ]
)
SCHEMA = pa.schema(
    [
        ("data_source", pa.string()),
        ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", GROUND_TRUTH_TYPE)])),
        ("extra_info", EXTRA_INFO_TYPE),
    ]
)


@dataclass(frozen=True)
class PromptOptions:
    """How puzzles become prompts: message layout, instruction wording, ``<think>`` prefill, role words."""

    template: str = "instruct"
    prompt_style: str = "logic_rl"
    think_prefilled: bool = True
    roles: RolePair = field(default_factory=RolePair)

    def validate(self) -> None:
        validate_template(self.template)
        validate_prompt_style(self.prompt_style)
        self.roles.validate()


def data_source(prefix: str, n_people: int, perturbation: str = CLEAN, train_sample: bool = False) -> str:
    """``kk_logic_5ppl``-style name; veRL reports validation metrics per data source (so per N, and per
    perturbed set: ``kk_logic_5ppl_flip_role``, ``kk_logic_5ppl_train_sample_flip_role``)."""
    name = f"{prefix}_{n_people}ppl"
    if train_sample:
        name += f"_{TRAIN_SAMPLE}"
    if perturbation != CLEAN:
        name += f"_{perturbation}"
    return name


_SOURCE_NAME = re.compile(
    rf"^(?P<prefix>{GENERATED_SOURCE}|{PUBLISHED_SOURCE})_(?P<n>\d+)ppl(?P<sample>_{TRAIN_SAMPLE})?"
    rf"(?:_(?P<perturbation>{'|'.join(PERTURBATIONS)}))?$"
)


@dataclass(frozen=True)
class SourceName:
    """The parts of a K&K data source name (the inverse of :func:`data_source`)."""

    prefix: str
    n_people: int
    perturbation: str
    train_sample: bool


def parse_data_source(name: str) -> SourceName | None:
    """``kk_logic_5ppl_train_sample_flip_role`` -> its parts; None for a name :func:`data_source` cannot write."""
    match = _SOURCE_NAME.match(name) if isinstance(name, str) else None
    if match is None:
        return None
    return SourceName(match["prefix"], int(match["n"]), match["perturbation"] or CLEAN, bool(match["sample"]))


def make_row(
    *,
    source: str,
    quiz: str,
    names: Sequence[str],
    solution_text: str,
    puzzle: Puzzle,
    split: str,
    index: int,
    options: PromptOptions,
    perturbation: str = CLEAN,
    original_puzzle_id: str | None = None,
    train_sample: bool = False,
) -> dict[str, Any]:
    """One parquet row in the shared veRL schema. A perturbed twin names its ``perturbation`` and the
    ``puzzle_id`` of the puzzle it was made from (a clean row is its own original)."""
    return {
        "data_source": data_source(source, puzzle.n_people, perturbation, train_sample),
        "prompt": build_prompt(quiz, options.roles, options.template, options.prompt_style, options.think_prefilled),
        "ability": ABILITY,
        "reward_model": {
            "style": "rule",
            "ground_truth": {
                "names": list(names),
                "solution": [bool(x) for x in puzzle.solution],
                "roles": options.roles.as_list(),
                "solution_text": solution_text,
            },
        },
        "extra_info": {
            "split": split,
            "index": int(index),
            "n_people": puzzle.n_people,
            "depth": puzzle.depth,
            "width": puzzle.width,
            "difficulty": puzzle.difficulty,
            "puzzle_id": puzzle.puzzle_id,
            "statements": statements_to_json(puzzle.statements),
            "template": options.template,
            "think_prefilled": bool(options.think_prefilled),
            "prompt_style": options.prompt_style,
            "perturbation": perturbation,
            "original_puzzle_id": original_puzzle_id or puzzle.puzzle_id,
        },
    }


def write_parquet(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Write rows with :data:`SCHEMA` atomically (temp file + rename); same rows -> same bytes."""
    try:
        table = pa.Table.from_pylist(list(rows), schema=SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
        raise DataPrepError(f"rows do not match the parquet schema: {exc}") from None
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="snappy"))


def split_path(out_dir: Path, n_people: int, split: str) -> Path:
    """``{out}/{N}ppl/{split}.parquet`` - the layout the run scripts expect."""
    return out_dir / f"{n_people}ppl" / f"{split}.parquet"
