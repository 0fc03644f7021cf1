"""Shared CLI plumbing: one-line errors, prompt options, progress bars and token counting."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, NoReturn

from data_prep.errors import DataPrepError
from data_prep.templates import PROMPT_STYLES, TEMPLATES, chat_template_path


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad argument as a single ``error: ...`` line (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message}\n")
        sys.exit(2)


def add_prompt_arguments(parser: argparse.ArgumentParser, roles: bool = True) -> None:
    """--template, --prompt-style, --prefill-think/--no-prefill-think (and --roles)."""
    parser.add_argument("--template", default="instruct", choices=TEMPLATES,
                        help="instruct: system + user messages; base: one plain-text user message (default: instruct)")
    parser.add_argument("--prompt-style", default="logic_rl", choices=PROMPT_STYLES,
                        help="logic_rl: Logic-RL wording with its literal example answer; "
                             "schematic: the answer lines as placeholders, so the example answer cannot be pasted; "
                             "no_example: also no tag example, so no part of the instruction passes the format "
                             "(default: logic_rl)")
    parser.add_argument("--prefill-think", default=True, action=argparse.BooleanOptionalAction,
                        help="start the assistant turn with <think> as Logic-RL did (default: on)")
    if roles:
        parser.add_argument("--roles", default="knight,knave",
                            help="TRUTHFUL,LYING role words, e.g. saint,sinner for an out-of-distribution set (default: knight,knave)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def run_cli(body: Callable[[], int]) -> int:
    """Run a CLI body, turning DataPrepError (and a missing file) into one ``error:`` line, exit 2."""
    try:
        return body()
    except DataPrepError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def load_token_counter(tokenizer_path: str, template: str, think_prefilled: bool) -> tuple[Callable[[list[dict[str, str]]], int], str]:
    """A function counting the tokens of a prompt as the model will see it, and the tokenizer's name.

    The prompt is rendered with the chat template the run scripts will use (our file, or the
    tokenizer's own), with the generation prompt appended. Loads local files only.
    """
    path = Path(tokenizer_path)
    if not path.exists():
        raise DataPrepError(f"--tokenizer path does not exist: {tokenizer_path}")
    from transformers import AutoTokenizer  # heavy import, only when token counts are asked for

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # transformers raises many types; report one line
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DataPrepError(f"--tokenizer could not load {tokenizer_path}: {type(exc).__name__}: {first_line}") from None
    template_file = chat_template_path(template, think_prefilled)
    chat_template = template_file.read_text(encoding="utf-8") if template_file is not None else None
    if chat_template is None and not getattr(tokenizer, "chat_template", None):
        raise DataPrepError(
            f"--tokenizer {tokenizer_path} has no chat template, and the instruct template without --prefill-think uses the model's own"
        )

    def count(messages: list[dict[str, str]]) -> int:
        text = tokenizer.apply_chat_template(messages, chat_template=chat_template, add_generation_prompt=True, tokenize=False)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count, path.name
