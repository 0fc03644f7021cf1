"""Score one response by hand and see why: ``python -m reward_fns.check``.

    python -m reward_fns.check --ground-truth GT.json --response-file response.txt [--think-prefilled]
    echo "<think>..." | python -m reward_fns.check --ground-truth '{"names": [...], "solution": [...]}'

``--ground-truth`` is a JSON object or a path to a file holding one (a whole ``reward_model`` dict
works too). ``--option NAME=VALUE`` overrides a reward value, as veRL's ``reward_kwargs`` would.
Prints one JSON object: what veRL receives plus ``answer_error``, the reason an answer did not parse.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reward_fns.kk import GroundTruthError, RewardConfigError, config_from_kwargs, score_response


class CheckError(Exception):
    """Bad command-line input."""


def _read_ground_truth(value: str) -> object:
    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value)
        if not path.is_file():
            raise CheckError(f"--ground-truth is neither a JSON object nor a file: {value}")
        text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CheckError(f"--ground-truth is not valid JSON: {exc}") from None


def _parse_options(pairs: list[str]) -> dict[str, float]:
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise CheckError(f"--option needs NAME=VALUE, got {pair!r}")
        try:
            options[name.strip()] = float(value) if name.strip() != "max_answer_chars" else int(value)
        except ValueError:
            raise CheckError(f"--option {name.strip()} needs a number, got {value!r}") from None
    return options


def _read_response(args: argparse.Namespace) -> str:
    if args.response is not None:
        return args.response
    if args.response_file is not None:
        try:
            return Path(args.response_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckError(f"cannot read --response-file: {exc}") from None
    return sys.stdin.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reward_fns.check", description=__doc__.splitlines()[0])
    parser.add_argument("--ground-truth", required=True, help="JSON object, or a file holding one")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--response", help="the response text (default: read stdin)")
    source.add_argument("--response-file", help="file holding the response text")
    parser.add_argument("--think-prefilled", action="store_true", help="the prompt ended with <think>")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE", help="reward value override")
    args = parser.parse_args(argv)
    try:
        config = config_from_kwargs(_parse_options(args.option))
        ground_truth = _read_ground_truth(args.ground_truth)
        result = score_response(_read_response(args), ground_truth, args.think_prefilled, config)
    except (CheckError, GroundTruthError, RewardConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({**result.to_dict(), "answer_error": result.answer_error}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
